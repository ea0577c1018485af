"""XML everywhere JSON goes: `validate()` (text, bytes, paths, sniffed by content) and `imgfhir validate`
(files, folders holding both formats, stdin), with every issue at its XML line and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from imgfhir.cli import app
from imgfhir.validation import validate
from tests.support import FIXTURES

runner = CliRunner()
PATIENT_XML = FIXTURES / "xml" / "fhirpath" / "r4" / "patient-example.xml"
PATIENT = PATIENT_XML.read_text(encoding="utf-8")
GOOD_JSON = FIXTURES / "validation" / "Observation-545.json"
# the real example with two errors the validator (not the XML reader) finds: a code outside its
# required value set and a month that does not exist
BROKEN = PATIENT.replace('<gender value="male"/>', '<gender value="mle"/>').replace(
    '<birthDate value="1974-12-25">', '<birthDate value="1974-13-25">'
)


def _line_of(text: str, needle: str) -> tuple[int, int]:
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number, line.index(needle) + 1
    raise AssertionError(needle)


def _errors(outcome: Any) -> dict[str, tuple[int | None, int | None]]:
    return {i.rule: (i.line, i.column) for i in outcome.issues if i.severity in ("error", "fatal")}


def test_the_real_example_is_valid_from_xml() -> None:
    outcome = validate(PATIENT, fhir_version="R4")
    assert not [i for i in outcome.issues if i.severity in ("error", "fatal")], outcome.issues


def test_issues_point_at_xml_lines_and_columns() -> None:
    errors = _errors(validate(BROKEN, fhir_version="R4"))
    assert errors == {
        "binding": _line_of(BROKEN, '<gender value="mle"/>'),
        "primitive": _line_of(BROKEN, '<birthDate value="1974-13-25">'),
    }


def test_xml_is_told_apart_by_content_not_extension(tmp_path: Path) -> None:
    misnamed = tmp_path / "patient.json"
    misnamed.write_text(BROKEN, encoding="utf-8")
    expected = _errors(validate(BROKEN, fhir_version="R4"))
    for source in (BROKEN.encode(), misnamed, str(misnamed), "\ufeff" + BROKEN):
        assert _errors(validate(source, fhir_version="R4")) == expected


def test_the_release_comes_from_the_declared_profile() -> None:
    """No fhir_version: the declared meta.profile decides the definitions the XML is read by."""
    r5 = (FIXTURES / "xml" / "fhirpath" / "r5" / "parameters-example-html.xml").read_text(encoding="utf-8")
    profiled = r5.replace(
        '<id value="example-html"/>',
        '<id value="example-html"/><meta><profile value="http://hl7.org/fhir/StructureDefinition/Parameters"/></meta>',
    )
    assert validate(profiled).ok


def test_cli_validates_folders_with_both_formats_and_reports_xml_positions(tmp_path: Path) -> None:
    (tmp_path / "broken.xml").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "good.json").write_bytes(GOOD_JSON.read_bytes())
    result = runner.invoke(app, ["validate", str(tmp_path), "--fhir-version", "R4", "-f", "sarif"])
    assert result.exit_code == 1, result.output
    sarif = orjson.loads(result.stdout)
    found = {
        (r["ruleId"], loc["physicalLocation"]["artifactLocation"]["uri"].rsplit("/", 1)[-1]): (
            loc["physicalLocation"]["region"]["startLine"],
            loc["physicalLocation"]["region"]["startColumn"],
        )
        for r in sarif["runs"][0]["results"]
        for loc in r["locations"]
        if r["level"] == "error"
    }
    assert found == {
        ("binding", "broken.xml"): _line_of(BROKEN, '<gender value="mle"/>'),
        ("primitive", "broken.xml"): _line_of(BROKEN, '<birthDate value="1974-13-25">'),
    }
    text = runner.invoke(app, ["validate", str(tmp_path), "--fhir-version", "R4"]).stdout
    assert text.splitlines()[-1].startswith("2 files, 2 errors")  # the JSON file was validated too


def test_cli_reads_xml_from_stdin() -> None:
    result = runner.invoke(app, ["validate", "-", "--fhir-version", "R4"], input=BROKEN.encode())
    assert result.exit_code == 1
    line, column = _line_of(BROKEN, '<gender value="mle"/>')
    assert f"{line}:{column}" in result.stdout and "<stdin>" in result.stdout


def test_cli_operation_outcome_carries_xml_lines() -> None:
    result = runner.invoke(app, ["validate", "-", "--fhir-version", "R4", "-f", "json"], input=BROKEN.encode())
    outcome = orjson.loads(result.stdout)
    lines = {
        ext["valueInteger"]
        for issue in outcome["issue"]
        for ext in issue.get("extension", [])
        if ext["url"].endswith("issue-line")
    }
    assert lines == {_line_of(BROKEN, "<gender")[0], _line_of(BROKEN, "<birthDate")[0]}


def test_cli_converts_folders_and_ndjson_both_ways(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "good.json").write_bytes(GOOD_JSON.read_bytes())
    (source / "patient.xml").write_text(PATIENT, encoding="utf-8")
    (source / "two.ndjson").write_bytes(orjson.dumps(orjson.loads(GOOD_JSON.read_bytes())) + b"\n")
    as_xml = tmp_path / "xml"
    result = runner.invoke(app, ["convert", str(source), "--to", "xml", "-o", str(as_xml), "--fhir-version", "R4"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in as_xml.iterdir()) == ["good.xml", "patient.xml", "two-1.xml"]
    back = tmp_path / "json"
    result = runner.invoke(app, ["convert", str(as_xml), "--to", "json", "-o", str(back), "--fhir-version", "R4"])
    assert result.exit_code == 0, result.output
    assert orjson.loads((back / "good.json").read_bytes()) == orjson.loads(GOOD_JSON.read_bytes())
    assert orjson.loads((back / "two-1.json").read_bytes()) == orjson.loads(GOOD_JSON.read_bytes())


def test_cli_convert_reports_what_it_cannot_convert() -> None:
    result = runner.invoke(app, ["convert", "-", "--to", "json"], input=b"<Patient><id value='x'/></Patient>")
    assert result.exit_code == 1
    assert "no namespace" in result.stderr and result.stdout == ""
    several = runner.invoke(app, ["convert", str(GOOD_JSON), str(PATIENT_XML), "--to", "xml"])
    assert several.exit_code == 2 and "--output" in several.stderr
