"""Every constraint profile of the imaging IGs gets a snapshot, and that snapshot contains every
element its differential constrains (renamed choices such as `valueQuantity` accepted in either
snapshot spelling — see imgfhir.snapshot.compare.resolve_diff_id).

These IGs ship without snapshots, so there is no published answer to compare against; this is the
weaker, structural check. One test per profile URL, so failures are listed individually.
"""

from __future__ import annotations

from typing import Any

import pytest

from imgfhir.snapshot import generator_for
from imgfhir.snapshot.compare import element_key, resolve_diff_id
from imgfhir.snapshot.oracle import bundled_store

IG_PACKAGES = (
    "hl7.fhir.uv.radiation-dose-summary",
    "hl7.fhir.uv.dicom-sr",
    "hl7.fhir.eu.imaging",
    "hl7.fhir.eu.imaging-r5",
)


def _profiles() -> list[tuple[str, str]]:
    store = bundled_store()
    found: list[tuple[str, str]] = []
    for package_id in IG_PACKAGES:
        pkg = store.get(package_id)
        assert pkg is not None, f"{package_id} is not bundled"
        found += [
            (package_id, e.url)
            for e in pkg.entries
            if e.resource_type == "StructureDefinition" and e.derivation == "constraint" and e.url
        ]
    return found


PROFILES = _profiles()


def test_all_ig_packages_contribute_profiles() -> None:
    assert {package_id for package_id, _ in PROFILES} == set(IG_PACKAGES)


@pytest.mark.parametrize(("package_id", "url"), PROFILES, ids=[url for _, url in PROFILES])
def test_snapshot_covers_differential(package_id: str, url: str) -> None:
    store = bundled_store()
    scope = store.scope(package_id)
    sd: dict[str, Any] = generator_for(scope).snapshot(url)
    snapshot = sd["snapshot"]["element"]
    snapshot_ids = {element_key(e) for e in snapshot}
    differential = scope.resolve(url)["differential"]["element"]
    missing = [key for key in map(element_key, differential) if resolve_diff_id(key, snapshot_ids) is None]
    assert not missing, f"{url}: differential elements absent from the snapshot: {missing}"
    assert snapshot[0].get("path") == sd["type"], f"{url}: snapshot does not start at the root element"
