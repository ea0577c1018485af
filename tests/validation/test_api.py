"""`validate()` never raises: every kind of bad input becomes a located fatal or error issue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgfhir.outcome import Issue, Outcome
from imgfhir.packages import load_store
from imgfhir.validation import Validator, validate
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, Rule

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "ig-examples"
RDS_EXAMPLE = EXAMPLES / "hl7.fhir.uv.radiation-dose-summary" / "Observation-122.json"
FIXTURES_INVALID = EXAMPLES.parent / "validation" / "invalid"
RDS = "http://hl7.org/fhir/uv/radiation-dose-summary/StructureDefinition/radiation-dose-summary"
MEASUREMENT = "http://hl7.org/fhir/uv/dicom-sr/StructureDefinition/imaging-measurement"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(load_store(env=False, entry_points=False))


def only(outcome: Outcome, severity: str) -> list[Issue]:
    return [i for i in outcome.issues if i.severity == severity]


def test_unparseable_json_is_fatal_with_line_and_column(validator: Validator) -> None:
    outcome = validator.validate('{\n  "resourceType": "Observation",\n  "status": }')
    (fatal,) = only(outcome, "fatal")
    assert (fatal.line, fatal.column) == (3, 13) and not outcome.ok


@pytest.mark.parametrize("text", ["[]", "42", '"Observation"', "null"])
def test_top_level_must_be_an_object(validator: Validator, text: str) -> None:
    assert only(validator.validate(text), "fatal")


def test_unknown_resource_type_is_an_error(validator: Validator) -> None:
    outcome = validator.validate({"resourceType": "Observatoin", "status": "final"}, fhir_version="R4")
    assert any(i.rule == "structure" and "Observatoin" in i.message for i in only(outcome, "error"))


def test_unknown_profile_names_close_matches(validator: Validator) -> None:
    outcome = validator.validate(RDS_EXAMPLE, RDS.replace("summary", "sumary"))
    (error,) = only(outcome, "error")
    assert error.rule == "profile" and RDS in error.message


def test_profile_of_the_other_fhir_version(validator: Validator) -> None:
    outcome = validator.validate(RDS_EXAMPLE, MEASUREMENT, fhir_version="R4")
    (error,) = only(outcome, "error")
    assert "FHIR R5, not FHIR R4" in error.message


def test_unknown_declared_profile_is_a_warning(validator: Validator) -> None:
    res = {"resourceType": "Patient", "meta": {"profile": ["http://example.org/fhir/StructureDefinition/nope"]}}
    outcome = validator.validate(res, fhir_version="R4")
    assert any(i.rule == "profile" and "not known" in i.message for i in only(outcome, "warning"))
    assert outcome.ok


def test_deep_nesting_is_fatal_not_a_recursion_error(validator: Validator) -> None:
    text = '{"resourceType": "Observation", "code": ' + '{"a": ' * 10_000 + "1" + "}" * 10_001
    assert only(validator.validate(text), "fatal")


def test_invalid_utf8_is_fatal(validator: Validator) -> None:
    assert only(validator.validate(b'{"resourceType": "Patient", "id": "\xff\xfe"}'), "fatal")


def test_internal_error_becomes_a_fatal_issue() -> None:
    def explode(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
        raise ZeroDivisionError("boom")

    rule = Rule("explode", "item", explode, lambda e: e.path == "Observation")
    validator = Validator(load_store(env=False, entry_points=False), rules=[rule])
    (fatal,) = only(validator.validate(RDS_EXAMPLE), "fatal")
    assert "ZeroDivisionError" in fatal.message


def test_extra_rules_run_and_report(validator: Validator) -> None:
    def always(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
        yield Issue("warning", "business-rule", "seen", expression=item.expression, rule="seen")

    rule = Rule("seen", "item", always, lambda e: e.path == "Observation.status")
    custom = Validator(validator.store, rules=[rule])
    assert [i.expression for i in custom.validate(RDS_EXAMPLE).issues if i.rule == "seen"] == ["Observation.status"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)
RESOURCE_KEYS = st.sampled_from(["id", "status", "code", "subject", "valueQuantity", "component", "extension", "meta"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=JSON)
def test_never_raises_on_arbitrary_json(validator: Validator, value: object) -> None:
    for outcome in (
        validator.validate({"resourceType": "Observation", "x": value}, fhir_version="R4"),
        validator.validate(value, fhir_version="R4"),
    ):
        assert isinstance(outcome, Outcome)
        assert not [i for i in outcome.issues if "internal error" in i.message], outcome.issues


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.dictionaries(RESOURCE_KEYS, JSON, max_size=6))
def test_never_raises_on_odd_values_in_real_elements(validator: Validator, fields: dict[str, object]) -> None:
    res = {"resourceType": "Observation", **fields, "meta": {"profile": [RDS]}}
    outcome = validator.validate(res, fhir_version="R4")
    assert not [i for i in outcome.issues if "internal error" in i.message], outcome.issues


def test_module_function_takes_extension_domains() -> None:
    unknown = FIXTURES_INVALID / "extension-unknown.json"
    strict = [i.severity for i in validate(unknown, fhir_version="R4").issues if i.rule == "extension"]
    allowed = [
        i.severity
        for i in validate(unknown, fhir_version="R4", extension_domains=["http://example.org/"]).issues
        if i.rule == "extension"
    ]
    assert (strict, allowed) == (["error"], ["information"])


@pytest.mark.parametrize("text", ["\x00", "Observation-545\x00.json"])
def test_a_nul_character_is_not_a_file_name(validator: Validator, text: str) -> None:
    """A string that is neither JSON nor XML is read as a path; one with a NUL cannot name a file."""
    outcome = validator.validate(text)
    assert [(i.severity, i.code) for i in outcome.issues] == [("fatal", "invalid")]
    assert "NUL" in outcome.issues[0].message
