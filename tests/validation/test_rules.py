"""Each rule kind catches what it is for: fixtures derived from real IG examples with one change each.

tests/fixtures/validation/invalid/expected.json names, for every fixture, the example it was
derived from, the change, and the issues the FHIR rules require (severity, rule, location).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from imgfhir.packages import PackageStore, load_store
from imgfhir.validation import Validator

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
INVALID = FIXTURES / "validation" / "invalid"
CASES: list[dict[str, Any]] = orjson.loads((INVALID / "expected.json").read_bytes())["cases"]


@pytest.fixture(scope="module")
def validator() -> Validator:
    store: PackageStore = load_store([FIXTURES / "snapshot" / "local-profiles"], env=False, entry_points=False)
    return Validator(store)


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_rule_reports_the_violation(validator: Validator, case: dict[str, Any]) -> None:
    outcome = validator.validate(INVALID / case["file"], case.get("profile"), fhir_version=case["fhirVersion"])
    found = {(i.severity, i.rule, i.expression) for i in outcome.issues}
    for expected in case["expected"]:
        key = (expected["severity"], expected["rule"], expected["expression"])
        assert key in found, f"{case['change']}: expected {key}, got {sorted(map(str, found))}"


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_the_unchanged_example_has_no_such_issue(validator: Validator, case: dict[str, Any]) -> None:
    """The oracle for the fixture: its source example does not already carry the expected issue."""
    source = FIXTURES / "ig-examples" / case["derived_from"]
    outcome = validator.validate(source, case.get("profile"), fhir_version=case["fhirVersion"])
    found = {(i.severity, i.rule, i.expression) for i in outcome.issues}
    for expected in case["expected"]:
        assert (expected["severity"], expected["rule"], expected["expression"]) not in found


def test_every_rule_kind_has_three_fixtures() -> None:
    kinds = Counter(e["rule"] for c in CASES for e in c["expected"])
    for kind in (
        "cardinality",
        "pattern",
        "fixed",
        "primitive",
        "unknown-element",
        "json-shape",
        "extension",
        "type",
        "value-range",
    ):
        assert kinds[kind] >= 3, kind
    assert sum(n for r, n in kinds.items() if r.startswith(("obs-", "ext-"))) >= 3  # FHIRPath invariants
    assert sum(1 for c in CASES if c["file"].startswith("slice-")) >= 3


def test_an_extension_inside_the_extension_its_context_names_is_allowed(validator: Validator) -> None:
    """cqf-libraryAlias on the primitive value of a cqf-library extension: its `extension` context
    (the invalid fixture extension-context-extension.json has it outside)."""
    outcome = validator.validate(FIXTURES / "validation" / "extension-in-extension.json", fhir_version="R4")
    assert not [i for i in outcome.issues if i.rule == "extension-context" or i.severity in ("error", "fatal")]


def test_an_extension_on_a_choice_its_context_names_is_allowed(validator: Validator) -> None:
    """quantity-accuracy on component[1].valueQuantity: its context `Observation.component.value[x]`
    names the choice, the document its chosen type, and `$this is Quantity` holds there (the invalid
    fixture extension-context-invariant.json has it on a valueCodeableConcept)."""
    outcome = validator.validate(FIXTURES / "validation" / "extension-on-a-choice.json", fhir_version="R4")
    assert not [i for i in outcome.issues if i.rule == "extension-context" or i.severity in ("error", "fatal")]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, []),
        # a year alone is neither before nor after 2000-01-01 at the precision both state
        ({"effectiveDateTime": "2000"}, []),
        ({"effectiveDateTime": "2000-01-01T00:30:00+01:00"}, []),  # a time on the first day
        # pounds: converted through UCUM to the bounds' kg (150 [lb_av] = 68.04 kg, within 0.3-700 kg)
        ({"valueQuantity": {"value": 150, "unit": "lb", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}}, []),
    ],
)
def test_value_range_decides_only_what_the_bounds_decide(
    validator: Validator, change: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    """The Body Weight example under a local profile with bounds on value (0.3-700 kg) and
    effective[x] (from 2000-01-01)."""
    resource = {
        **orjson.loads(
            (FIXTURES / "ig-examples" / "hl7.fhir.eu.imaging" / "Observation-WeightObservation.json").read_bytes()
        ),
        **change,
    }
    outcome = validator.validate(
        resource, "http://example.org/fhir/StructureDefinition/body-weight-range-observation", fhir_version="R4"
    )
    assert [(i.severity, i.expression) for i in outcome.issues if i.rule == "value-range"] == expected
    assert outcome.ok


@pytest.mark.parametrize(
    ("domains", "severity"),
    [
        ((), "error"),  # the reference validator: "could not be found, so is not allowed here"
        (("http://example.org/fhir/",), "information"),
        (("any",), "information"),
        (("http://other.example.com/",), "error"),
    ],
)
def test_unknown_extension_is_an_error_unless_its_domain_is_allowed(domains: tuple[str, ...], severity: str) -> None:
    store = load_store([FIXTURES / "snapshot" / "local-profiles"], env=False, entry_points=False)
    outcome = Validator(store, extension_domains=domains).validate(
        INVALID / "extension-unknown.json", fhir_version="R4"
    )
    found = [(i.severity, i.expression) for i in outcome.issues if i.rule == "extension"]
    assert found == [(severity, "Observation.extension[0]")]
    # a modifier extension cannot be ignored, whatever the domains
    modifier = Validator(store, extension_domains=("any",)).validate(
        INVALID / "extension-unknown-modifier.json", fhir_version="R4"
    )
    assert [i.severity for i in modifier.issues if i.rule == "extension"] == ["error"]


@pytest.mark.parametrize(
    ("versioning", "reference", "broken"),
    [
        ("specific", "Patient/p1/_history/2", False),
        ("specific", "Patient/p1", True),
        ("independent", "Patient/p1", False),
        ("independent", "Patient/p1/_history/2", True),
        ("either", "Patient/p1/_history/2", False),
        ("specific", "#p1", False),  # a contained resource has no versions
    ],
)
def test_reference_versioning(validator: Validator, versioning: str, reference: str, broken: bool) -> None:
    """type.versioning (no shipped profile states it): on an element made for the test."""
    from imgfhir.validation.context import Context
    from imgfhir.validation.model import ElementPlan, Item
    from imgfhir.validation.rules.references import aggregation

    ed = {
        "id": "Observation.subject",
        "path": "Observation.subject",
        "type": [{"code": "Reference", "versioning": versioning}],
    }
    element = ElementPlan("Observation.subject", "Observation.subject", "subject", ed, 0, 1, ("Reference",), "x", "R4")
    resource = {"resourceType": "Observation", "subject": {"reference": reference}}
    root = Item(resource, "Observation", ())
    ctx = Context(validator, validator.store.scope(release="R4"), "R4", resource, resource, root)
    found = list(aggregation(ctx, element, root.child("subject", resource["subject"], None, "Reference")))
    assert [(i.severity, i.rule, i.expression) for i in found] == (
        [("error", "reference", "Observation.subject")] if broken else []
    )
