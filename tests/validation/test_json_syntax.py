"""JSON syntax the parsed value hides, and the JSON format's rules for primitives: duplicate keys,
fhir_comments, nulls in primitive arrays, the lexical form of numbers (fixtures: see the README in
tests/fixtures/validation/json)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from imgfhir.cli import app
from imgfhir.validation import Validator, json_syntax
from imgfhir.validation.json_syntax import JsonNumber
from imgfhir.validation.rules.primitives import decimal_out_of_range
from imgfhir.validation.source import load
from tests.support import FIXTURES

JSON = FIXTURES / "validation" / "json"

# file, rule, severity, expression, line, column: each position read off the fixture (see its README)
QUANTITY = "Observation.component[1].valueQuantity.value"
INVALID = [
    ("duplicate-root-property.json", "json-duplicate", "error", "Patient.gender", 36, 3),
    ("duplicate-nested-property.json", "json-duplicate", "error", "Patient.name[0].family", 15, 7),
    ("fhir-comments-root.json", "unknown-element", "error", "Patient.fhir_comments", 35, 20),
    ("fhir-comments-primitive.json", "unknown-element", "error", "Patient.birthDate.fhir_comments", 38, 22),
    ("null-given-unpadded.json", "json-shape", "error", "Patient.name[0].given[1]", 13, 9),
    ("null-extras-unpadded.json", "json-shape", "error", "Patient.name[0]._given[1]", 16, 9),
    ("null-extras-unpadded.json", "json-shape", "error", "Patient.name[0]._given[2]", 17, 9),
    ("r5-integer-with-fraction.json", "primitive", "error", "ImagingStudy.series[0].number", 111, 17),
    ("r5-integer-with-exponent.json", "primitive", "error", "ImagingStudy.series[1].number", 164, 17),
    ("decimal-too-many-digits.json", "decimal-range", "warning", QUANTITY, 93, 18),
    ("decimal-long-exponent.json", "decimal-range", "warning", QUANTITY, 93, 18),
    ("r5-integer64-number.json", "primitive", "error", "DocumentReference.content[0].attachment.size", 181, 17),
    ("r5-integer64-plus-sign.json", "primitive", "error", "DocumentReference.content[0].attachment.size", 181, 17),
    ("r5-integer64-out-of-range.json", "primitive", "error", "DocumentReference.content[0].attachment.size", 181, 17),
    ("comment-line.json", "json-comment", "error", None, 35, 3),
    ("comment-after-value.json", "json-comment", "error", None, 36, 30),
    ("comma-object.json", "json-comma", "error", None, 32, 20),
    ("comma-array.json", "json-comma", "error", None, 20, 29),
]
# near misses: valid, and without the issue of the fixtures they are near
NEAR_MISSES = [
    ("duplicate-near-miss-siblings.json", "json-duplicate"),
    ("fhir-comments-near-miss-id.json", "unknown-element"),
    ("null-given-near-miss-padded.json", "json-shape"),
    ("r5-integer-near-miss-whole.json", "primitive"),
    ("decimal-near-miss-18-digits.json", "decimal-range"),
    ("r5-integer64-near-miss-maximum.json", "primitive"),
    ("comment-near-miss-in-string.json", "json-comment"),
    ("comma-near-miss-in-string.json", "json-comma"),
    # beyond a double, but JSON (RFC 8259 sets no limit) and a decimal as checkDecimal reads it
    ("decimal-near-miss-beyond-double.json", "decimal-range"),
]


def release(name: str) -> str:
    return "R5" if name.startswith("r5-") else "R4"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


@pytest.mark.parametrize(("name", "rule", "severity", "expression", "line", "column"), INVALID)
def test_invalid_fixture_reports_the_rule_at_its_position(
    validator: Validator, name: str, rule: str, severity: str, expression: str | None, line: int, column: int
) -> None:
    outcome = validator.validate(JSON / name, fhir_version=release(name))
    found = [(i.rule, i.severity, i.line, i.column) for i in outcome.issues if i.expression == expression]
    assert (rule, severity, line, column) in found, outcome.issues
    if severity == "error":
        assert not outcome.ok


@pytest.mark.parametrize(("name", "rule"), NEAR_MISSES)
def test_near_miss_is_valid(validator: Validator, name: str, rule: str) -> None:
    outcome = validator.validate(JSON / name, fhir_version=release(name))
    assert outcome.ok, outcome.issues
    assert not [i for i in outcome.issues if i.rule == rule], outcome.issues


def test_every_check_has_two_invalid_fixtures_and_a_near_miss() -> None:
    rules = {r for _, r, *_ in INVALID}
    assert len(rules) == 7
    for rule in rules:
        assert len({n for n, r, *_ in INVALID if r == rule}) >= 2, rule
        assert any(r == rule for _, r in NEAR_MISSES), rule


# -- duplicate keys -------------------------------------------------------------------------------


def test_duplicates_are_load_issues_and_the_resource_is_kept() -> None:
    loaded = load(JSON / "duplicate-root-property.json")
    assert loaded.ok and loaded.resource is not None
    assert loaded.resource["gender"] == "female"  # orjson keeps the last one
    (issue,) = loaded.issues
    assert (issue.severity, issue.rule, issue.line, issue.column) == ("error", "json-duplicate", 36, 3)
    assert "'gender'" in issue.message


def test_a_key_three_times_is_two_duplicates_each_at_its_line() -> None:
    text = '{\n  "resourceType": "Basic",\n  "id": "a",\n  "id": "b",\n  "id": "c"\n}'
    assert [(i.line, i.column, i.expression) for i in load(text).issues] == [(4, 3, "Basic.id"), (5, 3, "Basic.id")]


def test_escaped_names_are_compared_decoded() -> None:
    issues = load('{"resourceType": "Basic", "id": "a", "\\u0069d": "b"}').issues
    assert [(i.line, i.column) for i in issues] == [(1, 38)]


@pytest.mark.parametrize(
    "path",
    [
        FIXTURES / "validation" / "Observation-545.json",
        # key-value pairs written inside the narrative (DICOM JSON): quotes escaped inside strings
        FIXTURES / "ig-examples" / "hl7.fhir.uv.dicom-sr" / "Practitioner-measurement-report-practitioner.json",
        JSON / "duplicate-near-miss-siblings.json",
    ],
)
def test_no_text_scan_without_lost_keys(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The common path: the key count of the text matches the parsed value, so no Python scan."""

    def refuse(text: str) -> None:
        raise AssertionError("scanned")

    monkeypatch.setattr(json_syntax, "_scan", refuse)
    loaded = load(path)
    assert loaded.ok and loaded.issues == []


