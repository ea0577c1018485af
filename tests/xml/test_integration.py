"""XML everywhere JSON goes: `validate()` (text, bytes, paths, sniffed by content) and `imgfhir validate`
(files, folders holding both formats, stdin), with every issue at its XML line and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
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


NDJSON = FIXTURES / "xml" / "ndjson"
EXAMPLES = FIXTURES / "ig-examples" / "hl7.fhir.uv.radiation-dose-summary"


def test_cli_converts_ndjson_records_and_sub_folders_to_xml_and_back(tmp_path: Path) -> None:
    """Each NDJSON record becomes an XML file named by its line, sub-folders are kept; back to JSON,
    every record is what it was, and the XML validates with the issues of the JSON."""
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    records = [orjson.loads((EXAMPLES / n).read_bytes()) for n in ("Patient-56.json", "Observation-545.json")]
    (source / "two.ndjson").write_bytes(orjson.dumps(records[0]) + b"\n\n" + orjson.dumps(records[1]) + b"\n")
    (source / "sub" / "device.json").write_bytes((EXAMPLES / "Device-12.json").read_bytes())
    as_xml, back = tmp_path / "xml", tmp_path / "json"
    result = runner.invoke(app, ["convert", str(source), "--to", "xml", "-o", str(as_xml), "--fhir-version", "R4"])
    assert result.exit_code == 0, result.output
    assert sorted(str(p.relative_to(as_xml)) for p in as_xml.rglob("*.xml")) == [
        "sub/device.xml",
        "two-1.xml",
        "two-3.xml",
    ]
    result = runner.invoke(app, ["convert", str(as_xml), "--to", "json", "-o", str(back), "--fhir-version", "R4"])
    assert result.exit_code == 0, result.output
    assert orjson.loads((back / "two-1.json").read_bytes()) == records[0]
    assert orjson.loads((back / "two-3.json").read_bytes()) == records[1]
    assert (back / "sub" / "device.json").read_bytes() != b""
    assert orjson.loads((back / "sub" / "device.json").read_bytes()) == orjson.loads(
        (EXAMPLES / "Device-12.json").read_bytes()
    )
    for name, record in zip(("two-1", "two-3"), records, strict=True):
        from_xml = validate(as_xml / f"{name}.xml", fhir_version="R4")
        from_json = validate(record, fhir_version="R4")
        assert sorted((i.rule, i.severity) for i in from_xml.issues) == sorted(
            (i.rule, i.severity) for i in from_json.issues
        )


def test_cli_convert_does_not_overwrite_one_output_with_another(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.json").write_bytes((EXAMPLES / "Patient-56.json").read_bytes())
    (tmp_path / "b" / "x.json").write_bytes((EXAMPLES / "Practitioner-33.json").read_bytes())
    out = tmp_path / "out"
    args = ["convert", str(tmp_path / "a" / "x.json"), str(tmp_path / "b" / "x.json"), "--to", "xml", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "was written from another input" in result.stderr
    assert "<Patient" in (out / "x.xml").read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "line"), [("xml-line-1", 2), ("xml-line-2", 1)])
def test_xml_in_ndjson_is_refused_with_its_line(name: str, line: int, tmp_path: Path) -> None:
    path = NDJSON / f"{name}.ndjson"
    result = runner.invoke(app, ["validate", str(path), "--fhir-version", "R4", "-f", "sarif"])
    assert result.exit_code == 1, result.output
    found = [
        (r["ruleId"], r["level"], r["locations"][0]["physicalLocation"]["region"]["startLine"])
        for r in orjson.loads(result.stdout)["runs"][0]["results"]
        if r["level"] == "error"
    ]
    assert found == [("xml-ndjson", "error", line)]
    converted = runner.invoke(app, ["convert", str(path), "--to", "xml", "-o", str(tmp_path)])
    assert converted.exit_code == 1 and f"{path}:{line}: {line}:1: this NDJSON line is XML" in converted.stderr
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}-{3 - line}.xml"]  # the JSON record is converted


def test_json_with_xhtml_in_ndjson_is_json() -> None:
    """The near miss: a record whose narrative is XHTML is a JSON line like any other."""
    outcome = runner.invoke(app, ["validate", str(NDJSON / "xml-line-ok.ndjson"), "--fhir-version", "R4"])
    assert outcome.exit_code == 0, outcome.output
    assert "xml-ndjson" not in outcome.stdout
