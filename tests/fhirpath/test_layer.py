"""Unit tests of imgfhir's FHIRPath layer: compile cache, environment variables, errors, release models."""

from __future__ import annotations

import importlib
from decimal import Decimal
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


def test_evaluation_error_messages_show_no_object_reprs() -> None:
    """A collection where a singleton is required is described by its size (short, the same every run)."""
    resource = {"resourceType": "Observation", "component": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}
    with pytest.raises(FhirPathError) as info:
        evaluate(resource, "component contains component", release="R4")
    assert "a collection of 3 items" in str(info.value)
    assert " object at 0x" not in str(info.value)
    with pytest.raises(FhirPathError) as info:
        evaluate(resource, "component.id in ('a' | 'b' | 'c')", release="R4")
    assert "left operand of 'in' has more than one item" in str(info.value)


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


EXT = {"extension": [{"url": "u", "valueString": "x"}]}
WITH_EXTENSIONS: dict[str, Any] = {
    "resourceType": "Patient",
    "name": [{"given": ["a", "b"], "_given": [None, EXT]}, {"given": [None, "d"], "_given": [EXT, None]}],
    "birthDate": "2000-01-01",
    "_birthDate": EXT,
}


def test_primitive_and_its_extension_are_one_item() -> None:
    assert evaluate(WITH_EXTENSIONS, "birthDate.count()") == [1]
    assert evaluate(WITH_EXTENSIONS, "birthDate.extension('u').value") == ["x"]
    assert evaluate(WITH_EXTENSIONS, "birthDate.extension.url") == ["u"]
    assert evaluate(WITH_EXTENSIONS, "name.given") == ["a", "b", "d"]
    assert evaluate(WITH_EXTENSIONS, "name.given.select(hasValue())") == [True, True, False, True]
    assert evaluate(WITH_EXTENSIONS, "name[1].given.first().extension('u').exists()") == [True]


def test_date_time_arithmetic_keeps_offset_and_precision() -> None:
    [value] = evaluate(PATIENT, "@1973-12-25T00:00:00.000+10:00 + 7 days")
    assert value.asStr == "1974-01-01T00:00:00.000+10:00"
    assert evaluate(PATIENT, "(@1973-12-25 + 1 month).toString()") == ["1974-01-25"]
    assert evaluate(PATIENT, "(@T23:00:00 + 2 hours).toString()") == ["01:00:00"]
    with pytest.raises(FhirPathError):
        evaluate(PATIENT, "@1973-12-25 + 1 'cm'")


def test_partial_precision_comparison_is_empty() -> None:
    assert evaluate(PATIENT, "@2012-04-15 = @2012-04-15T10:00:00") == []
    assert evaluate(PATIENT, "@2012-04-15T15:00:00Z = @2012-04-15T10:00:00") == []
    assert evaluate(PATIENT, "@2012-04-15T15:00:00+05:00 = @2012-04-15T10:00:00Z") == [True]
    assert evaluate(PATIENT, "birthDate < @1975") == [True]


def test_quantities_compare_across_units() -> None:
    assert evaluate(PATIENT, "6 days < 1 week") == [True]
    assert evaluate(PATIENT, "4.0 'g' = 4000 'mg'") == [True]
    assert evaluate(PATIENT, "2.0 'cm' * 2.0 'm' = 0.040 'm2'") == [True]
    pounds = {"value": 185, "system": "http://unitsofmeasure.org", "code": "[lb_av]"}
    observation = {"resourceType": "Observation", "valueQuantity": pounds}
    assert evaluate(observation, "Observation.value > 80 'kg'") == [True]


def test_ratio_units_keep_their_structure() -> None:
    """g/g is dimensionless, not g2; mg/mg cancels to unity (the sign of a unit part comes from the UCUM
    parse of the code, not from where its text first occurs)."""
    assert evaluate(PATIENT, "(1 'g/g') = (1 'g2')") == []
    assert evaluate(PATIENT, "(1 'g/g') = (1 '1')") == [True]
    assert evaluate(PATIENT, "(1 'mg/mg' * 2 'g') = 2 'g'") == [True]
    assert evaluate(PATIENT, "90 'min' > 1 'h'") == [True]
    assert evaluate(PATIENT, "37 'Cel' = 98.6 '[degF]'") == [True]


def test_functions_fhirpathpy_lacks() -> None:
    assert evaluate(PATIENT, "1.587.lowBoundary(2)") == [Decimal("1.58")]
    assert evaluate(PATIENT, "@2014.highBoundary(6).toString()") == ["2014-12"]
    assert evaluate(PATIENT, "1.58700.precision()") == [5]
    assert evaluate(PATIENT, "(3 | 1 | 2).sort()") == [1, 2, 3]
    assert evaluate(PATIENT, "name.sort(-given.first()).select(given.first())") == ["Peter", "Jim"]
    assert evaluate(PATIENT, "'abc'.matchesFull('b')") == [False]
    assert evaluate(PATIENT, "'<a>'.escape('html')") == ["&lt;a&gt;"]
    assert evaluate(PATIENT, "1 'cm'.comparable(1 '[in_i]')") == [True]


def test_define_variable_scopes() -> None:
    assert evaluate(PATIENT, "defineVariable('n', name.first()).select(%n.family)") == ["Chalmers"]
    with pytest.raises(FhirPathError):  # defined in one operand, used in the other
        evaluate(PATIENT, "defineVariable('n', 1).id | select(%n)")
    with pytest.raises(FhirPathError):
        evaluate(PATIENT, "defineVariable('resource', 1)")


