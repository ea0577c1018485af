"""Unpacking package archives within limits, and sweeping what killed unpacks left behind.

A package archive may come from anywhere (`--package`). Without limits, a 286-byte `.tgz` holding a
10 GB sparse member wrote 8.8 GB into the cache, and a 1 GB JSON member in a 1 MB archive made the
indexer (which reads files whole) use 2 GB. Every member's declared size is checked before a byte of
it is written, the bytes written are counted as they go, and the whole is held to a total, a file
count and a compression ratio (`ArchiveLimits`; the shipped packages need at most 8 MB per file,
82 MB and 4,600 files per package, and expand 18 times). Refusals are `PackageError`s naming the
member, the limit and how to raise it (`IMGFHIR_ARCHIVE_LIMITS`).

Staging folders carry the unpacking process's id and host (`.unpack.PID.HOST.xxxx`); the next unpack
into the same cache removes those whose process is gone, and any older than a day.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tarfile
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath
from typing import IO

from imgfhir.packages.errors import PackageError

ENV = "IMGFHIR_ARCHIVE_LIMITS"
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """Limits of one package archive; raise them with IMGFHIR_ARCHIVE_LIMITS="member_bytes=256M,files=200000"."""

    member_bytes: int = 64 * 2**20  # one file, as declared in its header and as written
    total_bytes: int = 2**30  # all files
    files: int = 50_000  # members read, skipped ones included
    ratio: int = 100  # bytes written per byte of archive...
    ratio_floor: int = 32 * 2**20  # ...once past this many bytes (a tiny archive may expand more)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ArchiveLimits:
        """The defaults, with what IMGFHIR_ARCHIVE_LIMITS sets (`name=value` pairs, sizes with k/M/G)."""
        text = (os.environ if environ is None else environ).get(ENV, "").strip()
        if not text:
            return DEFAULT_LIMITS
        names = {f.name for f in fields(cls)}
        values: dict[str, int] = {}
        for pair in text.split(","):
            name, _, value = pair.strip().partition("=")
            m = re.fullmatch(r"(\d+)\s*([kmgt]?)i?b?", value.strip().lower())
            if name.strip() not in names or m is None:
                raise PackageError(f"{ENV}: cannot read {pair.strip()!r} (expected NAME=NUMBER[k|M|G], NAME one of "
                                   f"{', '.join(sorted(names))})")
            values[name.strip()] = int(m[1]) * _UNITS[m[2]]
        return cls(**values)


DEFAULT_LIMITS = ArchiveLimits()


def _over(archive: Path, what: str, limit: int, name: str) -> PackageError:
    return PackageError(f"{archive.name}: {what}, over the limit of {limit} ({name}; raise it with {ENV})")


def extract(archive: Path, dest: Path, limits: ArchiveLimits) -> None:
    """Extract the regular files under `package/` of `archive` into `dest`, within `limits`."""
    compressed = max(archive.stat().st_size, 1)
    allowed = max(limits.ratio * compressed, limits.ratio_floor)
    written = 0
    with tarfile.open(archive, "r:*") as tar:
        for count, member in enumerate(tar, start=1):
            if count > limits.files:
                raise _over(archive, f"more than {limits.files} members", limits.files, "files")
            name = PurePosixPath(member.name)
            if not member.isfile() or name.is_absolute() or ".." in name.parts:
                continue
            if not name.parts or name.parts[0] != "package":
                continue
            if member.size > limits.member_bytes:
                raise _over(archive, f"{member.name} is {member.size} bytes", limits.member_bytes, "member_bytes")
            if written + member.size > limits.total_bytes:
                raise _over(archive, f"its files hold more than {limits.total_bytes} bytes", limits.total_bytes,
                            "total_bytes")
            if written + member.size > allowed:
                what = f"its files expand to more than {limits.ratio} times its {compressed} bytes"
                raise _over(archive, what, limits.ratio, "ratio")
            out = dest.joinpath(*name.parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            fh = tar.extractfile(member)
            if fh is None:
                continue
            with fh, out.open("wb") as sink:
                written += _copy(fh, sink, member.size, archive, member.name)


def _copy(source: IO[bytes], sink: IO[bytes], declared: int, archive: Path, name: str) -> int:
    """Copy at most the declared size (tarfile's own reads stop there; this does not rely on it)."""
    done = 0
    while chunk := source.read(min(2**20, declared - done + 1)):
        done += len(chunk)
        if done > declared:
            raise PackageError(f"{archive.name}: {name} holds more than the {declared} bytes its header declares")
        sink.write(chunk)
    return done


# -- staging folders ----------------------------------------------------------------------------------------------

STAGING = ".unpack."
STALE_SECONDS = 24 * 3600  # no unpack takes a day: whatever is older was left behind
_HOST = re.sub(r"[^A-Za-z0-9-]", "_", socket.gethostname()) or "host"


def staging_dir(parent: Path) -> Path:
    """A new staging folder in `parent`, named by this process and host."""
    return Path(tempfile.mkdtemp(prefix=f"{STAGING}{os.getpid()}.{_HOST}.", dir=parent))


def sweep(parent: Path, now: float | None = None) -> list[Path]:
    """Remove staging folders (and legacy `.unpack-*` ones) of dead processes on this host, and any older than
    a day; returns what was removed. Errors are ignored: another process may be sweeping too."""
    removed: list[Path] = []
    try:
        entries = [e for e in parent.iterdir() if e.name.startswith((STAGING, ".unpack-"))]
    except OSError:
        return removed
    clock = time.time() if now is None else now
    for entry in entries:
        try:
            age = clock - entry.stat().st_mtime
        except OSError:
            continue
        if age > STALE_SECONDS or _owner_gone(entry.name):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _owner_gone(name: str) -> bool:
    if not name.startswith(STAGING):
        return False  # a legacy name says nothing of its owner: left to the age rule
    pid_text, _, rest = name[len(STAGING) :].partition(".")
    host = rest.rpartition(".")[0]
    if host != _HOST or not pid_text.isdigit():
        return False  # another machine's (a shared cache): only the age rule applies
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False  # alive, another user's
    return False
