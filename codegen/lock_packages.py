"""Regenerate profiles/packages.lock from the archives in profiles/.

Run after adding or replacing a shipped package:  python codegen/lock_packages.py
Origins are kept from the existing lock; new packages get the origin given with --origin.
"""

from __future__ import annotations

import argparse
import io
import tarfile
from pathlib import Path

import orjson

from imgfhir.packages.lock import sha256_of

PROFILES = Path(__file__).resolve().parent.parent / "profiles"


def manifest(archive: Path) -> dict[str, object]:
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if member.name in ("package/package.json", "./package/package.json"):
                fh = tar.extractfile(member)
                assert fh is not None
                data = orjson.loads(io.BytesIO(fh.read()).getvalue())
                assert isinstance(data, dict)
                return data
    raise SystemExit(f"{archive.name}: no package/package.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--origin", default="", help="origin text for packages not yet in the lock")
    args = parser.parse_args()
    lock_file = PROFILES / "packages.lock"
    old = {}
    if lock_file.is_file():
        old = {p["file"]: p for p in orjson.loads(lock_file.read_bytes())["packages"]}
    entries = []
    for archive in sorted(PROFILES.glob("*.tgz")):
        m = manifest(archive)
        prev = old.get(archive.name, {})
        fhir_versions = m.get("fhirVersions") or m.get("fhir-version-list") or []
        entry = {
            "id": m["name"],
            "version": m["version"],
            "fhirVersion": fhir_versions[0] if isinstance(fhir_versions, list) and fhir_versions else "",
            "sha256": sha256_of(archive),
            "origin": prev.get("origin", args.origin),
            "file": archive.name,
        }
        if prev.get("provides"):
            entry["provides"] = prev["provides"]
        entries.append(entry)
    lock_file.write_bytes(orjson.dumps({"lockfileVersion": 1, "packages": entries}, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"{lock_file}: {len(entries)} packages")


if __name__ == "__main__":
    main()
