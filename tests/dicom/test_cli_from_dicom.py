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


def test_measurement_report_is_told_apart_and_validated_as_r5(tmp_path: Path) -> None:
    import pydicom
    from pydicom.dataset import Dataset

    sr_json = RDSR_DIR.parent / "sr" / "Example-MeasurementReport.dicom.json"
    result = run("from-dicom", sr_json, "--validate", "--bundle", "transaction")
    assert result.exit_code == 0, result.output
    bundle = orjson.loads(result.stdout)
    profiles = {p for e in bundle["entry"] for p in e["resource"].get("meta", {}).get("profile", [])}
    assert "http://hl7.org/fhir/uv/dicom-sr/StructureDefinition/imaging-measurement" in profiles
    assert "0 validation errors" in result.stderr
    # the same report as a Part 10 file: recognised by its root concept
    data = orjson.loads(sr_json.read_bytes())
    data["00080050"]["Value"] = [data["00080050"]["Value"]]
    ds = Dataset.from_json(data)
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    part10 = tmp_path / "report.dcm"
    ds.save_as(part10, enforce_file_format=True)
    result = run("from-dicom", part10)
    assert result.exit_code == 0, result.output
    assert len(orjson.loads(result.stdout)["entry"]) == len(bundle["entry"])


def test_unknown_modality_is_an_error() -> None:
    result = run("from-dicom", DX, "--modality", "US")
    assert result.exit_code == 2
    assert "unknown modality 'US'" in result.stderr
