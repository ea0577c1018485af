"""uri-like values, canonicals and Identifier (rules/identifiers.py), as InstanceValidator.checkPrimitive,
validateReference and checkIdentifier check them, on copies of real examples with one change each."""

from __future__ import annotations

import pytest

from imgfhir.validation import Validator
from imgfhir.validation.rules.identifiers import is_absolute, is_absolute_url
from tests.validation.primitives2_support import Expected, check, found, validators

RULES = {"uri-value", "canonical-resolve", "identifier"}
SYSTEM = "Patient.identifier[0].system"
SOP = "ImagingStudy.series[0].instance[0].sopClass.system"
PROFILE = "Patient.meta.profile[0]"
SOURCE = "ConceptMap.sourceCanonical"
ID = "Patient.identifier[0]"


@pytest.fixture(scope="module")
def validator() -> dict[str, Validator]:
    return validators()


CASES: list[tuple[str, list[Expected]]] = [
    (
        "patient-identifier-system-oid-scheme.json",
        [("identifier", "error", ID, 9, 5, "'oid:1.2.36"), ("uri-value", "error", SYSTEM, 19, 17, "not oid:")],
    ),
    (
        "patient-identifier-system-uuid-scheme.json",
        [("identifier", "error", ID, 9, 5, "'uuid:5b4b"), ("uri-value", "error", SYSTEM, 19, 17, "not uuid:")],
    ),
    ("imagingstudy-sopclass-system-uuid-scheme.json", [("uri-value", "error", SOP, 147, 23, "not uuid:")]),
    ("imagingstudy-sopclass-system-uuid-uppercase.json", [("uri-value", "error", SOP, 147, 23, "not a valid UUID")]),
    ("imagingstudy-sopclass-system-uuid-short.json", [("uri-value", "error", SOP, 147, 23, "not a valid UUID")]),
    ("patient-identifier-system-oid-short-root.json", [("uri-value", "error", SYSTEM, 19, 17, "'1.2.36' is not")]),
    ("patient-identifier-system-oid-leading-zero.json", [("uri-value", "error", SYSTEM, 19, 17, "not a valid OID")]),
    (
        "patient-meta-profile-relative.json",
        [
            ("uri-value", "error", PROFILE, 167, 7, "must be an absolute URL"),
            ("canonical-resolve", "information", PROFILE, 167, 7, "cannot be resolved"),
        ],
    ),
    (
        "patient-meta-profile-bare-name.json",
        [
            ("uri-value", "error", PROFILE, 167, 7, "must be an absolute URL"),
            ("canonical-resolve", "information", PROFILE, 167, 7, "cannot be resolved"),
        ],
    ),
    ("conceptmap-url-relative.json", [("uri-value", "error", "ConceptMap.url", 62, 10, "of a resource must be")]),
    ("conceptmap-url-bare-id.json", [("uri-value", "error", "ConceptMap.url", 62, 10, "of a resource must be")]),
    (
        "patient-contained-conceptmap-url-relative.json",
        [("uri-value", "error", "Patient.contained[0].url", 227, 14, "in a contained resource must be")],
    ),
    (
        "patient-meta-profile-unknown.json",
        [("canonical-resolve", "information", PROFILE, 167, 7, "no-such-patient cannot be resolved")],
    ),
    ("conceptmap-source-unknown.json", [("canonical-resolve", "information", SOURCE, 69, 22, "cannot be resolved")]),
    (
        "conceptmap-source-contained-missing.json",
        [("canonical-resolve", "warning", SOURCE, 69, 22, "#document-types names no contained resource")],
    ),
    ("patient-identifier-system-relative.json", [("identifier", "error", ID, 9, 5, "'acme-healthcare/mrn' must be")]),
    ("patient-identifier-ietf-value-not-uri.json", [("identifier", "error", ID, 9, 5, "absolute URI, found '12345'")]),
]
NEAR_MISSES = [
    "imagingstudy-sopclass-system-uuid-lowercase.json",  # urn:uuid: with a lowercase UUID
    "patient-meta-profile-core.json",  # absolute and loaded
    "conceptmap-url-absolute.json",  # an absolute canonical URL
    "conceptmap-source-core.json",  # a value set of the core package
    "patient-identifier-ietf-value-oid.json",  # urn:ietf:rfc:3986 with a urn:oid: value
]


@pytest.mark.parametrize(("name", "expected"), CASES, ids=[c[0] for c in CASES])
def test_reports_what_the_reference_reports(
    validator: dict[str, Validator], name: str, expected: list[Expected]
) -> None:
    check(found(validator, name, RULES), expected)


@pytest.mark.parametrize("name", NEAR_MISSES)
def test_near_misses_pass(validator: dict[str, Validator], name: str) -> None:
    assert found(validator, name, RULES) == []


@pytest.mark.parametrize(
    ("url", "absolute"),
    [
        ("http://example.org/x", True),
        ("urn:oid:1.2.3", True),
        ("urn:iso:std:iso:3166", True),
        ("mailto:someone@example.org", True),
        ("Patient/1", False),
        ("HTTP://example.org", False),  # Utilities.isAbsoluteUrl: a scheme other than http(s)/urn must be lowercase
        ("http:", False),
        ("http://example.org/a b", False),
    ],
)
def test_absolute_url_as_the_reference_reads_it(url: str, absolute: bool) -> None:
    assert is_absolute_url(url) is absolute


@pytest.mark.parametrize(
    ("uri", "absolute"),
    [("urn:oid:1.2.3", True), ("file:/tmp/x", True), ("file:x", False), ("12345", False), ("a-b:c", False)],
)
def test_absolute_uri_for_ietf_identifiers(uri: str, absolute: bool) -> None:
    assert is_absolute(uri) is absolute
