"""Snapshot generator behaviour on hand-written edge cases and on the IG profile chains.

The oracles here are the differentials themselves (every property a profile states must hold in
its snapshot) and the definitions the snapshot draws on (extension definitions, base profiles);
agreement with published snapshots is measured separately (test_agreement.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imgfhir.packages import Package, PackageStore, load_store
from imgfhir.snapshot import SnapshotError, SnapshotGenerator, generator_for

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "snapshot"
EX = "http://example.org/fhir/StructureDefinition/"
IG_PACKAGES = [
    "hl7.fhir.uv.radiation-dose-summary",
    "hl7.fhir.uv.dicom-sr",
    "hl7.fhir.eu.imaging",
    "hl7.fhir.eu.imaging-r5",
]
# properties whose differential value must reappear unchanged in the snapshot element
_REPLACED = ("min", "max", "mustSupport", "maxLength", "sliceName", "contentReference")


@pytest.fixture(scope="module")
def store() -> PackageStore:
    return load_store(extra=[FIXTURES / "local-profiles"], env=False, entry_points=False)


@pytest.fixture(scope="module")
def local(store: PackageStore) -> SnapshotGenerator:
    pkg = store.get("example.imgfhir.local-profiles")
    assert isinstance(pkg, Package)
    return generator_for(store.scope(pkg))


def by_id(sd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in sd["snapshot"]["element"]}


def test_unknown_base_is_a_clear_error(local: SnapshotGenerator) -> None:
    with pytest.raises(SnapshotError, match=r"baseDefinition .*does-not-exist is unknown"):
        local.snapshot(EX + "unknown-base")


def test_circular_base_is_a_clear_error(local: SnapshotGenerator) -> None:
    with pytest.raises(SnapshotError, match=r"circular baseDefinition: .*circular-a → .*circular-b → .*circular-a"):
        local.snapshot(EX + "circular-a")


def test_differential_element_matching_nothing_is_reported(local: SnapshotGenerator) -> None:
    with pytest.raises(SnapshotError, match=r"Observation\.colour matches nothing"):
        local.snapshot(EX + "no-such-element")


def test_content_reference_is_unfolded_from_its_target(local: SnapshotGenerator) -> None:
    els = by_id(local.snapshot(EX + "nested-questionnaire"))
    nested = els["Questionnaire.item.item"]
    assert nested["max"] == "5"
    link_id = els["Questionnaire.item.item.linkId"]
    assert link_id["maxLength"] == 12
    assert link_id["base"]["path"] == "Questionnaire.item.linkId"  # drawn from the referenced element
    assert els["Questionnaire.item.item.code"]["max"] == "0"
    assert "Questionnaire.item.item.item" in els  # the rest of the referenced subtree came along


def test_extension_profile_children_come_from_the_extension_definition(local: SnapshotGenerator) -> None:
    els = by_id(local.snapshot(EX + "vital-extension-slices"))
    url = els["Observation.extension:bodyPosition.url"]
    assert url["fixedUri"] == "http://hl7.org/fhir/StructureDefinition/observation-bodyPosition"
    value = els["Observation.extension:bodyPosition.value[x]"]
    assert value["min"] == 1
    assert [t["code"] for t in value["type"]] == ["CodeableConcept"]  # narrowed by the extension definition


def test_reslice_inherits_its_slice_and_inherited_renamed_choice(local: SnapshotGenerator) -> None:
    els = by_id(local.snapshot(EX + "vital-extension-slices"))
    home = els["Observation.category:VSCat/home"]
    assert home["max"] == "1"
    assert home["sliceName"] == "VSCat/home"
    # bodyweight's own constraints on the renamed choice are still there, ours added
    value = els["Observation.value[x]:valueQuantity.value"]
    assert value["maxValueDecimal"] == 1000
    assert value["min"] == 1


def test_slices_follow_their_entry_in_order(local: SnapshotGenerator) -> None:
    ids = [e["id"] for e in local.snapshot(EX + "vital-extension-slices")["snapshot"]["element"]]
    assert ids.index("Observation.category") < ids.index("Observation.category:VSCat")
    assert ids.index("Observation.category:VSCat") < ids.index("Observation.category:VSCat/home")
    assert ids.index("Observation.category:VSCat/home") < ids.index("Observation.code")


def test_snapshots_are_built_once_per_scope(local: SnapshotGenerator) -> None:
    assert local.snapshot(EX + "nested-questionnaire") is local.snapshot(EX + "nested-questionnaire")


# -- the IG profiles -------------------------------------------------------------------------


def ig_profiles() -> list[tuple[str, str]]:
    store = load_store(env=False, entry_points=False)
    cases = []
    for ig in IG_PACKAGES:
        pkg = store.get(ig)
        assert pkg is not None, ig
        cases += [(ig, e.url) for e in pkg.entries if e.resource_type == "StructureDefinition" and e.url]
    return cases


@pytest.fixture(scope="module")
def bundled() -> PackageStore:
    return load_store(env=False, entry_points=False)


@pytest.mark.parametrize(("ig", "url"), ig_profiles())
def test_ig_profile_snapshot_honours_its_differential(bundled: PackageStore, ig: str, url: str) -> None:
    gen = generator_for(bundled.scope(ig))
    sd = gen.snapshot(url)
    els = by_id(sd)
    for diff in sd["differential"]["element"]:
        el = els.get(diff["id"])
        assert el is not None, f"{diff['id']} missing from the snapshot"
        for key, value in diff.items():
            if key in _REPLACED or key.startswith(("fixed", "pattern")):
                assert el.get(key) == value, f"{diff['id']}.{key}"
        if "type" in diff:
            assert [t["code"] for t in el["type"]] == [t["code"] for t in diff["type"]], diff["id"]
        if "binding" in diff:
            assert el["binding"]["strength"] == diff["binding"]["strength"], diff["id"]
        keys = {c["key"] for c in el.get("constraint", ())}
        assert {c["key"] for c in diff.get("constraint", ())} <= keys, diff["id"]


@pytest.mark.parametrize(("ig", "url"), ig_profiles())
def test_ig_profile_keeps_what_its_base_profile_states(bundled: PackageStore, ig: str, url: str) -> None:
    """Multi-level chains: what the base profile constrains and this one does not, stays."""
    gen = generator_for(bundled.scope(ig))
    sd = gen.snapshot(url)
    base = gen.snapshot(sd["baseDefinition"])
    if base.get("derivation") != "constraint":
        pytest.skip("based directly on a core definition")
    els = by_id(sd)
    own = {d["id"] for d in sd["differential"]["element"]}
    for diff in base["differential"]["element"]:
        if diff["id"] in own or diff["id"] not in els:
            continue
        for key in ("min", "max", "mustSupport"):
            if key in diff:
                assert els[diff["id"]].get(key) == diff[key], f"{diff['id']}.{key}"


def test_dicom_sr_chain_three_levels(bundled: PackageStore) -> None:
    gen = generator_for(bundled.scope("hl7.fhir.uv.dicom-sr"))
    root = "http://hl7.org/fhir/uv/dicom-sr/StructureDefinition/"
    sd = gen.snapshot(root + "imaging-measurement")
    assert sd["baseDefinition"] == root + "imaging-observation"
    assert gen.snapshot(root + "imaging-observation")["baseDefinition"].endswith("/Observation")
    els = by_id(sd)
    # from ImagingObservationProfile (one level up) …
    assert els["Observation.partOf:imagingStudyRef"]["min"] == 1
    # … from core Observation (two levels up): invariants keep their source
    sources = {c["key"]: c.get("source") for c in els["Observation"]["constraint"]}
    assert sources["obs-6"] == "http://hl7.org/fhir/StructureDefinition/Observation"
    # and its own: the value is a Quantity type slice
    assert [t["code"] for t in els["Observation.value[x]:valueQuantity"]["type"]] == ["Quantity"]
