"""Package archives are unpacked within limits, and killed unpacks leave nothing behind for long.

The attack archives are small (the limits are set low, or the refusal comes from a header before any
data is read); the tests assert on the error and on what is left in the cache, not on timing.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from imgfhir.packages import Package, PackageError
from imgfhir.packages import archive as archive_module
from imgfhir.packages.archive import ENV, ArchiveLimits
from tests.support import BASE_FIXTURE, make_tgz, tgz_of_folder

MANIFEST = b'{"name": "example.tiny", "version": "1.0.0", "fhirVersions": ["4.0.1"]}'


def _left(cache: Path) -> list[str]:
    folder = cache / "packages"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _refused(archive: Path, cache: Path, limits: ArchiveLimits | None = None) -> str:
    with pytest.raises(PackageError) as info:
        Package.open(archive, "option", cache_dir=cache, limits=limits)
    assert _left(cache) == []  # the staging folder is gone, nothing half-unpacked stays
    message = str(info.value)
    assert "\n" not in message and ENV in message
    return message


def test_a_member_declaring_ten_gigabytes_is_refused_before_any_write(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        manifest = tarfile.TarInfo("package/package.json")
        manifest.size = len(MANIFEST)
        tar.addfile(manifest, io.BytesIO(MANIFEST))
        huge = tarfile.TarInfo("package/huge.json")
        huge.size = 10 * 2**30
        tar.addfile(huge)  # the header alone: refused before its data would be read
    message = _refused(archive, tmp_path / "cache")
    assert f"package/huge.json is {10 * 2**30} bytes, over the limit of {64 * 2**20} (member_bytes" in message


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar to write a sparse member")
def test_a_sparse_ten_gigabyte_member_in_a_tiny_archive_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "src" / "package"
    folder.mkdir(parents=True)
    (folder / "package.json").write_bytes(MANIFEST)
    with (folder / "sparse.json").open("wb") as fh:
        fh.truncate(10 * 2**30)  # a hole: no disk used
    archive = tmp_path / "sparse.tgz"
    done = subprocess.run(["tar", "-S", "-czf", str(archive), "-C", str(tmp_path / "src"), "package"], check=False)
    if done.returncode != 0:
        pytest.skip("this tar cannot write sparse members")
    assert archive.stat().st_size < 10_000
    assert "package/sparse.json is 10737418240 bytes" in _refused(archive, tmp_path / "cache")


def _zeros(tmp_path: Path, files: int, size: int) -> Path:
    members = {"package.json": MANIFEST, **{f"z{i}.json": bytes(size) for i in range(files)}}
    return make_tgz(tmp_path / "zeros.tgz", members)


def test_a_compression_bomb_is_refused_by_ratio(tmp_path: Path) -> None:
    archive = _zeros(tmp_path, 8, 2**20)  # 8 MB of zeros in a few kB
    limits = ArchiveLimits(ratio=100, ratio_floor=2**20)
    message = _refused(archive, tmp_path / "cache", limits)
    assert f"expand to more than 100 times its {archive.stat().st_size} bytes" in message


def test_total_size_and_file_count_are_limited(tmp_path: Path) -> None:
    archive = _zeros(tmp_path, 30, 1000)
    files = _refused(archive, tmp_path / "a", ArchiveLimits(files=20))
    assert "more than 20 members, over the limit of 20 (files" in files
    total = _refused(archive, tmp_path / "b", ArchiveLimits(total_bytes=10_000))
    assert "its files hold more than 10000 bytes, over the limit of 10000 (total_bytes" in total
    member = _refused(archive, tmp_path / "c", ArchiveLimits(member_bytes=999))
    assert "package/z0.json is 1000 bytes, over the limit of 999 (member_bytes" in member


def test_a_real_package_at_its_exact_sizes_unpacks(tmp_path: Path) -> None:
    archive = tgz_of_folder(BASE_FIXTURE, tmp_path / "base.tgz")
    with tarfile.open(archive) as tar:
        sizes = [m.size for m in tar.getmembers() if m.isfile()]
    limits = ArchiveLimits(member_bytes=max(sizes), total_bytes=sum(sizes), files=len(sizes), ratio_floor=sum(sizes))
    pkg = Package.open(archive, "option", cache_dir=tmp_path / "cache", limits=limits)
    assert pkg.entries  # the near miss: every limit met exactly


def test_limits_from_the_environment() -> None:
    assert ArchiveLimits.from_env({}) == ArchiveLimits()
    limits = ArchiveLimits.from_env({ENV: "member_bytes=256M, files=200000,total_bytes=4g"})
    assert (limits.member_bytes, limits.files, limits.total_bytes) == (256 * 2**20, 200_000, 4 * 2**30)
    with pytest.raises(PackageError, match="cannot read 'members=1'"):
        ArchiveLimits.from_env({ENV: "members=1"})


def test_the_environment_limits_apply_to_package_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "files=3")
    assert "more than 3 members" in _refused(_zeros(tmp_path, 5, 10), tmp_path / "cache")


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return int(child.stdout)


def test_a_killed_unpack_is_swept_by_the_next_one(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "packages").mkdir(parents=True)
    # a process that dies (SIGKILL: no cleanup runs) in the middle of writing its staging folder
    code = (
        "import os, signal, sys; from pathlib import Path; from imgfhir.packages import archive; "
        "d = archive.staging_dir(Path(sys.argv[1])); (d / 'package').mkdir(); "
        "(d / 'package' / 'big.json').write_bytes(bytes(2**20)); os.kill(os.getpid(), signal.SIGKILL)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code, str(cache / "packages")], env=env, check=False)
    [left] = _left(cache)
    assert left.startswith(".unpack.")
    mine = archive_module.staging_dir(cache / "packages")  # a live unpack of this process: kept
    elsewhere = cache / "packages" / ".unpack.123.another-host.abcd"  # another machine's, recent: kept
    elsewhere.mkdir()
    old = cache / "packages" / ".unpack-legacy"  # an older imgfhir's name, two days old: removed
    old.mkdir()
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    pkg = Package.open(tgz_of_folder(BASE_FIXTURE, tmp_path / "base.tgz"), "option", cache_dir=cache)
    assert sorted(_left(cache)) == sorted([pkg.sha256, mine.name, elsewhere.name])


def test_a_dead_process_is_told_from_a_live_one(tmp_path: Path) -> None:
    dead = tmp_path / f".unpack.{_dead_pid()}.{archive_module._HOST}.x1"
    alive = tmp_path / f".unpack.{os.getppid()}.{archive_module._HOST}.x2"
    dead.mkdir()
    alive.mkdir()
    assert archive_module.sweep(tmp_path) == [dead]
    assert alive.is_dir()
