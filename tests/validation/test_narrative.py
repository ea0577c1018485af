"""Narrative XHTML (txt-1, txt-2, the xhtml datatype) on real IG examples and broken copies of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imgfhir.outcome import Issue
from imgfhir.packages import PackageStore, load_store
from imgfhir.validation.model import RULES, Item
from imgfhir.validation.rules.narrative import xhtml_issues
from imgfhir.validation.validator import Validator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLES = FIXTURES / "ig-examples"
INVALID = FIXTURES / "validation" / "narrative"
NARRATIVE_RULES = {"narrative", "txt-1", "txt-2"}


@pytest.fixture(scope="module")
def store() -> PackageStore:
    return load_store(env=False, entry_points=False)


@pytest.fixture(scope="module")
def validator(store: PackageStore) -> Validator:
    return Validator(store)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def with_narrative() -> list[Path]:
    return [p for p in sorted(EXAMPLES.glob("*/*.json")) if "<div" in p.read_text()]


def narrative_issues(validator: Validator, resource: dict[str, Any], release: str) -> list[Issue]:
    """The narrative rule's own findings (the htmlChecks() invariants also report, with their constraint text)."""
    return [
        i
        for i in validator.validate(resource, fhir_version=release)
        if i.rule in NARRATIVE_RULES and "[htmlChecks()]" not in i.message
    ]


def test_registered() -> None:
    assert any(r.name == "narrative" and r.kind == "item" for r in RULES)


def test_real_examples_with_narrative_exist() -> None:
    assert len(with_narrative()) >= 15


