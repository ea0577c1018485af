"""Java validator options (`-output`, `-profile`, `-ig`, ...) are translated or refused in one line,
never misparsed as glued short options (`-o utput`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from imgfhir.java_options import JavaOptionError, translate
from tests.support import FIXTURES, RDS_CANONICAL

GOOD = FIXTURES / "validation" / "Observation-545.json"


def imgfhir(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imgfhir", *map(str, args)], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_value_options_are_rewritten() -> None:
    args = ["validate", "-profile", RDS_CANONICAL, "-version", "4.0.1", "-tx", "n/a", "-output", "oo.json", "f.json"]
    assert translate(args) == [
        "validate",
        "--profile",
        RDS_CANONICAL,
        "--fhir-version",
        "4.0.1",
        "--format",
        "json",
        "--output",
        "oo.json",
        "f.json",
    ]


def test_ig_is_a_package_id_or_a_folder(tmp_path: Path) -> None:
    assert translate(["-ig", "hl7.fhir.uv.radiation-dose-summary#1.0.0"]) == [
        "--ig",
        "hl7.fhir.uv.radiation-dose-summary#1.0.0",
    ]
    assert translate(["-ig", str(tmp_path)]) == ["--package", str(tmp_path)]


def test_short_options_and_stdin_are_left_alone() -> None:
    args = ["validate", "-o", "out.json", "-f", "sarif", "-", "--", "-output"]
    assert translate(args) == args


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-tx", "http://tx.fhir.org"], "offline"),
        (["-html-output", "r.html"], "not supported yet"),
        (["-output", "oo.xml"], "JSON"),
        (["-extension", "any"], "--extension-domain"),
        (["-watch-mode"], "unknown option -watch-mode"),
        (["-profile"], "needs a value"),
    ],
)
def test_options_without_an_equivalent_are_refused(args: list[str], says: str) -> None:
    with pytest.raises(JavaOptionError, match=says):
        translate(args)


def test_output_writes_the_named_file_not_utput(tmp_path: Path) -> None:
    result = imgfhir("validate", "-output", "oo.json", GOOD, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "utput").exists()
    report = json.loads((tmp_path / "oo.json").read_text())
    assert report["resourceType"] == "OperationOutcome"


def test_refusal_is_one_line_with_exit_2() -> None:
    result = imgfhir("validate", "-tx", "http://tx.fhir.org/r4", GOOD)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: -tx http://tx.fhir.org/r4: imgfhir is offline and uses no terminology server (drop -tx, or -tx n/a)"
    ]


def test_h_prints_help() -> None:
    result = imgfhir("validate", "-h")
    assert result.returncode == 0
    assert "--profile" in result.stdout
