"""Resource ids, contained resources, Bundle entry identity and links, references inside Bundles:
broken copies of real IG examples (tests/fixtures/validation/bundles|contained/README.md), each with
the rule, severity and place (line/column) the reference validator's check would report."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from imgfhir.packages import load_store
from imgfhir.validation.rules.resource_ids import entry_needs_id, unreachable_contained
from imgfhir.validation.validator import Validator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "validation"
RULES = {
    "bundle-entry-fullurl",
    "resource-id",
    "bundle-link",
    "bundle-link-stylesheet",
    "bundle-reference-format",
    "bundle-reference-ambiguous",
    "bundle-document-reference",
    "bundle-document-reverse",
    "bundle-document-orphan",
    "contained-orphan",
    "contained-duplicate-id",
    "dom-3",
    "primitive",
}


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(load_store(env=False, entry_points=False))


# fixture → [(rule, severity, expression, line, column)]; all R4 (no `r5` in the path or name)
CASES: dict[str, list[tuple[str, str, str, int, int]]] = {
    # BUNDLE_ENTRY_URL_MATCHES_TYPE_ID: the fullUrl's id, then its type, differ from the resource's
    "bundles/mhd-document-fullurl-other-id.json": [("bundle-entry-fullurl", "error", "Bundle.entry[1]", 115, 5)],
    "bundles/mhd-document-fullurl-other-type.json": [("bundle-entry-fullurl", "error", "Bundle.entry[3]", 173, 5)],
    # BUNDLE_ENTRY_URL_ABSOLUTE
    "bundles/eu-r4-collection-fullurl-relative.json": [("bundle-entry-fullurl", "error", "Bundle.entry[1]", 105, 5)],
    # BUNDLE_BUNDLE_ENTRY_FULLURL_REQUIRED (a collection)
    "bundles/eu-r4-collection-fullurl-missing.json": [("bundle-entry-fullurl", "error", "Bundle.entry[1]", 105, 5)],
    # BUNDLE_ENTRY_URL_MATCHES_NO_ID and RESOURCE_RES_ID_MISSING: a RESTful fullUrl names an id
    "bundles/mhd-document-entry-without-id.json": [
        ("bundle-entry-fullurl", "error", "Bundle.entry[7]", 326, 5),
        ("resource-id", "error", "Bundle.entry[7].resource", 328, 19),
    ],
    # near miss: a urn:uuid: fullUrl identifies the entry; its resource needs no id
    "bundles/eu-r4-collection-urn-entry-without-id.json": [],
    # BUNDLE_LINK_SEARCH_NO_DUPLICATES / BUNDLE_LINK_SEARCH_PROHIBITED
    "bundles/mhd-searchset-two-self-links.json": [("bundle-link", "error", "Bundle.link[1]", 17, 5)],
    "bundles/mhd-searchset-two-next-links.json": [("bundle-link", "error", "Bundle.link[2]", 21, 5)],
    "bundles/mhd-searchset-self-and-next.json": [],
    "bundles/mhd-document-two-self-links.json": [("bundle-link", "error", "Bundle.link[1]", 375, 5)],
    "bundles/mhd-document-next-link.json": [("bundle-link", "error", "Bundle.link[0].relation", 372, 19)],
    # BUNDLE_LINK_STYELSHEET_NOT_FOUND, _EXTERNAL and _INSECURE
    "bundles/mhd-document-stylesheet-not-in-document.json": [
        ("bundle-link-stylesheet", "error", "Bundle.link[0].url", 373, 14)
    ],
    "bundles/mhd-document-stylesheet-external.json": [
        ("bundle-link-stylesheet", "warning", "Bundle.link[0].url", 373, 14),
        ("bundle-link-stylesheet", "warning", "Bundle.link[0].url", 373, 14),
    ],
    "bundles/mhd-document-stylesheet-fhir-css.json": [],
    # REFERENCE_REF_FORMAT2 (conditional reference outside a transaction; three segments) and
    # REFERENCE_REF_FORMAT1 (a transaction's search URL without a value)
    "bundles/eu-r4-collection-conditional-reference.json": [
        ("bundle-reference-format", "error", "Bundle.entry[0].resource.subject", 44, 20)
    ],
    "bundles/mhd-document-reference-three-segments.json": [
        ("bundle-document-reverse", "warning", "Bundle.entry[4]", 209, 5),
        ("bundle-reference-format", "error", "Bundle.entry[0].resource.section[0].entry[0]", 62, 15),
    ],
    "bundles/rds-transaction-conditional-reference-bad-query.json": [
        ("bundle-reference-format", "error", "Bundle.entry[0].resource.subject", 43, 20)
    ],
    "bundles/rds-transaction-conditional-reference.json": [],
    # version-specific references: the entry with that meta.versionId, or none (BUNDLE_BUNDLE_ENTRY_NOTFOUND);
    # two versions under one fullUrl make an unversioned reference ambiguous (BUNDLE_BUNDLE_MULTIPLEMATCHES)
    "bundles/mhd-document-versioned-reference.json": [],
    "bundles/mhd-document-versioned-reference-other-version.json": [
        ("bundle-document-reverse", "warning", "Bundle.entry[4]", 209, 5),
        ("bundle-document-reference", "error", "Bundle.entry[0].resource.section[0].entry[0]", 62, 15),
    ],
    "bundles/mhd-document-two-versions-unversioned-reference.json": [
        ("bundle-document-reverse", "warning", "Bundle.entry[5]", 236, 5),
        ("bundle-reference-ambiguous", "error", "Bundle.entry[0].resource.section[0].entry[0]", 62, 15),
    ],
    # BUNDLE_BUNDLE_ENTRY_REVERSE_R4: reached only through the Observation's own references
    "bundles/mhd-document-observation-reached-backwards.json": [
        ("bundle-document-reverse", "warning", "Bundle.entry[4]", 204, 5)
    ],
    # CONTAINED_ORPHAN_DOM3 beyond dom-3: two contained Organizations referring only to each other
    "contained/mhd-contained-pair-referring-to-each-other.json": [
        ("contained-orphan", "error", "DocumentReference.contained[2]", 143, 5),
        ("contained-orphan", "error", "DocumentReference.contained[3]", 151, 5),
    ],
    # near miss: the same kind of chain, reached from the container (author → role → organization)
    "contained/mhd-contained-chain-from-container.json": [],
    # a contained role nothing refers to: dom-3 says so, once (the native rule stays silent)
    "contained/mhd-contained-role-unreferenced.json": [("dom-3", "error", "DocumentReference", 1, 1)],
    # DUPLICATE_ID
    "contained/mhd-contained-duplicate-id.json": [
        ("contained-duplicate-id", "error", "DocumentReference.contained[2]", 143, 5)
    ],
    # RESOURCE_RES_ID_MALFORMED_CHARS: the id's syntax, the primitive rule's
    "contained/mhd-contained-bad-id.json": [("primitive", "error", "DocumentReference.contained[1].id", 141, 13)],
}


@pytest.mark.parametrize("name", sorted(CASES), ids=sorted(CASES))
def test_fixture(validator: Validator, name: str) -> None:
    outcome = validator.validate(FIXTURES / name, fhir_version="R4")
    found = [(i.rule, i.severity, i.expression, i.line, i.column) for i in outcome.issues if i.rule in RULES]
    assert found == CASES[name], found


def test_the_near_misses_validate(validator: Validator) -> None:
    for name, expected in CASES.items():
        if not expected and "collection" not in name and "searchset" not in name:
            outcome = validator.validate(FIXTURES / name, fhir_version="R4")
            assert outcome.ok, (name, [i for i in outcome.issues if i.severity == "error"])


def test_unreachable_contained_is_transitive() -> None:
    resource = {
        "resourceType": "DocumentReference",
        "author": [{"reference": "#a"}],
        "contained": [
            {"resourceType": "PractitionerRole", "id": "a", "organization": {"reference": "#b"}},
            {"resourceType": "Organization", "id": "b"},
            {"resourceType": "Organization", "id": "c", "partOf": {"reference": "#d"}},
            {"resourceType": "Organization", "id": "d", "partOf": {"reference": "#c"}},
            {"resourceType": "Provenance", "id": "e", "target": [{"reference": "#"}]},
        ],
    }
    assert unreachable_contained(resource) == [2, 3]


@pytest.mark.parametrize(
    ("entry", "needed"),
    [
        ({"fullUrl": "http://example.org/fhir/Patient/1"}, True),
        ({"fullUrl": "urn:uuid:3f0c8a2e-1b4f-4c59-9a6e-2d1f0b7c9e11"}, False),
        ({"fullUrl": "urn:oid:1.2.3"}, False),
        ({}, True),
        ({"request": {"method": "POST", "url": "Patient"}}, False),
        ({"request": {"method": "PUT", "url": "Patient/1"}}, False),
        ({"request": {"method": "PUT"}}, True),
        ({"response": {"status": "201"}}, False),
    ],
)
def test_entry_needs_id(entry: dict[str, object], needed: bool) -> None:
    assert entry_needs_id(entry) is needed


@pytest.mark.parametrize("bad_id", [{"value": "role"}, ["role"], 7])
def test_a_contained_id_that_is_not_a_string_is_an_error_not_a_crash(bad_id: object) -> None:
    """The primitive rule reports a non-string id; the contained-resource rules must not crash on it."""
    resource = orjson.loads((FIXTURES / "contained" / "mhd-contained-role-unreferenced.json").read_bytes())
    resource["contained"][0]["id"] = bad_id
    outcome = Validator().validate(resource, fhir_version="R4")
    assert not [i for i in outcome.issues if "internal error" in i.message], outcome.issues
    assert any(i.severity == "error" and i.expression == "DocumentReference.contained[0].id" for i in outcome.issues)
