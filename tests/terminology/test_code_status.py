"""What a code's own CodeSystem says of it (ValueSetValidator / CodeSystemUtilities): concept status,
content modes, supplements; and what a value set says (compose.inactive, deprecated members)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from imgfhir.packages import PackageStore
from imgfhir.terminology import Terminology
from imgfhir.terminology.codesystems import STANDARDS_STATUS, CodeSystemIndex, concept_status
from imgfhir.terminology.expansion import VALUESET_DEPRECATED, Composer

V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
EU_FRAGMENT = "http://hl7.eu/fhir/imaging-r5/CodeSystem/codesystem-missing-dicom-terminology"


@pytest.fixture(scope="module")
def r5(bundled_store: PackageStore) -> Terminology:
    return Terminology(bundled_store.scope("hl7.fhir.eu.imaging-r5"))


@pytest.fixture(scope="module")
def core_r5(bundled_store: PackageStore) -> Terminology:
    return Terminology(bundled_store.scope("hl7.fhir.r5.core"))


@pytest.mark.parametrize(
    ("concept", "expected"),
    [
        ({"property": [{"code": "status", "valueCode": "deprecated"}]}, (True, "deprecated")),
        ({"property": [{"code": "status", "valueCode": "retired"}]}, (True, "retired")),
        ({"property": [{"code": "status", "valueString": "inactive"}]}, (True, "inactive")),
        ({"property": [{"code": "status", "valueCode": "active"}]}, (False, "active")),
        ({"property": [{"code": "inactive", "valueBoolean": True}]}, (True, None)),
        ({"property": [{"code": "inactive", "valueCode": "true"}]}, (True, None)),
        # the first status/inactive property decides
        (
            {"property": [{"code": "status", "valueCode": "active"}, {"code": "inactive", "valueBoolean": True}]},
            (False, "active"),
        ),
        ({"extension": [{"url": STANDARDS_STATUS, "valueCode": "withdrawn"}]}, (True, "withdrawn")),
        ({"extension": [{"url": STANDARDS_STATUS, "valueCode": "trial-use"}]}, (False, None)),
        ({"property": [{"code": "notSelectable", "valueBoolean": True}]}, (False, None)),
    ],
)
def test_concept_status(concept: dict[str, Any], expected: tuple[bool, str | None]) -> None:
    assert concept_status({"code": "x", **concept}) == expected


def test_inactive_and_unknown_codes_of_a_complete_system(core_r5: Terminology) -> None:
    [found] = core_r5.code_findings(V3_INTERPRETATION, "HM")
    assert (found.key, found.severity, found.code) == ("INACTIVE_CONCEPT_FOUND", "warning", "business-rule")
    assert found.message == "The concept 'HM' has a status of deprecated and its use should be reviewed"
    assert core_r5.code_findings(V3_INTERPRETATION, "H") == ()
    [unknown] = core_r5.code_findings(V3_INTERPRETATION, "LOW")
    assert (unknown.key, unknown.severity) == ("Unknown_Code_in_Version", "error")


def test_fragment_code_systems(r5: Terminology) -> None:
    # an unlisted code of a fragment may exist elsewhere: a warning, not an error
    assert r5.code_findings(EU_FRAGMENT, "00080016") == ()
    [found] = r5.code_findings(EU_FRAGMENT, "00080099")
    assert (found.key, found.severity) == ("UNKNOWN_CODE_IN_FRAGMENT", "warning")
    assert "labeled as a fragment" in found.message
    # membership is decided from the listed concepts (ValueSetValidator.inComponent)
    cs = r5.code_system(EU_FRAGMENT)
    assert cs is not None and cs.enumerable and not cs.complete
    composer = Composer(r5.code_system, lambda url: None)
    exp = composer.compose({"resourceType": "ValueSet", "compose": {"include": [{"system": EU_FRAGMENT}]}})
    assert exp.member(EU_FRAGMENT, "00080016") == (True, None)
    assert exp.member(EU_FRAGMENT, "00080099") == (False, None)


def test_content_that_cannot_be_checked(core_r5: Terminology) -> None:
    # not-present and example content: "not checked", never valid
    for url, content in (
        ("http://hl7.org/fhir/CodeSystem/summary", "doesn't include any codes"),
        ("http://hl7.org/fhir/biologicallyderived-product-property-type-codes", "only has example content"),
    ):
        [found] = core_r5.code_findings(url, "whatever")
        assert (found.severity, found.code) == ("information", "informational")
        assert content in found.message and "has not been validated" in found.message
        vs = {"resourceType": "ValueSet", "compose": {"include": [{"system": url}]}}
        inside, reason = Composer(core_r5.code_system, lambda u: None).compose(vs).member(url, "whatever")
        assert inside is None and reason is not None and "not checked offline" in reason


def test_a_supplement_is_not_a_coding_system(core_r5: Terminology) -> None:
    url = "http://hl7.org/fhir/CodeSystem/example-supplement"
    [found] = core_r5.code_findings(url, "chol-mmol")
    assert (found.key, found.severity) == ("CODESYSTEM_CS_NO_SUPPLEMENT", "error")
    assert core_r5.code_findings("http://example.org/unknown-system", "x") == ()


# -- the value set's say: compose.inactive = false, deprecated members ----------------------------

STATUS_CS: dict[str, Any] = {
    "resourceType": "CodeSystem",
    "url": "http://example.org/CodeSystem/status",
    "content": "complete",
    "concept": [
        {"code": "current", "property": [{"code": "status", "valueCode": "active"}]},
        {"code": "old", "property": [{"code": "status", "valueCode": "retired"}]},
        {"code": "legacy"},
    ],
}


def _compose(compose: dict[str, Any]) -> Any:
    cs = CodeSystemIndex(STATUS_CS)
    return Composer(lambda url: cs if url == cs.url else None, lambda url: None).compose(
        {"resourceType": "ValueSet", "compose": compose}
    )


def test_compose_inactive_false_leaves_inactive_codes_out() -> None:
    include = [{"system": STATUS_CS["url"]}]
    assert _compose({"include": include}).member(STATUS_CS["url"], "old") == (True, None)
    exp = _compose({"inactive": False, "include": include})
    assert exp.member(STATUS_CS["url"], "old") == (False, None)
    assert exp.member(STATUS_CS["url"], "current") == (True, None)
    assert exp.inactive_excluded == {(STATUS_CS["url"], "old"): "retired"}


def test_value_set_marks_a_member_deprecated() -> None:
    concepts = [
        {"code": "current"},
        {"code": "legacy", "extension": [{"url": VALUESET_DEPRECATED, "valueBoolean": True}]},
        {"code": "old", "extension": [{"url": STANDARDS_STATUS, "valueCode": "withdrawn"}]},
    ]
    exp = _compose({"include": [{"system": STATUS_CS["url"], "concept": copy.deepcopy(concepts)}]})
    url = STATUS_CS["url"]
    assert exp.deprecated == {(url, "legacy"): "deprecated", (url, "old"): "withdrawn"}
    assert exp.member(url, "legacy") == (True, None)  # still a member, with a warning
