"""The XML reader against an independent oracle: the official FHIRPath suites' XML inputs and their JSON
twins (converted by another tool, fhir.resources), and the suites themselves run from the XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import orjson
import pytest

from imgfhir.fhirpath.suite import SUITE_FILES, run_suite
from imgfhir.packages import PackageStore
from imgfhir.xml import read_xml
from tests.support import FIXTURES

XML_INPUTS = FIXTURES / "xml" / "fhirpath"
TWINS = FIXTURES / "fhirpath"
CASES = sorted((p.parent.name, p.name) for p in XML_INPUTS.glob("r*/*.xml"))
# the only issue the reader finds in these inputs: that file really has an extension after status
EXPECTED_ISSUES = {
    ("r4", "observation-example.xml"): [("error", "xml-order", "Observation.extension", 5, 2)],
}


def _canonical_div(resource: Any) -> Any:
    """The narrative compared as XML, not as text, for two justified differences: the twins keep the
    whitespace that follows `</div>` in the XML (their converter takes the element's tail along; the
    narrative is the div alone), and write `"` in text unescaped where the HL7 tools, and so the reader,
    write `&quot;` (as in every published JSON example)."""
    if isinstance(resource, dict):
        return {
            k: ET.tostring(ET.fromstring(v)) if k == "div" and isinstance(v, str) else _canonical_div(v)
            for k, v in resource.items()
        }
    if isinstance(resource, list):
        return [_canonical_div(v) for v in resource]
    return resource


@pytest.mark.parametrize(("release", "name"), CASES)
def test_reader_tree_equals_the_json_twin(bundled_store: PackageStore, release: str, name: str) -> None:
    scope = bundled_store.scope(release=release.upper())
    result = read_xml((XML_INPUTS / release / name).read_text(encoding="utf-8"), scope)
    twin = orjson.loads((TWINS / release / name.replace(".xml", ".json")).read_bytes())
    assert _canonical_div(result.resource) == _canonical_div(twin)
    found = [(i.severity, i.rule, i.expression, i.line, i.column) for i in result.issues]
    assert found == EXPECTED_ISSUES.get((release, name), [])


def test_every_value_has_a_position(bundled_store: PackageStore) -> None:
    text = (XML_INPUTS / "r4" / "patient-example.xml").read_text(encoding="utf-8")
    result = read_xml(text, bundled_store.scope(release="R4"))
    lines = text.splitlines()
    birth = result.positions[("birthDate",)]
    assert lines[birth[0] - 1][birth[1] - 1 :].startswith("<birthDate")
    rank = result.positions[("telecom", 1, "rank")]
    assert lines[rank[0] - 1][rank[1] - 1 :].startswith("<rank")
    ext = result.positions[("_birthDate", "extension", 0)]
    assert lines[ext[0] - 1][ext[1] - 1 :].startswith("<extension")
    url = result.positions[("_birthDate", "extension", 0, "url")]
    assert lines[url[0] - 1][url[1] - 1 :].startswith("url=")
    assert result.resource is not None and result.resource["telecom"][1]["rank"] == 1  # positiveInt: a number


@pytest.fixture(scope="module")
def xml_suites(tmp_path_factory: pytest.TempPathFactory, bundled_store: PackageStore) -> Path:
    """The suite folders again, with every JSON input the reader's tree of the XML input instead."""
    root = tmp_path_factory.mktemp("fhirpath-from-xml")
    for release, suite in SUITE_FILES.items():
        folder = root / release.lower()
        folder.mkdir()
        (folder / suite).write_bytes((TWINS / release.lower() / suite).read_bytes())
        for twin in (TWINS / release.lower()).glob("*.json"):
            xml = XML_INPUTS / release.lower() / (twin.stem + ".xml")
            if xml.is_file():
                result = read_xml(xml.read_text(encoding="utf-8"), bundled_store.scope(release=release))
                (folder / twin.name).write_text(json.dumps(result.resource), encoding="utf-8")
            else:  # inputs the suite has in JSON only
                (folder / twin.name).write_bytes(twin.read_bytes())
    return root


@pytest.mark.parametrize("release", sorted(SUITE_FILES))
def test_fhirpath_suite_from_xml_passes_as_from_json(xml_suites: Path, release: str) -> None:
    from_json = run_suite(TWINS / release.lower(), release)
    from_xml = run_suite(xml_suites / release.lower(), release)
    assert from_xml.total == from_json.total > 900
    assert from_xml.passed == from_json.passed
    assert {o.test.name for o in from_xml.failures()} == {o.test.name for o in from_json.failures()}


def test_attribute_positions_survive_what_a_start_tag_may_hold(bundled_store: PackageStore) -> None:
    """Attribute positions are found by scanning the start tag when asked for: a `>` inside a value, a
    tag over several lines and characters beyond ASCII before it must not move them."""
    text = (XML_INPUTS / "r4" / "patient-example.xml").read_text(encoding="utf-8")
    changed = text.replace(
        '<family value="Chalmers"/>',
        '<family xml:lang="fr">\n<!-- é > ü -->\n\t\t\t<extension\n   id="a>b" url="http://example.org/é"\n>'
        '<valueString value=" x"/></extension></family>',
    )
    result = read_xml(changed, bundled_store.scope(release="R4"))
    lines = changed.splitlines()
    url = result.positions[("name", 0, "_family", "extension", 0, "url")]
    assert lines[url[0] - 1][url[1] - 1 :].startswith('url="http://example.org/é"')
    ext_id = result.positions[("name", 0, "_family", "extension", 0, "id")]
    assert lines[ext_id[0] - 1][ext_id[1] - 1 :].startswith('id="a>b"')
    found = {(i.rule, i.line, i.column) for i in result.issues}
    lang = next((n, line.index("xml:lang") + 1) for n, line in enumerate(lines, 1) if "xml:lang" in line)
    assert ("xml-attribute", *lang) in found  # xml:lang is not a FHIR attribute
    space = next((n, line.index('value=" x"') + 1) for n, line in enumerate(lines, 1) if 'value=" x"' in line)
    assert ("xml-whitespace", *space) in found
