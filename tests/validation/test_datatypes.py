"""Datatype checks (rules/datatypes.py) and Quantity bounds through UCUM (rules/ranges.py), on copies
of real examples with one change each (tests/fixtures/validation/datatypes/README.md)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from imgfhir.packages import PackageStore, load_store
from imgfhir.validation import Validator
from imgfhir.validation.model import RULES
from imgfhir.validation.rules.datatypes import _decoded_length

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DATATYPES = FIXTURES / "validation" / "datatypes"
GRAMS = "http://example.org/fhir/StructureDefinition/body-weight-grams-observation"
RULE_IDS = {"attachment", "markdown-html", "per-1", "value-range"}
ATT = "DocumentReference.content[0].attachment"
NOTE = "Condition.note[0].text"
PERIOD = "ServiceRequest.occurrencePeriod"
VALUE = "Observation.valueQuantity"


@pytest.fixture(scope="module")
def store() -> PackageStore:
    return load_store([DATATYPES / "profiles"], env=False, entry_points=False)


@pytest.fixture(scope="module")
def validator(store: PackageStore) -> Validator:
    return Validator(store)


def release_of(name: str) -> str:
    return "R5" if name.startswith("r5/") else "R4"


# fixture, expected (rule, severity, expression, line, column, part of the message)
CASES: list[tuple[str, list[tuple[str, str, str, int, int, str]]]] = [
    ("attachment-size-wrong.json", [("attachment", "error", ATT, 22, 21, "size 12 is not the size of the data (11")]),
    ("attachment-hash-hex-digest.json", [("attachment", "error", ATT, 22, 21, "'Ck1VqNd45QIvq3AZd8XYQLvEhtA='")]),
    ("r5/attachment-size-wrong.json", [("attachment", "error", ATT, 19, 21, "size 30 is not the size of the data")]),
    ("r5/attachment-size-negative.json", [("attachment", "error", ATT, 19, 21, "stated size -1 is not valid")]),
    ("r5/attachment-no-content.json", [("attachment", "warning", ATT, 19, 21, "contentType or language")]),
    ("markdown-html-bold.json", [("markdown-html", "warning", NOTE, 39, 15, "starting at '<b'")]),
    ("markdown-html-img.json", [("markdown-html", "warning", NOTE, 39, 15, "starting at '<i'")]),
    ("r5/markdown-html-bold.json", [("markdown-html", "warning", NOTE, 39, 15, "starting at '<b'")]),
    ("r5/markdown-html-img.json", [("markdown-html", "warning", NOTE, 39, 15, "starting at '<i'")]),
    ("period-start-after-end.json", [("per-1", "error", PERIOD, 4, 23, "2004-06-05 is after end 2004-06-01")]),
    ("period-month-after-day.json", [("per-1", "error", PERIOD, 4, 23, "2004-07 is after end 2004-06-01")]),
    ("period-month-and-day.json", [("per-1", "error", PERIOD, 4, 23, "cannot be ordered at the precision both state")]),
    ("r5/period-start-after-end.json", [("per-1", "error", PERIOD, 4, 23, "2004-06-05 begins after the end of")]),
    ("r5/period-month-after-day.json", [("per-1", "error", PERIOD, 4, 23, "2004-07 begins after the end of")]),
    ("quantity-above-max-grams.json", [("value-range", "error", VALUE, 15, 20, "(350000 g after UCUM conversion)")]),
    ("quantity-below-min-pounds.json", [("value-range", "error", VALUE, 15, 20, "(226.796185 g after UCUM")]),
    (
        "quantity-not-convertible.json",
        [
            ("value-range", "error", VALUE, 15, 20, "cannot be converted to the minValue's unit g"),
            ("value-range", "error", VALUE, 15, 20, "cannot be converted to the maxValue's unit g"),
        ],
    ),
    (
        "quantity-no-system.json",
        [
            ("value-range", "warning", VALUE, 15, 20, "no system, so the minimum cannot be checked"),
            ("value-range", "warning", VALUE, 15, 20, "no system, so the maximum cannot be checked"),
        ],
    ),
]
# one change short of the cases above: nothing to report
NEAR_MISSES = [
    "attachment-size-and-hash.json",  # size 11 and the base64 SHA-1 of "Hello World"
    "r5/attachment-size-right.json",  # integer64 size as a JSON string
    "markdown-no-tag.json",  # `<38.5`, an escaped `\<b>` and `1 < 2` are no tags
    "r5/markdown-no-tag.json",
    "period-month-before-day.json",  # 2004-05 is before 2004-06-01 at the month both state
    "r5/period-next-day.json",  # 2004-06-02 may begin before 2004-06-01 ends (time zones unstated)
    "r5/period-month-and-day.json",  # R5 per-1 compares boundaries: 2004-06 may begin before 2004-06-01 ends
    "quantity-within-grams.json",  # 80 kg is 80000 g, within 500-300000 g
]


def found(validator: Validator, name: str) -> list[tuple[str, str, str, int | None, int | None, str]]:
    profile = GRAMS if name.startswith("quantity") else None
    outcome = validator.validate(DATATYPES / name, profile, fhir_version=release_of(name))
    return [
        (i.rule or "", i.severity, i.expression or "", i.line, i.column, i.message)
        for i in outcome.issues
        if i.rule in RULE_IDS
    ]


def test_registered() -> None:
    assert {"attachment", "markdown-html", "per-1"} <= {r.name for r in RULES}


@pytest.mark.parametrize(("name", "expected"), CASES, ids=[c[0] for c in CASES])
def test_reports_what_the_reference_reports(
    validator: Validator, name: str, expected: list[tuple[str, str, str, int, int, str]]
) -> None:
    got = found(validator, name)
    assert [g[:5] for g in got] == [e[:5] for e in expected]
    for (*_, message), (*_, part) in zip(got, expected, strict=True):
        assert part in message


@pytest.mark.parametrize("name", NEAR_MISSES)
def test_near_misses_pass(validator: Validator, name: str) -> None:
    assert found(validator, name) == []


@pytest.mark.parametrize(
    "source",
    [
        "ig-examples/ihe.iti.mhd/DocumentReference-ex-DocumentReferenceSimplifiedPublish.json",
        "ig-examples/hl7.fhir.eu.base/Condition-condition-eu-core-example.json",
        "ig-examples/hl7.fhir.eu.imaging/ServiceRequest-ComeBackNextYearServiceRequest.json",
        "ig-examples/hl7.fhir.eu.imaging-r5/ServiceRequest-ComeBackNextYearServiceRequest.json",
    ],
)
def test_the_source_examples_pass(validator: Validator, store: PackageStore, source: str) -> None:
    release = store.scope(Path(source).parent.name).release
    outcome = validator.validate(FIXTURES / source, fhir_version=release)
    assert [i for i in outcome.issues if i.rule in RULE_IDS] == []


@pytest.mark.parametrize("data", [b"", b"a", b"ab", b"abc", b"Hello World", bytes(range(256))])
def test_decoded_length_counts_without_decoding(data: bytes) -> None:
    encoded = base64.b64encode(data).decode("ascii")
    assert _decoded_length(encoded) == len(data)
    assert _decoded_length(base64.encodebytes(data).decode("ascii")) == len(data)  # with line breaks