def test_resolve_contained_and_bundle_references() -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "contained": [{"resourceType": "Observation", "id": "o1"}],
        "result": [{"reference": "#o1"}, {"reference": "Observation/remote"}],
    }
    assert evaluate(report, "result.resolve().id") == ["o1"]
    remote = {"resourceType": "Observation", "id": "remote"}
    lookup = {"Observation/remote": remote}
    compiled = compile("result.resolve().id")
    assert compiled.evaluate(report, resolver=lookup.get) == ["o1", "remote"]
    bundle = {"resourceType": "Bundle", "entry": [{"fullUrl": "urn:uuid:1", "resource": remote}]}
    assert evaluate(bundle, "'urn:uuid:1'.resolve() is Observation") == [True]


def test_overrides_do_not_leak_into_fhirpathpy() -> None:
    fhirpathpy: Any = importlib.import_module("fhirpathpy")
    assert evaluate(PATIENT, "true.toString()") == ["true"]
    assert fhirpathpy.evaluate(PATIENT, "true.toString()") == ["True"]  # fhirpathpy as shipped


@pytest.mark.parametrize(
    "expression",
    ["name.given1", "Encounter.name.given", "Patient.deceasedBoolean", "(Patient.deceased as Period).start.x",
     "Patient.children().skip(1)", "Patient.descendants()[0]", "contact.name.given2"],
)  # fmt: skip
def test_strict_mode_rejects_invalid_paths(expression: str) -> None:
    with pytest.raises(FhirPathError) as info:
        compile(expression, "R4", strict=True, context_type="Patient")
    assert info.value.phase == "semantic"
    compile(expression, "R4")  # lenient (the default) accepts them


@pytest.mark.parametrize(
    "expression",
    ["name.given", "Patient.name.where(use = 'official').family", "deceased.ofType(boolean)", "text.div",
     "contact.name.family", "identifier.period.start", "meta.versionId", "extension.value.ofType(Coding).code",
     "children().exists()", "Patient.name.first().given.extension('x').exists()", "id.length() > 1",
     "(deceased as dateTime).exists()", "contained.ofType(Observation).value", "name.select(given.first())"],
)  # fmt: skip
def test_strict_mode_accepts_valid_paths(expression: str) -> None:
    compile(expression, "R4", strict=True, context_type="Patient")
    compile(expression, "R5", strict=True, context_type="Patient")


def test_narrative_checks() -> None:
    good = {"resourceType": "Patient", "text": {"div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Hi</p></div>'}}
    assert evaluate(good, "text.div.htmlChecks()") == [True]
    for div in [
        '<div xmlns="http://www.w3.org/1999/xhtml"><script>x()</script></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">Hi</p></div>',
        "<div><p>no namespace</p></div>",
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>unclosed</div>',
    ]:
        assert evaluate({"resourceType": "Patient", "text": {"div": div}}, "text.div.htmlChecks()") == [False], div


def test_lenient_syntax_seen_in_published_invariants() -> None:
    assert evaluate(PATIENT, 'id.contains("1")') == [True]  # double-quoted strings (R5 core eld-11)
    assert evaluate(PATIENT, "'a' & \"it's\"") == ["ait's"]
    assert evaluate({"resourceType": "Patient", "text": {"div": "<div/>"}}, "text.div.exists()") == [True]


class _FakeTerminology:
    def expand(self, url: str) -> dict[str, Any]:
        codes = [{"code": c} for c in ("male", "female", "other", "unknown")]
        return {"resourceType": "ValueSet", "url": url, "expansion": {"contains": codes}}

    def validateVS(self, url: str, code: str) -> dict[str, Any]:
        return {"resourceType": "Parameters", "parameter": [{"name": "result", "valueBoolean": code == "male"}]}


def test_terminologies_delegate_to_the_callers_service() -> None:
    patient = {"resourceType": "Patient", "gender": "male"}
    env = {"terminologies": _FakeTerminology()}
    url = "http://hl7.org/fhir/ValueSet/administrative-gender"
    assert evaluate(patient, f"%terminologies.expand('{url}').expansion.contains.count()", env=env) == [4]
    expression = f"%terminologies.validateVS('{url}', $this.gender).parameter.where(name = 'result').value"
    assert evaluate(patient, expression, env=env) == [True]
    with pytest.raises(FhirPathError):
        evaluate(patient, f"%terminologies.expand('{url}')")


def test_as_over_several_items_fails_unless_lenient() -> None:
    """The official suite wants as() on a collection to fail (testFHIRPathAsFunction21); R4's dom-3
    (`%resource.descendants().as(canonical)`) needs it to filter, as the reference validator does."""
    names = compile("Patient.name.as(HumanName).family", "R4")
    with pytest.raises(FhirPathError, match=r"as\(\) expects a single item"):
        names.evaluate(PATIENT)
    assert names.evaluate(PATIENT, lenient=True) == ["Chalmers"]


@pytest.mark.parametrize("release", ["R4", "R5"])
def test_resource_variables_have_their_type(release: str) -> None:
    """`%resource.is(Questionnaire)` (the questionnaire extensions' context invariants): the environment's
    resources are plain JSON, typed by their resourceType."""
    assert compile("%resource.is(Patient)", release).evaluate(PATIENT) == [True]
    assert compile("%rootResource is DomainResource", release).evaluate(PATIENT) == [True]
    assert compile("%resource.is(Observation)", release).evaluate(PATIENT) == [False]
