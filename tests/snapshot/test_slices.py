"""Slices never allow more than the element they slice (imgfhir.snapshot.slices).

Oracles: the profiles' own differentials (what a profile states on the sliced element holds for
every slice), and the published snapshots of the core and IPS packages (where the reference
tooling itself leaves a slice wider, ours may too, and nowhere else).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from imgfhir.packages import Scope
from imgfhir.snapshot import SnapshotError, generator_for
from imgfhir.snapshot.oracle import bundled_store, discover_cases
from imgfhir.snapshot.slices import WiderSlice, wider_slices
from imgfhir.snapshot.tree import Element

FHIR = "http://hl7.org/fhir/StructureDefinition/"


def _base_of(scope: Scope) -> Any:
    def base_of(url: str) -> str | None:
        found = scope.entry(url)
        return None if found is None else found[1].base_definition

    return base_of


def _by_id(sd: dict[str, Any]) -> dict[str, Element]:
    return {e["id"]: e for e in sd["snapshot"]["element"]}


@pytest.mark.parametrize(
    ("package", "sliced", "target"),
    [
        ("hl7.fhir.eu.imaging-r5", "DiagnosticReport.study", "http://hl7.eu/fhir/imaging-r5/StructureDefinition/"),
        ("hl7.fhir.eu.imaging", "DiagnosticReport.imagingStudy", "http://hl7.eu/fhir/imaging/StructureDefinition/"),
    ],
)
def test_slices_keep_the_target_profile_of_the_sliced_element(package: str, sliced: str, target: str) -> None:
    scope = bundled_store().scope(package)
    url = target + "DiagnosticReportEuImagingMinimalMetadata"
    els = _by_id(generator_for(scope).snapshot(url))
    expected = [{"code": "Reference", "targetProfile": [target + "ImagingStudyEuImaging"]}]
    assert els[sliced]["type"] == expected
    for name in ("study-resource", "study-identifier"):
        assert els[f"{sliced}:{name}"]["type"] == expected, name
    # the slices' own constraints are still merged on top
    assert els[f"{sliced}:study-resource.reference"]["min"] == 1
    assert els[f"{sliced}:study-identifier.identifier"]["type"][0]["profile"] == [
        target + "StudyInstanceUidIdentifierEuImaging"
    ]


def _generated_snapshots() -> list[tuple[str, str]]:
    store = bundled_store()
    return [
        (pkg.key, e.url)
        for pkg in store.packages
        for e in pkg.entries
        if e.resource_type == "StructureDefinition" and e.url and not pkg.load(e.filename).get("snapshot")
    ]


def test_no_generated_snapshot_has_a_slice_wider_than_its_sliced_element() -> None:
    store = bundled_store()
    found: list[tuple[str, WiderSlice]] = []
    cases = _generated_snapshots()
    # every differential-only definition of the shipped packages, the imaging IGs' among them
    assert len(cases) > 200
    assert {"hl7.fhir.eu.imaging-r5", "hl7.fhir.uv.dicom-sr"} <= {key.split("#")[0] for key, _ in cases}
    for key, url in cases:
        scope = store.scope(key)
        sd = generator_for(scope).snapshot(url)
        found += [(url, w) for w in wider_slices(sd["snapshot"]["element"], _base_of(scope))]
    assert not found, "\n".join(f"{url}: {w}" for url, w in found)


def test_regenerated_snapshots_are_no_wider_than_published_ones() -> None:
    """Where a published snapshot exists, ours may only repeat the reference tooling's own wide slices."""
    store = bundled_store()
    extra: list[str] = []
    published_wide: set[str] = set()
    for case in discover_cases(store):
        pkg = store.get(case.package)
        assert pkg is not None
        scope = store.scope(pkg)
        published = pkg.load(case.filename)
        try:
            sd = generator_for(scope).generate(copy.deepcopy({k: v for k, v in published.items() if k != "snapshot"}))
        except SnapshotError:  # IPS logical models on an R5-only base: counted as errors by the oracle
            continue
        try:
            theirs = {(w.element, w.field) for w in wider_slices(published["snapshot"]["element"], _base_of(scope))}
        except ValueError:  # a few core snapshots list a slice before its sliced element: nothing to compare
            theirs = set()
        published_wide |= {f"{case.url} {e}" for e, _ in theirs}
        ours = wider_slices(sd["snapshot"]["element"], _base_of(scope))
        extra += [f"{case.url}: {w}" for w in ours if (w.element, w.field) not in theirs]
    assert not extra, "\n".join(extra)
    # the reference tooling's own: R4's codesystem-history forbids nested extensions, then slices
    # them; IPS leaves category slices without the sliced element's CodeableConcept profile
    assert any("codesystem-history" in w for w in published_wide)
    assert any("Observation-results-radiology-uv-ips Observation.category:radiology" in w for w in published_wide)


# -- the check itself, on elements taken from R4 Observation ------------------------------------

_SLICED: Element = {
    "id": "Observation.performer",
    "path": "Observation.performer",
    "slicing": {"discriminator": [{"type": "type", "path": "$this"}], "rules": "open"},
    "max": "2",
    "type": [{"code": "Reference", "targetProfile": [FHIR + "Practitioner", FHIR + "Organization"]}],
    "binding": {"strength": "required", "valueSet": "http://hl7.org/fhir/ValueSet/observation-status"},
    "fixedString": "x",
    "maxLength": 10,
}


def _with_slice(**changes: Any) -> list[Element]:
    root: Element = {"id": "Observation", "path": "Observation"}
    sl = {**copy.deepcopy(_SLICED), "id": "Observation.performer:p", "sliceName": "p"}
    del sl["slicing"]
    sl.update(changes)
    return [root, copy.deepcopy(_SLICED), {k: v for k, v in sl.items() if v is not None}]


def _fields(elements: list[Element], base: dict[str, str] | None = None) -> list[str]:
    return [w.field for w in wider_slices(elements, (base or {}).get)]


def test_a_slice_equal_to_its_sliced_element_is_not_wider() -> None:
    assert _fields(_with_slice()) == []


def test_narrower_slices_are_accepted() -> None:
    derived = "http://example.org/fhir/StructureDefinition/my-practitioner"
    narrower = _with_slice(
        max="1",
        maxLength=5,
        type=[{"code": "Reference", "targetProfile": [derived]}],
    )
    assert _fields(narrower, {derived: FHIR + "Practitioner"}) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"type": [{"code": "Reference", "targetProfile": [FHIR + "Practitioner", FHIR + "Patient"]}]},
            "type[Reference].targetProfile",
        ),
        ({"type": [{"code": "Reference"}]}, "type[Reference].targetProfile"),
        ({"type": [{"code": "Reference"}, {"code": "Identifier"}]}, "type"),
        (
            {"binding": {"strength": "preferred", "valueSet": "http://hl7.org/fhir/ValueSet/observation-status"}},
            "binding.strength",
        ),
        ({"binding": None}, "binding"),
        ({"fixedString": None}, "fixed"),
        ({"maxLength": 20}, "maxLength"),
        ({"max": "*"}, "max"),
    ],
)
def test_wider_slices_are_reported(changes: dict[str, Any], field: str) -> None:
    assert field in _fields(_with_slice(**changes))
