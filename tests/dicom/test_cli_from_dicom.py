"""`imgfhir from-dicom`: Bundles to stdout or a folder, --validate, exit codes, one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from imgfhir.cli import app

pytest.importorskip("pydicom")

RDSR_DIR = Path(__file__).parent.parent / "fixtures" / "dicom" / "rdsr"
CT = RDSR_DIR / "CT-RDSR-ToshibaPixelMed.dcm"
DX = RDSR_DIR / "DX-RDSR-Canon_CXDI.dcm"
runner = CliRunner()


def run(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def test_one_file_to_stdout_validated() -> None:
    result = run("from-dicom", CT, "--validate")
    assert result.exit_code == 0, result.output
    bundle = orjson.loads(result.stdout)
    assert bundle["type"] == "collection"
    assert bundle["entry"][0]["resource"]["resourceType"] == "Observation"
    assert "0 validation errors" in result.stderr


def test_several_files_into_a_folder_as_transactions(tmp_path: Path) -> None:
    result = run("from-dicom", CT, DX, "--out", tmp_path, "--bundle", "transaction", "--modality", "DX")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [f"{CT.stem}.json", f"{DX.stem}.json"]
    bundle = orjson.loads((tmp_path / f"{DX.stem}.json").read_bytes())
    assert bundle["type"] == "transaction" and all("request" in e for e in bundle["entry"])
    # the CT report states its modality: the given one is used, with a warning
    assert "modality DX given, but the RDSR reports a CT procedure" in result.stderr


def test_several_files_to_stdout_as_ndjson() -> None:
    result = run("from-dicom", CT, DX, "--out", "-")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [orjson.loads(line)["resourceType"] for line in lines] == ["Bundle", "Bundle"]
    assert "warning: DX-RDSR-Canon_CXDI.dcm:" in result.stderr


def test_unconvertible_files_are_one_line_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    result = run("from-dicom", junk, tmp_path / "missing.dcm", CT)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and "junk.dcm" in errors[0] and "missing.dcm" in errors[1]
    assert orjson.loads(result.stdout)["type"] == "collection"  # the good file is still converted


def test_unknown_modality_is_an_error() -> None:
    result = run("from-dicom", DX, "--modality", "US")
    assert result.exit_code == 2
    assert "unknown modality 'US'" in result.stderr
