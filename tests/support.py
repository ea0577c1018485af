"""Paths, canonicals and helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import orjson

from imgfhir.packages import bundled_dir
from imgfhir.packages.lock import LOCK_NAME, LockEntry, read_lock

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_PACKAGES = FIXTURES / "packages"
BASE_FIXTURE = FIXTURE_PACKAGES / "example.imaging.base"  # folder package with .index.json
PROFILES_FIXTURE = FIXTURE_PACKAGES / "example.imaging.profiles"  # folder package without .index.json
FIXTURE_CANONICAL = "http://example.org/fhir/imaging-fixture/StructureDefinition/fixture-dose-observation"
DEVICE_CANONICAL = "http://example.org/fhir/imaging-fixture/StructureDefinition/fixture-modality-device"

RDS_ID = "hl7.fhir.uv.radiation-dose-summary"
RDS_CANONICAL = "http://hl7.org/fhir/uv/radiation-dose-summary/StructureDefinition/radiation-dose-summary"
OBSERVATION = "http://hl7.org/fhir/StructureDefinition/Observation"

BUNDLED_IDS = [
    "fhir.dicom",
    "fhir.dicom.r5",
    "hl7.fhir.eu.base",
    "hl7.fhir.eu.base-r5",
    "hl7.fhir.eu.extensions",
    "hl7.fhir.eu.extensions.r4",
    "hl7.fhir.eu.health-data-api",
    "hl7.fhir.eu.imaging",
    "hl7.fhir.eu.imaging-r5",
    "hl7.fhir.r4.core",
    "hl7.fhir.r5.core",
    "hl7.fhir.uv.dicom-sr",
    "hl7.fhir.uv.extensions.r4",
    "hl7.fhir.uv.extensions.r5",
    "hl7.fhir.uv.ipa",
    "hl7.fhir.uv.ips",
    "hl7.fhir.uv.radiation-dose-summary",
    "hl7.fhir.uv.smart-app-launch",
    "hl7.terminology.r4",
    "hl7.terminology.r5",
    "ihe.iti.mhd",
]


def lock_entry(package_id: str) -> LockEntry:
    return next(e for e in read_lock(bundled_dir() / LOCK_NAME) if e.id == package_id)


def write_lock(directory: Path, entries: list[LockEntry]) -> None:
    packages = [
        {"id": e.id, "version": e.version, "fhirVersion": e.fhir_version, "sha256": e.sha256, "origin": e.origin,
         "file": e.file}
        for e in entries
    ]
    (directory / LOCK_NAME).write_bytes(orjson.dumps({"lockfileVersion": 1, "packages": packages}))


def make_tgz(target: Path, files: dict[str, bytes]) -> Path:
    """An npm-style archive; `files` maps names under package/ to their bytes."""
    with tarfile.open(target, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return target


def tgz_of_folder(folder: Path, target: Path) -> Path:
    """Pack a folder package (folder/package/...) as an archive."""
    root = folder / "package"
    return make_tgz(target, {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()})
