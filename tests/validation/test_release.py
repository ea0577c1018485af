"""Telling an input's FHIR release without --fhir-version: from its profiles, resource types, elements
and value shapes, checked against the core examples of both releases (which say which release they are)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from imgfhir.packages import PackageStore
from imgfhir.validation import Validator
from imgfhir.validation.release import detect_release
from imgfhir.validation.validator import AMBIGUOUS
from tests.support import FIXTURES

CORE = FIXTURES / "core-examples"
IG = FIXTURES / "ig-examples"


def _load(path: Path) -> dict[str, object]:
    data = orjson.loads(path.read_bytes())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_never_the_wrong_release_on_core_examples(bundled_store: PackageStore, release: str) -> None:
    decided = 0
    for path in sorted((CORE / release.lower()).glob("*.json")):
        found = detect_release(bundled_store, _load(path))
        assert found.release in (release, None), (path.name, found)
        decided += found.release is not None
    assert decided >= 3  # a third of these examples say which release they are; the others are R4-shaped


@pytest.mark.parametrize(
    ("path", "release", "reason"),
    [
        (CORE / "r5" / "ImagingSelection-example-dicom-sr-selection.json", "R5", "resource type ImagingSelection"),
        (CORE / "r5" / "Patient-patient-example-sex-and-gender.json", "R5", "valueCodeableReference"),
        (IG / "hl7.fhir.uv.radiation-dose-summary" / "Observation-122.json", "R4", "meta.profile"),
        (IG / "hl7.fhir.uv.dicom-sr" / "Observation-imaging-measurement-001.json", "R5", ""),
    ],
)
def test_the_reason_is_given(bundled_store: PackageStore, path: Path, release: str, reason: str) -> None:
    found = detect_release(bundled_store, _load(path))
    assert found.release == release
    assert reason in found.reason


def test_undecided_is_r4_with_a_notice(bundled_store: PackageStore) -> None:
    patient = _load(CORE / "r4" / "Patient-example.json")
    assert detect_release(bundled_store, patient).release is None
    outcome = Validator(bundled_store).validate(patient)
    notes = [i for i in outcome.issues if i.rule == AMBIGUOUS]
    assert len(notes) == 1 and notes[0].severity == "information" and "FHIR R4" in notes[0].message


def test_an_r5_only_resource_validates_as_r5_without_options(bundled_store: PackageStore) -> None:
    outcome = Validator(bundled_store).validate(CORE / "r5" / "ImagingSelection-example-dicom-sr-selection.json")
    assert outcome.ok, [str(i) for i in outcome.issues]
    assert not any("unknown resourceType" in i.message for i in outcome.issues)


def test_references_never_cross_releases(bundled_store: PackageStore) -> None:
    """The same Type/id in an R4 and an R5 input: a reference from each resolves within its release."""
    r4 = _load(CORE / "r4" / "Patient-example.json")
    r5 = _load(CORE / "r5" / "Patient-example.json")
    v = Validator(bundled_store)
    v.add_resources([r4], fhir_version="R4")
    v.add_resources([r5], fhir_version="R5")
    assert v.known["R4"]["Patient/example"] is r4
    assert v.known["R5"]["Patient/example"] is r5
