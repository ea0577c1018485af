"""The `imgfhir` command line: output, exit codes (0 / 1 / 2) and one-line errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

import imgfhir.snapshot
from imgfhir.cli import app
from imgfhir.packages import sources
from imgfhir.snapshot import SnapshotError
from tests.support import (
    BASE_FIXTURE,
    BUNDLED_IDS,
    FIXTURE_CANONICAL,
    PROFILES_FIXTURE,
    RDS_CANONICAL,
    RDS_ID,
    lock_entry,
    write_lock,
)

runner = CliRunner()


def run(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result: Any, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return str(lines[0])


def rows(stdout: str) -> dict[str, list[str]]:
    """Table rows keyed by their first cell."""
    return {line.split()[0]: line.split() for line in stdout.splitlines()[1:] if line.strip()}


# -- help and usage -----------------------------------------------------------------


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("packages", "profiles", "snapshot", "--package"):
        assert command in result.stdout


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("imgfhir ")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["bogus"], "No such command 'bogus'"),
        (["snapshot"], "Missing argument"),
        (["snapshot", RDS_CANONICAL, "--fhir-version", "R6"], "--fhir-version"),
        (["packages", "list", "--bogus"], "--bogus"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(args: list[str], needle: str) -> None:
    assert needle in assert_one_line_error(run(*args))


def test_bare_command_shows_help() -> None:
    result = run()
    assert result.exit_code == 2
    assert "Usage:" in result.output
    assert "Traceback" not in result.output


# -- packages list ------------------------------------------------------------------


def test_packages_list() -> None:
    result = run("packages", "list")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    header = result.stdout.splitlines()[0].split()
    assert header == ["id", "version", "FHIR", "origin", "SD", "VS", "CS", "total"]
    table = rows(result.stdout)
    assert sorted(table) == BUNDLED_IDS
    assert table[RDS_ID] == [RDS_ID, "1.0.0", "4.0.1", "(R4)", "bundled", "4", "4", "1", "15"]
    assert table["hl7.fhir.r5.core"][2:5] == ["5.0.0", "(R5)", "bundled"]


def test_packages_list_verbose_prints_store_warnings() -> None:
    result = run("packages", "list", "--verbose")
    assert result.exit_code == 0, result.output
    warnings = result.stderr.splitlines()
    assert all(line.startswith("warning: ") for line in warnings)
    xver = [w for w in warnings if "hl7.fhir.uv.xver-r5.r4#0.0.1-snapshot-2" in w]  # genuinely missing
    assert len(xver) == 1
    assert any("using fhir.dicom#0.0.0-pydicom.3.0.2 in its place" in w for w in warnings)  # generated stand-in
    assert any("using hl7.terminology.r4#7.0.1 in its place" in w for w in warnings)
    assert sorted(rows(result.stdout)) == BUNDLED_IDS


def test_global_verbose_option() -> None:
    assert "warning: " in run("-v", "packages", "list").stderr


@pytest.mark.parametrize("before_command", [True, False])
def test_package_option_adds_packages(before_command: bool) -> None:
    opts = ["--package", str(BASE_FIXTURE), "-p", str(PROFILES_FIXTURE)]
    args = [*opts, "packages", "list"] if before_command else ["packages", "list", *opts]
    result = run(*args)
    assert result.exit_code == 0, result.output
    table = rows(result.stdout)
    assert table["example.imaging.base"][:5] == ["example.imaging.base", "0.1.0", "4.0.1", "(R4)", "option"]
    assert table["example.imaging.profiles"][-4:] == ["1", "0", "0", "1"]
    assert len(table) == len(BUNDLED_IDS) + 2


def test_env_var_packages_are_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGFHIR_PACKAGES", str(BASE_FIXTURE))
    table = rows(run("packages", "list").stdout)
    assert table["example.imaging.base"][4] == "env:IMGFHIR_PACKAGES"


def test_bad_package_option(tmp_path: Path) -> None:
    message = assert_one_line_error(run("--package", tmp_path / "missing.tgz", "packages", "list"))
    assert message == f"error: {tmp_path / 'missing.tgz'}: no such package file or folder"


def test_corrupt_package_option(tmp_path: Path) -> None:
    fake = tmp_path / "example.fake#1.0.0.tgz"
    fake.write_text("not gzip")
    assert "corrupt package archive" in assert_one_line_error(run("packages", "list", "-p", fake))


def test_checksum_mismatch_of_bundled_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = lock_entry(RDS_ID)
    data = bytearray((sources.bundled_dir() / entry.file).read_bytes())
    data[100] ^= 0x01
    (tmp_path / entry.file).write_bytes(bytes(data))
    write_lock(tmp_path, [entry])
    monkeypatch.setattr(sources, "bundled_dir", lambda: tmp_path)
    message = assert_one_line_error(run("packages", "list"))
    assert "does not match packages.lock" in message


# -- profiles -----------------------------------------------------------------------


def test_profiles_of_one_package() -> None:
    result = run("profiles", "--ig", RDS_ID)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split() == ["canonical", "name", "type", "base"]
    table = rows(result.stdout)
    assert table[RDS_CANONICAL] == [
        RDS_CANONICAL,
        "RadiationDoseSummary",
        "Observation",
        "http://hl7.org/fhir/StructureDefinition/Observation",
    ]
    assert len(table) == 4


def test_profiles_accepts_id_and_version() -> None:
    assert len(rows(run("profiles", "--ig", f"{RDS_ID}#1.0.0").stdout)) == 4


def test_profiles_of_all_non_core_packages() -> None:
    result = run("profiles")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["package", "canonical", "name", "type", "base"]
    packages = {line.split()[0] for line in lines[1:]}
    assert f"{RDS_ID}#1.0.0" in packages
    assert "hl7.fhir.eu.imaging-r5#1.0.0-ballot" in packages
    assert not any(p.startswith(("hl7.fhir.r4.core", "hl7.fhir.r5.core")) for p in packages)
    assert "http://hl7.org/fhir/StructureDefinition/vitalsigns" not in result.stdout  # a core profile


def test_profiles_filtered_by_release() -> None:
    result = run("profiles", "--fhir-version", "r5")
    assert result.exit_code == 0, result.output
    assert "hl7.fhir.eu.imaging-r5#1.0.0-ballot" in result.stdout
    assert RDS_CANONICAL not in result.stdout


def test_profiles_of_an_extra_package() -> None:
    result = run("profiles", "--ig", "example.imaging.profiles", "--package", PROFILES_FIXTURE)
    assert result.exit_code == 0, result.output
    assert list(rows(result.stdout)) == [FIXTURE_CANONICAL]


def test_profiles_of_a_package_without_profiles() -> None:
    result = run("profiles", "--ig", "hl7.fhir.uv.smart-app-launch")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no profiles in hl7.fhir.uv.smart-app-launch#2.0.0" in result.stderr


def test_profiles_of_an_unknown_package() -> None:
    message = assert_one_line_error(run("profiles", "--ig", "hl7.fhir.uv.radiation"))
    assert message.startswith("error: unknown package hl7.fhir.uv.radiation (did you mean ")
    assert RDS_ID in message


# -- snapshot -----------------------------------------------------------------------


@pytest.fixture
def fake_snapshot(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """Replace the generator: these tests are about the command, not about snapshots."""
    calls: list[tuple[str, str | None]] = []

    def snapshot_of(store: object, canonical: str, release: str | None = None) -> dict[str, Any]:
        calls.append((canonical, release))
        element = {"id": "Observation"}
        return {"resourceType": "StructureDefinition", "url": canonical, "snapshot": {"element": [element]}}

    monkeypatch.setattr(imgfhir.snapshot, "snapshot_of", snapshot_of)
    return calls


def test_snapshot_to_stdout(fake_snapshot: list[tuple[str, str | None]]) -> None:
    result = run("snapshot", RDS_CANONICAL)
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["url"] == RDS_CANONICAL
    assert result.stdout.startswith('{\n  "resourceType": "StructureDefinition",')
    assert result.stdout.endswith("}\n")
    assert fake_snapshot == [(RDS_CANONICAL, None)]


def test_snapshot_to_file_with_release(tmp_path: Path, fake_snapshot: list[tuple[str, str | None]]) -> None:
    out = tmp_path / "sd.json"
    result = run("snapshot", RDS_CANONICAL, "-o", out, "--fhir-version", "r4")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert orjson.loads(out.read_bytes())["snapshot"]["element"] == [{"id": "Observation"}]
    assert fake_snapshot == [(RDS_CANONICAL, "R4")]


def test_snapshot_unwritable_output(tmp_path: Path, fake_snapshot: list[tuple[str, str | None]]) -> None:
    message = assert_one_line_error(run("snapshot", RDS_CANONICAL, "-o", tmp_path / "no" / "such" / "dir.json"), 1)
    assert message.startswith(f"error: cannot write {tmp_path / 'no' / 'such' / 'dir.json'}")


def test_snapshot_error_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(store: object, canonical: str, release: str | None = None) -> dict[str, Any]:
        raise SnapshotError("base http://example.org/Nope not found")

    monkeypatch.setattr(imgfhir.snapshot, "snapshot_of", failing)
    message = assert_one_line_error(run("snapshot", RDS_CANONICAL))
    assert message == f"error: {RDS_CANONICAL}: base http://example.org/Nope not found"


def test_snapshot_of_an_unknown_canonical() -> None:
    message = assert_one_line_error(run("snapshot", "http://hl7.org/fhir/StructureDefinition/Observaton"))
    assert message.startswith("error: unknown canonical http://hl7.org/fhir/StructureDefinition/Observaton")
    assert "(did you mean http://hl7.org/fhir/StructureDefinition/Observation" in message


def test_snapshot_of_a_canonical_of_the_other_release() -> None:
    message = assert_one_line_error(run("snapshot", RDS_CANONICAL, "--fhir-version", "R5"))
    assert message.startswith(f"error: unknown canonical {RDS_CANONICAL}")


def test_snapshot_of_a_bundled_profile(tmp_path: Path) -> None:
    out = tmp_path / "rds.json"
    result = run("snapshot", RDS_CANONICAL, "--output", out)
    assert result.exit_code == 0, result.output
    sd = orjson.loads(out.read_bytes())
    assert sd["url"] == RDS_CANONICAL
    assert sd["snapshot"]["element"][0]["path"] == "Observation"


# -- the installed console script ---------------------------------------------------


def _console_script() -> str:
    beside = Path(sys.executable).with_name("imgfhir")
    found = str(beside) if beside.is_file() else shutil.which("imgfhir")
    if found is None:
        pytest.fail("the imgfhir console script is not installed (pip install -e .)")
    return found


def test_console_script_help() -> None:
    proc = subprocess.run([_console_script(), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: imgfhir" in proc.stdout
    assert "snapshot" in proc.stdout


def test_console_script_error_has_no_traceback() -> None:
    env = {k: v for k, v in os.environ.items() if k != "IMGFHIR_PACKAGES"}
    proc = subprocess.run(
        [sys.executable, "-m", "imgfhir", "snapshot", "http://example.org/nothing"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == "error: unknown canonical http://example.org/nothing\n"


def test_snapshot_by_id_or_name() -> None:
    by_name = run("snapshot", "RadiationDoseSummary")
    by_id = run("snapshot", "radiation-dose-summary", "--fhir-version", "4.0.1")
    assert by_name.exit_code == 0 and by_id.exit_code == 0, by_name.output + by_id.output
    assert orjson.loads(by_name.stdout)["url"] == orjson.loads(by_id.stdout)["url"] == RDS_CANONICAL


@pytest.mark.parametrize("version", ["R4", "4.0.1", "r4"])
def test_every_command_takes_the_same_fhir_versions(version: str) -> None:
    listed = run("profiles", "--fhir-version", version)
    assert listed.exit_code == 0, listed.output
    assert "hl7.fhir.uv.dicom-sr" not in listed.stdout  # an R5 IG
    assert run("snapshot", RDS_CANONICAL, "--fhir-version", version).exit_code == 0


def test_first_run_says_what_it_unpacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGFHIR_CACHE_DIR", str(tmp_path / "cache"))
    first = run("packages", "list")
    assert first.exit_code == 0, first.output
    assert first.stderr.startswith("note: first run: unpacking ") and str(tmp_path / "cache") in first.stderr
    again = run("packages", "list")
    assert "first run" not in again.stderr
