"""The comparison itself, on real published snapshots (R4 core bodyweight, vitalsigns), mutated by hand."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from imgfhir.snapshot.compare import (
    Difference,
    agreement,
    choice_id_variants,
    compare_elements,
    element_key,
    resolve_diff_id,
    strip_version,
)
from imgfhir.snapshot.oracle import bundled_store

BODYWEIGHT = "http://hl7.org/fhir/StructureDefinition/bodyweight"
TRIGLYCERIDE = "http://hl7.org/fhir/StructureDefinition/triglyceride"


def published(url: str) -> list[dict[str, Any]]:
    scope = bundled_store().scope("hl7.fhir.r4.core")
    elements: list[dict[str, Any]] = scope.resolve(url)["snapshot"]["element"]
    return elements


@pytest.fixture
def expected() -> list[dict[str, Any]]:
    return published(BODYWEIGHT)


@pytest.fixture
def actual(expected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return copy.deepcopy(expected)


def element(elements: list[dict[str, Any]], ident: str) -> dict[str, Any]:
    return next(e for e in elements if e["id"] == ident)


def test_identical_snapshots_have_no_differences(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    assert compare_elements(expected, actual) == []
    assert agreement(expected, actual) == (len(expected), len(expected))


def test_prose_and_mappings_are_ignored(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    code = element(actual, "Observation.code")
    code["short"] = "something else"
    code["definition"] = "reworded"
    del code["mapping"]
    code["constraint"][0]["human"] = "reworded"
    assert compare_elements(expected, actual) == []


def test_changed_min(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    element(actual, "Observation.category")["min"] = 0
    assert compare_elements(expected, actual) == [Difference("Observation.category", "min", 1, 0)]
    assert agreement(expected, actual) == (len(expected) - 1, len(expected))


def test_changed_max(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    element(actual, "Observation.value[x]:valueQuantity")["max"] = "*"
    assert compare_elements(expected, actual) == [Difference("Observation.value[x]:valueQuantity", "max", "1", "*")]


def test_dropped_constraint(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    component = element(actual, "Observation.component")
    component["constraint"] = [c for c in component["constraint"] if c["key"] != "vs-3"]
    [diff] = compare_elements(expected, actual)
    assert diff == Difference("Observation.component", "constraint", ("ele-1", "vs-3"), ("ele-1",))
    assert diff.kind == "missing"


def test_constraint_order_is_irrelevant(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    element(actual, "Observation.component")["constraint"].reverse()
    assert compare_elements(expected, actual) == []


def test_changed_binding_strength(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    element(actual, "Observation.code")["binding"]["strength"] = "required"
    assert compare_elements(expected, actual) == [
        Difference("Observation.code", "binding.strength", "extensible", "required")
    ]


def test_binding_value_set_version_is_normalised(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    binding = element(actual, "Observation.code")["binding"]
    binding["valueSet"] += "|4.0.1"
    assert compare_elements(expected, actual) == []
    binding["valueSet"] = "http://example.org/ValueSet/other|1"
    assert compare_elements(expected, actual) == [
        Difference(
            "Observation.code",
            "binding.valueSet",
            "http://hl7.org/fhir/ValueSet/observation-vitalsignresult",
            "http://example.org/ValueSet/other",
        )
    ]


def test_dropped_binding(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    del element(actual, "Observation.code")["binding"]
    diffs = compare_elements(expected, actual)
    assert diffs == [
        Difference("Observation.code", "binding.strength", "extensible", None),
        Difference(
            "Observation.code", "binding.valueSet", "http://hl7.org/fhir/ValueSet/observation-vitalsignresult", None
        ),
    ]
    assert {d.kind for d in diffs} == {"missing"}


def test_removed_element(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    actual.remove(element(actual, "Observation.code.coding:BodyWeightCode.code"))
    [diff] = compare_elements(expected, actual)
    assert diff == Difference(
        "Observation.code.coding:BodyWeightCode.code", "element", "Observation.code.coding.code", None
    )
    assert diff.kind == "missing"
    assert agreement(expected, actual) == (len(expected) - 1, len(expected))


def test_extra_element_does_not_lower_agreement(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    actual.append({"id": "Observation.code.coding:Other", "path": "Observation.code.coding", "sliceName": "Other"})
    [diff] = compare_elements(expected, actual)
    assert diff == Difference("Observation.code.coding:Other", "element", None, "Observation.code.coding")
    assert diff.kind == "extra"
    assert agreement(expected, actual) == (len(expected), len(expected))


def test_alignment_is_by_id_not_position(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    actual.reverse()
    assert compare_elements(expected, actual) == []


def test_changed_fixed_value_and_type(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    system = element(actual, "Observation.value[x]:valueQuantity.system")
    assert system["fixedUri"] == "http://unitsofmeasure.org"
    system["fixedUri"] = "http://loinc.org"
    del element(actual, "Observation.code.coding:BodyWeightCode.code")["fixedCode"]
    assert compare_elements(expected, actual) == [
        Difference("Observation.code.coding:BodyWeightCode.code", "fixed", {"fixedCode": "29463-7"}, None),
        Difference(
            "Observation.value[x]:valueQuantity.system",
            "fixed",
            {"fixedUri": "http://unitsofmeasure.org"},
            {"fixedUri": "http://loinc.org"},
        ),
    ]


def test_fixed_is_not_pattern(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    code = element(actual, "Observation.code.coding:BodyWeightCode.code")
    code["patternCode"] = code.pop("fixedCode")
    assert compare_elements(expected, actual) == [
        Difference("Observation.code.coding:BodyWeightCode.code", "fixed", {"fixedCode": "29463-7"}, None),
        Difference("Observation.code.coding:BodyWeightCode.code", "pattern", None, {"patternCode": "29463-7"}),
    ]


def test_pattern_value_compared_deeply() -> None:
    exp = published(TRIGLYCERIDE)
    act = copy.deepcopy(exp)
    code = element(act, "Observation.code")
    assert code["patternCodeableConcept"]["coding"][0]["code"] == "35217-9"
    del code["patternCodeableConcept"]["coding"][0]["display"]
    [diff] = compare_elements(exp, act)
    assert (diff.element, diff.field, diff.kind) == ("Observation.code", "pattern", "changed")
    assert diff.actual == {"patternCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "35217-9"}]}}


def test_type_codes_and_profiles(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    subject = element(expected, "Observation.subject")
    assert subject["type"] == [
        {"code": "Reference", "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Patient"]}
    ]
    element(actual, "Observation.subject")["type"] = [
        {"code": "Reference", "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Patient|4.0.1"]}
    ]
    assert compare_elements(expected, actual) == []  # version suffix normalised away
    element(actual, "Observation.subject")["type"][0]["targetProfile"].append(
        "http://hl7.org/fhir/StructureDefinition/Group"
    )
    element(actual, "Observation.code")["type"] = [{"code": "CodeableConcept", "profile": ["http://example.org/cc"]}]
    element(actual, "Observation.issued")["type"].append({"code": "dateTime"})
    diffs = compare_elements(expected, actual)
    assert diffs == [
        Difference("Observation.code", "type[CodeableConcept].profile", (), ("http://example.org/cc",)),
        Difference(
            "Observation.subject",
            "type[Reference].targetProfile",
            ("http://hl7.org/fhir/StructureDefinition/Patient",),
            ("http://hl7.org/fhir/StructureDefinition/Group", "http://hl7.org/fhir/StructureDefinition/Patient"),
        ),
        Difference("Observation.issued", "type", ("instant",), ("dateTime", "instant")),
    ]
    assert [d.kind for d in diffs] == ["extra", "extra", "extra"]
    assert diffs[1].group == "type.targetProfile"


def test_slicing(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    slicing = element(actual, "Observation.category")["slicing"]
    assert slicing["ordered"] is False
    del slicing["ordered"]  # absent ordered means false
    slicing["description"] = "prose is ignored"
    assert compare_elements(expected, actual) == []
    slicing["rules"] = "closed"
    slicing["discriminator"] = slicing["discriminator"][:1]
    assert compare_elements(expected, actual) == [
        Difference(
            "Observation.category",
            "slicing.discriminator",
            (("value", "coding.code"), ("value", "coding.system")),
            (("value", "coding.code"),),
        ),
        Difference("Observation.category", "slicing.rules", "open", "closed"),
    ]
    del element(actual, "Observation.category")["slicing"]
    assert compare_elements(expected, actual) == [
        Difference(
            "Observation.category",
            "slicing",
            {
                "discriminator": (("value", "coding.code"), ("value", "coding.system")),
                "rules": "open",
                "ordered": False,
            },
            None,
        )
    ]


def test_differences_are_hashable(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    del element(actual, "Observation.code.coding:BodyWeightCode.code")["fixedCode"]
    diffs = compare_elements(expected, actual)
    assert len(set(diffs + diffs)) == 1
    assert diffs[0].as_dict()["kind"] == "missing"


def test_element_key_falls_back_to_path_and_slice_name() -> None:
    assert element_key({"id": "A.b:s", "path": "A.b", "sliceName": "s"}) == "A.b:s"
    assert element_key({"path": "A.b", "sliceName": "s"}) == "A.b:s"
    assert element_key({"path": "A.b"}) == "A.b"
    exp: list[dict[str, Any]] = [{"path": "A"}, {"path": "A.b", "min": 0}]
    act: list[dict[str, Any]] = [{"path": "A"}, {"path": "A.b", "min": 1}]
    assert compare_elements(exp, act) == [Difference("A.b", "min", 0, 1)]


def test_duplicate_ids_do_not_hide_elements() -> None:
    exp = [{"id": "A", "path": "A"}, {"id": "A.b", "path": "A.b"}, {"id": "A.b", "path": "A.b"}]
    act = [{"id": "A", "path": "A"}, {"id": "A.b", "path": "A.b"}]
    assert compare_elements(exp, act) == [Difference("A.b#2", "element", "A.b", None)]
    assert agreement(exp, act) == (2, 3)


def test_strip_version() -> None:
    assert strip_version("http://x/y|1.0") == "http://x/y"
    assert strip_version("http://x/y") == "http://x/y"


def test_choice_id_variants() -> None:
    assert choice_id_variants("valueQuantity") == ["valueQuantity", "value[x]", "value[x]:valueQuantity"]
    assert choice_id_variants("status") == ["status"]
    assert choice_id_variants("valueQuantity:s") == ["valueQuantity:s", "value[x]:s"]
    assert "value[x]" in choice_id_variants("valueCodeableConcept")


def test_resolve_diff_id_on_r4_type_slices() -> None:
    ids = {e["id"] for e in published(BODYWEIGHT)}
    assert resolve_diff_id("Observation.code", ids) == "Observation.code"
    assert resolve_diff_id("Observation.valueQuantity", ids) == "Observation.value[x]"
    assert resolve_diff_id("Observation.valueQuantity.code", ids) == "Observation.value[x]:valueQuantity.code"
    assert resolve_diff_id("Observation.valueString", ids) == "Observation.value[x]"
    assert resolve_diff_id("Observation.valueString.code", ids) is None
    assert resolve_diff_id("Observation.nothing", ids) is None


def test_resolve_diff_id_on_narrowed_choice() -> None:
    ids = {"Observation", "Observation.value[x]", "Observation.value[x].value", "Observation.component"}
    ids.add("Observation.component.value[x]")
    assert resolve_diff_id("Observation.valueQuantity.value", ids) == "Observation.value[x].value"
    assert resolve_diff_id("Observation.component.valueCodeableConcept", ids) == "Observation.component.value[x]"
    assert resolve_diff_id("Observation.value[x]:valueQuantity", ids) is None


def test_old_system_type_spelling_is_normalised() -> None:
    old = {
        "id": "Extension.id",
        "path": "Extension.id",
        "type": [
            {
                "_code": {
                    "extension": [
                        {
                            "url": "http://hl7.org/fhir/StructureDefinition/structuredefinition-json-type",
                            "valueString": "string",
                        }
                    ]
                }
            }
        ],
    }
    new = {"id": "Extension.id", "path": "Extension.id", "type": [{"code": "http://hl7.org/fhirpath/System.String"}]}
    assert compare_elements([old], [new]) == []
    assert compare_elements([old], [{**new, "type": [{"code": "string"}]}]) == [
        Difference("Extension.id", "type", ("http://hl7.org/fhirpath/System.String",), ("string",))
    ]


def _r5(url: str) -> list[dict[str, Any]]:
    elements: list[dict[str, Any]] = bundled_store().scope("hl7.fhir.r5.core").resolve(url)["snapshot"]["element"]
    return elements


def test_value_limits_are_compared_with_their_type() -> None:
    exp = _r5("http://hl7.org/fhir/StructureDefinition/integer") + _r5("http://hl7.org/fhir/StructureDefinition/string")
    act = copy.deepcopy(exp)
    value = element(act, "integer.value")
    assert value["minValueInteger"] == -2147483648
    value["minValueInteger"] = 0
    value["maxValueDecimal"] = value.pop("maxValueInteger")
    assert element(act, "string.value")["maxLength"] == 1048576
    del element(act, "string.value")["maxLength"]
    assert compare_elements(exp, act) == [
        Difference("integer.value", "minValue", {"minValueInteger": -2147483648}, {"minValueInteger": 0}),
        Difference("integer.value", "maxValue", {"maxValueInteger": 2147483647}, {"maxValueDecimal": 2147483647}),
        Difference("string.value", "maxLength", 1048576, None),
    ]


def test_content_reference_is_compared_by_its_fragment() -> None:
    exp = published("http://hl7.org/fhir/StructureDefinition/Questionnaire")
    act = copy.deepcopy(exp)
    nested = element(act, "Questionnaire.item.item")
    assert nested["contentReference"] == "#Questionnaire.item"
    nested["contentReference"] = "http://hl7.org/fhir/StructureDefinition/Questionnaire#Questionnaire.item"
    assert compare_elements(exp, act) == []
    nested["contentReference"] = "#Questionnaire.item.answerOption"
    del element(act, "Questionnaire.item.answerOption.value[x]")["type"]
    element(act, "Questionnaire.item.answerOption.value[x]")["contentReference"] = "#Questionnaire.item"
    assert [(d.element, d.field, d.kind) for d in compare_elements(exp, act)] == [
        ("Questionnaire.item.answerOption.value[x]", "type", "missing"),
        ("Questionnaire.item.answerOption.value[x]", "contentReference", "extra"),
        ("Questionnaire.item.item", "contentReference", "changed"),
    ]


def test_reference_aggregation_and_versioning(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    subject = element(actual, "Observation.subject")["type"][0]
    subject["versioning"] = "either"  # the default, stated
    assert compare_elements(expected, actual) == []
    subject["aggregation"] = ["contained"]
    subject["versioning"] = "specific"
    assert compare_elements(expected, actual) == [
        Difference("Observation.subject", "type[Reference].aggregation", (), ("contained",)),
        Difference("Observation.subject", "type[Reference].versioning", "either", "specific"),
    ]


def test_modifier_and_value_flags(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    status = element(actual, "Observation.status")
    assert status["isModifier"] is True
    status["isModifier"] = False
    code = element(actual, "Observation.code")
    code["isModifier"] = False  # absent and false are the same
    code["mustHaveValue"] = True
    code["valueAlternatives"] = ["http://hl7.org/fhir/StructureDefinition/data-absent-reason"]
    binding = element(actual, "Observation.value[x]:valueQuantity.code").setdefault("binding", {})
    binding["additional"] = [{"purpose": "maximum", "valueSet": "http://hl7.org/fhir/ValueSet/ucum-units|4.0.1"}]
    assert compare_elements(expected, actual) == [
        Difference("Observation.status", "isModifier", True, False),
        Difference("Observation.code", "mustHaveValue", None, True),
        Difference(
            "Observation.code",
            "valueAlternatives",
            (),
            ("http://hl7.org/fhir/StructureDefinition/data-absent-reason",),
        ),
        Difference(
            "Observation.value[x]:valueQuantity.code",
            "binding.additional",
            None,
            (("maximum", "http://hl7.org/fhir/ValueSet/ucum-units"),),
        ),
    ]
