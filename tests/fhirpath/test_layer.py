"""Unit tests of imgfhir's FHIRPath layer: compile cache, environment variables, errors, release models."""

from __future__ import annotations

from typing import Any

import pytest

from imgfhir.fhirpath import CompiledExpression, FhirPathError, compile, evaluate

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "active": True,
    "name": [{"family": "Chalmers", "given": ["Peter", "James"]}, {"given": ["Jim"]}],
    "birthDate": "1974-12-25",
    "deceasedBoolean": False,
}


def test_compile_is_cached_per_expression_and_release() -> None:
    first = compile("name.given", "R4")
    assert compile("name.given", "R4") is first
    assert compile("name.given", "R5") is not first
    assert isinstance(first, CompiledExpression)
    assert first.release == "R4"


def test_release_names_are_case_insensitive_and_checked() -> None:
    assert compile("name", "r5").release == "R5"
    with pytest.raises(ValueError, match="unknown FHIR release"):
        compile("name", "DSTU1")


def test_evaluate_returns_plain_values() -> None:
    assert compile("name.given").evaluate(PATIENT) == ["Peter", "James", "Jim"]
    assert evaluate(PATIENT, "name.where(family.exists()).given.first()") == ["Peter"]
    assert evaluate(PATIENT, "name.count() = 2") == [True]


@pytest.mark.parametrize(
    "expression",
    ["2 + 2 /", "name.given(", "Patient.name.", "'unterminated", "2 + 2 /* open", "name..given", "@2014-01-01T25"],
)
def test_syntax_errors_raise_at_compile_time(expression: str) -> None:
    with pytest.raises(FhirPathError) as info:
        compile(expression)
    assert info.value.phase == "syntax"
    assert info.value.expression == expression


def test_evaluation_errors_raise_fhirpath_error() -> None:
    with pytest.raises(FhirPathError) as info:
        evaluate(PATIENT, "name.given.single()")
    assert info.value.phase == "evaluation"
    with pytest.raises(FhirPathError):
        evaluate(PATIENT, "%undefined")


def test_standard_environment_variables() -> None:
    assert evaluate(PATIENT, "%resource.id") == ["p1"]
    assert evaluate(PATIENT, "%rootResource.id") == ["p1"]
    assert evaluate(PATIENT, "%ucum") == ["http://unitsofmeasure.org"]
    assert evaluate(PATIENT, "%sct") == ["http://snomed.info/sct"]
    assert evaluate(PATIENT, "%loinc") == ["http://loinc.org"]
    assert evaluate(PATIENT, "%`vs-administrative-gender`") == ["http://hl7.org/fhir/ValueSet/administrative-gender"]
    assert evaluate(PATIENT, "%`ext-patient-birthTime`") == [
        "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
    ]


def test_context_node_and_context_variable() -> None:
    name = PATIENT["name"][0]
    compiled = compile("given.first() & ' ' & %context.family & ' of ' & %resource.id")
    assert compiled.evaluate(PATIENT, context_node=name, context_type="HumanName") == ["Peter Chalmers of p1"]
    assert compile("%context.id").evaluate(PATIENT) == ["p1"]


def test_caller_environment_overrides_and_extends() -> None:
    assert evaluate(PATIENT, "%limit + 1", env={"limit": 2}) == [3]
    bundle = {"resourceType": "Bundle", "id": "b"}
    compiled = compile("%rootResource.id & '/' & %resource.id")
    assert compiled.evaluate(PATIENT, root_resource=bundle) == ["b/p1"]


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_model_types_for_is_as_and_of_type(release: str) -> None:
    assert evaluate(PATIENT, "Patient.deceased is boolean", release) == [True]
    assert evaluate(PATIENT, "Patient.deceased.ofType(boolean)", release) == [False]
    assert evaluate(PATIENT, "Patient.name.first() is HumanName", release) == [True]
    assert evaluate(PATIENT, "Patient is DomainResource", release) == [True]
    assert evaluate(PATIENT, "(Patient.deceased as dateTime).exists()", release) == [False]


def test_boolean_to_string_is_fhirpath_spelling() -> None:
    assert evaluate(PATIENT, "true.toString()") == ["true"]
    assert evaluate(PATIENT, "active.toString() + '!'") == ["true!"]
