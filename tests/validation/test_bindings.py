"""The binding rule, run directly on element plans built from real snapshots and IG example codes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, cast

import pytest

from imgfhir.outcome import Issue
from imgfhir.packages import PackageStore, Scope
from imgfhir.snapshot import snapshot_of
from imgfhir.terminology import Terminology
from imgfhir.validation.context import Context
from imgfhir.validation.model import RULES, Binding, ElementPlan, Item
from imgfhir.validation.rules.additional_bindings import ADDITIONAL_BINDING, additional_binding
from imgfhir.validation.rules.bindings import MAX_VALUE_SET, binding
from imgfhir.validation.validator import Validator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "validation" / "bindings"
RDS_PKG = "hl7.fhir.uv.radiation-dose-summary"
RDS = "http://hl7.org/fhir/uv/radiation-dose-summary/StructureDefinition/radiation-dose-summary"
EU_PKG = "hl7.fhir.eu.imaging-r5"
EU_STUDY = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/ImagingStudyEuImaging"
EU_REPORT = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/DiagnosticReportEuImagingMinimalMetadata"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
UCUM = "http://unitsofmeasure.org"


class _Validator:
    """Just enough of a Validator for Context.terminology: one Terminology per scope."""

    def __init__(self) -> None:
        self.built: dict[str, Terminology] = {}
        self.extra_rules: list[Any] = []

    def terminology(self, scope: Scope) -> Terminology:
        return self.built.setdefault(scope.label, Terminology(scope))


_VALIDATOR = _Validator()


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def context(store: PackageStore, package: str, resource: dict[str, Any]) -> Context:
    scope = store.scope(package)
    root = Item(resource, resource["resourceType"], ())
    return Context(cast(Any, _VALIDATOR), scope, scope.release, resource, resource, root)


def plan_of(ed: dict[str, Any], profile: str, release: str) -> ElementPlan:
    b = ed.get("binding") or {}
    return ElementPlan(
        id=ed["id"],
        path=ed["path"],
        name=ed["path"].rsplit(".", 1)[-1],
        ed=ed,
        min=int(ed.get("min", 0)),
        max=None,
        type_codes=tuple(t["code"] for t in ed.get("type", [])),
        profile_url=profile,
        fhir_release=release,
        binding=Binding(b["strength"], b.get("valueSet"), b.get("description")) if b else None,
    )


def element(store: PackageStore, profile: str, element_id: str) -> ElementPlan:
    sd = snapshot_of(store, profile)
    ed = next(e for e in sd["snapshot"]["element"] if e["id"] == element_id)
    return plan_of(ed, profile, "R5" if str(sd.get("fhirVersion", "")).startswith("5") else "R4")


def bound(path: str, type_code: str, strength: str, value_set: str) -> ElementPlan:
    """A hand-made element for a binding no shipped profile states on that type."""
    ed = {
        "id": path,
        "path": path,
        "type": [{"code": type_code}],
        "binding": {"strength": strength, "valueSet": value_set},
    }
    return plan_of(ed, "http://example.org/StructureDefinition/test", "R5")


def run(ctx: Context, plan: ElementPlan, value: Any, expression: str, type_code: str | None = None) -> list[Issue]:
    item = Item(value, expression, tuple(expression.split(".")), type_code or plan.type_codes[0])
    return list(binding(ctx, plan, item)) + list(additional_binding(ctx, plan, item))


@pytest.fixture(scope="module")
def rds_obs() -> dict[str, Any]:
    return fixture("Observation-139.json")


@pytest.fixture(scope="module")
def study() -> dict[str, Any]:
    return fixture("ImagingStudy-ImagingStudyStructuredReport.json")


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return fixture("DiagnosticReport-DiagnosticReportMinimalMetadata.json")


# -- registration -------------------------------------------------------------------------


def test_registered_once_with_an_applies_filter(bundled_store: PackageStore) -> None:
    rules = [r for r in RULES if r.name == "binding"]
    assert len(rules) == 1 and rules[0].kind == "item" and rules[0].fn is binding
    applies = rules[0].applies
    assert applies(element(bundled_store, RDS, "Observation.status"))
    assert applies(element(bundled_store, RDS, "Observation.component.code"))
    assert not applies(element(bundled_store, RDS, "Observation.subject"))
    assert not applies(bound("Observation.focus", "Reference", "required", "http://example.org/vs"))
    assert applies(bound("Observation.valueQuantity", "Quantity", "required", "http://example.org/vs"))


# -- required code ------------------------------------------------------------------------


def test_required_code_from_the_example_passes(bundled_store: PackageStore, rds_obs: dict[str, Any]) -> None:
    ctx = context(bundled_store, RDS_PKG, rds_obs)
    plan = element(bundled_store, RDS, "Observation.status")
    assert run(ctx, plan, rds_obs["status"], "Observation.status") == []


def test_required_code_outside_the_value_set_is_an_error(bundled_store: PackageStore, rds_obs: dict[str, Any]) -> None:
    ctx = context(bundled_store, RDS_PKG, rds_obs)
    plan = element(bundled_store, RDS, "Observation.status")
    issues = run(ctx, plan, "done", "Observation.status")
    assert len(issues) == 1
    found = issues[0]
    assert (found.severity, found.code, found.rule) == ("error", "code-invalid", "binding")
    assert found.expression == "Observation.status" and "'done'" in found.message
    assert found.pointer == ("Observation", "status")


# -- extensible CodeableConcept (RDS components, DICOM codes) --------------------------------


def test_extensible_component_codes(bundled_store: PackageStore, rds_obs: dict[str, Any]) -> None:
    ctx = context(bundled_store, RDS_PKG, rds_obs)
    plan = element(bundled_store, RDS, "Observation.component.code")
    dlp, procedure = rds_obs["component"][1]["code"], rds_obs["component"][0]["code"]
    assert run(ctx, plan, dlp, "Observation.component[1].code") == []
    # "Procedure reported" (DCM 121058) is not in the IG's component value set: a warning, not an error
    issues = run(ctx, plan, procedure, "Observation.component[0].code")
    assert [(i.severity, i.code) for i in issues] == [("warning", "code-invalid")]
    assert "121058" in issues[0].message and "extensible" in issues[0].message


def test_wrong_display_of_a_known_code_system_is_a_warning(
    bundled_store: PackageStore, rds_obs: dict[str, Any]
) -> None:
    ctx = context(bundled_store, RDS_PKG, rds_obs)
    plan = element(bundled_store, RDS, "Observation.component.code")
    concept = {"coding": [{"system": DCM, "code": "113813", "display": "DLP total"}]}
    issues = run(ctx, plan, concept, "Observation.component[1].code")
    assert [(i.severity, i.code) for i in issues] == [("warning", "code-invalid")]
    assert "CT Dose Length Product Total" in issues[0].message


def test_snomed_display_is_not_judged(bundled_store: PackageStore, rds_obs: dict[str, Any]) -> None:
    ctx = context(bundled_store, RDS_PKG, rds_obs)
    plan = element(bundled_store, RDS, "Observation.component.code")
    concept = {"coding": [{"system": "http://snomed.info/sct", "code": "89457008", "display": "isotope"}]}
    assert run(ctx, plan, concept, "Observation.component[2].code") == []


def test_example_binding_checks_no_membership(bundled_store: PackageStore, rds_obs: dict[str, Any]) -> None:
    ctx = context(bundled_store, RDS_PKG, rds_obs)
    plan = element(bundled_store, RDS, "Observation.code")  # example binding to observation-codes (LOINC)
    assert plan.binding is not None and plan.binding.strength == "example"
    assert run(ctx, plan, rds_obs["code"], "Observation.code") == []


def test_uri_bound_to_resource_types(bundled_store: PackageStore, rds_obs: dict[str, Any]) -> None:
    ctx = context(bundled_store, RDS_PKG, rds_obs)
    plan = element(bundled_store, RDS, "Observation.partOf:imagingStudyRef.type")
    assert run(ctx, plan, "ImagingStudy", "Observation.partOf[0].type") == []
    issues = run(ctx, plan, "ImagingStudies", "Observation.partOf[0].type")
    assert [i.severity for i in issues] == ["warning"]


# -- R5: EU imaging ------------------------------------------------------------------------


def test_study_modality_and_performer_function(bundled_store: PackageStore, study: dict[str, Any]) -> None:
    ctx = context(bundled_store, EU_PKG, study)
    modality = element(bundled_store, EU_STUDY, "ImagingStudy.series.modality")
    function = element(bundled_store, EU_STUDY, "ImagingStudy.series.performer.function")
    for i, series in enumerate(study["series"]):
        assert run(ctx, modality, series["modality"], f"ImagingStudy.series[{i}].modality") == []
        codes = [p["function"]["coding"][0]["code"] for p in series["performer"]]
        issues = [
            issue
            for j, p in enumerate(series["performer"])
            for issue in run(ctx, function, p["function"], f"ImagingStudy.series[{i}].performer[{j}].function")
        ]
        # CST (custodian) is in im-imaging-study-performer-type, LOC is not
        assert codes == ["CST", "LOC"]
        assert [(x.severity, x.expression) for x in issues] == [
            ("warning", f"ImagingStudy.series[{i}].performer[1].function")
        ]
    wrong_display = {"coding": [{"system": DCM, "code": "US", "display": "Ultra sound"}]}
    assert [i.severity for i in run(ctx, modality, wrong_display, "ImagingStudy.modality[0]")] == ["warning"]


def test_study_status(bundled_store: PackageStore, study: dict[str, Any]) -> None:
    ctx = context(bundled_store, EU_PKG, study)
    plan = element(bundled_store, EU_STUDY, "ImagingStudy.status")
    assert run(ctx, plan, study["status"], "ImagingStudy.status") == []
    assert run(ctx, plan, "final", "ImagingStudy.status")[0].severity == "error"


def test_unknown_value_set_is_one_information(bundled_store: PackageStore, study: dict[str, Any]) -> None:
    ctx = context(bundled_store, EU_PKG, study)
    plan = element(bundled_store, EU_STUDY, "ImagingStudy.series.instance.sopClass")  # DICOM PS3.4 table: not shipped
    coding = {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}
    issues = run(ctx, plan, coding, "ImagingStudy.series[0].instance[0].sopClass")
    assert [(i.severity, i.code) for i in issues] == [("information", "informational")]
    assert "not checked offline" in issues[0].message


def test_required_category_codeable_concept(bundled_store: PackageStore, report: dict[str, Any]) -> None:
    ctx = context(bundled_store, EU_PKG, report)
    plan = element(bundled_store, EU_REPORT, "DiagnosticReport.category:diagnostic-service")
    rad = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}
    assert run(ctx, plan, rad, "DiagnosticReport.category[0]") == []
    # one coding in the value set is enough
    both = {"coding": [report["category"][1]["coding"][0], rad["coding"][0]]}
    assert run(ctx, plan, both, "DiagnosticReport.category[0]") == []
    # the example's LOINC category alone is not from diagnostic-service-sections
    issues = run(ctx, plan, report["category"][1], "DiagnosticReport.category[1]")
    assert [(i.severity, i.code) for i in issues] == [("error", "code-invalid")]
    text_only = run(ctx, plan, {"text": "radiology"}, "DiagnosticReport.category[0]")
    assert [(i.severity, i.code) for i in text_only] == [("error", "code-invalid")]


def test_snomed_intensional_value_set_gives_one_information(bundled_store: PackageStore, study: dict[str, Any]) -> None:
    ctx = context(bundled_store, EU_PKG, study)
    plan = bound(
        "ImagingStudy.procedure",
        "CodeableReference",
        "extensible",
        "http://hl7.eu/fhir/imaging-r5/ValueSet/im-procedure-type",
    )
    concept = {"concept": {"coding": [{"system": "http://snomed.info/sct", "code": "77477000"}]}}
    issues = run(ctx, plan, concept, "ImagingStudy.procedure[0]")
    assert [(i.severity, i.code) for i in issues] == [("information", "informational")]
    assert "SNOMED CT" in issues[0].message
    assert run(ctx, plan, {"reference": {"reference": "Procedure/1"}}, "ImagingStudy.procedure[0]") == []


def test_quantity_units(bundled_store: PackageStore, report: dict[str, Any]) -> None:
    ctx = context(bundled_store, EU_PKG, report)
    ages = bound("Observation.valueQuantity", "Quantity", "required", "http://hl7.org/fhir/ValueSet/age-units")
    assert (
        run(ctx, ages, {"value": 40, "unit": "years", "system": UCUM, "code": "a"}, "Observation.valueQuantity") == []
    )
    issues = run(ctx, ages, {"value": 4, "system": UCUM, "code": "mGy"}, "Observation.valueQuantity")
    assert [(i.severity, i.code) for i in issues] == [("error", "code-invalid")]
    assert "unit" in issues[0].message
    assert run(ctx, ages, {"value": 40, "unit": "years"}, "Observation.valueQuantity") == []  # no coded unit
    any_unit = bound("Observation.valueQuantity", "Quantity", "required", "http://hl7.org/fhir/ValueSet/ucum-units")
    assert run(ctx, any_unit, {"value": 203.12, "system": UCUM, "code": "mGy.cm"}, "Observation.valueQuantity") == []
    odd = run(ctx, any_unit, {"value": 1, "system": UCUM, "code": "milligray per cm"}, "Observation.valueQuantity")
    assert [i.severity for i in odd] == ["information"]


def test_preferred_binding_still_reports_a_wrong_display(bundled_store: PackageStore, report: dict[str, Any]) -> None:
    ctx = context(bundled_store, EU_PKG, report)
    plan = bound(
        "DiagnosticReport.category",
        "CodeableConcept",
        "preferred",
        "http://hl7.org/fhir/ValueSet/diagnostic-service-sections",
    )
    bad = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD", "display": "Cardiology"}]
    }
    assert [i.severity for i in run(ctx, plan, bad, "DiagnosticReport.category[0]")] == ["warning"]
    other = {"coding": [{"system": "http://loinc.org", "code": "85430-7"}]}
    assert run(ctx, plan, other, "DiagnosticReport.category[0]") == []


@pytest.mark.parametrize(
    ("package", "profile"),
    [
        (EU_PKG, "http://hl7.eu/fhir/imaging-r5/StructureDefinition/ObservationGestationalAgeEuImaging"),
        # R4 states the additional binding with the tools extension additional-binding
        ("hl7.fhir.eu.imaging", "http://hl7.eu/fhir/imaging/StructureDefinition/ObservationGestationalAgeEuImaging"),
    ],
)
def test_maximum_value_set(bundled_store: PackageStore, report: dict[str, Any], package: str, profile: str) -> None:
    # gestational age: extensible age-units, additional binding (maximum) all-time-units
    ctx = context(bundled_store, package, report)
    plan = element(bundled_store, profile, "Observation.value[x]")
    where = "Observation.valueQuantity"

    def found(code: str) -> list[tuple[str, str]]:
        quantity = {"value": 20, "system": UCUM, "code": code}
        return [(i.severity, i.message) for i in run(ctx, plan, quantity, where, "Quantity")]

    assert found("wk") == []
    seconds = found("s")  # a time unit outside age-units: the extensible warning only
    assert [severity for severity, _ in seconds] == ["warning"]
    millimetres = found("mm")  # not a time unit at all: beyond the maximum value set
    assert [severity for severity, _ in millimetres] == ["warning", "error"]
    assert (
        "value set http://hl7.org/fhir/ValueSet/all-time-units of the additional binding (maximum)"
        in (millimetres[1][1])
    )


def test_r4_language_max_value_set(bundled_store: PackageStore, rds_obs: dict[str, Any]) -> None:
    ctx = context(bundled_store, RDS_PKG, rds_obs)
    plan = element(bundled_store, RDS, "Observation.language")  # preferred languages, max all-languages
    assert plan.binding is not None and plan.binding.strength == "preferred"
    assert run(ctx, plan, "de-CH", "Observation.language") == []
    assert run(ctx, plan, "not a language", "Observation.language") == []  # never a false invalid


# -- whole resources: rule id, severity and location, as the reference reports them ----------

CODE_RULES = ("binding", "binding-additional", "binding-max", "code-in-system", "code-inactive")


@pytest.fixture(scope="module")
def validator(bundled_store: PackageStore) -> Validator:
    return Validator(bundled_store)


def found_in(validator: Validator, name: str) -> list[tuple[str, str, str, int | None, int | None]]:
    release = "R5" if name.startswith("r5/") else "R4"
    outcome = validator.validate(FIXTURES / name, fhir_version=release)
    return [(i.severity, str(i.rule), str(i.expression), i.line, i.column) for i in outcome if i.rule in CODE_RULES]


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("Observation-blood-pressure-deprecated-interpretation.json", 61),
        ("r5/Observation-blood-pressure-deprecated-interpretation.json", 68),
    ],
)
def test_deprecated_concept_is_a_warning(validator: Validator, name: str, line: int) -> None:
    # INACTIVE_CONCEPT_FOUND: status deprecated counts as inactive (CodeSystemUtilities.isInactive)
    assert found_in(validator, name) == [
        ("warning", "code-inactive", "Observation.interpretation[0].coding[0]", line, 9)
    ]
    release = "R5" if name.startswith("r5/") else "R4"
    outcome = validator.validate(FIXTURES / name, fhir_version=release)
    message = next(i.message for i in outcome if i.rule == "code-inactive")
    assert "has a status of deprecated and its use should be reviewed" in message


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("Observation-blood-pressure-unknown-interpretation.json", 109),
        ("r5/Observation-blood-pressure-unknown-interpretation.json", 116),
    ],
)
def test_unknown_code_of_a_complete_code_system_is_an_error(validator: Validator, name: str, line: int) -> None:
    # Unknown_Code_in_Version at the coding, whatever the binding strength; the extensible binding
    # adds its own warning at the CodeableConcept
    assert found_in(validator, name) == [
        ("error", "code-in-system", "Observation.component[0].interpretation[0].coding[0]", line, 13),
        ("warning", "binding", "Observation.component[0].interpretation[0]", line - 2, 9),
    ]


@pytest.mark.parametrize(
    "name",
    [
        "Observation-blood-pressure-high.json",
        "r5/Observation-blood-pressure-high.json",
        "Observation-gestational-age-weeks.json",
        "r5/Observation-gestational-age-weeks.json",
        "MedicationRequest-period-unit-day.json",
        "r5/MedicationRequest-period-unit-day.json",
    ],
)
def test_near_misses_are_clean(validator: Validator, name: str) -> None:
    assert found_in(validator, name) == []


@pytest.mark.parametrize("prefix", ["", "r5/"])
def test_gestational_age_units(validator: Validator, prefix: str) -> None:
    # R5 binding.additional / R4 additional-binding extension, purpose maximum: checked as required
    assert found_in(validator, prefix + "Observation-gestational-age-mm.json") == [
        ("warning", "binding", "Observation.valueQuantity", 38, 20),
        ("error", "binding-additional", "Observation.valueQuantity", 38, 20),
    ]
    # a time unit outside age-units is within the maximum value set: the extensible warning only
    assert found_in(validator, prefix + "Observation-gestational-age-seconds.json") == [
        ("warning", "binding", "Observation.valueQuantity", 38, 20)
    ]


@pytest.mark.parametrize(("name", "line"), [("", 50), ("r5/", 57)])
def test_ucum_enumeration_is_a_required_binding(validator: Validator, name: str, line: int) -> None:
    # units-of-time enumerates UCUM codes: a valid UCUM unit outside it fails the required binding
    where = "MedicationRequest.dosageInstruction[0].timing.repeat.periodUnit"
    assert found_in(validator, name + "MedicationRequest-period-unit-not-of-time.json") == [
        ("error", "binding", where, line, 25)
    ]


# -- additional bindings: every purpose, usage contexts --------------------------------------

GA_R5 = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/ObservationGestationalAgeEuImaging"
GA_R4 = "http://hl7.eu/fhir/imaging/StructureDefinition/ObservationGestationalAgeEuImaging"
TIME_UNITS = "http://hl7.org/fhir/ValueSet/all-time-units"
VITAL_SIGNS = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}


def with_additional(store: PackageStore, additional: list[dict[str, Any]], r4_extension: bool = False) -> ElementPlan:
    """The gestational-age value[x] element with its additional bindings replaced."""
    profile = GA_R4 if r4_extension else GA_R5
    ed = copy.deepcopy(
        next(e for e in snapshot_of(store, profile)["snapshot"]["element"] if e["id"] == "Observation.value[x]")
    )
    ed["binding"].pop("additional", None)
    ed["binding"]["extension"] = [e for e in ed["binding"].get("extension", []) if e.get("url") != ADDITIONAL_BINDING]
    if r4_extension:
        for a in additional:
            parts = [
                {"url": "purpose", "valueCode": a["purpose"]},
                {"url": "valueSet", "valueCanonical": a["valueSet"]},
            ]
            parts += [{"url": "usage", "valueUsageContext": u} for u in a.get("usage", [])]
            ed["binding"]["extension"].append({"url": ADDITIONAL_BINDING, "extension": parts})
    else:
        ed["binding"]["additional"] = additional
    return plan_of(ed, profile, "R4" if r4_extension else "R5")


def additional_found(store: PackageStore, plan: ElementPlan, resource: dict[str, Any], unit: str) -> list[str]:
    ctx = context(store, EU_PKG, resource)
    quantity = {"value": 20, "system": UCUM, "code": unit}
    item = Item(quantity, "Observation.valueQuantity", ("valueQuantity",), "Quantity")
    return [i.severity for i in additional_binding(ctx, plan, item)]


@pytest.fixture(scope="module")
def gestational() -> dict[str, Any]:
    return fixture("r5/Observation-gestational-age-mm.json")


@pytest.mark.parametrize(
    ("purpose", "expected"),
    [
        ("maximum", ["error"]),
        ("required", ["error"]),
        ("extensible", ["warning"]),
        # preferred: a hint only in the reference's base-only mode; the others set no rule
        *((p, []) for p in ("preferred", "minimum", "candidate", "current", "ui", "starter", "component")),
    ],
)
@pytest.mark.parametrize("r4_extension", [False, True])
def test_additional_binding_purposes(
    bundled_store: PackageStore, gestational: dict[str, Any], purpose: str, expected: list[str], r4_extension: bool
) -> None:
    plan = with_additional(bundled_store, [{"purpose": purpose, "valueSet": TIME_UNITS}], r4_extension)
    assert additional_found(bundled_store, plan, gestational, "mm") == expected
    assert additional_found(bundled_store, plan, gestational, "wk") == []


@pytest.mark.parametrize("r4_extension", [False, True])
def test_additional_binding_usage_from_the_data(
    bundled_store: PackageStore, gestational: dict[str, Any], r4_extension: bool
) -> None:
    profile = GA_R4 if r4_extension else GA_R5

    def usage(system: str, path: str, coding: dict[str, str]) -> list[dict[str, Any]]:
        return [{"code": {"system": system, "code": path}, "valueCodeableConcept": {"coding": [coding]}}]

    def errors_with(usages: list[dict[str, Any]]) -> list[str]:
        binding = {"purpose": "required", "valueSet": TIME_UNITS, "usage": usages}
        return additional_found(
            bundled_store, with_additional(bundled_store, [binding], r4_extension), gestational, "mm"
        )

    # the profile's own URL as system: the path names data in the resource, which must match
    assert errors_with(usage(profile, "Observation.category", VITAL_SIGNS)) == ["error"]
    assert errors_with(usage(profile, "Observation.category", {**VITAL_SIGNS, "code": "laboratory"})) == []
    # any other usage context is one the validator would have to be configured with: not evaluated
    focus = "http://terminology.hl7.org/CodeSystem/usage-context-type"
    assert errors_with(usage(focus, "focus", VITAL_SIGNS)) == []
    # every usage must apply
    both = usage(profile, "Observation.category", VITAL_SIGNS) + usage(focus, "focus", VITAL_SIGNS)
    assert errors_with(both) == []


def test_max_value_set_extension_only_for_extensible_bindings(
    bundled_store: PackageStore, rds_obs: dict[str, Any]
) -> None:
    # InstanceValidator.checkMaxValueSet runs for an extensible binding whose value set misses the code
    ctx = context(bundled_store, RDS_PKG, rds_obs)
    ed = {
        "id": "Observation.valueQuantity",
        "path": "Observation.valueQuantity",
        "type": [{"code": "Quantity"}],
        "binding": {
            "strength": "extensible",
            "valueSet": "http://hl7.org/fhir/ValueSet/age-units",
            "extension": [{"url": MAX_VALUE_SET, "valueCanonical": TIME_UNITS}],
        },
    }
    plan = plan_of(ed, RDS, "R4")
    assert [
        (i.severity, i.rule)
        for i in run(ctx, plan, {"value": 1, "system": UCUM, "code": "mm"}, "Observation.valueQuantity")
    ] == [
        ("warning", "binding"),
        ("error", "binding-max"),
    ]
    ed["binding"]["strength"] = "required"
    plan = plan_of(ed, RDS, "R4")
    assert [
        i.rule for i in run(ctx, plan, {"value": 1, "system": UCUM, "code": "mm"}, "Observation.valueQuantity")
    ] == ["binding"]


def test_value_set_status_rules(bundled_store: PackageStore, rds_obs: dict[str, Any]) -> None:
    # compose.inactive = false → STATUS_CODE_WARNING_CODE (error); a member the value set marks
    # deprecated → CONCEPT_DEPRECATED_IN_VALUESET (warning); both at the coding (rule code-inactive).
    # The code system is R4 core's v3-ObservationInterpretation; no shipped value set says either.
    scope = bundled_store.scope(RDS_PKG)
    term = Terminology(scope)
    system = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    value_sets = {
        "http://example.org/ValueSet/active-only": {
            "resourceType": "ValueSet",
            "compose": {"inactive": False, "include": [{"system": system, "concept": [{"code": "AC"}, {"code": "H"}]}]},
        },
        "http://example.org/ValueSet/deprecating": {
            "resourceType": "ValueSet",
            "compose": {
                "include": [
                    {
                        "system": system,
                        "concept": [
                            {
                                "code": "H",
                                "extension": [
                                    {
                                        "url": "http://hl7.org/fhir/StructureDefinition/valueset-deprecated",
                                        "valueBoolean": True,
                                    }
                                ],
                            }
                        ],
                    }
                ]
            },
        },
    }
    term.value_set = value_sets.get  # type: ignore[method-assign,assignment]
    own = _Validator()
    own.built[scope.label] = term
    root = Item(rds_obs, "Observation", ())
    ctx = Context(cast(Any, own), scope, scope.release, rds_obs, rds_obs, root)

    def found(value_set: str, code: str) -> list[tuple[str, str, str]]:
        plan = bound("Observation.interpretation", "CodeableConcept", "required", value_set)
        concept = {"coding": [{"system": system, "code": code}]}
        item = Item(concept, "Observation.interpretation[0]", ("interpretation", 0), "CodeableConcept")
        return [(i.severity, str(i.rule), str(i.expression)) for i in binding(ctx, plan, item)]

    at = "Observation.interpretation[0].coding[0]"
    assert found("http://example.org/ValueSet/active-only", "H") == []
    assert found("http://example.org/ValueSet/active-only", "AC") == [
        ("warning", "code-inactive", at),  # INACTIVE_CONCEPT_FOUND from the code system
        ("error", "code-inactive", at),  # STATUS_CODE_WARNING_CODE from the value set
        ("error", "binding", "Observation.interpretation[0]"),
    ]
    assert found("http://example.org/ValueSet/deprecating", "H") == [("warning", "code-inactive", at)]