@pytest.mark.parametrize("path", with_narrative(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_examples_pass(validator: Validator, store: PackageStore, path: Path) -> None:
    release = store.scope(path.parent.name).release
    found = [i for i in validator.validate(load(path), fhir_version=release) if i.rule in NARRATIVE_RULES]
    assert found == []


# fixture, FHIR release, expected (rule, location, part of the message)
CASES = [
    ("composition-r5-script.json", "R5", [("txt-1", "Composition.text.div", "SHALL NOT contain scripts: <script>")]),
    (
        "composition-r5-section-img-onerror.json",
        "R5",
        [("txt-1", "Composition.section[1].text.div", "event attribute 'onerror' on <img>")],
    ),
    (
        "patient-dicom-sr-event-attribute.json",
        "R5",
        [("txt-1", "Patient.text.div", "event attribute 'onmouseover' on <pre>")],
    ),
    (
        "device-dicom-sr-javascript-url.json",
        "R5",
        [("txt-1", "Device.text.div", "script URL in 'href' of <a>")],
    ),
    (
        "medicationstatement-r4-no-namespace.json",
        "R4",
        [("narrative", "MedicationStatement.text.div", 'must be in the XHTML namespace (xmlns="http://www.w3.org')],
    ),
    (
        "composition-r4-not-well-formed.json",
        "R4",
        [("narrative", "Composition.text.div", "not well-formed XHTML: mismatched tag")],
    ),
    ("composition-r4-empty.json", "R4", [("txt-2", "Composition.text.div", "SHALL have some non-whitespace content")]),
    (
        "medicationstatement-r5-iframe.json",
        "R5",
        [("txt-1", "MedicationStatement.text.div", "SHALL NOT contain iframes: <iframe>")],
    ),
    (
        "medicationstatement-r5-entity.json",
        "R5",
        [("narrative", "MedicationStatement.text.div", "SHALL NOT contain DOCTYPE or entity declarations")],
    ),
    (
        "bundle-r4-composition-form.json",
        "R4",
        [("txt-1", "Bundle.entry[0].resource.text.div", "SHALL NOT contain forms: <form>")],
    ),
]


@pytest.mark.parametrize(("name", "release", "expected"), CASES, ids=[c[0] for c in CASES])
def test_invalid_narratives(
    validator: Validator, name: str, release: str, expected: list[tuple[str, str, str]]
) -> None:
    found = narrative_issues(validator, load(INVALID / name), release)
    assert [(i.rule, i.expression) for i in found] == [(r, where) for r, where, _ in expected], found
    for issue, (_, _, message) in zip(found, expected, strict=True):
        assert issue.severity == "error"
        assert message in issue.message
        assert issue.pointer is not None and issue.pointer[-2:] == ("text", "div")


def check(div: str) -> list[tuple[str | None, str]]:
    return [(i.rule, i.message) for i in xhtml_issues(div, Item(div, "Narrative.div", ()))]


X = '<div xmlns="http://www.w3.org/1999/xhtml">'


@pytest.mark.parametrize(
    "div",
    [
        X + "<p>text</p></div>",
        X + '<table class="grid"><tr><td colspan="2" style="color: red">x</td></tr></table></div>',
        X + '<a name="n" href="#x">x</a><img src="data:image/png;base64,AAAA" alt="pic"/></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en"><!-- note --><pre>{ }</pre></div>',
        X + '<img src="#scan" alt=""/></div>',  # an image is content enough
    ],
)
def test_allowed(div: str) -> None:
    assert check(div) == []


@pytest.mark.parametrize(
    ("div", "rule", "message"),
    [
        (X + "<p>x</p><style>p {}</style></div>", "txt-1", "SHALL NOT contain stylesheets: <style>"),
        (X + '<p>x</p><link rel="stylesheet" href="s.css"/></div>', "txt-1", "<link>"),
        (X + "<p>x</p><object/></div>", "txt-1", "<object>"),
        (X + "<p>x</p><embed/></div>", "txt-1", "<embed>"),
        (X + "<p>x</p><base/></div>", "txt-1", "<base>"),
        (X + "<p>x</p><meta/></div>", "txt-1", "<meta>"),
        (X + "<p>x</p><frameset/></div>", "txt-1", "<frameset>"),
        (X + "<p>x</p><applet/></div>", "txt-1", "<applet>"),
        (X + "<font>x</font></div>", "txt-1", "element <font> is not one of the basic HTML formatting elements"),
        (X + '<p data-x="1">x</p></div>', "txt-1", "attribute 'data-x' is not allowed on <p>"),
        (X + '<p ONCLICK="x()">x</p></div>', "txt-1", "event attribute 'ONCLICK'"),
        (X + '<a href=" JavaScript&#9;:alert(1)">x</a></div>', "txt-1", "script URL in 'href'"),
        (
            X[:-1] + ' xmlns:l="http://www.w3.org/1999/xlink"><a l:href="u">x</a></div>',
            "txt-1",
            "xlink attribute 'xlink:href'",
        ),
        (X + '<svg xmlns="http://www.w3.org/2000/svg"/>x</div>', "txt-1", "in namespace 'http://www.w3.org/2000/svg'"),
        ('<p xmlns="http://www.w3.org/1999/xhtml">x</p>', "narrative", "must be a <div> element, not <p>"),
        (X + "&nbsp;x</div>", "narrative", "not well-formed XHTML: undefined entity"),
        (X + "</div>", "txt-2", "non-whitespace content"),
    ],
)
def test_rejected(div: str, rule: str, message: str) -> None:
    found = check(div)
    assert len(found) == 1, found
    assert found[0][0] == rule and message in found[0][1], found


def test_each_problem_once() -> None:
    found = check(X + "<script>a</script><script>b</script><p onclick='x'>1</p><p onclick='y'>2</p></div>")
    assert [m for _, m in found] == [
        "narrative SHALL NOT contain scripts: <script> found",
        "event attribute 'onclick' on <p> is not allowed in narrative",
    ]


def test_entity_expansion_is_refused() -> None:
    bomb = '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>' + X + "&b;</div>"
    assert check(bomb) == [("narrative", "narrative XHTML SHALL NOT contain DOCTYPE or entity declarations")]
    external = '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + X + "&x;</div>"
    assert check(external)[0][0] == "narrative"
