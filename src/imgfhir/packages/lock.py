"""packages.lock: what the SDK ships, and the sha256 each shipped archive must have."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from imgfhir.packages.errors import ChecksumMismatch, PackageError

LOCK_NAME = "packages.lock"


@dataclass(frozen=True, slots=True)
class LockEntry:
    id: str
    version: str
    fhir_version: str
    sha256: str
    origin: str
    file: str
    provides: tuple[str, ...] = ()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_lock(path: Path) -> list[LockEntry]:
    try:
        data = orjson.loads(path.read_bytes())
        return [
            LockEntry(
                id=p["id"],
                version=p["version"],
                fhir_version=p["fhirVersion"],
                sha256=p["sha256"],
                origin=p["origin"],
                file=p["file"],
                provides=tuple(p.get("provides", ())),
            )
            for p in data["packages"]
        ]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise PackageError(f"{path.name}: unreadable package lock ({exc})") from exc


def verify(path: Path, entry: LockEntry) -> str:
    """Return the archive's sha256, raising if it is not the locked one."""
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise ChecksumMismatch(
            f"{path.name}: sha256 {actual[:12]}… does not match packages.lock ({entry.sha256[:12]}…); "
            "the shipped package was altered or corrupted"
        )
    return actual
