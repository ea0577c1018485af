"""Rendering validation results as text, FHIR JSON / NDJSON and SARIF 2.1.0."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from imgfhir.outcome import Issue, Outcome
from imgfhir.validation.report import (
    EXT_COL,
    EXT_FILE,
    EXT_LINE,
    EXT_MESSAGE_ID,
    counts,
    operation_outcome,
    render,
    sarif_log,
    summary,
)
from tests.support import FIXTURES

SARIF_SCHEMA = FIXTURES / "validation" / "sarif-schema-2.1.0.json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

STATUS = Issue(
    "error",
    "code-invalid",
    "status 'finished' is not in the required value set",
    expression="Observation.status",
    rule="binding",
    line=36,
    column=13,
)
EFFECTIVE = Issue(
    "error",
    "value",
    "invalid dateTime '2019-13-45T12:00:30.000Z'",
    expression="Observation.effective",
    rule="type",
    line=46,
    column=24,
)
DISPLAY = Issue("warning", "business-rule", "display does not match", expression="Observation.code.coding[0].display")
NOTE = Issue("information", "informational", "validating as FHIR R4")
# one line of an NDJSON file: lines are the file's
BAD_JSON = Issue(
    "fatal", "structure", "invalid JSON at line 1, column 8: invalid literal", rule="json", line=4, column=8
)

RESULTS: list[tuple[str, Outcome]] = [
    ("obs/broken.json", Outcome([STATUS, EFFECTIVE, DISPLAY])),
    ("obs/ok.json", Outcome([])),
    ("bulk.ndjson:4", Outcome([BAD_JSON])),
    ("info.json", Outcome([NOTE])),
]


def test_counts_and_summary() -> None:
    assert counts(RESULTS) == (4, 3, 1)
    assert summary(RESULTS) == "4 files, 3 errors, 1 warning"
    assert summary([("a.json", Outcome([]))]) == "1 file, 0 errors, 0 warnings"
    assert summary([]) == "0 files, 0 errors, 0 warnings"


# -- text ---------------------------------------------------------------------------------------


def test_text_groups_issues_per_file() -> None:
    text = render(RESULTS, "text")
    lines = text.splitlines()
    assert lines[0] == "obs/broken.json"
    assert lines[1].split(None, 3) == [
        "error",
        "Observation.status",
        "36:13",
        "status 'finished' is not in the required value set [binding]",
    ]
    assert lines[2].split(None, 3)[:3] == ["error", "Observation.effective", "46:24"]
    assert lines[3].split(None, 3) == ["warning", "Observation.code.coding[0].display", "-", "display does not match"]
    assert lines[4] == "bulk.ndjson:4"
    assert lines[5].split(None, 3)[:3] == ["fatal", "-", "4:8"]
    assert lines[5].endswith("invalid literal [json]")
    assert lines[6] == "info.json"
    assert lines[7].split(None, 3) == ["information", "-", "-", "validating as FHIR R4"]
    assert lines[-1] == "4 files, 3 errors, 1 warning"
    assert "obs/ok.json" not in text  # inputs without issues are only counted
    assert all(line.startswith("  ") for line in (lines[1], lines[2], lines[3], lines[5], lines[7]))
    assert "\x1b[" not in text
    # columns line up
    assert lines[1].index("Observation.status") == lines[3].index("Observation.code")


def test_text_without_issues_is_the_summary() -> None:
    assert render([("a.json", Outcome([]))], "text") == "1 file, 0 errors, 0 warnings\n"


def test_text_messages_stay_on_one_line() -> None:
    issue = Issue("error", "invalid", "first line\nsecond   line")
    assert render([("a.json", Outcome([issue]))], "text").splitlines()[1].endswith("first line second line")


def test_text_in_color() -> None:
    colored = render(RESULTS, "text", color=True)
    assert "\x1b[" in colored
    plain = ANSI.sub("", colored)
    assert [line.split() for line in plain.splitlines()] == [
        line.split() for line in render(RESULTS, "text").splitlines()
    ]


# -- FHIR JSON ----------------------------------------------------------------------------------


def test_json_one_input_is_an_operation_outcome() -> None:
    oo = orjson.loads(render(RESULTS[:1], "json"))
    assert oo["resourceType"] == "OperationOutcome"
    assert oo["extension"] == [{"url": EXT_FILE, "valueString": "obs/broken.json"}]
    first = oo["issue"][0]
    assert first["severity"] == "error" and first["code"] == "code-invalid"
    assert first["diagnostics"] == STATUS.message
    assert first["expression"] == ["Observation.status"]
    assert first["extension"] == [
        {"url": EXT_LINE, "valueInteger": 36},
        {"url": EXT_COL, "valueString": "13"},
        {"url": EXT_MESSAGE_ID, "valueString": "binding"},
    ]
    assert next(iter(first)) == "extension"  # extensions first, as FHIR JSON writes them
    assert "extension" not in oo["issue"][2]  # no position, no rule
    assert [i["severity"] for i in oo["issue"]] == ["error", "error", "warning"]


def test_json_no_issues_is_an_informational_outcome() -> None:
    oo = orjson.loads(render([("ok.json", Outcome([]))], "json"))
    assert oo["issue"] == [{"severity": "information", "code": "informational", "diagnostics": "No issues detected"}]


def test_json_several_inputs_are_a_collection_bundle() -> None:
    bundle = orjson.loads(render(RESULTS, "json"))
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    outcomes = [e["resource"] for e in bundle["entry"]]
    assert [oo["resourceType"] for oo in outcomes] == ["OperationOutcome"] * 4
    assert [oo["extension"][0]["valueString"] for oo in outcomes] == [name for name, _ in RESULTS]
    assert outcomes == [operation_outcome(name, outcome) for name, outcome in RESULTS]
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(full_urls)) == 4 and all(re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", u) for u in full_urls)
    assert orjson.loads(render(RESULTS, "json")) == bundle  # the same output for the same inputs


def test_ndjson_is_one_outcome_per_line() -> None:
    text = render(RESULTS, "ndjson")
    assert text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == 4
    assert [orjson.loads(line) for line in lines] == [operation_outcome(n, o) for n, o in RESULTS]


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        render(RESULTS, "xml")  # type: ignore[arg-type]


# -- SARIF --------------------------------------------------------------------------------------


def test_sarif_validates_against_the_sarif_2_1_0_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = orjson.loads(SARIF_SCHEMA.read_bytes())
    for results in (RESULTS, [("a.json", Outcome([]))], []):
        log = orjson.loads(render(results, "sarif"))
        jsonschema.Draft4Validator(schema).validate(log)
    broken = orjson.loads(render(RESULTS, "sarif"))
    broken["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(broken)


def test_sarif_structure() -> None:
    log = orjson.loads(render(RESULTS, "sarif"))
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "imgfhir"
    assert [r["id"] for r in driver["rules"]] == ["binding", "type", "business-rule", "json", "informational"]
    assert run["columnKind"] == "unicodeCodePoints"
    results: list[dict[str, Any]] = run["results"]
    assert [r["level"] for r in results] == ["error", "error", "warning", "error", "note"]
    assert [driver["rules"][r["ruleIndex"]]["id"] for r in results] == [r["ruleId"] for r in results]
    first = results[0]
    assert first["message"] == {"text": STATUS.message}
    (location,) = first["locations"]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "obs/broken.json", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 36, "startColumn": 13},
    }
    assert location["logicalLocations"] == [{"fullyQualifiedName": "Observation.status", "kind": "element"}]
    # no position: no region; no expression: no logical location
    assert "region" not in results[2]["locations"][0]["physicalLocation"]
    assert "logicalLocations" not in results[3]["locations"][0]
    # one NDJSON line: the file is the artifact, lines are the file's
    assert results[3]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "bulk.ndjson"
    assert results[3]["locations"][0]["physicalLocation"]["region"] == {"startLine": 4, "startColumn": 8}


def test_sarif_uris() -> None:
    unlocated = Outcome([Issue("error", "invalid", "x")])
    log = sarif_log([("/abs/dir/my file.json", unlocated), ("rel/ü.json", unlocated), ("big.ndjson:12", unlocated)])
    locations = [r["locations"][0]["physicalLocation"] for r in log["runs"][0]["results"]]
    assert locations[0]["artifactLocation"] == {"uri": "file:///abs/dir/my%20file.json"}
    assert locations[1]["artifactLocation"] == {"uri": "rel/%C3%BC.json", "uriBaseId": "%SRCROOT%"}
    assert locations[2]["region"] == {"startLine": 12}  # an NDJSON line without a position: its line


@pytest.mark.parametrize("fhir_version", ["R4", "R5"])
def test_operation_outcomes_are_valid_fhir(fhir_version: str) -> None:
    from imgfhir.validation import Validator

    validator = Validator()
    bundle = orjson.loads(render(RESULTS, "json"))
    for resource in [bundle, *(e["resource"] for e in bundle["entry"])]:
        outcome = validator.validate(resource, fhir_version=fhir_version)
        assert outcome.ok, [str(i) for i in outcome.at_least("error")]
