""""Did you mean" in messages for misspelt elements, choice types, resource types and profiles."""

from __future__ import annotations

import pytest

from imgfhir.packages import PackageStore
from imgfhir.validation import Validator
from tests.support import FIXTURES

SUGGEST = FIXTURES / "validation" / "suggest"


@pytest.mark.parametrize(
    ("name", "rule", "severity", "hint"),
    [
        ("observation-stauts.json", "unknown-element", "error", "(did you mean 'status'?)"),
        ("observation-valuequantty.json", "type", "error", "(did you mean 'valueQuantity'?)"),
        ("observaton.json", "structure", "error", "(did you mean Observation?)"),
        (
            "observation-profile-misspelt.json",
            "profile",
            "warning",
            "(did you mean http://hl7.org/fhir/uv/radiation-dose-summary/StructureDefinition/radiation-dose-summary",
        ),
    ],
)
def test_misspelling_gets_a_hint(bundled_store: PackageStore, name: str, rule: str, severity: str, hint: str) -> None:
    outcome = Validator(bundled_store).validate(SUGGEST / name, fhir_version="R4")
    found = [i for i in outcome.issues if i.rule == rule and hint in i.message]
    assert found, [str(i) for i in outcome.issues]
    assert found[0].severity == severity and found[0].line is not None


def test_the_unmodified_example_gets_no_hint(bundled_store: PackageStore) -> None:
    outcome = Validator(bundled_store).validate(FIXTURES / "validation" / "Observation-545.json", fhir_version="R4")
    assert not [i for i in outcome.issues if "did you mean" in i.message]


def test_a_far_off_name_gets_no_hint(bundled_store: PackageStore) -> None:
    resource = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "zzqx": 1}
    outcome = Validator(bundled_store).validate(resource, fhir_version="R4")
    unknown = [i for i in outcome.issues if i.rule == "unknown-element"]
    assert unknown and "did you mean" not in unknown[0].message
