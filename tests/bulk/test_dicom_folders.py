"""`from-dicom` on folders: every file converted, in order, on several processes as on one."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from imgfhir.bulk.dicom import DicomJob, _lost, convert_all, dicom_files
from imgfhir.cli import app
from tests.support import FIXTURES

pytest.importorskip("pydicom")

RDSR_DIR = FIXTURES / "dicom" / "rdsr"


def test_folders_expand_to_their_files_sorted(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "IM0001").write_bytes(b"")
    (tmp_path / "a.dcm").write_bytes(b"")
    (tmp_path / ".DS_Store").write_bytes(b"")
    assert list(dicom_files([tmp_path])) == [tmp_path / "a.dcm", tmp_path / "b" / "IM0001"]


def test_a_folder_on_two_workers_gives_the_output_of_one(tmp_path: Path) -> None:
    runner = CliRunner()
    one = runner.invoke(app, ["from-dicom", str(RDSR_DIR), "-j", "1", "--modality", "DX"])
    two = runner.invoke(app, ["from-dicom", str(RDSR_DIR), "-j", "2", "--modality", "DX"])
    assert one.exit_code == two.exit_code == 0, two.output
    assert two.stdout == one.stdout and two.stderr == one.stderr
    bundles = [orjson.loads(line) for line in two.stdout.splitlines()]
    assert len(bundles) == len(list(RDSR_DIR.iterdir())) and {b["resourceType"] for b in bundles} == {"Bundle"}


def test_files_that_cannot_be_converted_are_errors_in_their_place(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    ct = RDSR_DIR / "CT-RDSR-ToshibaPixelMed.dcm"
    done = list(convert_all([junk, ct, tmp_path / "missing.dcm"], DicomJob(), workers=2))
    assert [d.path for d in done] == [str(junk), str(ct), str(tmp_path / "missing.dcm")]
    assert done[0].error and done[1].bundle is not None and done[2].error == f"no such file: {tmp_path / 'missing.dcm'}"
    assert "stopped abruptly" in (_lost("x.dcm").error or "")
