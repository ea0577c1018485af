"""CodeSystem and ValueSet resources checked as the reference validator's CodeSystemValidator and
ValueSetValidator check them: broken copies of shipped CodeSystems / ValueSets
(tests/fixtures/validation/terminology-resources/README.md), each with the rule, severity and
place (line/column) the reference's check reports; and the shipped ones of the imaging IGs (and a
sample of the core ones) validating without errors, but for those the reference rejects too."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgfhir.packages import load_store
from imgfhir.validation.model import RULES
from imgfhir.validation.rules import codesystem_content, valueset_content
from imgfhir.validation.rules.valueset_content import is_example_url
from imgfhir.validation.validator import Validator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "validation" / "terminology-resources"
MODULES = {codesystem_content.__name__, valueset_content.__name__}
MINE = {r.name for r in RULES if r.fn.__module__ in MODULES}
IMAGING_PACKAGES = (
    "hl7.fhir.eu.imaging#1.0.0-ballot",
    "hl7.fhir.eu.imaging-r5#1.0.0-ballot",
    "hl7.fhir.uv.dicom-sr#1.0.0",
    "hl7.fhir.uv.radiation-dose-summary#1.0.0",
)

Case = tuple[str, str, str, int, int]
# fixture → [(rule, severity, expression, line, column)], the issues of this module's rules
CASES: dict[str, list[Case]] = {
    # -- CodeSystem ------------------------------------------------------------------------
    # CODESYSTEM_CS_HL7_PRESENT_ELEMENT_SUPPL_WRONG; the supplemented system not loaded: CODESYSTEM_CS_SUPP_CANT_CHECK
    "rds-cs-supplements-content-complete.json": [
        ("codesystem-content", "error", "CodeSystem.content", 4, 14),
        ("codesystem-supplement", "warning", "CodeSystem.supplements", 49, 18),
    ],
    # CODESYSTEM_CS_HL7_PRESENT_ELEMENT_SUPPL_MISSING
    # CODESYSTEM_CS_HL7_PRESENT_ELEMENT_SUPPL (a rule() in the reference: an error)
    "rds-cs-supplement-case-sensitive.json": [
        ("codesystem-content", "error", "CodeSystem.caseSensitive", 24, 20),
        ("codesystem-concept-text", "warning", "CodeSystem.concept[0]", 11, 5),
        ("codesystem-concept-text", "warning", "CodeSystem.concept[0]", 11, 5),
    ],
    "rds-cs-content-supplement-without-supplements.json": [
        ("codesystem-content", "error", "CodeSystem.content", 4, 14)
    ],
    # CODESYSTEM_CS_COUNT_NO_CONTENT_ALLOWED, at the first concept
    "rds-cs-not-present-with-concepts.json": [("codesystem-content", "error", "CodeSystem.concept[0]", 11, 5)],
    # CODESYSTEM_CS_COMPLETE_AND_EMPTY
    "dsr-cs-complete-without-concepts.json": [("codesystem-content", "warning", "CodeSystem", 1, 1)],
    "rds-cs-not-present-without-concepts.json": [],
    # CODESYSTEM_CS_HL7_MISSING_ELEMENT_SHOULD (an hl7.org url) and CODESYSTEM_CS_NONHL7_MISSING_ELEMENT (hl7.eu)
    "rds-cs-no-case-sensitive.json": [("codesystem-metadata", "warning", "CodeSystem", 1, 1)],
    "eu-cs-fragment-no-hierarchy-meaning.json": [("codesystem-metadata", "information", "CodeSystem", 1, 1)],
    "rds-cs-flat-no-hierarchy-meaning.json": [],  # no nested concepts: no hierarchy to explain
    # CODESYSTEM_CS_COUNT_COMPLETE_WRONG / CODESYSTEM_CS_COUNT_FRAGMENT_WRONG
    "rds-cs-count-wrong.json": [("codesystem-count", "error", "CodeSystem.count", 51, 12)],
    "eu-cs-fragment-count-all-present.json": [("codesystem-count", "warning", "CodeSystem.count", 108, 12)],
    # CODESYSTEM_CS_COUNT_NOTPRESENT_ZERO (with CODESYSTEM_CS_COUNT_NO_CONTENT_ALLOWED)
    "rds-cs-not-present-count-zero.json": [
        ("codesystem-content", "error", "CodeSystem.concept[0]", 11, 5),
        ("codesystem-count", "information", "CodeSystem.concept[0]", 11, 5),
    ],
    # CODESYSTEM_CS_COUNT_SUPPLEMENT_WRONG: the reference compares the concepts with the supplemented
    # code system's count (THO v2-0203 states none: 0)
    "rds-cs-supplement-count.json": [
        ("codesystem-count", "error", "CodeSystem.count", 33, 12),
        ("codesystem-concept-text", "warning", "CodeSystem.concept[0]", 11, 5),
        ("codesystem-concept-text", "warning", "CodeSystem.concept[0]", 11, 5),
    ],
    "eu-cs-fragment-count-larger.json": [],
    # CODESYSTEM_DUPLICATE_CODE (csd-1 says so too, at the root)
    "rds-cs-duplicate-code.json": [("codesystem-duplicate-code", "error", "CodeSystem.concept[6]", 41, 5)],
    "eu-cs-fragment-duplicate-nested-code.json": [
        ("codesystem-duplicate-code", "error", "CodeSystem.concept[0].concept[1]", 21, 9)
    ],
    "rds-cs-codes-differ-in-case.json": [],  # caseSensitive: device-id and Device-ID are two codes
    # CODESYSTEM_CONCEPT_NO_DISPLAY / CODESYSTEM_CONCEPT_NO_DEFINITION: once per HL7 code system (a
    # supplement too: the supplements below say so for their first concept); not for other code systems
    "rds-cs-concept-without-display.json": [("codesystem-concept-text", "warning", "CodeSystem.concept[2]", 21, 5)],
    "eu-cs-fragment-concept-without-definition.json": [
        ("codesystem-concept-text", "warning", "CodeSystem.concept[0].concept[3]", 31, 9)
    ],
    "rds-cs-other-url-concept-without-definition.json": [],
    # CODESYSTEM_CS_SUPP_INVALID_CODE / CODESYSTEM_CS_SUPP_CANT_CHECK
    "rds-cs-supplement-unknown-code.json": [
        ("codesystem-concept-text", "warning", "CodeSystem.concept[0]", 11, 5),
        ("codesystem-concept-text", "warning", "CodeSystem.concept[0]", 11, 5),
        ("codesystem-supplement", "error", "CodeSystem.concept[1]", 20, 5),
    ],
    "rds-cs-supplement-unknown-base.json": [
        ("codesystem-concept-text", "warning", "CodeSystem.concept[0]", 11, 5),
        ("codesystem-concept-text", "warning", "CodeSystem.concept[0]", 11, 5),
        ("codesystem-supplement", "warning", "CodeSystem.supplements", 23, 18),
    ],
    "rds-cs-supplement-known-codes.json": [
        ("codesystem-concept-text", "warning", "CodeSystem.concept[0]", 11, 5),
        ("codesystem-concept-text", "warning", "CodeSystem.concept[0]", 11, 5),
    ],
    # CODESYSTEM_CS_VS_INVALID / CODESYSTEM_CS_VS_WRONGSYSTEM
    "rds-cs-valueset-two-includes.json": [("codesystem-valueset", "error", "CodeSystem.valueSet", 52, 15)],
    "dsr-cs-valueset-other-system.json": [("codesystem-valueset", "error", "CodeSystem.valueSet", 112, 15)],
    # CODESYSTEM_CS_NO_VS_NOTCOMPLETE (a hint); CODESYSTEM_CS_VS_INCLUDEDETAILS: R4 core's v3-ActUSPrivacyLaw
    # names THO's value set of that url, which filters the code system
    "eu-cs-fragment-valueset.json": [("codesystem-valueset", "information", "CodeSystem.valueSet", 108, 15)],
    "core-cs-v3-act-us-privacy-law.json": [("codesystem-valueset", "error", "CodeSystem.valueSet", 43, 15)],
    "eu-cs-valueset-all-codes.json": [],
    # CODESYSTEM_PROPERTY_DUPLICATE_CODE (and CODESYSTEM_PROPERTY_UNKNOWN_CODE for both: no uri)
    "core-cs-item-control-property-declared-twice.json": [
        ("codesystem-concept-text", "warning", "CodeSystem.concept[0]", 50, 5),
        ("codesystem-property", "information", "CodeSystem.property[0]", 39, 5),
        ("codesystem-property", "error", "CodeSystem.property[1]", 44, 5),
        ("codesystem-property", "information", "CodeSystem.property[1]", 44, 5),
    ],
    # CODESYSTEM_PROPERTY_BAD_HL7_URI / CODESYSTEM_PROPERTY_URI_TYPE_MISMATCH
    "rds-cs-property-unknown-hl7-uri.json": [("codesystem-property", "error", "CodeSystem.property[0]", 53, 5)],
    "rds-cs-property-uri-type-mismatch.json": [("codesystem-property", "error", "CodeSystem.property[0]", 53, 5)],
    # CODESYSTEM_PROPERTY_DUPLICATE_URI / CODESYSTEM_PROPERTY_URI_CODE_MISMATCH (errors: rule() in the reference);
    # CODESYSTEM_PROPERTY_KNOWN_CODE_SUGGESTIVE with CODESYSTEM_PROPERTY_CODE_TYPE_MISMATCH (warnings)
    "rds-cs-property-duplicate-uri.json": [("codesystem-property", "error", "CodeSystem.property[1]", 58, 5)],
    "rds-cs-property-uri-code-mismatch.json": [("codesystem-property", "error", "CodeSystem.property[0]", 53, 5)],
    "rds-cs-property-parent-typed-string.json": [
        ("codesystem-property", "warning", "CodeSystem.property[0]", 53, 5),
        ("codesystem-property", "warning", "CodeSystem.property[0]", 53, 5),
    ],
    "rds-cs-property-not-selectable.json": [],
    # CODESYSTEM_PROPERTY_UNDEFINED / CODESYSTEM_PROPERTY_WRONG_TYPE
    "core-cs-item-control-undeclared-property.json": [
        ("codesystem-concept-text", "warning", "CodeSystem.concept[0]", 46, 5),
        ("codesystem-property", "information", "CodeSystem.property[0]", 39, 5),
        ("codesystem-concept-property", "warning", "CodeSystem.concept[1].property[0]", 97, 9),
    ],
    "core-cs-item-control-property-wrong-type.json": [
        ("codesystem-concept-text", "warning", "CodeSystem.concept[0]", 46, 5),
        ("codesystem-property", "information", "CodeSystem.property[0]", 39, 5),
        ("codesystem-concept-property", "error", "CodeSystem.concept[2].property[0]", 144, 9),
    ],
    # CODESYSTEM_PROPERTY_BAD_INTERNAL_REFERENCE: an error for the concept-properties parent, a warning
    # for a code property the reference cannot tell is one (with CODESYSTEM_PROPERTY_KNOWN_CODE_SUGGESTIVE)
    "rds-cs-parent-unknown-code.json": [
        ("codesystem-concept-property", "error", "CodeSystem.concept[4].property[0]", 36, 9)
    ],
    "rds-cs-parent-without-uri-unknown-code.json": [
        ("codesystem-property", "warning", "CodeSystem.property[0]", 59, 5),
        ("codesystem-concept-property", "warning", "CodeSystem.concept[4].property[0]", 36, 9),
    ],
    # a synonym names an internal code: CODESYSTEM_PROPERTY_BAD_INTERNAL_REFERENCE and CODESYSTEM_PROPERTY_SYNONYM_CHECK
    "rds-cs-synonym-unknown-code.json": [
        ("codesystem-concept-property", "error", "CodeSystem.concept[3].property[0]", 31, 9),
        ("codesystem-concept-property", "warning", "CodeSystem.concept[3].property[0]", 31, 9),
    ],
    "rds-cs-parent-known-code.json": [],
    # CODESYSTEM_DESIGNATION_DISP_CLASH_NO_LANG / CODESYSTEM_DESIGNATION_DISP_CLASH_LANG
    "rds-cs-designation-not-the-display.json": [
        ("codesystem-designation", "warning", "CodeSystem.concept[0].designation[0]", 16, 9)
    ],
    "rds-cs-designation-same-language.json": [
        ("codesystem-designation", "warning", "CodeSystem.concept[1].designation[0]", 21, 9)
    ],
    "rds-cs-designation-other-language-and-synonym.json": [],
    # CODESYSTEM_NOT_CONTAINED, and a contained code system is no system of an include
    # (VALUESET_INCLUDE_SYSTEM_ABSOLUTE_FRAG; VALUESET_INCLUDE_CSVER_NOT_FOUND); a CodeSystem may contain one
    "eu-vs-system-contained.json": [
        ("valueset-include-system", "error", "ValueSet.compose.include[0].system", 34, 19),
        ("codesystem-contained", "information", "ValueSet.contained[0]", 39, 5),
    ],
    "eu-vs-system-contained-other-version.json": [
        ("valueset-include-system", "error", "ValueSet.compose.include[0].system", 34, 19),
        ("valueset-include-system", "error", "ValueSet.compose.include[0].system", 34, 19),
        ("codesystem-contained", "information", "ValueSet.contained[0]", 40, 5),
    ],
    # VALUESET_INCLUDE_CS_NOT_CS, then VALUESET_INCLUDE_CS_NOT_FOUND
    "eu-vs-system-contained-not-cs.json": [
        ("valueset-include-system", "error", "ValueSet.compose.include[0].system", 34, 19),
        ("valueset-include-system", "error", "ValueSet.compose.include[0].system", 34, 19),
        ("valueset-include-system", "error", "ValueSet.compose.include[0].system", 34, 19),
    ],
    "rds-cs-contained-code-system.json": [("codesystem-property", "information", "CodeSystem.property[0]", 101, 5)],
    # -- ValueSet --------------------------------------------------------------------------
    # VALUESET_REFERENCE_INVALID_TYPE_NO_VERSION_3 / _1
    "rds-vs-system-with-version.json": [
        ("valueset-include-system", "error", "ValueSet.compose.include[0].system", 30, 19),
        ("valueset-include-code", "information", "ValueSet.compose.include[1]", 75, 7),
    ],
    "rds-vs-system-with-version-only.json": [
        ("valueset-include-system", "error", "ValueSet.compose.include[0].system", 30, 19),
        ("valueset-include-code", "information", "ValueSet.compose.include[1]", 74, 7),
    ],
    # VALUESET_INCLUDE_WRONG_VS_HINT / VALUESET_INCLUDE_SYSTEM_ABSOLUTE / VALUESET_NO_SYSTEM_WARNING
    "eu-vs-system-is-a-valueset.json": [
        ("valueset-include-system", "error", "ValueSet.compose.include[0].system", 34, 19)
    ],
    "eu-vs-system-relative.json": [("valueset-include-system", "error", "ValueSet.compose.include[0].system", 34, 19)],
    "eu-vs-concept-without-system.json": [("valueset-include-system", "warning", "ValueSet.compose.include[0]", 33, 7)],
    "eu-vs-system-with-version-element.json": [],
    # VALUESET_INCLUDE_CS_SUPPLEMENT: R4 core's example-supplement (its concepts are then not checked)
    "eu-vs-system-is-a-supplement.json": [
        ("valueset-include-system", "error", "ValueSet.compose.include[0].system", 34, 19)
    ],
    "eu-vs-concepts-of-a-supplement.json": [
        ("valueset-include-system", "error", "ValueSet.compose.include[1].system", 39, 19)
    ],
    # VALUESET_REFERENCE_UNKNOWN / VALUESET_REFERENCE_INVALID_TYPE / VALUESET_IMPORT_UNION_INTERSECTION
    "eu-vs-import-unknown.json": [("valueset-import", "warning", "ValueSet.compose.include[0].valueSet[0]", 35, 11)],
    "eu-vs-import-not-a-valueset.json": [
        ("valueset-import", "warning", "ValueSet.compose.include[0].valueSet[0]", 35, 11)
    ],
    "eu-vs-import-two-value-sets.json": [("valueset-import", "warning", "ValueSet.compose.include[0]", 33, 7)],
    "eu-vs-import-versioned.json": [],
    # VALUESET_INCLUDE_INVALID_CONCEPT_CODE (DICOM DCM and THO's v3-ParticipationType are loaded whole);
    # VALUESET_EXAMPLE_SYSTEM_ERROR; UNKNOWN_CODE_IN_FRAGMENT (with VALUESET_INCLUDE_CS_CONTENT, a hint);
    # SNOMED CT and a DCM version not loaded: not checked; VALUESET_CODE_CONCEPT_HINT for another display
    "rds-vs-dcm-unknown-code.json": [
        ("valueset-include-code", "error", "ValueSet.compose.include[0].concept[0]", 32, 11),
        ("valueset-include-code", "information", "ValueSet.compose.include[0].concept[2]", 40, 11),
        ("valueset-include-code", "information", "ValueSet.compose.include[1]", 74, 7),
    ],
    "eu-vs-participation-type-unknown-code.json": [
        ("valueset-include-code", "error", "ValueSet.compose.include[1].concept[0]", 41, 11)
    ],
    "rds-vs-example-system.json": [
        ("valueset-include-code", "information", "ValueSet.compose.include[0]", 29, 7),
        ("valueset-include-code", "error", "ValueSet.compose.include[1]", 75, 7),
    ],
    "eu-vs-fragment-unlisted-code.json": [
        ("valueset-include-system", "information", "ValueSet.compose.include[0].system", 34, 19),
        ("valueset-include-code", "warning", "ValueSet.compose.include[0].concept[1]", 39, 11),
    ],
    # VALUESET_INCLUDE_INVALID_CONCEPT_CODE_VER: the version asked for is the one loaded
    "rds-vs-dcm-loaded-version-unknown-code.json": [
        ("valueset-include-code", "error", "ValueSet.compose.include[0].concept[0]", 33, 11),
        ("valueset-include-code", "information", "ValueSet.compose.include[0].concept[2]", 41, 11),
        ("valueset-include-code", "information", "ValueSet.compose.include[1]", 75, 7),
    ],
    # VALUESET_CONCEPT_DISPLAY_PRESENCE_MIXED (a hint)
    "rds-vs-display-missing-once.json": [
        ("valueset-include-code", "information", "ValueSet.compose.include[0]", 29, 7),
        ("valueset-include-code", "information", "ValueSet.compose.include[0].concept[2]", 40, 11),
        ("valueset-include-code", "information", "ValueSet.compose.include[1]", 73, 7),
    ],
    "rds-vs-dcm-unversioned.json": [
        ("valueset-include-code", "information", "ValueSet.compose.include[0].concept[2]", 40, 11),
        ("valueset-include-code", "information", "ValueSet.compose.include[1]", 74, 7),
    ],
    # VALUESET_BAD_FILTER_OP (+ VALUESET_BAD_PROPERTY_NO_REGEX), VALUESET_BAD_FILTER_VALUE_VALID_CODE,
    # VALUESET_UNKNOWN_FILTER_PROPERTY, VALUESET_BAD_FILTER_VALUE_BOOLEAN; child-of is an R5 operator
    "core-vs-filter-concept-regex.json": [
        ("valueset-filter", "error", "ValueSet.compose.include[0].filter[0].op", 57, 19),
        ("valueset-filter", "error", "ValueSet.compose.include[0].filter[0].value", 58, 22),
    ],
    "core-vs-filter-unknown-code.json": [
        ("valueset-filter", "error", "ValueSet.compose.include[0].filter[0].value", 58, 22)
    ],
    "core-vs-filter-unknown-property.json": [
        ("valueset-filter", "warning", "ValueSet.compose.include[0].filter[0].property", 56, 25)
    ],
    "core-vs-filter-not-boolean.json": [
        ("valueset-filter", "error", "ValueSet.compose.include[0].filter[0].value", 58, 22)
    ],
    "core-vs-filter-child-of.json": [("valueset-filter", "error", "ValueSet.compose.include[0].filter[0].op", 57, 19)],
    # VALUESET_BAD_FILTER_VALUE_DATETIME / VALUESET_BAD_FILTER_VALUE_VALID_REGEX (an error: rule() in the
    # reference); VALUESET_BAD_FILTER_VALUE_HAS_COMMA (a hint) with VALUESET_BAD_FILTER_VALUE_VALID_CODE
    "core-vs-filter-not-datetime.json": [
        ("valueset-filter", "error", "ValueSet.compose.include[0].filter[0].value", 58, 22)
    ],
    "core-vs-filter-bad-regex.json": [
        ("valueset-filter", "error", "ValueSet.compose.include[0].filter[0].value", 58, 22)
    ],
    "core-vs-filter-comma.json": [
        ("valueset-filter", "information", "ValueSet.compose.include[0].filter[0].value", 58, 22),
        ("valueset-filter", "error", "ValueSet.compose.include[0].filter[0].value", 58, 22),
    ],
    "core-vs-filter-descendent-of.json": [],
    "r5/core-vs-filter-child-of.json": [],
}

# errors of this module's rules on shipped resources that the reference reports as well: R4 core's
# CodeSystems name an all-codes value set whose newer definition (THO 7.0.1, the R4 extensions package:
# loaded, so resolved first) selects only part of it or another system; a system with a version in it
PINNED_CORE_ERRORS = [
    ("CodeSystem-implantStatus.json", "codesystem-valueset", "CodeSystem.valueSet"),
    ("CodeSystem-v3-ActUSPrivacyLaw.json", "codesystem-valueset", "CodeSystem.valueSet"),
    ("ValueSet-v2-2.6-0391.json", "valueset-include-system", "ValueSet.compose.include[0].system"),
]


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(load_store(env=False, entry_points=False))


def _release(name: str) -> str:
    parts = Path(name).parts
    return "R5" if "r5" in parts[:-1] or parts[-1].startswith("r5-") else "R4"


@pytest.mark.parametrize("name", sorted(CASES), ids=sorted(CASES))
def test_fixture(validator: Validator, name: str) -> None:
    outcome = validator.validate(FIXTURES / name, fhir_version=_release(name))
    found = [(i.rule, i.severity, i.expression, i.line, i.column) for i in outcome.issues if i.rule in MINE]
    assert found == CASES[name], found


def test_every_fixture_has_a_case() -> None:
    files = {p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob("*.json")}
    assert files == set(CASES)


def test_the_near_misses_validate(validator: Validator) -> None:
    for name, expected in CASES.items():
        if not any(severity == "error" for _, severity, *_ in expected):
            outcome = validator.validate(FIXTURES / name, fhir_version=_release(name))
            errors = [i for i in outcome.issues if i.severity in ("error", "fatal") and i.rule in MINE]
            assert not errors, (name, errors)


def test_imaging_ig_code_systems_and_value_sets(validator: Validator) -> None:
    """Every CodeSystem and ValueSet the imaging IGs ship: nothing worse than information from these rules."""
    store = validator.store
    seen = 0
    for key in IMAGING_PACKAGES:
        pkg = store.get(key)
        assert pkg is not None, key
        for entry in pkg.entries:
            if entry.resource_type in ("CodeSystem", "ValueSet"):
                seen += 1
                outcome = validator.validate(pkg.load(entry.filename), fhir_version=pkg.release)
                bad = [i for i in outcome.issues if i.rule in MINE and i.severity != "information"]
                assert not bad, (key, entry.filename, bad)
    assert seen == 29


def test_core_sample(validator: Validator) -> None:
    """100 CodeSystems / ValueSets of each core package, evenly spread: only the pinned errors."""
    store = validator.store
    errors = []
    for key in ("hl7.fhir.r4.core#4.0.1", "hl7.fhir.r5.core#5.0.0"):
        pkg = store.get(key)
        assert pkg is not None, key
        entries = sorted(
            (e for e in pkg.entries if e.resource_type in ("CodeSystem", "ValueSet")), key=lambda e: e.filename
        )
        for entry in entries[:: len(entries) // 100][:100]:
            outcome = validator.validate(pkg.load(entry.filename), fhir_version=pkg.release)
            errors += [
                (entry.filename, i.rule, i.expression)
                for i in outcome.issues
                if i.rule in MINE and i.severity == "error"
            ]
    assert errors == PINNED_CORE_ERRORS


def test_example_urls() -> None:
    assert is_example_url("http://example.org/fhir/CodeSystem/x")
    assert is_example_url("http://acme.com")
    assert is_example_url("urn:oid:2.999.1")
    assert not is_example_url("http://hl7.org/fhir/uv/radiation-dose-summary/CodeSystem/dicom-identifier-type")
