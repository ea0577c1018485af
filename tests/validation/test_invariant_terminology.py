"""FHIRPath memberOf() and conformsTo() in invariants: answered by the offline terminology and the validator."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from imgfhir.packages import load_store
from imgfhir.validation import Validator

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXAMPLE = FIXTURES / "ig-examples" / "hl7.fhir.uv.radiation-dose-summary" / "Observation-122.json"
PROFILE = "http://example.org/fhir/StructureDefinition/member-of-observation"
HIGH = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "H"}


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(load_store([FIXTURES / "snapshot" / "local-profiles"], env=False, entry_points=False))


def test_member_of_holds_for_a_code_in_the_value_set(validator: Validator) -> None:
    res = orjson.loads(EXAMPLE.read_bytes()) | {"interpretation": [{"coding": [HIGH]}]}
    outcome = validator.validate(res, PROFILE)
    assert not [i for i in outcome.issues if i.rule == "mo-1"]


def test_member_of_fails_for_a_code_outside_the_value_set(validator: Validator) -> None:
    res = orjson.loads(EXAMPLE.read_bytes()) | {"interpretation": [{"coding": [HIGH | {"code": "not-a-code"}]}]}
    outcome = validator.validate(res, PROFILE)
    assert [(i.severity, i.expression) for i in outcome.issues if i.rule == "mo-1"] == [("error", "Observation")]


def test_conforms_to_an_ig_profile(validator: Validator) -> None:
    res = orjson.loads(EXAMPLE.read_bytes())
    assert not [i for i in validator.validate(res, PROFILE).issues if i.rule == "mo-2"]
    del res["partOf"]  # required by the Radiation Dose Summary profile
    found = [(i.severity, i.expression) for i in validator.validate(res, PROFILE).issues if i.rule == "mo-2"]
    assert found == [("warning", "Observation")]
