"""Value set expansion and code validation over the shipped packages (real ValueSets and CodeSystems)."""

from __future__ import annotations

from typing import Any

import pytest

from imgfhir.packages import PackageStore
from imgfhir.terminology import Terminology
from imgfhir.terminology.codesystems import CodeSystemIndex, plausible_code
from imgfhir.terminology.expansion import Composer, Expansion

DCM = "http://dicom.nema.org/resources/ontology/DCM"
SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
CID_33 = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_33.html"
RDS_COMPONENTS = "http://hl7.org/fhir/uv/radiation-dose-summary/ValueSet/component-radiation-dose-summary-vs"
OBS_STATUS = "http://hl7.org/fhir/ValueSet/observation-status"


@pytest.fixture(scope="module")
def r4(bundled_store: PackageStore) -> Terminology:
    return Terminology(bundled_store.scope(release="R4"))


@pytest.fixture(scope="module")
def r5(bundled_store: PackageStore) -> Terminology:
    return Terminology(bundled_store.scope(release="R5"))


@pytest.fixture(scope="module")
def rds(bundled_store: PackageStore) -> Terminology:
    return Terminology(bundled_store.scope("hl7.fhir.uv.radiation-dose-summary"))


def codes(term: Terminology, url: str) -> set[tuple[str, str]]:
    expanded = term.expand(url)
    assert expanded is not None, f"{url} should expand offline"
    return {(system, code) for system, code, _ in expanded}


# -- whole code systems, concept lists ---------------------------------------------------


@pytest.mark.parametrize("release", ["r4", "r5"])
def test_observation_status_is_the_whole_code_system(release: str, request: pytest.FixtureRequest) -> None:
    term: Terminology = request.getfixturevalue(release)
    system = "http://hl7.org/fhir/observation-status"
    cs = term.code_system(system)
    assert cs is not None and cs.complete
    assert codes(term, OBS_STATUS) == {(system, c.code) for c in cs}
    assert len(codes(term, OBS_STATUS)) == 8
    assert term.validate_code(OBS_STATUS, system, "final").valid is True
    assert term.validate_code(OBS_STATUS, None, "final").valid is True  # a `code` element has no system
    bad = term.validate_code(OBS_STATUS, system, "finished")
    assert bad.valid is False and "finished" in bad.message


