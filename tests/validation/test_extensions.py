"""Extensions: where each may be used (its contexts and FHIR versions), from real examples with one change.

tests/fixtures/validation/extensions/README.md says what each fixture was derived from and what changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imgfhir.packages import PackageStore
from imgfhir.validation import Validator

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXTENSIONS = FIXTURES / "validation" / "extensions"


@pytest.fixture(scope="module")
def validator(bundled_store: PackageStore) -> Validator:
    return Validator(bundled_store)


def _release(name: str) -> str:
    return "R5" if name.startswith("r5-") else "R4"


def _found(validator: Validator, name: str, rule: str) -> list[tuple[str, str | None, int | None, int | None]]:
    outcome = validator.validate(EXTENSIONS / name, fhir_version=_release(name))
    return [(i.severity, i.expression, i.line, i.column) for i in outcome.issues if i.rule == rule]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # artifact-isOwned: element contexts RelatedArtifact, three .library elements and
        # DomainResource.extension, then a fhirpath context; none of them admits a CodeableConcept
        # (before, the first context that was not an element context ended the check: no issue)
        ("r5-isowned-on-code.json", [("error", "Observation.code.extension[0]", 11, 7)]),
        # coding-sctdescid: context Coding; Observation.code is a CodeableConcept
        ("r5-sctdescid-on-codeableconcept.json", [("error", "Observation.code.extension[0]", 11, 7)]),
        # the near miss: on Observation.code.coding[0], whose logical path is Coding
        ("r5-sctdescid-on-coding.json", []),
    ],
)
def test_element_contexts_are_matched_against_the_containers_paths(
    validator: Validator, name: str, expected: list[tuple[str, str, int, int]]
) -> None:
    assert _found(validator, name, "extension-context") == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # procedure-schedule is for FHIR versions up to 4.3 (version-specific-use endFhirVersion)
        ("r5-procedure-schedule.json", [("error", "Procedure.extension[0]", 19, 5)]),
        ("r5-procedure-schedule-biopsy.json", [("error", "Procedure.extension[0]", 9, 5)]),
        ("procedure-schedule.json", []),  # the same extension on an R4 Procedure
    ],
)
def test_an_extension_for_other_fhir_versions_is_an_error(
    validator: Validator, name: str, expected: list[tuple[str, str, int, int]]
) -> None:
    assert _found(validator, name, "extension-version") == expected
    assert _found(validator, name, "extension-context") == []


@pytest.fixture(scope="module")
def with_definitions() -> Validator:
    """The shipped packages and the test package example.imaging.definitions (user-supplied definitions)."""
    return Validator(packages=[str(FIXTURES / "packages" / "example.imaging.definitions")])


@pytest.mark.parametrize(
    ("name", "rule", "expected"),
    [
        # component-code-note: a fhirpath context `Observation.component.code`
        ("note-on-component-code.json", "extension-context", []),
        ("note-on-code.json", "extension-context", [("error", "Observation.code.extension[0]", 11, 7)]),
        (
            "note-on-component-value.json",
            "extension-context",
            [("error", "Observation.component[0].valueCodeableConcept.extension[0]", 72, 11)],
        ),
        # r5-only-observation-note: on an Observation from FHIR 5.0 on (a versioned context), on a Procedure always
        ("fhir5-note-on-procedure.json", "extension-context", []),
        ("fhir5-note-on-observation.json", "extension-context", [("error", "Observation.extension[0]", 10, 5)]),
        ("fhir5-note-on-device.json", "extension-context", [("error", "Device.extension[0]", 10, 5)]),
        # supine-body-position: derived from observation-bodyPosition (CodeableConcept only), supine only
        ("supine.json", "pattern", []),
        ("supine-other-position.json", "pattern", [("error", "Observation.extension[0].valueCodeableConcept", 12, 31)]),
        ("supine-as-string.json", "type", [("error", "Observation.extension[0].valueString", 12, 22)]),
    ],
)
def test_user_supplied_extensions(
    with_definitions: Validator, name: str, rule: str, expected: list[tuple[str, str, int, int]]
) -> None:
    assert _found(with_definitions, name, rule) == expected


def test_a_versioned_context_is_named_with_the_version_in_the_message(with_definitions: Validator) -> None:
    outcome = with_definitions.validate(EXTENSIONS / "fhir5-note-on-observation.json", fhir_version="R4")
    (found,) = [i for i in outcome.issues if i.rule == "extension-context"]
    assert "allowed for FHIR 4.0 = e:Procedure" in found.message


def test_an_extension_whose_snapshot_cannot_be_generated_is_an_error_where_used(with_definitions: Validator) -> None:
    """bad-path-extension names Extension.valueBla: it is reported with its url|version, not dropped."""
    outcome = with_definitions.validate(EXTENSIONS / "bad-path-extension.json", fhir_version="R4")
    found = [i for i in outcome.issues if i.rule == "profile-definition"]
    where = [(i.severity, i.expression, i.line, i.column) for i in found]
    assert where == [("error", "Observation.extension[0]", 10, 5)]
    assert "bad-path-extension|0.1.0" in found[0].message and "valueBla" in found[0].message
    assert not [i for i in outcome.issues if i.severity == "fatal"]
