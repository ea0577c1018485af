"""Package: folder and archive packages, bad inputs, checksums, and the unpack/index cache."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import orjson
import pytest

from imgfhir.packages import ChecksumMismatch, Package, PackageError, fhir_release
from imgfhir.packages import lock as lock_module
from imgfhir.packages import package as package_module
from imgfhir.packages.lock import LockEntry, sha256_of
from imgfhir.packages.package import INDEX_FORMAT, INDEX_NAME
from imgfhir.packages.sources import bundled_packages
from tests.support import (
    BASE_FIXTURE,
    DEVICE_CANONICAL,
    FIXTURE_CANONICAL,
    PROFILES_FIXTURE,
    RDS_CANONICAL,
    make_tgz,
    tgz_of_folder,
    write_lock,
)

MANIFEST = {"name": "example.tiny", "version": "1.0.0", "fhirVersions": ["4.0.1"]}


def _one_line(exc: BaseException) -> str:
    message = str(exc)
    assert "\n" not in message
    return message


# -- folder packages ----------------------------------------------------------------


def test_folder_package_with_index_json() -> None:
    pkg = Package.open(BASE_FIXTURE, "option")
    assert (pkg.id, pkg.version, pkg.fhir_version, pkg.release) == ("example.imaging.base", "0.1.0", "4.0.1", "R4")
    assert pkg.sha256 is None
    assert pkg.dependencies == {"hl7.fhir.r4.core": "4.0.1"}
    assert {e.url for e in pkg.entries} == {DEVICE_CANONICAL, "http://example.org/fhir/imaging-fixture/ValueSet/fixture-isotope"}
    assert pkg.counts() == {"StructureDefinition": 1, "ValueSet": 1}
    assert not (BASE_FIXTURE / INDEX_NAME).exists()  # folders are read in place, nothing written


def test_folder_package_without_index_json_skips_non_resources() -> None:
    pkg = Package.open(PROFILES_FIXTURE, "option")
    [entry] = pkg.entries  # notes.json is not a resource
    assert entry.url == FIXTURE_CANONICAL
    assert (entry.resource_type, entry.type, entry.derivation) == ("StructureDefinition", "Observation", "constraint")
    assert entry.base_definition == "http://hl7.org/fhir/StructureDefinition/Observation"
    resource = pkg.load(entry.filename)
    assert resource["name"] == "FixtureDoseObservation"
    assert pkg.load(entry.filename) is resource  # parsed once


def test_folder_may_be_given_as_its_package_subfolder() -> None:
    pkg = Package.open(PROFILES_FIXTURE / "package", "option")
    assert pkg.id == "example.imaging.profiles"


def test_folder_without_package_json(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="not a FHIR package folder"):
        Package.open(tmp_path, "option")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="no such package file or folder"):
        Package.open(tmp_path / "nope.tgz", "option")


@pytest.mark.parametrize(
    ("manifest", "error"),
    [
        ({"version": "1.0.0", "fhirVersions": ["4.0.1"]}, "package.json has no 'name'"),
        ({"name": "example.tiny", "fhirVersions": ["4.0.1"]}, "package.json has no 'version'"),
        ({"name": "example.tiny", "version": "1.0.0"}, "declares no FHIR version"),
    ],
)
def test_bad_manifest_in_folder(tmp_path: Path, manifest: dict[str, object], error: str) -> None:
    (tmp_path / "package").mkdir()
    (tmp_path / "package" / "package.json").write_bytes(orjson.dumps(manifest))
    with pytest.raises(PackageError, match=error) as info:
        Package.open(tmp_path, "option")
    _one_line(info.value)


def test_unreadable_manifest(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text("{ not json")
    with pytest.raises(PackageError, match=re.escape("unreadable package.json")) as info:
        Package.open(tmp_path, "option")
    _one_line(info.value)


def test_fhir_version_from_core_dependency(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_bytes(
        orjson.dumps({"name": "example.tiny", "version": "1.0.0", "dependencies": {"hl7.fhir.r5.core": "5.0.0"}})
    )
    assert Package.open(tmp_path, "option").release == "R5"


def test_unreadable_resource(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_bytes(orjson.dumps(MANIFEST))
    pkg = Package.open(tmp_path, "option")
    with pytest.raises(PackageError, match=r"example.tiny#1.0.0: cannot read missing.json"):
        pkg.load("missing.json")


@pytest.mark.parametrize(
    ("version", "release"), [("4.0.1", "R4"), ("4.3.0", "R4B"), ("5.0.0", "R5"), ("5.0.0-ballot", "R5"), ("9.1", "9.1")]
)
def test_fhir_release(version: str, release: str) -> None:
    assert fhir_release(version) == release


# -- archives -----------------------------------------------------------------------


def test_archive_package(tmp_path: Path) -> None:
    archive = tgz_of_folder(PROFILES_FIXTURE, tmp_path / "example.imaging.profiles#0.2.0.tgz")
    pkg = Package.open(archive, "option", cache_dir=tmp_path / "cache")
    assert pkg.sha256 == sha256_of(archive)
    assert pkg.root == tmp_path / "cache" / "packages" / pkg.sha256 / "package"
    assert [e.url for e in pkg.entries] == [FIXTURE_CANONICAL]
    assert pkg.load(pkg.entries[0].filename)["id"] == "fixture-dose-observation"


def test_truncated_archive(tmp_path: Path, rds_archive: tuple[Path, LockEntry]) -> None:
    source, _ = rds_archive
    data = source.read_bytes()
    truncated = tmp_path / source.name
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(PackageError, match="corrupt package archive") as info:
        Package.open(truncated, "option", cache_dir=tmp_path / "cache")
    _one_line(info.value)
    assert not list((tmp_path / "cache" / "packages").iterdir())  # no half-unpacked leftovers


def test_not_gzip(tmp_path: Path) -> None:
    fake = tmp_path / "example.fake#1.0.0.tgz"
    fake.write_text("this is not a gzip archive\n")
    with pytest.raises(PackageError, match="corrupt package archive") as info:
        Package.open(fake, "option", cache_dir=tmp_path / "cache")
    _one_line(info.value)


def test_archive_without_package_folder(tmp_path: Path) -> None:
    made = shutil.make_archive(str(tmp_path / "odd"), "gztar", root_dir=PROFILES_FIXTURE / "package")
    archive = Path(made).rename(tmp_path / "odd.tgz")
    with pytest.raises(PackageError, match=re.escape("no package/package.json")):
        Package.open(archive, "option", cache_dir=tmp_path / "cache")


def test_archive_manifest_without_name(tmp_path: Path) -> None:
    archive = make_tgz(tmp_path / "nameless.tgz", {"package.json": orjson.dumps({"version": "1.0.0"})})
    with pytest.raises(PackageError, match=re.escape("package.json has no 'name'")) as info:
        Package.open(archive, "option", cache_dir=tmp_path / "cache")
    _one_line(info.value)


def test_flipped_byte_fails_the_lock_checksum(tmp_path: Path, rds_archive: tuple[Path, LockEntry]) -> None:
    source, entry = rds_archive
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / entry.file).write_bytes(bytes(data))
    write_lock(tmp_path, [entry])
    with pytest.raises(ChecksumMismatch, match=re.escape("does not match packages.lock")) as info:
        bundled_packages(tmp_path, cache_dir=tmp_path / "cache")
    assert entry.file in _one_line(info.value)
    assert isinstance(info.value, PackageError)


def test_locked_archive_loads(tmp_path: Path, rds_archive: tuple[Path, LockEntry]) -> None:
    source, entry = rds_archive
    shutil.copy(source, tmp_path / entry.file)
    write_lock(tmp_path, [entry])
    [pkg] = bundled_packages(tmp_path, cache_dir=tmp_path / "cache")
    assert pkg.origin == "bundled"
    assert any(e.url == RDS_CANONICAL for e in pkg.entries)


def test_a_verified_archive_is_not_hashed_again_until_it_changes(
    tmp_path: Path, rds_archive: tuple[Path, LockEntry], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, entry = rds_archive
    archive = tmp_path / entry.file
    shutil.copy(source, archive)
    write_lock(tmp_path, [entry])
    bundled_packages(tmp_path, cache_dir=tmp_path / "cache")  # hashed, verified, recorded
    hashed: list[Path] = []
    real = package_module.sha256_of
    monkeypatch.setattr(package_module, "sha256_of", lambda path: hashed.append(path) or real(path))
    monkeypatch.setattr(lock_module, "sha256_of", lambda path: hashed.append(path) or real(path))
    bundled_packages(tmp_path, cache_dir=tmp_path / "cache")
    assert hashed == []
    data = bytearray(source.read_bytes())  # same size, other content, new modification time
    data[len(data) // 2] ^= 0xFF
    before = archive.stat().st_mtime_ns
    archive.write_bytes(bytes(data))
    if archive.stat().st_mtime_ns == before:  # a coarse file-system clock
        os.utime(archive, ns=(before, before + 1_000_000_000))
    with pytest.raises(ChecksumMismatch):
        bundled_packages(tmp_path, cache_dir=tmp_path / "cache")
    assert hashed


def test_missing_or_bad_lock(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=re.escape("no packages.lock")):
        bundled_packages(tmp_path)
    (tmp_path / "packages.lock").write_text('{"packages": [{"id": "x"}]}')
    with pytest.raises(PackageError, match="unreadable package lock"):
        bundled_packages(tmp_path)


# -- the cache (IMGFHIR_CACHE_DIR) ----------------------------------------------------


def test_cache_dir_env_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rds_archive: tuple[Path, LockEntry]
) -> None:
    monkeypatch.setenv("IMGFHIR_CACHE_DIR", str(tmp_path / "cache"))
    source, entry = rds_archive
    pkg = Package.open(source, "bundled", lock=entry)
    unpacked = tmp_path / "cache" / "packages" / entry.sha256
    assert pkg.root == unpacked / "package"
    assert (unpacked / "package" / "package.json").is_file()
    assert not (unpacked / INDEX_NAME).exists()  # the index is built on first use
    assert len(pkg.entries) == 15
    assert (unpacked / INDEX_NAME).is_file()


def test_index_is_reused_and_rebuilt_when_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rds_archive: tuple[Path, LockEntry]
) -> None:
    monkeypatch.setenv("IMGFHIR_CACHE_DIR", str(tmp_path / "cache"))
    source, entry = rds_archive
    expected = Package.open(source, "bundled", lock=entry).entries

    def no_scan(self: Package) -> None:
        raise AssertionError("the cached index should have been used")

    with monkeypatch.context() as patch:
        patch.setattr(Package, "_scan", no_scan)
        assert Package.open(source, "bundled", lock=entry).entries == expected

    index = tmp_path / "cache" / "packages" / entry.sha256 / INDEX_NAME
    index.write_text("{ damaged")
    assert Package.open(source, "bundled", lock=entry).entries == expected
    assert orjson.loads(index.read_bytes())["format"] == INDEX_FORMAT


def test_unwritable_cache_falls_back_to_a_private_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rds_archive: tuple[Path, LockEntry]
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("IMGFHIR_CACHE_DIR", str(blocker / "cache"))
    source, entry = rds_archive
    pkg = Package.open(source, "bundled", lock=entry)
    assert not pkg.root.is_relative_to(blocker)
    assert any(e.url == RDS_CANONICAL for e in pkg.entries)
    assert pkg.load("StructureDefinition-radiation-dose-summary.json")["name"] == "RadiationDoseSummary"
    shutil.rmtree(pkg.root.parent, ignore_errors=True)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_cache_dir_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rds_archive: tuple[Path, LockEntry]
) -> None:
    cache = tmp_path / "cache"
    (cache / "packages").mkdir(parents=True)
    (cache / "packages").chmod(0o555)
    monkeypatch.setenv("IMGFHIR_CACHE_DIR", str(cache))
    source, entry = rds_archive
    try:
        pkg = Package.open(source, "bundled", lock=entry)
        assert not pkg.root.is_relative_to(cache)
        assert any(e.url == RDS_CANONICAL for e in pkg.entries)
        shutil.rmtree(pkg.root.parent, ignore_errors=True)
    finally:
        (cache / "packages").chmod(0o755)