def test_duplicates_in_ndjson_are_reported_at_the_file_line(tmp_path: Path) -> None:
    good = orjson.dumps(orjson.loads((JSON / "duplicate-near-miss-siblings.json").read_bytes()))
    bad = b'{"resourceType": "Patient", "id": "p", "active": true, "active": false}'
    bulk = tmp_path / "bulk.ndjson"
    bulk.write_bytes(good + b"\n" + bad + b"\n")
    result = CliRunner().invoke(app, ["validate", str(bulk), "--fhir-version", "R4", "--format", "sarif"])
    assert result.exit_code == 1, result.output
    results = orjson.loads(result.stdout)["runs"][0]["results"]
    (hit,) = [r for r in results if r["level"] == "error"]
    region = hit["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (2, bad.index(b'"active": false') + 1)


_NAMES = st.sampled_from(["id", "status", "a", "_a", "é", "x\"y", "line\nbreak", "ends\\"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.text(max_size=5))


@st.composite
def _objects(draw: st.DrawFn, depth: int = 0) -> str:
    """JSON text of an object whose keys may repeat (what json.dumps of a dict cannot write)."""
    pairs = []
    for _ in range(draw(st.integers(0, 4))):
        key = json.dumps(draw(_NAMES), ensure_ascii=draw(st.booleans()))
        nested = depth < 2 and draw(st.booleans())
        value = draw(_objects(depth + 1)) if nested else json.dumps(draw(_SCALARS))
        if draw(st.booleans()):
            value = f"[{value}, {value}]"
        colon = draw(st.sampled_from([":", " : ", ":\n  "]))
        pairs.append(f"{key}{colon}{value}")
    return "{" + ", ".join(pairs) + "}"


def _duplicates_by_json(text: str) -> int:
    """The oracle: the standard library's parser hands every pair to object_pairs_hook."""
    count = 0

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal count
        count += len(pairs) - len({k for k, _ in pairs})
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    return count


@settings(max_examples=300, deadline=None)
@given(_objects())
def test_duplicates_agree_with_the_standard_library(body: str) -> None:
    text = '{"resourceType": "Basic", "x": ' + body + "}"
    assert len(load(text).issues) == _duplicates_by_json(text)


# -- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lexical", "out_of_range"),
    [
        # a reference validator message ("The value '0.005008015591556614' is outside the range of
        # commonly/reasonably supported decimals") as quoted by a third-party message resolver's tests:
        # the zero before the point counts, 19 digits
        ("0.005008015591556614", True),
        ("1000000000000000000", True),
        ("100000000000000000", False),  # 18 digits
        ("-12345678.12345678912", True),
        ("-12345678.1234567891", False),
        ("1e9999", False),
        ("1E-10000", True),
        ("1.5e+00001", True),
    ],
)
def test_decimal_range_as_utilities_check_decimal(lexical: str, out_of_range: bool) -> None:
    assert decimal_out_of_range(lexical) is out_of_range


def test_long_numbers_keep_their_digits() -> None:
    text = '{"resourceType": "Basic", "a": 1.00000000000000000000001, "b": [2.5, 3.000000000000000000001], "c": 1.5}'
    resource = load(text).resource
    assert resource is not None
    assert type(resource["a"]) is JsonNumber and resource["a"].lexical == "1.00000000000000000000001"
    assert resource["b"][0] == 2.5 and type(resource["b"][0]) is float
    assert repr(resource["b"][1]) == "3.000000000000000000001"
    assert type(resource["c"]) is float


def test_a_json_number_is_a_float_that_copies_with_its_digits() -> None:
    number = JsonNumber("2.12e00002")
    assert number == 212.0 and isinstance(number, float)
    assert copy.deepcopy(number).lexical == "2.12e00002"
    assert json.dumps({"v": number}) == '{"v": 212.0}'


def test_an_integer_with_many_digits_is_checked_as_written(validator: Validator) -> None:
    """ints keep every digit, so a 19-digit integer in a decimal needs no JsonNumber."""
    text = (JSON / "decimal-near-miss-18-digits.json").read_text().replace("212.000000000000001", "1000000000000000000")
    issues = [i for i in validator.validate(text, fhir_version="R4").issues if i.rule == "decimal-range"]
    assert [(i.line, i.column) for i in issues] == [(93, 18)]


@pytest.mark.parametrize(("value", "ok"), [('"1.5"', False), ("true", False), ("1.5", True), ("-0", True)])
def test_a_decimal_is_a_json_number(validator: Validator, value: str, ok: bool) -> None:
    text = (JSON / "decimal-near-miss-18-digits.json").read_text().replace("212.000000000000001", value)
    errors = [i for i in validator.validate(text, fhir_version="R4").issues if i.rule == "primitive"]
    assert (not errors) is ok, errors
