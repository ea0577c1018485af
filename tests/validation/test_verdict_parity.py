"""Cases where imgfhir's verdict used to differ from the reference validator's, now decided as it decides
them: whitespace-only values, whitespace inside base64Binary, extensions on fixed values, and invariants
whose FHIRPath does not parse. tests/fixtures/validation/parity/README.md says how each fixture was derived."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgfhir.packages import PackageStore
from imgfhir.validation import Validator
from imgfhir.validation.rules.invariants import unknown_functions

PARITY = Path(__file__).resolve().parent.parent / "fixtures" / "validation" / "parity"
DEFINITIONS = PARITY / "packages" / "example.parity.definitions"
Found = list[tuple[str, str | None, int | None, int | None]]


@pytest.fixture(scope="module")
def validator(bundled_store: PackageStore) -> Validator:
    return Validator(bundled_store)


def _found(validator: Validator, name: str, rule: str, release: str = "R4") -> Found:
    outcome = validator.validate(PARITY / name, fhir_version=release)
    return [(i.severity, i.expression, i.line, i.column) for i in outcome.issues if i.rule == rule]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # a whitespace-only dateTime: a warning, no longer an error (TYPE_SPECIFIC_CHECKS_DT_PRIMITIVE_WS)
        ("patient-period-start-whitespace.json", [("warning", "Patient.address[0].period.start", 106, 18)]),
        # a whitespace-only string: the same warning
        ("patient-family-whitespace.json", [("warning", "Patient.name[0].family", 33, 17)]),
        # the near miss: a whitespace-only date that also has an extension is not reported
        ("patient-birthdate-whitespace-with-extension.json", []),
    ],
)
def test_a_whitespace_only_value_is_a_warning(validator: Validator, name: str, expected: Found) -> None:
    assert _found(validator, name, "primitive-whitespace") == expected
    assert _found(validator, name, "primitive") == []


def test_a_whitespace_only_code_still_fails_its_required_binding(validator: Validator) -> None:
    """The reference: blank, then Terminology_TX_Code_ValueSet_MISSING where the binding is required."""
    name = "patient-gender-whitespace.json"
    assert _found(validator, name, "primitive-whitespace") == [("warning", "Patient.gender", 82, 13)]
    assert _found(validator, name, "binding") == [("error", "Patient.gender", 82, 13)]


@pytest.mark.parametrize(
    ("name", "release", "expected"),
    [
        # line breaks inside base64Binary: an error in R5, a warning in R4 (TYPE_SPECIFIC_CHECKS_DT_BASE64_NO_WS_*)
        ("r5/practitioner-photo-line-breaks.json", "R5", [("error", "Practitioner.photo[0].data", 65, 15)]),
        ("practitioner-photo-line-breaks.json", "R4", [("warning", "Practitioner.photo[0].data", 65, 15)]),
        # the near misses: the same photos as published, on one line
        ("r5/practitioner-photo.json", "R5", []),
        ("practitioner-photo.json", "R4", []),
    ],
)
def test_whitespace_in_base64(validator: Validator, name: str, release: str, expected: Found) -> None:
    assert _found(validator, name, "base64-whitespace", release) == expected
    assert _found(validator, name, "primitive", release) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # bodyweight fixes valueQuantity.system and the LOINC coding's code: an extension on either is refused
        # (EXTENSION_EXT_FIXED_BANNED)
        ("observation-bodyweight-system-extension.json", [("error", "Observation.valueQuantity.system", 54, 15)]),
        ("observation-bodyweight-code-extension.json", [("error", "Observation.code.coding[0].code", 24, 17)]),
        # the near miss: an extension on the Quantity (not fixed) and an id on the fixed system
        ("observation-bodyweight-quantity-extension.json", []),
    ],
)
def test_a_fixed_value_allows_no_extensions(validator: Validator, name: str, expected: Found) -> None:
    assert _found(validator, name, "fixed-extension") == expected
    assert _found(validator, name, "fixed") == []


@pytest.fixture(scope="module")
def user_validator() -> Validator:
    return Validator(packages=[str(DEFINITIONS)])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # married-patient fixes maritalStatus with an originalText extension: the value needs as many
        # extensions (EXTENSION_EXT_COUNT_MISMATCH) and that one among them (EXTENSION_EXT_COUNT_NOTFOUND)
        ("patient-married-no-extension.json", [("error", "Patient.maritalStatus", 170, 20)]),
        ("patient-married-other-extension.json", [("error", "Patient.maritalStatus", 170, 20)]),
        ("patient-married.json", []),  # the near miss: the fixed value itself
    ],
)
def test_the_extensions_of_a_fixed_value_are_required(user_validator: Validator, name: str, expected: Found) -> None:
    assert _found(user_validator, name, "fixed-extension") == expected
    assert _found(user_validator, name, "fixed") == []


@pytest.mark.parametrize(
    ("name", "rule", "expected"),
    [
        # a constraint that does not parse: an error where it applies
        # (PROBLEM_PROCESSING_EXPRESSION__IN_PROFILE__PATH__)
        ("dose-unterminated-string-observation.json", "par-1", [("error", "Observation.subject", 37, 14)]),
        # one that calls a function no engine knows: the reference's parser refuses it, so an error too
        ("dose-misspelt-function-observation.json", "par-4", [("error", "Observation.subject", 37, 14)]),
        # one that parses but needs lastIndexOf(), which imgfhir's engine lacks: information, as before
        ("dose-last-index-observation.json", "par-2", [("information", "Observation.subject", 37, 14)]),
        # the near miss: the constraint parses and holds
        ("dose-patient-subject-observation.json", "par-3", []),
    ],
)
def test_an_invariant_that_does_not_parse_is_an_error(
    user_validator: Validator, name: str, rule: str, expected: Found
) -> None:
    assert _found(user_validator, name, rule) == expected


def test_every_function_of_imgfhirs_engine_is_known() -> None:
    """A function imgfhir's engine has is never taken for one the reference's parser refuses."""
    from imgfhir.fhirpath.functions import FUNCTIONS

    # operators are in the table too, some under a name of their own (inOp for `in`)
    operators = ("and", "or", "xor", "implies")
    names = [n for n in FUNCTIONS if n.isidentifier() and not n.endswith("Op") and n not in operators]
    assert [n for n in names if unknown_functions(f"a.{n}()")] == []
    assert unknown_functions("a.startWith('b') and c.where(d in ('e(' | 'f')).exists()") == ("startWith",)


def test_the_unparsable_invariant_of_the_definitions_package_is_an_error_too() -> None:
    validator = Validator(packages=[str(PARITY.parent.parent / "packages" / "example.imaging.definitions")])
    found = _found(validator, "../profiles/dose-bad-constraint-profile.json", "fix-1")
    assert found == [("error", "Observation.subject", 37, 14)]
