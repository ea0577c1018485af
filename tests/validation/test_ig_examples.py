"""The oracle: every example instance the imaging IGs (and the IGs they build on) publish validates
with no errors.

Each example is validated against the profiles it declares, in its IG's FHIR release, with the
IG's other examples available for reference resolution (as the IG publisher validates them).
Where an example is itself wrong, KNOWN pins the exact issue with the reason.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from imgfhir.packages import PackageStore, load_store
from imgfhir.validation import Validator

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "ig-examples"
IGS = {
    "hl7.fhir.uv.radiation-dose-summary": "R4",
    "hl7.fhir.uv.dicom-sr": "R5",
    "hl7.fhir.eu.imaging": "R4",
    "hl7.fhir.eu.imaging-r5": "R5",
}
# the IGs they build on, whose examples are real data too
DEPENDENCIES = {
    "hl7.fhir.eu.base": "R4",
    "hl7.fhir.eu.base-r5": "R5",
    "hl7.fhir.eu.extensions": "R5",
    "hl7.fhir.eu.extensions.r4": "R4",
    "hl7.fhir.eu.health-data-api": "R4",
    "hl7.fhir.uv.ipa": "R4",
    "ihe.iti.mhd": "R4",
}
RELEASES = {**IGS, **DEPENDENCIES}
# files in the examples folders that are not FHIR resources
NOT_FHIR = {
    "hl7.fhir.uv.dicom-sr/Example-MeasurementReport.json": "the DICOM JSON model of the SR, input of the mapping"
}
# (example, severity, rule, expression) → why the example, not the validator, is wrong
# The R5 structured report: six Observations its Composition lists (the history section's vital signs,
# RestWmsi11, StressWmsi11) are not among the DiagnosticReport's results, which dgr-1 requires:
#   composition.exists() implies (composition.resolve().section.entry.reference.where(resolve() is Observation)
#   in (result.reference | result.reference.resolve().hasMember.reference))
# (`in` over several items means "each of them", as the reference validator evaluates it). The report then
# fails its profile, and so do the references to it and the Bundle slices that need it.
_DGR1 = (
    "dgr-1: the Composition lists Observations the DiagnosticReport does not (vital signs, RestWmsi11, StressWmsi11)"
)
_R5 = "hl7.fhir.eu.imaging-r5/"
# The R4 edition of the EU extensions IG carries examples converted from R5 that R4 does not allow.
_R4_CONVERTED = "hl7.fhir.eu.extensions.r4/"
KNOWN: dict[tuple[str, str, str, str], str] = {
    (_R5 + "DiagnosticReport-DiagnosticReportStructured.json", "error", "dgr-1", "DiagnosticReport"): _DGR1,
    (_R5 + "DiagnosticReport-DiagnosticReportStructured.json", "error", "reference", "DiagnosticReport.composition"): (
        "the Composition refers back to the report, which fails dgr-1: " + _DGR1
    ),
    (_R5 + "Composition-CompositionStructured.json", "error", "reference", "Composition.extension[1].valueReference"): (
        "the DiagnosticReport it refers to fails dgr-1: " + _DGR1
    ),
    (_R5 + "Bundle-bundle-report-structured.json", "error", "dgr-1", "Bundle.entry[1].resource"): _DGR1,
    (
        _R5 + "Bundle-bundle-report-structured.json",
        "error",
        "reference",
        "Bundle.entry[0].resource.extension[1].valueReference",
    ): "the report fails dgr-1: " + _DGR1,
    (_R5 + "Bundle-bundle-report-structured.json", "error", "reference", "Bundle.entry[1].resource.composition"): (
        "the Composition refers back to the report, which fails dgr-1: " + _DGR1
    ),
    (_R5 + "Bundle-bundle-report-structured.json", "error", "cardinality", "Bundle"): (
        "no entry meets the Composition and DiagnosticReport slices' profiles: " + _DGR1
    ),
    (_R4_CONVERTED + "Consent-consent-example.json", "error", "cardinality", "Consent"): (
        "R4 Consent.scope is 1..1 (R5 dropped the element); the converted example has none"
    ),
    (_R4_CONVERTED + "Consent-consent-example.json", "error", "ppc-1", "Consent"): (
        "R4 ppc-1: policy.exists() or policyRule.exists(); R5 has no such rule and the example neither"
    ),
    (_R4_CONVERTED + "Encounter-enc-example.json", "error", "binding", "Encounter.status"): (
        "'completed' is an R5 Encounter.status code; R4's required encounter-status has 'finished'"
    ),
    (_R4_CONVERTED + "Medication-04A-FirmagonBranded.json", "error", "cardinality", "Medication.ingredient[0]"): (
        "R4 Medication.ingredient.item[x] is 1..1; the R5 example's ingredient.item did not survive conversion"
    ),
}


def cases() -> list[tuple[str, str]]:
    return [(ig, p.name) for ig in RELEASES for p in sorted((EXAMPLES / ig).glob("*.json"))]


@pytest.fixture(scope="module")
def store() -> PackageStore:
    return load_store(env=False, entry_points=False)


@pytest.fixture(scope="module")
def validators(store: PackageStore) -> dict[str, Validator]:
    out = {}
    for ig in RELEASES:
        v = Validator(store)
        examples = (orjson.loads(p.read_bytes()) for p in (EXAMPLES / ig).glob("*.json"))
        v.add_resources(examples, fhir_version=RELEASES[ig])
        out[ig] = v
    return out


@pytest.mark.parametrize(("ig", "name"), cases())
def test_ig_example_is_valid(validators: dict[str, Validator], ig: str, name: str) -> None:
    key = f"{ig}/{name}"
    outcome = validators[ig].validate(EXAMPLES / ig / name, fhir_version=RELEASES[ig])
    if key in NOT_FHIR:
        assert [i.severity for i in outcome.issues] == ["fatal"], NOT_FHIR[key]
        return
    errors = [i for i in outcome.issues if i.severity in ("error", "fatal")]
    unexpected = [i for i in errors if (key, i.severity, str(i.rule), str(i.expression)) not in KNOWN]
    assert not unexpected, "\n".join(
        f"{i.severity} [{i.rule}] {i.expression} (line {i.line}): {i.message}" for i in unexpected
    )
    pinned = {k for k in KNOWN if k[0] == key}
    assert pinned <= {(key, i.severity, str(i.rule), str(i.expression)) for i in errors}, "a pinned issue is gone"


def test_examples_declare_profiles_we_know(store: PackageStore) -> None:
    """Guards the oracle: examples are checked against their IG profiles, not only the base types."""
    declared = unknown = 0
    for ig in IGS:
        scope = store.scope(ig)
        for path in (EXAMPLES / ig).glob("*.json"):
            res = orjson.loads(path.read_bytes())
            for url in res.get("meta", {}).get("profile", []) if isinstance(res, dict) else []:
                declared += 1
                unknown += scope.entry(url) is None
    assert declared > 50 and unknown == 0


CORE = EXAMPLES.parent / "core-examples"
# R5 core's sex-and-gender Patient was written for an earlier individual-recordedSexOrGender: its
# sourceDocument/source sub-extensions carry valueCodeableReference, which the shipped extensions pack
# (5.3.0) does not allow (CodeableConcept or Reference), so each of them has no allowed value.
_SEX_AND_GENDER = {
    (rule, f"Patient.extension[{e}].extension[{s}]" + (".valueCodeableReference" if rule == "type" else ""))
    for e, s in ((2, 4), (3, 4), (4, 4), (5, 3), (5, 4))
    for rule in ("type", "cardinality")
}
CORE_KNOWN = {"r5/Patient-patient-example-sex-and-gender.json": _SEX_AND_GENDER}


@pytest.mark.parametrize("path", sorted(CORE.glob("r*/*.json")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_core_example_is_valid(store: PackageStore, path: Path) -> None:
    """FHIR core examples of the resource types the IGs profile (contained resources referring to each
    other among them), against their base definitions."""
    outcome = Validator(store).validate(path, fhir_version=path.parent.name.upper())
    errors = {(str(i.rule), str(i.expression)) for i in outcome.issues if i.severity in ("error", "fatal")}
    assert errors == CORE_KNOWN.get(f"{path.parent.name}/{path.name}", set()), outcome.issues
