"""The XML-only rules, as the reference validator's XML parser reports them, on fixtures derived by hand
from a real example (tests/fixtures/xml/rules/README.md says what each one changes).

Each case names the rule, the severity and the text the issue must point at: its line and column are
those of the first occurrence of that text in the fixture. `*-ok` fixtures are valid near-misses: no
XML issue and no error at all.
"""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from imgfhir.cli import app
from imgfhir.packages import PackageStore
from imgfhir.validation import validate
from imgfhir.xml import read_xml
from tests.support import FIXTURES

RULES = FIXTURES / "xml" / "rules"
runner = CliRunner()
CASES: dict[str, list[tuple[str, str, str]]] = {
    "order-1": [("xml-order", "error", '<gender value="male"/>')],
    "order-2": [("xml-order", "error", '<use value="usual"/>\n\t\t<value value="12345"/>')],
    "order-ok": [],
    "namespace-1": [("xml-namespace", "error", '<gender xmlns="http://example.org/other"')],
    "namespace-2": [("xml-namespace", "error", '<family xmlns=""')],
    "namespace-ok": [],
    "element-1": [("xml-element", "error", '<sex value="male"/>')],
    "element-2": [("xml-element", "error", "<deceasedString")],
    "element-ok": [],
    "attribute-1": [("xml-attribute", "error", 'code="M"')],
    "attribute-2": [("xml-attribute", "error", 'xml:space="preserve"')],
    "attribute-ok": [],
    "text-1": [("xml-text", "error", '<gender value="male">male')],
    "text-2": [("xml-text", "error", "<name>Peter")],
    "text-ok": [],
    "empty-value-1": [("xml-empty-value", "error", 'value=""')],
    "empty-value-2": [("xml-empty-value", "error", 'value=""')],
    "empty-value-ok": [],
    "empty-1": [("xml-empty", "error", "<telecom/>")],
    "empty-2": [("xml-empty", "error", "<period>\n\t\t\t<!-- no end")],
    "empty-ok": [],
    "whitespace-1": [("xml-whitespace", "warning", 'value=" Chalmers"')],
    "whitespace-2": [("xml-whitespace", "warning", 'value="Jim  "')],
    "whitespace-ok": [],
    "pi-1": [("xml-pi", "error", "<?xml-stylesheet")],
    "pi-2": [("xml-pi", "error", "<?page-break?>")],
    "pi-ok": [],
    "cdata-1": [("xml-cdata", "error", "<![CDATA[Peter"), ("xml-text", "error", "<name><![CDATA[")],
    "cdata-2": [("xml-cdata", "error", "<![CDATA[ ]]>")],
    "cdata-ok": [],
    "repeat-1": [("xml-repeat", "error", '<gender value="female"/>')],
    "repeat-2": [("xml-repeat", "error", '<active value="false"/>')],
    "repeat-ok": [],
    "root-1": [("xml-root", "fatal", "<Patient>")],
    "root-2": [("xml-root", "fatal", "<Patient xmlns=")],
    "root-3": [("xml-root", "fatal", "<Patients")],
    "root-ok": [],
    "encoding-1": [("xml-encoding", "error", '<?xml version="1.0" encoding="ISO-8859-1"?>')],
    "encoding-2": [("xml-encoding", "error", '<?xml version="1.0" encoding="US-ASCII"?>')],
    "encoding-ok": [],
}


def _position(text: str, needle: str) -> tuple[int, int]:
    offset = text.index(needle)
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


def test_every_fixture_has_a_case() -> None:
    assert sorted(p.stem for p in RULES.glob("*.xml")) == sorted(CASES)
    rules = {rule for issues in CASES.values() for rule, _, _ in issues}
    for rule in rules:  # two invalid fixtures and a valid near-miss for every rule
        stem = rule.removeprefix("xml-")
        assert sum(1 for name, issues in CASES.items() if any(r == rule for r, _, _ in issues)) >= 2, rule
        assert f"{stem}-ok" in CASES, rule


@pytest.mark.parametrize("name", sorted(CASES))
def test_xml_rule(name: str) -> None:
    path = RULES / f"{name}.xml"
    text = path.read_text(encoding="utf-8")
    outcome = validate(path, fhir_version="R4")
    found = sorted(
        (i.rule or "", i.severity, i.line, i.column) for i in outcome.issues if (i.rule or "").startswith("xml-")
    )
    expected = sorted((rule, severity, *_position(text, needle)) for rule, severity, needle in CASES[name])
    assert found == expected, [str(i) for i in outcome.issues]
    if name.endswith("-ok"):
        assert outcome.ok, [str(i) for i in outcome.issues]


@pytest.mark.parametrize("name", ["empty-1", "empty-2"])
def test_an_empty_element_is_reported_once(name: str) -> None:
    """XmlParser.checkElement reports the empty element; the empty-object check that stands for the JSON
    parser's is not repeated for it, by validate() nor by the command line."""
    path = RULES / f"{name}.xml"
    outcome = validate(path, fhir_version="R4")
    errors = [(i.rule, i.expression) for i in outcome.issues if i.severity == "error"]
    assert len(errors) == 1 and errors[0][0] == "xml-empty", errors
    result = runner.invoke(app, ["validate", str(path), "--fhir-version", "R4", "-f", "json"])
    issues = orjson.loads(result.stdout)["issue"]
    assert [i["severity"] for i in issues if i["severity"] == "error"] == ["error"], issues


def test_an_empty_object_in_json_is_still_reported(bundled_store: PackageStore) -> None:
    """The JSON twin of empty-1 (its empty telecom as `{}`): for JSON the empty-object check stays."""
    read = read_xml((RULES / "empty-ok.xml").read_text(encoding="utf-8"), bundled_store.scope(release="R4"))
    assert read.resource is not None and read.resource["telecom"][0] == {"use": "home"}
    read.resource["telecom"][0] = {}
    issues = [i for i in validate(orjson.dumps(read.resource), fhir_version="R4").issues if i.severity == "error"]
    assert [(i.rule, i.expression, i.line) for i in issues] == [("json-shape", "Patient.telecom[0]", 1)]
