"""The fixtures written for rows of docs/reference-parity.md whose checks had none: each reports its rule at
the place changed, and its near miss (the example it came from, or a change the rule allows) does not.
tests/fixtures/validation/parity/README.md says how each was derived."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgfhir.packages import PackageStore
from imgfhir.validation import Validator

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PARITY = FIXTURES / "validation" / "parity"
DEFINITIONS = PARITY / "packages" / "example.parity.definitions"
Found = list[tuple[str, str | None, int | None, int | None]]


@pytest.fixture(scope="module")
def validator(bundled_store: PackageStore) -> Validator:
    return Validator(bundled_store)


@pytest.fixture(scope="module")
def with_definitions() -> Validator:
    return Validator(packages=[str(DEFINITIONS)])


def _found(validator: Validator, path: Path, rule: str) -> Found:
    outcome = validator.validate(path, fhir_version="R4")
    return [(i.severity, i.expression, i.line, i.column) for i in outcome.issues if i.rule == rule]


@pytest.mark.parametrize(
    ("name", "rule", "expected"),
    [
        (
            "practitionerrole-start-time-one-digit-hour.json",
            "primitive",
            [("error", "PractitionerRole.availableTime[0].availableStartTime", 77, 29)],
        ),
        ("parameters-uuid-without-urn.json", "uri-value", [("error", "Parameters.parameter[2].valueUuid", 15, 20)]),
        ("parameters-oid-without-urn.json", "uri-value", [("error", "Parameters.parameter[3].valueOid", 19, 19)]),
        ("condition-clinicalstatus-text-only.json", "binding", [("error", "Condition.clinicalStatus", 9, 21)]),
        ("condition-clinicalstatus-snomed.json", "binding", [("error", "Condition.clinicalStatus", 9, 21)]),
        ("patient-maritalstatus-text-only.json", "binding", [("warning", "Patient.maritalStatus", 165, 20)]),
    ],
)
def test_a_parity_fixture_reports_its_rule(validator: Validator, name: str, rule: str, expected: Found) -> None:
    assert _found(validator, PARITY / name, rule) == expected


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        ("fhirpath/r4/parameters-example-types.json", "primitive"),
        ("validation/parity/practitionerrole-example.json", "primitive"),
        ("core-examples/r4/Patient-example.json", "binding"),
        ("ig-examples/hl7.fhir.uv.ipa/Condition-ProblemExample1.json", "binding"),
    ],
)
def test_the_examples_they_come_from_are_clean(validator: Validator, source: str, rule: str) -> None:
    assert _found(validator, FIXTURES / source, rule) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # ordered slicing, mobile then work: Patient-example has work (telecom[1]) before mobile (telecom[2])
        ("patient-telecom-mobile-first.json", [("error", "Patient.telecom[2]", 72, 5)]),
        # openAtEnd: the unsliced home telecom comes first
        (
            "patient-telecom-open-at-end.json",
            [("error", "Patient.telecom[1]", 66, 5), ("error", "Patient.telecom[2]", 72, 5)],
        ),
        # the near misses: the definition's order, and the unsliced telecom moved to the end
        ("patient-telecom-work-first.json", []),
        ("patient-telecom-open-at-end-unsliced-last.json", []),
    ],
)
def test_ordered_and_open_at_end_slicing(with_definitions: Validator, name: str, expected: Found) -> None:
    assert _found(with_definitions, PARITY / name, "slice") == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("patient-family-max-length.json", [("error", "Patient.name[0].family", 38, 17)]),
        ("patient-family-max-length-eight.json", []),  # Chalmers: exactly the 8 characters allowed
    ],
)
def test_max_length(with_definitions: Validator, name: str, expected: Found) -> None:
    assert _found(with_definitions, PARITY / name, "maxLength") == expected


def test_bytes_that_are_not_utf8_are_one_fatal_issue(validator: Validator) -> None:
    outcome = validator.validate(PARITY / "patient-latin1-bytes.xml", fhir_version="R4")
    assert [(i.severity, i.rule) for i in outcome.issues] == [("fatal", "xml-encoding")]
