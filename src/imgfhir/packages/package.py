"""One FHIR NPM package, from a `.tgz` archive or a folder laid out like the FHIR package cache.

Archives are unpacked once into a cache folder named by their sha256 (gzip has no random
access, and R5 core alone holds ~90 MB of JSON); folders are read in place. The resource
index is built on first use and, for archives, stored beside the unpacked files.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tarfile
import tempfile
import zlib
from collections import Counter
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from imgfhir.packages import archive as _archive
from imgfhir.packages.archive import ArchiveLimits
from imgfhir.packages.errors import PackageError
from imgfhir.packages.lock import LockEntry, sha256_of, verify
from imgfhir.packages.xmlfiles import Report, ScopeHook

INDEX_NAME = "imgfhir-index.json"
INDEX_FORMAT = 2  # entries as rows in ResourceEntry field order

_RELEASES = {"1.0": "R2", "3.0": "R3", "4.0": "R4", "4.1": "R4B", "4.3": "R4B", "5.0": "R5", "6.0": "R6"}
_CORE_IDS = {"R4": "hl7.fhir.r4.core", "R4B": "hl7.fhir.r4b.core", "R5": "hl7.fhir.r5.core"}


def fhir_release(fhir_version: str) -> str:
    """Map a FHIR version such as 4.0.1 to its release name (R4); unknown versions map to themselves."""
    return _RELEASES.get(".".join(fhir_version.split(".")[:2]), fhir_version)


def core_package_id(release: str) -> str | None:
    return _CORE_IDS.get(release)


class ResourceEntry(NamedTuple):
    """What the store needs to know about a resource without parsing it again (a tuple: a package
    index holds thousands, built at every start)."""

    filename: str
    resource_type: str
    id: str | None = None
    url: str | None = None
    version: str | None = None
    name: str | None = None
    kind: str | None = None
    type: str | None = None
    base_definition: str | None = None
    derivation: str | None = None
    abstract: bool = False

    @classmethod
    def of(cls, filename: str, res: dict[str, Any]) -> ResourceEntry:
        def text(key: str) -> str | None:
            value = res.get(key)
            return value if isinstance(value, str) else None

        return cls(
            filename=filename,
            resource_type=str(res.get("resourceType")),
            id=text("id"),
            url=text("url"),
            version=text("version"),
            name=text("name"),
            kind=text("kind"),
            type=text("type"),
            base_definition=text("baseDefinition"),
            derivation=text("derivation"),
            abstract=res.get("abstract") is True,
        )


def default_cache_dir() -> Path:
    env = os.environ.get("IMGFHIR_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "imgfhir"


class Package:
    """A loaded package: manifest, lazily built resource index, and cached resource reads."""

    def __init__(self, root: Path, source: Path, origin: str, sha256: str | None) -> None:
        self.root = root  # the folder holding package.json
        self.source = source
        self.origin = origin
        self.sha256 = sha256
        self._resources: dict[str, dict[str, Any]] = {}
        self.problems: list[str] = []  # files left out, when no store hears of them
        self._index_file = root.parent / INDEX_NAME if sha256 else None
        self.manifest = _read_manifest(root / "package.json", source)
        self.id: str = self.manifest["name"]
        self.version: str = self.manifest["version"]
        self.fhir_version: str = _fhir_version_of(self.manifest, source)
        self.release = fhir_release(self.fhir_version)
        self.provides: tuple[str, ...] = ()
        # set by the store the package is added to: XML resources (folder packages) are read in this
        # scope, and what cannot be read is reported through `report`
        self.xml_scope: ScopeHook | None = None
        self.report: Report = self.problems.append

    def __repr__(self) -> str:
        return f"<Package {self.key} {self.release} from {self.origin}>"

    @property
    def key(self) -> str:
        return f"{self.id}#{self.version}"

    @property
    def dependencies(self) -> dict[str, str]:
        deps = self.manifest.get("dependencies") or {}
        return {str(k): str(v) for k, v in deps.items()} if isinstance(deps, dict) else {}

    @classmethod
    def open(
        cls,
        path: Path,
        origin: str,
        *,
        lock: LockEntry | None = None,
        cache_dir: Path | None = None,
        limits: ArchiveLimits | None = None,
    ) -> Package:
        """A package folder, or an archive unpacked (once) within `limits` (default: IMGFHIR_ARCHIVE_LIMITS)."""
        if path.is_dir():
            root = path / "package" if (path / "package" / "package.json").is_file() else path
            if not (root / "package.json").is_file():
                raise PackageError(f"{path}: not a FHIR package folder (no package/package.json)")
            return cls(root, path, origin, None)
        if not path.is_file():
            raise PackageError(f"{path}: no such package file or folder")
        cache = cache_dir or default_cache_dir()
        if lock is None:
            sha, record = sha256_of(path), False
        elif _verified_before(path, lock.sha256, cache):
            sha, record = lock.sha256, False
        else:
            sha, record = verify(path, lock), True
        unpacked = _unpack(path, sha, cache, limits or ArchiveLimits.from_env())
        if record:
            _record_verified(path, unpacked)
        pkg = cls(unpacked / "package", path, origin, sha)
        if lock:
            pkg.provides = lock.provides
        return pkg

    @cached_property
    def entries(self) -> tuple[ResourceEntry, ...]:
        if self._index_file and self._index_file.is_file():
            try:
                data = orjson.loads(self._index_file.read_bytes())
                if data.get("format") == INDEX_FORMAT:
                    return tuple(ResourceEntry._make(row) for row in data["entries"])
            except (orjson.JSONDecodeError, TypeError, KeyError):
                pass  # rebuild below
        entries = tuple(self._scan())
        if self._index_file:
            payload = {"format": INDEX_FORMAT, "fields": ResourceEntry._fields, "entries": [list(e) for e in entries]}
            _atomic_write(self._index_file, orjson.dumps(payload))
        return entries

    def _scan(self) -> list[ResourceEntry]:
        found: list[ResourceEntry] = []
        for file in sorted(self.root.glob("*.json")):
            if file.name in ("package.json", ".index.json") or file.name.startswith("."):
                continue
            try:
                res = orjson.loads(file.read_bytes())
            except orjson.JSONDecodeError:
                continue  # not a resource; the store reports nothing for stray files
            if isinstance(res, dict) and isinstance(res.get("resourceType"), str):
                found.append(ResourceEntry.of(file.name, res))
        if self.sha256 is None:  # a folder (an IG's output, an -ig folder) may hold XML resources too
            found.extend(self._scan_xml())
        return found

    def _scan_xml(self) -> list[ResourceEntry]:
        from imgfhir.packages.xmlfiles import index_entry

        found: list[ResourceEntry] = []
        for file in sorted(self.root.glob("*.xml")):
            if file.name.startswith(".") or file.with_suffix(".json").is_file():
                continue  # an IG's output has each resource in both formats: the JSON one is indexed
            entry = index_entry(file)
            if isinstance(entry, str):
                self.report(f"{self.key}: {entry}; file left out")
            else:
                found.append(entry)
        return found

    def counts(self) -> Counter[str]:
        return Counter(e.resource_type for e in self.entries)

    def load(self, filename: str) -> dict[str, Any]:
        """Parse a resource once; callers must treat the result as read-only."""
        res = self._resources.get(filename)
        if res is None and filename.endswith(".xml"):
            from imgfhir.packages.xmlfiles import read_resource

            res = read_resource(self.root / filename, self.key, self.xml_scope, self.report)
            self._resources[filename] = res
        if res is None:
            try:
                res = orjson.loads((self.root / filename).read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise PackageError(f"{self.key}: cannot read {filename} ({exc})") from exc
            if not isinstance(res, dict):
                raise PackageError(f"{self.key}: {filename} is not a FHIR resource")
            self._resources[filename] = res
        return res


def _read_manifest(path: Path, source: Path) -> dict[str, Any]:
    try:
        manifest = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise PackageError(f"{source}: unreadable package.json ({exc})") from exc
    if not isinstance(manifest, dict):
        raise PackageError(f"{source}: package.json is not a JSON object")
    for key in ("name", "version"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise PackageError(f"{source}: package.json has no '{key}'")
    return manifest


def _fhir_version_of(manifest: dict[str, Any], source: Path) -> str:
    for key in ("fhirVersions", "fhir-version-list"):
        versions = manifest.get(key)
        if isinstance(versions, list) and versions and isinstance(versions[0], str):
            return versions[0]
    deps = manifest.get("dependencies") or {}
    for core in _CORE_IDS.values():
        if isinstance(deps, dict) and core in deps:
            return str(deps[core])
    name = manifest.get("name", "")
    for core in _CORE_IDS.values():
        if name == core:
            return str(manifest["version"])
    raise PackageError(f"{source}: package.json declares no FHIR version (fhirVersions)")


VERIFIED_NAME = "imgfhir-verified.json"


def _signature(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _verified_before(archive: Path, sha: str, cache_dir: Path) -> bool:
    """Was this very file (same path, size, modification time and inode) found to hash to `sha`?
    Hashing the shipped archives (~30 MB) at every start would cost more than the rest of a
    one-file validation; a changed file is hashed again, as git's index does."""
    record = cache_dir / "packages" / sha / VERIFIED_NAME
    try:
        seen = orjson.loads(record.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return False
    signature = _signature(archive)
    return signature is not None and isinstance(seen, dict) and seen.get(str(archive.resolve())) == signature


def _record_verified(archive: Path, unpacked: Path) -> None:
    record = unpacked / VERIFIED_NAME
    try:
        seen = orjson.loads(record.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        seen = {}
    key, signature = str(archive.resolve()), _signature(archive)
    if isinstance(seen, dict) and signature is not None and seen.get(key) != signature:
        _atomic_write(record, orjson.dumps({**seen, key: signature}))


def _unpack(archive: Path, sha: str, cache_dir: Path, limits: ArchiveLimits) -> Path:
    """Unpack `package/` of an archive into cache_dir/packages/<sha256> once, atomically; first remove what
    killed unpacks left in the cache."""
    target = cache_dir / "packages" / sha
    if (target / "package" / "package.json").is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _archive.sweep(target.parent)
        staging = _archive.staging_dir(target.parent)
        shared = True
    except OSError:  # read-only cache: unpack for this process only
        staging = Path(tempfile.mkdtemp(prefix="imgfhir-"))
        atexit.register(shutil.rmtree, staging, True)  # nothing left behind in /tmp
        shared = False
    try:
        _extract(archive, staging, limits)
        if not (staging / "package" / "package.json").is_file():
            raise PackageError(f"{archive.name}: not a FHIR package (no package/package.json)")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not shared:
        return staging
    try:
        staging.rename(target)
    except OSError:  # another process won the race
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "package" / "package.json").is_file():
            raise PackageError(f"{archive.name}: cannot unpack into {target.parent}") from None
    return target


def _extract(archive: Path, dest: Path, limits: ArchiveLimits) -> None:
    try:
        _archive.extract(archive, dest, limits)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__  # tarfile's "r:*" errors span lines
        raise PackageError(f"{archive.name}: corrupt package archive ({detail})") from exc


def _atomic_write(path: Path, data: bytes) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs a rescan next time
