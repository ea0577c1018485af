"""What definitions state about primitives through extensions and mustHaveValue / valueAlternatives
(rules/definition_extensions.py), plausible years, and UCUM annotations (rules/ucum_annotations.py), as
InstanceValidator.checkPrimitive, checkQuantity and checkAttachment check them; on copies of real
examples with one change each, against the profiles in primitives2/profiles and profiles-r5."""

from __future__ import annotations

import pytest

from imgfhir.packages import load_store
from imgfhir.validation import Validator
from tests.validation.primitives2_support import PRIMITIVES2, Expected, check, found, validators

RULES = {"definition-extension", "must-have-value", "date-reasonable", "ucum-annotation"}
PATIENT, OBS, MUST = "constrained-text-patient", "two-decimals-observation", "must-have-value-patient"
FAMILY = "Patient.name[0].family"
VALUE = "Observation.valueQuantity"


@pytest.fixture(scope="module")
def validator() -> dict[str, Validator]:
    return validators()


CASES: list[tuple[str, str | None, list[Expected]]] = [
    (
        "patient-family-lowercase.json",
        PATIENT,
        [("definition-extension", "error", FAMILY, 33, 17, "'chalmers' does not")],
    ),
    ("patient-family-digit.json", PATIENT, [("definition-extension", "error", FAMILY, 33, 17, "'Chalmers2' does not")]),
    ("patient-family-two-letters.json", PATIENT, [("definition-extension", "error", FAMILY, 33, 17, "at least 3")]),
    (
        "patient-photo-data-too-long.json",
        PATIENT,
        [
            (
                "definition-extension",
                "error",
                "Patient.photo[0].data",
                168,
                15,
                "16 bytes; the definition allows at most 12",
            )
        ],
    ),
    (
        "patient-photo-size-too-large.json",
        PATIENT,
        [("definition-extension", "error", "Patient.photo[0]", 166, 5, "20 bytes; the definition allows at most 16")],
    ),
    (
        "patient-photo-url-only.json",
        PATIENT,
        [("definition-extension", "warning", "Patient.photo[0]", 166, 5, "url is not fetched offline")],
    ),
    (
        "observation-bmd-three-decimals.json",
        OBS,
        [("definition-extension", "error", VALUE + ".value", 29, 14, "3 decimal")],
    ),
    (
        "observation-bmd-low-two-decimals.json",
        OBS,
        [
            (
                "definition-extension",
                "error",
                VALUE + ".value",
                29,
                14,
                "3 decimal places; the definition allows at most 2",
            ),
            ("definition-extension", "error", "Observation.referenceRange[0].low.value", 46, 18, "at most 1"),
        ],
    ),
    (
        "r5/patient-gender-extension-only.json",
        MUST,
        [("must-have-value", "error", "Patient.gender", 173, 14, "must have")],
    ),
    (
        "r5/patient-gender-id-only.json",
        MUST,
        [("must-have-value", "error", "Patient.gender", 173, 14, "must have a value")],
    ),
    (
        "r5/patient-birthdate-other-extension.json",
        MUST,
        [("must-have-value", "error", "Patient.birthDate", 83, 17, "data-absent-reason")],
    ),
    (
        "r5/patient-birthdate-id-only.json",
        MUST,
        [("must-have-value", "error", "Patient.birthDate", 83, 17, "in its place")],
    ),
    ("patient-birthdate-1700.json", None, [("date-reasonable", "warning", "Patient.birthDate", 83, 16, "1700-12-25")]),
    (
        "patient-contact-period-2200.json",
        None,
        [("date-reasonable", "warning", "Patient.contact[0].period.start", 158, 18, "2200-01-01 is not plausible")],
    ),
    ("observation-bmd-annotation-no-unit.json", None, [("ucum-annotation", "warning", VALUE, 28, 20, "has no unit")]),
    (
        "observation-bmd-annotation-not-in-unit.json",
        None,
        [("ucum-annotation", "warning", VALUE, 28, 20, "not mention")],
    ),
    (
        "observation-bmd-annotation-in-unit.json",
        None,
        [("ucum-annotation", "warning", VALUE, 28, 20, "carry no meaning")],
    ),
]
NEAR_MISSES = [
    ("patient-family-capitalised.json", PATIENT),  # matches the regex, 3 characters
    ("patient-photo-data-within.json", PATIENT),  # 11 bytes of data, size 11
    ("observation-bmd-two-decimals.json", OBS),  # 2 and 1 decimal places
    ("r5/patient-birthdate-data-absent.json", MUST),  # the alternative the definition names
    ("r5/patient-gender-value-and-extension.json", MUST),  # a value and an extension
    ("patient-birthdate-1800.json", None),  # the earliest plausible year
]


@pytest.mark.parametrize(("name", "profile", "expected"), CASES, ids=[c[0] for c in CASES])
def test_reports_what_the_reference_reports(
    validator: dict[str, Validator], name: str, profile: str | None, expected: list[Expected]
) -> None:
    check(found(validator, name, RULES, profile), expected)


@pytest.mark.parametrize(("name", "profile"), NEAR_MISSES, ids=[n for n, _ in NEAR_MISSES])
def test_near_misses_pass(validator: dict[str, Validator], name: str, profile: str | None) -> None:
    assert found(validator, name, RULES, profile) == []


def test_unannotated_ucum_code_passes(validator: dict[str, Validator]) -> None:
    outcome = validator["R4"].validate(PRIMITIVES2.parents[1] / "core-examples" / "r4" / "Observation-bmd.json")
    assert [i for i in outcome.issues if i.rule == "ucum-annotation"] == []


def test_best_practice_level_applies_to_ucum_annotations() -> None:
    store = load_store([PRIMITIVES2 / "profiles"], env=False, entry_points=False)
    name = PRIMITIVES2 / "observation-bmd-annotation-no-unit.json"
    hint = Validator(store, best_practice="hint").validate(name, fhir_version="R4")
    ignore = Validator(store, best_practice="ignore").validate(name, fhir_version="R4")
    assert [i.severity for i in hint.issues if i.rule == "ucum-annotation"] == ["information"]
    assert [i for i in ignore.issues if i.rule == "ucum-annotation"] == []


def test_profile_extensions_are_not_left_to_the_base_definition(validator: dict[str, Validator]) -> None:
    """The profile's family element differs from the base only by its extensions: it must still be checked
    in the profile pass (plan.mark_twins compares the extensions rules read)."""
    assert found(validator, "patient-family-lowercase.json", RULES) == []
    assert found(validator, "patient-family-lowercase.json", RULES, PATIENT) != []