def test_administrative_gender(r4: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/administrative-gender"
    assert [code for _, code, _ in term_expand(r4, url)] == ["male", "female", "other", "unknown"]
    assert r4.validate_code(url, None, "female").valid is True
    assert r4.validate_code(url, None, "Female").valid is False  # the code system is case-sensitive


def term_expand(term: Terminology, url: str) -> list[tuple[str, str, str | None]]:
    expanded = term.expand(url)
    assert expanded is not None
    return expanded


def test_expansions_are_built_once_per_terminology(r4: Terminology) -> None:
    first = r4.expansion(OBS_STATUS)
    assert first is not None and r4.expansion(OBS_STATUS) is first
    assert r4.code_system("http://hl7.org/fhir/observation-status") is r4.code_system(
        "http://hl7.org/fhir/observation-status|4.0.1"
    )


def test_versioned_value_set_canonical(r4: Terminology) -> None:
    assert r4.validate_code(OBS_STATUS + "|4.0.1", None, "amended").valid is True


# -- filters over code systems we have --------------------------------------------------


def test_is_a_over_v3_act_code(r4: Terminology) -> None:
    # v3-ActEncounterCode: include v3-ActCode is-a _ActEncounterCode (nested concepts), exclude the root
    url = "http://terminology.hl7.org/ValueSet/v3-ActEncounterCode"
    got = {code for _, code in codes(r4, url)}
    assert {"AMB", "EMER", "IMP", "ACUTE", "NONAC", "VR"} <= got
    assert "_ActEncounterCode" not in got
    assert "ACCTRECEIVABLE" not in got
    act_code = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    assert r4.validate_code(url, act_code, "AMB", "ambulatory").display_ok is True
    assert r4.validate_code(url, act_code, "CASH").valid is False


def test_descendent_of_excludes_the_root(r4: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/inactive"  # v3-ActMood descendent-of _ActMoodPredicate
    got = {code for _, code in codes(r4, url)}
    assert "_ActMoodPredicate" not in got
    assert {"CRT", "EXPEC", "GOL", "RSK", "OPT"} <= got


def test_is_not_a(r4: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/patient-contactrelationship"  # v2-0131 is-not-a O
    got = {code for _, code in codes(r4, url)}
    assert "O" not in got and {"C", "E", "N", "U"} <= got


def test_not_in_filter_over_a_property(r4: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/obligation"  # obligation CodeSystem, not-selectable not-in true
    got = codes(r4, url)
    assert got and all(system == "http://hl7.org/fhir/CodeSystem/obligation" for system, _ in got)
    cs = r4.code_system("http://hl7.org/fhir/CodeSystem/obligation")
    assert cs is not None
    abstract = {c.code for c in cs if c.properties.get("not-selectable") == ["true"]}
    assert abstract and not abstract & {code for _, code in got}


def test_include_and_exclude(r4: Terminology) -> None:
    # v3 ParticipationType is-a _ParticipationAncillary, plus three codes and all participant-type,
    # minus _ParticipationAncillary itself
    url = "http://hl7.org/fhir/ValueSet/encounter-participant-type"
    got = {code for _, code in codes(r4, url)}
    assert "_ParticipationAncillary" not in got
    assert {"ADM", "ATND", "SPRF", "PPRF", "PART", "translator", "emergency"} <= got
    assert len(got) == 12


def test_value_set_import(r4: Terminology) -> None:
    # consent-category: a whole CodeSystem, an imported v3 value set and four LOINC codes
    url = "http://hl7.org/fhir/ValueSet/consent-category"
    got = codes(r4, url)
    assert ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IDSCL") in got  # from the import
    assert ("http://loinc.org", "59284-0") in got  # enumerated LOINC codes are decidable
    assert r4.validate_code(url, "http://loinc.org", "11488-4").valid is False


def test_several_value_sets_in_one_include_intersect(r4: Terminology) -> None:
    # action-participant-role includes practitioner-role AND relatedperson-relationshiptype in one
    # include: the spec makes that the intersection, which is empty for these two
    assert codes(r4, "http://hl7.org/fhir/ValueSet/action-participant-role") == set()


# -- DICOM ------------------------------------------------------------------------------


def test_dcm_code_system_prefers_the_fuller_stand_in(rds: Terminology, r4: Terminology) -> None:
    for term in (rds, r4):
        cs = term.code_system(DCM)
        assert cs is not None and cs.version == "0.0.0-pydicom.3.0.2"  # not R4 core's older DCM
        assert len(cs.concepts) > 4000


def test_dicom_cid_bound_by_radiation_dose_summary(rds: Terminology) -> None:
    # the RDS profile binds modality (required) to CID 33, with a version suffix
    url = CID_33 + "|2025.2.20250411"
    got = codes(rds, url)
    assert len(got) == 74 and (DCM, "CT") in got and (DCM, "MG") in got
    check = rds.validate_code(url, DCM, "CT", "Computed Tomography")
    assert check.valid is True and check.display_ok is True
    assert rds.validate_code(url, DCM, "CT", "Cat scan").display_ok is False
    assert rds.validate_code(url, DCM, "XX").valid is False


def test_rds_component_value_set_mixes_dcm_and_snomed_concepts(rds: Terminology) -> None:
    got = codes(rds, RDS_COMPONENTS)
    assert (DCM, "113813") in got and (SCT, "89457008") in got and len(got) == 13
    assert rds.validate_code(RDS_COMPONENTS, DCM, "113813", "CT Dose Length Product Total").valid is True
    # "Procedure reported" is used by the IG's own examples but is not in this (extensible) value set
    assert rds.validate_code(RDS_COMPONENTS, DCM, "121058").valid is False


def test_dicom_cid_value_sets_expand_in_both_releases(r4: Terminology, r5: Terminology) -> None:
    for term in (r4, r5):
        assert (DCM, "US") in codes(term, CID_33)


# -- what cannot be decided offline ---------------------------------------------------------


def test_snomed_intensional_value_set_is_not_checked(bundled_store: PackageStore) -> None:
    term = Terminology(bundled_store.scope("hl7.fhir.eu.imaging-r5"))
    url = "http://hl7.eu/fhir/imaging-r5/ValueSet/im-procedure-type"
    assert term.expand(url) is None
    check = term.validate_code(url, SCT, "77477000")
    assert check.valid is None
    assert check.reason == "SNOMED CT intensional value set: not checked offline"


def test_loinc_whole_system_is_not_checked(bundled_store: PackageStore) -> None:
    term = Terminology(bundled_store.scope("hl7.fhir.eu.imaging-r5"))
    url = "http://hl7.eu/fhir/imaging-r5/ValueSet/ImEUValueSetAllSnomedLoinc"
    check = term.validate_code(url, "http://loinc.org", "85430-7")
    assert check.valid is None and check.reason is not None and "LOINC" in check.reason


def test_missing_value_set(r4: Terminology) -> None:
    check = r4.validate_code("http://example.org/ValueSet/nope", "http://example.org", "x")
    assert check.valid is None and check.reason is not None and "not found" in check.reason
    assert r4.expand("http://example.org/ValueSet/nope") is None


def test_code_outside_an_enumerated_snomed_list_is_invalid(rds: Terminology) -> None:
    # an extensional list is closed even for SNOMED CT: membership is decidable
    assert rds.validate_code(RDS_COMPONENTS, SCT, "77477000").valid is False


def test_ucum_whole_system(r4: Terminology, r5: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/ucum-units"
    for term in (r4, r5):
        assert term.expand(url) is None
        for unit in ("mGy.cm", "mg/dL", "Gy.m2", "MBq", "s", "1", "%", "/min", "{beats}/min", "10*3/uL", "[in_i]"):
            assert term.validate_code(url, UCUM, unit).valid is True, unit
        assert term.validate_code(url, UCUM, "milligray per cm").valid is None  # never a false invalid


def test_ucum_enumerated_units(r4: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/age-units"
    assert r4.validate_code(url, UCUM, "a").valid is True
    assert r4.validate_code(url, UCUM, "mGy").valid is False


@pytest.mark.parametrize("release", ["r4", "r5"])
def test_ucum_units_by_dimension(release: str, request: pytest.FixtureRequest) -> None:
    term: Terminology = request.getfixturevalue(release)
    url = "http://hl7.org/fhir/ValueSet/all-time-units"  # UCUM filter canonical = a
    assert term.expand(url) is None
    for unit in ("a", "mo", "wk", "d", "h", "min", "s", "ms"):
        assert term.validate_code(url, UCUM, unit).valid is True, unit
    for unit in ("m", "kg", "/s", "mL"):
        assert term.validate_code(url, UCUM, unit).valid is False, unit
    assert term.validate_code(url, UCUM, "mGy").valid is False  # a dose unit (all of UCUM is known offline)
    assert term.validate_code(url, UCUM, "kilo gram").valid is None  # not a UCUM code
    distance = "http://hl7.org/fhir/ValueSet/all-distance-units"
    assert term.validate_code(distance, UCUM, "[in_i]").valid is True
    assert term.validate_code(distance, UCUM, "g").valid is False


def test_grammar_based_systems_for_code_elements(r4: Terminology, r5: Terminology) -> None:
    # Attachment.contentType and Resource.language are `code`s: no system to go by
    for term in (r4, r5):
        assert term.validate_code("http://hl7.org/fhir/ValueSet/mimetypes", None, "application/pdf").valid is True
        assert term.validate_code("http://hl7.org/fhir/ValueSet/all-languages", None, "de-CH").valid is True
        assert term.validate_code("http://hl7.org/fhir/ValueSet/mimetypes", None, "pdf").valid is None


def test_jurisdiction_takes_any_well_formed_country_code(r4: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/jurisdiction"  # whole ISO 3166 and 3166-2, m49 regions by filter
    assert r4.validate_code(url, "urn:iso:std:iso:3166", "DE").valid is True
    assert r4.validate_code(url, "urn:iso:std:iso:3166:-2", "DE-BY").valid is True
    assert r4.validate_code(url, "urn:iso:std:iso:3166", "Germany").valid is None
    assert r4.validate_code(url, "http://unstats.un.org/unsd/methods/m49/m49.htm", "001").valid is None
    # iso3166-1-2 enumerates the alpha-2 codes: decidable
    assert r4.validate_code("http://hl7.org/fhir/ValueSet/iso3166-1-2", "urn:iso:std:iso:3166", "XX").valid is False


def test_code_in_system(r4: Terminology) -> None:
    assert r4.code_in_system(DCM, "113813") is True
    assert r4.code_in_system(DCM, "no-such-code") is False
    assert r4.code_in_system(SCT, "77477000") is None
    assert r4.code_in_system("http://loinc.org", "85430-7") is None
    assert r4.code_in_system(UCUM, "mGy.cm") is True
    assert r4.code_in_system("http://example.org/unknown", "x") is None


def test_display_check_needs_a_known_code_system(r4: Terminology) -> None:
    assert r4.check_display(DCM, "113813", "CT Dose Length Product Total") is True
    assert r4.check_display(DCM, "113813", "ct dose  length product total") is True  # case and spaces
    assert r4.check_display(DCM, "113813", "DLP") is False
    assert r4.check_display(SCT, "77477000", "anything") is None


def test_plausible_code() -> None:
    assert plausible_code(UCUM, "kg/m2") is True
    assert plausible_code(UCUM, "kg per m2") is False
    assert plausible_code("urn:ietf:bcp:47", "en-US") is True
    assert plausible_code("urn:ietf:bcp:13", "application/pdf") is True
    assert plausible_code(SCT, "123") is None


# -- whole-package survey ------------------------------------------------------------------


@pytest.mark.parametrize("release", ["r4", "r5"])
def test_most_value_sets_expand_offline(release: str, request: pytest.FixtureRequest) -> None:
    term: Terminology = request.getfixturevalue(release)
    total = closed = 0
    for _pkg, entry in term.scope.entries("ValueSet"):
        assert entry.url is not None
        exp = term.expansion(entry.url)
        assert exp is not None
        total += 1
        closed += exp.closed
    assert total > 4000 and closed / total > 0.95


# -- the published expansions as an oracle ----------------------------------------------


def _published(resource: dict[str, Any]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    stack = list(resource["expansion"].get("contains", []))
    while stack:
        entry = stack.pop()
        stack.extend(entry.get("contains", []))
        if "code" in entry:
            out.add((entry["system"], entry["code"]))
    return out


@pytest.mark.parametrize("core", ["hl7.fhir.r4.core", "hl7.fhir.r5.core"])
def test_published_expansions(core: str, bundled_store: PackageStore) -> None:
    # seen from the core package, so its own value sets (v2-0136) win over hl7.terminology's newer ones
    scope = bundled_store.scope(core)
    term = Terminology(scope)
    yesno = scope.resolve("http://hl7.org/fhir/ValueSet/yesnodontknow")
    assert codes(term, "http://hl7.org/fhir/ValueSet/yesnodontknow") == _published(yesno)
    # `inactive` was expanded in 2017 against an older v3-ActMood; today's code system adds codes
    inactive = scope.resolve("http://hl7.org/fhir/ValueSet/inactive")
    assert _published(inactive) <= codes(term, "http://hl7.org/fhir/ValueSet/inactive")


# -- synthetic CodeSystem: the filter operators one by one --------------------------------

BODY_CS: dict[str, Any] = {
    "resourceType": "CodeSystem",
    "url": "http://example.org/CodeSystem/body",
    "status": "active",
    "content": "complete",
    "caseSensitive": False,
    "hierarchyMeaning": "is-a",
    "property": [
        {"code": "parent", "type": "code"},
        {"code": "subsumedBy", "type": "code"},
        {"code": "laterality", "type": "string"},
        {"code": "paired", "type": "boolean"},
    ],
    "concept": [
        {"code": "limb", "display": "Limb", "concept": [{"code": "arm", "display": "Arm"}]},
        {
            "code": "hand",
            "display": "Hand",
            "designation": [{"value": "Manus"}],
            "property": [{"code": "parent", "valueCode": "arm"}, {"code": "paired", "valueBoolean": True}],
        },
        {
            "code": "left-hand",
            "display": "Left hand",
            "property": [{"code": "parent", "valueCode": "hand"}, {"code": "laterality", "valueString": "left"}],
        },
        {"code": "head", "display": "Head", "property": [{"code": "paired", "valueBoolean": False}]},
        {"code": "thumb", "display": "Thumb", "property": [{"code": "subsumedBy", "valueCode": "hand"}]},
    ],
}


def _select(include: dict[str, Any]) -> set[str]:
    cs = CodeSystemIndex(BODY_CS)
    composer = Composer(lambda url: cs if url == cs.url else None, lambda url: None)
    vs = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [{"system": cs.url, **include}]}}
    exp = composer.compose(vs)
    assert exp.closed
    return {code for _, code in exp.codes}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"property": "concept", "op": "is-a", "value": "arm"}, {"arm", "hand", "left-hand", "thumb"}),
        ({"property": "concept", "op": "descendent-of", "value": "limb"}, {"arm", "hand", "left-hand", "thumb"}),
        ({"property": "concept", "op": "is-not-a", "value": "arm"}, {"limb", "head"}),
        ({"property": "concept", "op": "generalizes", "value": "thumb"}, {"thumb", "hand", "arm", "limb"}),
        ({"property": "laterality", "op": "=", "value": "left"}, {"left-hand"}),
        ({"property": "parent", "op": "=", "value": "hand"}, {"left-hand", "thumb"}),  # parent or subsumedBy
        ({"property": "concept", "op": "in", "value": "head,arm"}, {"head", "arm"}),
        ({"property": "concept", "op": "not-in", "value": "head,arm"}, {"limb", "hand", "left-hand", "thumb"}),
        ({"property": "concept", "op": "child-of", "value": "hand"}, {"left-hand", "thumb"}),
        ({"property": "code", "op": "regex", "value": "[a-z]+-hand"}, {"left-hand"}),
        ({"property": "paired", "op": "exists", "value": "true"}, {"hand", "head"}),
        ({"property": "paired", "op": "=", "value": "true"}, {"hand"}),
        ({"property": "concept", "op": "is-a", "value": "unknown"}, set()),
    ],
)
def test_filter_operators(flt: dict[str, Any], expected: set[str]) -> None:
    assert _select({"filter": [flt]}) == expected


def test_filters_in_one_include_intersect() -> None:
    flts = [
        {"property": "concept", "op": "is-a", "value": "limb"},
        {"property": "concept", "op": "not-in", "value": "limb"},
    ]
    assert _select({"filter": flts}) == {"arm", "hand", "left-hand", "thumb"}


def test_case_insensitive_code_system_and_designations() -> None:
    cs = CodeSystemIndex(BODY_CS)
    assert cs.contains("HAND") is True and cs.contains("foot") is False
    assert cs.display_matches("hand", "manus") is True


def test_unsupported_filter_leaves_the_system_open() -> None:
    cs = CodeSystemIndex(BODY_CS)
    composer = Composer(lambda url: cs, lambda url: None)
    include = {"system": cs.url, "filter": [{"property": "concept", "op": "is-a", "value": "hand"}]}
    bad = {"system": cs.url, "filter": [{"property": "concept", "op": "magic", "value": "x"}]}
    exp = composer.compose({"resourceType": "ValueSet", "compose": {"include": [include, bad]}})
    assert exp.member(cs.url, "hand") == (True, None)
    inside, reason = exp.member(cs.url, "head")
    assert inside is None and reason is not None and "not supported" in reason


def test_undecidable_exclude_makes_listed_codes_doubtful() -> None:
    cs = CodeSystemIndex(BODY_CS)
    snomed_part = Expansion(open={SCT: "SNOMED CT intensional value set: not checked offline"})
    composer = Composer(lambda url: cs if url == cs.url else None, lambda url: snomed_part)
    vs = {
        "resourceType": "ValueSet",
        "compose": {
            "include": [{"system": SCT, "concept": [{"code": "1"}, {"code": "2"}]}],
            "exclude": [{"valueSet": ["http://example.org/ValueSet/snomed-part"]}],
        },
    }
    exp = composer.compose(vs)
    assert exp.member(SCT, "1")[0] is None and not exp.closed


def test_value_set_with_only_a_published_expansion() -> None:
    composer = Composer(lambda url: None, lambda url: None)
    vs = {
        "resourceType": "ValueSet",
        "status": "active",
        "expansion": {
            "timestamp": "2024-01-01T00:00:00Z",
            "total": 2,
            "contains": [
                {
                    "system": "http://example.org/cs",
                    "code": "a",
                    "contains": [{"system": "http://example.org/cs", "code": "b"}],
                }
            ],
        },
    }
    exp = composer.compose(vs)
    assert exp.closed and set(exp.codes) == {("http://example.org/cs", "a"), ("http://example.org/cs", "b")}
    vs["expansion"]["total"] = 3  # a partial (paged) expansion: other codes are undecidable
    assert composer.compose(vs).member("http://example.org/cs", "c")[0] is None


def test_import_cycles_do_not_recurse(bundled_store: PackageStore) -> None:
    term = Terminology(bundled_store.scope(release="R4"))
    cs = CodeSystemIndex(BODY_CS)
    vs_a = {
        "resourceType": "ValueSet",
        "url": "http://example.org/vs/a",
        "compose": {
            "include": [{"system": cs.url, "concept": [{"code": "hand"}]}, {"valueSet": ["http://example.org/vs/b"]}]
        },
    }
    vs_b = {
        "resourceType": "ValueSet",
        "url": "http://example.org/vs/b",
        "compose": {"include": [{"valueSet": ["http://example.org/vs/a"]}]},
    }
    resources = {"http://example.org/vs/a": vs_a, "http://example.org/vs/b": vs_b}
    term.value_set = resources.get  # type: ignore[method-assign]
    exp = term.expansion("http://example.org/vs/a")
    assert exp is not None and exp.member(cs.url, "hand") == (True, None)
    assert exp.member(cs.url, "head")[0] is None  # the cycle leaves the rest undecidable
