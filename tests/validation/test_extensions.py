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
