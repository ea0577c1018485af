"""The optional dose-plausibility rules on real Radiation Dose Summary and EU imaging dose examples."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from imgfhir.outcome import Issue
from imgfhir.packages import load_store
from imgfhir.rules import dose_plausibility
from imgfhir.rules.dose_plausibility import parse_unit
from imgfhir.validation.validator import Validator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLES = FIXTURES / "ig-examples"
INVALID = FIXTURES / "validation" / "dose-plausibility"
RDS = EXAMPLES / "hl7.fhir.uv.radiation-dose-summary"

REAL_EXAMPLES = [
    *(("R4", p) for p in sorted(RDS.glob("*.json"))),
    *(("R4", p) for p in sorted((EXAMPLES / "hl7.fhir.eu.imaging").glob("Observation-ObservationRadiationDose*.json"))),
    *(("R5", p) for p in sorted((EXAMPLES / "hl7.fhir.eu.imaging-r5").glob("Observation-ObservationRadiationDose*"))),
]


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(load_store(env=False, entry_points=False), rules=dose_plausibility.RULES)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def dose_issues(validator: Validator, resource: dict[str, Any], release: str) -> list[Issue]:
    return [i for i in validator.validate(resource, fhir_version=release) if i.rule == "dose-plausibility"]


def test_real_examples_exist() -> None:
    assert len(REAL_EXAMPLES) >= 19
    assert sum(1 for _, p in REAL_EXAMPLES if "ObservationRadiationDose" in p.name) == 6


@pytest.mark.parametrize(("release", "path"), REAL_EXAMPLES, ids=lambda v: getattr(v, "name", v))
def test_real_examples_have_no_dose_warnings(validator: Validator, release: str, path: Path) -> None:
    assert dose_issues(validator, load(path), release) == []


# fixture, FHIR release, expected (location, start of the message) of each warning
CASES = [
    ("rds-negative-dlp.json", "R4", [("Observation.component[1].valueQuantity", "DLP is negative (-203.12 mGy.cm)")]),
    ("rds-dlp-in-mgy.json", "R4", [("Observation.component[1].valueQuantity", "DLP in 'mGy': not a unit of")]),
    ("rds-absurd-dlp.json", "R4", [("Observation.component[1].valueQuantity", "DLP of 250000 mGy.cm is implausible")]),
    ("rds-ctdivol-in-mgycm.json", "R4", [("Observation.component[2].valueQuantity", "CTDIvol in 'mGy.cm'")]),
    ("rds-absurd-ctdivol.json", "R4", [("Observation.component[2].valueQuantity", "CTDIvol of 1500 mGy")]),
    ("rds-dap-in-gy.json", "R4", [("Observation.component[2].valueQuantity", "DAP in 'Gy': not a unit of")]),
    (
        "rds-negative-fluoro-time.json",
        "R4",
        [("Observation.component[3].valueQuantity", "irradiation time is negative")],
    ),
    ("rds-activity-in-mgy.json", "R4", [("Observation.component[1].valueQuantity", "administered activity in 'mGy'")]),
    ("eu-r4-ct-negative-ctdivol.json", "R4", [("Observation.component[0].valueQuantity", "CTDIvol is negative")]),
    ("eu-r5-fluoro-dap-in-gycm.json", "R5", [("Observation.component[0].valueQuantity", "DAP in 'Gy.cm'")]),
    ("eu-r4-ct-plausible.json", "R4", []),
    ("eu-r5-fluoro-plausible.json", "R5", []),
]


@pytest.mark.parametrize(("name", "release", "expected"), CASES, ids=[c[0] for c in CASES])
def test_mutated_examples(validator: Validator, name: str, release: str, expected: list[tuple[str, str]]) -> None:
    found = dose_issues(validator, load(INVALID / name), release)
    assert [i.expression for i in found] == [where for where, _ in expected], found
    for issue, (_, message) in zip(found, expected, strict=True):
        assert issue.severity == "warning"
        assert issue.message.startswith(message), issue.message
        assert issue.pointer is not None and issue.pointer[-1] == "valueQuantity"


def test_mutated_examples_are_otherwise_unchanged(validator: Validator) -> None:
    """The mutations only touch dose figures: the other findings are those of the real example."""
    real = load(RDS / "Observation-139.json")
    mutated = load(INVALID / "rds-negative-dlp.json")
    others = {(i.rule, i.expression) for i in validator.validate(mutated, fhir_version="R4")} - {
        ("dose-plausibility", "Observation.component[1].valueQuantity")
    }
    assert others == {(i.rule, i.expression) for i in validator.validate(real, fhir_version="R4")}


def test_dose_in_a_bundle_entry(validator: Validator) -> None:
    bundle = load(RDS / "bundle-sample.json")
    broken = copy.deepcopy(bundle)
    broken["entry"][0]["resource"]["component"][2]["valueQuantity"] = {"value": -13639, "unit": "mGy.cm2"}
    found = dose_issues(validator, broken, "R4")
    assert [(i.expression, i.message) for i in found] == [
        ("Bundle.entry[0].resource.component[2].valueQuantity", "DAP is negative (-13639 mGy.cm2)")
    ]


def test_off_by_default() -> None:
    plain = Validator(load_store(env=False, entry_points=False))
    assert not any(i.rule == "dose-plausibility" for i in plain.validate(load(INVALID / "rds-negative-dlp.json")))


def test_other_observations_are_not_checked(validator: Validator) -> None:
    """Only the dose profiles: a DLP component on a plain Observation is none of this rule's business."""
    resource = load(INVALID / "rds-negative-dlp.json")
    del resource["meta"]
    assert dose_issues(validator, resource, "R4") == []


@pytest.mark.parametrize(
    ("unit", "dimension", "factor"),
    [
        ("mGy", {("Gy", 1)}, 1e-3),
        ("mGy.cm", {("Gy", 1), ("m", 1)}, 1e-5),
        ("Gy·cm²", {("Gy", 1), ("m", 2)}, 1e-4),
        ("µGy.m2", {("Gy", 1), ("m", 2)}, 1e-6),
        ("dGy.cm2", {("Gy", 1), ("m", 2)}, 1e-5),
        ("min", {("s", 1)}, 60.0),
        ("mCi", {("Bq", 1)}, 3.7e7),
        ("mL", {("m", 3)}, 1e-6),
    ],
)
def test_parse_unit(unit: str, dimension: set[tuple[str, int]], factor: float) -> None:
    parsed = parse_unit(unit)
    assert parsed is not None
    assert set(parsed[0]) == dimension
    assert parsed[1] == pytest.approx(factor)


@pytest.mark.parametrize("unit", ["", "foo", "mGy/cm", "mGy.cm-"])
def test_parse_unit_unknown(unit: str) -> None:
    assert parse_unit(unit) is None
