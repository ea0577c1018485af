"""Bundle rules beyond the core invariants, on real IG Bundles and broken copies of them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from imgfhir.outcome import Issue
from imgfhir.packages import PackageStore, load_store
from imgfhir.validation.model import RULES
from imgfhir.validation.rules.bundles import BundleIndex, document_orphans, enclosing_bundle
from imgfhir.validation.validator import Validator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLES = FIXTURES / "ig-examples"
INVALID = FIXTURES / "validation" / "bundles"
BUNDLE_RULES = {
    "bundle-document-reference",
    "bundle-transaction-reference",
    "bundle-entry-request",
    "bundle-document-orphan",
    "bundle-document-reverse",
    "bundle-reference-format",
    "bundle-reference-ambiguous",
    "bundle-link",
    "bundle-link-stylesheet",
    "bundle-entry-fullurl",
    "resource-id",
}
EU_R4_DOCUMENT = EXAMPLES / "hl7.fhir.eu.imaging" / "Bundle-bundle-report-semi-structured.json"


@pytest.fixture(scope="module")
def store() -> PackageStore:
    return load_store(env=False, entry_points=False)


@pytest.fixture(scope="module")
def validator(store: PackageStore) -> Validator:
    return Validator(store)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def bundle_issues(validator: Validator, resource: dict[str, Any], release: str) -> list[Issue]:
    return [i for i in validator.validate(resource, fhir_version=release) if i.rule in BUNDLE_RULES]


REAL_BUNDLES = sorted({*EXAMPLES.glob("*/Bundle-*.json"), *EXAMPLES.glob("*/bundle-*.json")})


def test_registered() -> None:
    names = {r.name for r in RULES}
    assert names >= {"bundle-reference", "bundle-entry-request", "bundle-document-orphan", "bundle-link"}


def test_real_bundles_exist() -> None:
    kinds = {load(p).get("type") for p in REAL_BUNDLES}
    assert {"document", "transaction", "collection", "searchset"} <= kinds


# the R4 EU structured report links two key-image DocumentReferences only from themselves to the
# report: the reference validator warns about exactly that in R4 (BUNDLE_BUNDLE_ENTRY_REVERSE_R4)
REVERSE_IN_R4 = {
    "Bundle-bundle-report-structured.json": ["Bundle.entry[46]", "Bundle.entry[47]"],
}


@pytest.mark.parametrize("path", REAL_BUNDLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_bundles_pass(validator: Validator, store: PackageStore, path: Path) -> None:
    release = store.scope(path.parent.name).release
    found = bundle_issues(validator, load(path), release)
    expected = REVERSE_IN_R4.get(path.name, []) if release == "R4" else []
    assert [(i.rule, i.severity, i.expression) for i in found] == [
        ("bundle-document-reverse", "warning", where) for where in expected
    ]


# fixture, FHIR release, expected (rule, location, part of the message)
CASES = [
    (
        # not a reference the Composition makes: the reference validator only hints (checkAllInterlinked)
        "eu-r4-document-unresolved-subject.json",
        "R4",
        [("bundle-document-reference", "Bundle.entry[1].resource.subject", "Patient/PatientNotInTheDocument")],
    ),
    (
        "eu-r5-document-unresolved-section-entry.json",
        "R5",
        [("bundle-document-reference", "Bundle.entry[0].resource.section[2].entry[0]", "Observation/NotInTheDocument")],
    ),
    (
        "eu-r5-document-absolute-reference.json",
        "R5",
        [
            (
                "bundle-document-reference",
                "Bundle.entry[1].resource.subject",
                "http://other.example.org/fhir/Patient/PatientSemiStructuredReport does not resolve",
            )
        ],
    ),
    (
        # a document carried in an IHE MHD transaction is resolved against its own entries
        "mhd-nested-document-unresolved.json",
        "R4",
        [("bundle-document-reference", "Bundle.entry[2].resource.entry[0].resource.subject", "Patient/nobody")],
    ),
    (
        "rds-transaction-unresolved-urn.json",
        "R4",
        [
            (
                "bundle-transaction-reference",
                "Bundle.entry[0].resource.subject",
                "urn:uuid:00000000-0000-4000-8000-000000000000 names no entry of this transaction",
            )
        ],
    ),
    (
        "rds-transaction-get-with-resource.json",
        "R4",
        [("bundle-entry-request", "Bundle.entry[2]", "request.method GET must not carry a resource")],
    ),
    (
        "mhd-transaction-post-without-resource.json",
        "R4",
        [("bundle-entry-request", "Bundle.entry[1]", "request.method POST must carry the resource")],
    ),
    (
        "eu-r4-document-orphan-entry.json",
        "R4",
        [("bundle-document-orphan", "Bundle.entry[9]", "Device/DeviceUnrelated is not linked to the Composition")],
    ),
    (
        "mhd-nested-document-orphan-entry.json",
        "R4",
        [("bundle-document-orphan", "Bundle.entry[2].resource.entry[8]", "Observation/fdoc-unrelated is not linked")],
    ),
    # R5 states the same as the invariant bdl-3c: reported once, by the invariant
    ("eu-r5-transaction-post-without-resource.json", "R5", []),
]


@pytest.mark.parametrize(("name", "release", "expected"), CASES, ids=[c[0] for c in CASES])
def test_invalid_bundles(validator: Validator, name: str, release: str, expected: list[tuple[str, str, str]]) -> None:
    found = bundle_issues(validator, load(INVALID / name), release)
    assert [(i.rule, i.expression) for i in found] == [(r, where) for r, where, _ in expected], found
    for issue, (_, where, message) in zip(found, expected, strict=True):
        assert issue.severity == ("information" if where in HINTS else "error")
        assert message in issue.message, issue.message


# references outside the Composition that a document does not resolve: hints in the reference validator
HINTS = {"Bundle.entry[1].resource.subject"}


def test_r5_entry_request_is_left_to_bdl_3c(validator: Validator) -> None:
    outcome = validator.validate(load(INVALID / "eu-r5-transaction-post-without-resource.json"), fhir_version="R5")
    assert [(i.rule, i.expression) for i in outcome if i.rule == "bdl-3c"] == [("bdl-3c", "Bundle")]


@pytest.mark.parametrize(
    ("mutate", "invariant"),
    [
        (lambda b: b.pop("identifier"), "bdl-9"),
        (lambda b: b.pop("timestamp"), "bdl-10"),
        (lambda b: b["entry"].insert(0, b["entry"].pop(1)), "bdl-11"),
        (lambda b: b["entry"][2].__setitem__("fullUrl", b["entry"][1]["fullUrl"]), "bdl-7"),
    ],
    ids=["identifier", "timestamp", "composition-first", "fullurl-unique"],
)
def test_document_basics_are_the_invariants(validator: Validator, mutate: Any, invariant: str) -> None:
    """What the core invariants already say (R4 wording) is theirs alone: no second report from these rules."""
    bundle = copy.deepcopy(load(EU_R4_DOCUMENT))
    mutate(bundle)
    outcome = validator.validate(bundle, fhir_version="R4")
    assert [i.expression for i in outcome if i.rule == invariant] == ["Bundle"]
    # the copied fullUrl no longer ends with the entry's type and id, and a reference to it is
    # ambiguous: findings of their own (BundleValidator BUNDLE_ENTRY_URL_MATCHES_TYPE_ID,
    # BaseValidator.getFromBundle BUNDLE_BUNDLE_MULTIPLEMATCHES, both besides bdl-7)
    others = {(i.rule, i.expression) for i in outcome if i.rule in BUNDLE_RULES}
    if invariant == "bdl-7":
        assert ("bundle-entry-fullurl", "Bundle.entry[2]") in others
        assert {rule for rule, _ in others} == {"bundle-entry-fullurl", "bundle-reference-ambiguous"}, others
    else:
        assert not others


def test_resolution() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "document",
        "entry": [
            {"fullUrl": "http://example.org/fhir/Patient/p1", "resource": {"resourceType": "Patient", "id": "p1"}},
            {"fullUrl": "urn:uuid:4d0e", "resource": {"resourceType": "Device", "id": "d1"}},
        ],
    }
    index = BundleIndex.of(bundle)
    assert index.resolves("http://example.org/fhir/Patient/p1", None)
    assert index.resolves("Patient/p1", "http://example.org/fhir/Composition/c1")
    # a version-specific reference names an entry with that meta.versionId (BaseValidator.resolveInBundle)
    assert not index.resolves("Patient/p1/_history/2", "http://example.org/fhir/Composition/c1")
    bundle["entry"][0]["resource"]["meta"] = {"versionId": "2"}
    assert BundleIndex.of(bundle).resolves("Patient/p1/_history/2", "http://example.org/fhir/Composition/c1")
    assert not BundleIndex.of(bundle).resolves("Patient/p1/_history/1", "http://example.org/fhir/Composition/c1")
    assert index.resolves("urn:uuid:4d0e", None)
    assert index.resolves("Device/d1", "urn:uuid:0000")  # by Type/id, as the reference validator does
    assert not index.resolves("http://elsewhere.org/fhir/Patient/p1", None)
    assert not index.resolves("urn:uuid:ffff", None)
    assert not index.resolves("Patient/p2", "http://example.org/fhir/Composition/c1")


def test_enclosing_bundle_is_the_innermost() -> None:
    inner = {"resourceType": "Bundle", "type": "document", "entry": [{"resource": {"resourceType": "Composition"}}]}
    outer = {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": inner}]}
    found = enclosing_bundle(outer, ("entry", 0, "resource", "entry", 0, "resource", "subject"))
    assert found is not None and found[0] is inner and found[1] is inner["entry"][0]
    found = enclosing_bundle(outer, ("entry", 0, "resource", "identifier"))
    assert found is not None and found[0] is outer
    assert enclosing_bundle(outer, ("entry",)) is None
    assert enclosing_bundle(outer, ("entry", 5, "resource", "x")) is None


def test_document_graph_counts_links_both_ways() -> None:
    """R5 reading (EU imaging): a resource referencing the Composition, or reached through one, belongs."""
    bundle = {
        "resourceType": "Bundle",
        "type": "document",
        "entry": [
            {"fullUrl": "urn:uuid:c", "resource": {"resourceType": "Composition", "id": "c"}},
            {
                "fullUrl": "urn:uuid:r",
                "resource": {
                    "resourceType": "DiagnosticReport",
                    "composition": {"reference": "urn:uuid:c"},
                    "result": [{"reference": "urn:uuid:o"}],
                },
            },
            {"fullUrl": "urn:uuid:o", "resource": {"resourceType": "Observation", "id": "o"}},
            {"fullUrl": "urn:uuid:b", "resource": {"resourceType": "Binary", "id": "b"}},
            {"fullUrl": "urn:uuid:x", "resource": {"resourceType": "Observation", "id": "x"}},
        ],
    }
    # the Binary is reached by nothing (not even a stylesheet link): the reference validator makes no
    # exception for Binary or Provenance
    assert document_orphans(bundle) == [3, 4]
    bundle["link"] = [{"relation": "stylesheet", "url": "Binary/b"}]
    assert document_orphans(bundle) == [4]


def test_an_entry_missing_its_slice_says_why(validator: Validator) -> None:
    """The MinimalMetadata example with its DiagnosticReport's meta.profile and categories removed:
    the entry no longer meets the slice's profile, so the required slice is empty (the error). The
    reasons come with it as information at the entry, as the reference validator lists them."""
    outcome = validator.validate(load(INVALID / "eu-r4-minimal-entry-misses-profile.json"), fhir_version="4.0.1")
    errors = [(i.rule, i.expression) for i in outcome.issues if i.severity == "error"]
    assert errors == [("cardinality", "Bundle")], outcome.issues
    why = [i for i in outcome.issues if i.severity == "information" and "is not in slice" in i.message]
    assert {i.expression for i in why} == {"Bundle.entry[0].resource"}, why
    assert all(i.code == "informational" and "DiagnosticReportEuImagingMinimalMetadata" in i.message for i in why)
    assert any("DiagnosticReport.category: minimum required = 2" in i.message for i in why), why
    # the unchanged example has neither
    original = validator.validate(
        load(EXAMPLES / "hl7.fhir.eu.imaging" / "Bundle-bundle-report-minimal-metadata-unstructured.json"),
        fhir_version="4.0.1",
    )
    assert original.ok and not [i for i in original.issues if "is not in slice" in i.message]
