"""The text of primitive values (rules/strings.py): control characters, bi-directional controls, HTML-looking
text and whitespace around strings, as InstanceValidator.checkPrimitive reports them, on copies of real
examples with one change each."""

from __future__ import annotations

import pytest

from imgfhir.validation import Validator
from imgfhir.validation.rules.strings import bidi_problem, contains_html_tags
from tests.validation.primitives2_support import Expected, check, found, validators

RULES = {"string-content", "string-whitespace"}
FAMILY = "Patient.name[0].family"
GIVEN = "Patient.name[0].given[0]"


@pytest.fixture(scope="module")
def validator() -> dict[str, Validator]:
    return validators()


CASES: list[tuple[str, list[Expected]]] = [
    ("patient-given-control-character.json", [("string-content", "warning", GIVEN, 35, 9, "a control character (7)")]),
    (
        "patient-given-control-characters.json",
        [("string-content", "warning", GIVEN, 35, 9, "2 different control characters (1b, 7)")],
    ),
    ("patient-family-rlo-open.json", [("string-content", "warning", FAMILY, 33, 17, "RLO at index 0 has no")]),
    ("patient-family-lrm-open.json", [("string-content", "warning", FAMILY, 33, 17, "LRM at index 8 has no")]),
    ("patient-name-text-html.json", [("string-content", "information", "Patient.name[0].text", 38, 15, "HTML")]),
    (
        "patient-address-line-script.json",
        [("string-content", "information", "Patient.address[0].line[0]", 99, 9, "HTML")],
    ),
    ("patient-family-leading-space.json", [("string-whitespace", "warning", FAMILY, 33, 17, "starts or ends")]),
    ("patient-family-no-break-space.json", [("string-whitespace", "warning", FAMILY, 33, 17, "'\\xa0' is only white")]),
    ("patient-family-only-spaces.json", [("string-whitespace", "warning", FAMILY, 33, 17, "'   ' is only white")]),
]
NEAR_MISSES = [
    "patient-given-tab.json",  # a tab is allowed
    "patient-family-isolate-closed.json",  # RLI ... PDI
    "patient-address-line-angle-brackets.json",  # `<rear>` with no later `<`: not a tag to the reference
    "patient-given-inner-space.json",  # whitespace inside, not around
]


@pytest.mark.parametrize(("name", "expected"), CASES, ids=[c[0] for c in CASES])
def test_reports_what_the_reference_reports(
    validator: dict[str, Validator], name: str, expected: list[Expected]
) -> None:
    check(found(validator, name, RULES), expected)


@pytest.mark.parametrize("name", NEAR_MISSES)
def test_near_misses_pass(validator: dict[str, Validator], name: str) -> None:
    assert found(validator, name, RULES) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("abc", None),
        ("\u202dabc\u202c", None),  # LRO closed by PDF
        ("\u202dabc", "LRO at index 0"),
        ("\u2066a\u200eb\u2069", None),  # PDI closes the isolate and the mark inside it
        ("\u200e", "LRM at index 0"),
        ("\u202eabc\ndef", None),  # a paragraph break ends every embedding
        ("\u202a", None),  # LRE is not tracked by UnicodeUtilities.checkUnicodeWellFormed
        ("a\u2069", None),  # a PDI with no isolate open
    ],
)
def test_bidi_as_unicode_utilities_checks(text: str, problem: str | None) -> None:
    found_problem = bidi_problem(text)
    assert (found_problem is None) if problem is None else (found_problem is not None and problem in found_problem)


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("<b>bold</b>", True),
        ("<b>bold", False),  # InstanceValidator.containsHtmlTags wants another `<` after the tag
        ("a <img src=x> <", True),
        ("1 < 2 and 3 > 2 <", False),  # ` 2 and 3 ` does not start with a letter
        ("<1a> x <", False),
        ("x<br/>y<", False),  # `br/` has no white space before the slash
    ],
)
def test_html_tags_as_the_reference_finds_them(text: str, tags: bool) -> None:
    assert contains_html_tags(text) is tags


def test_xml_input_reports_whitespace_once(validator: dict[str, Validator]) -> None:
    """The XML reader has its own rule for whitespace around strings (xml-whitespace)."""
    xml = '<Patient xmlns="http://hl7.org/fhir"><id value="example"/><name><family value=" Chalmers"/></name></Patient>'
    outcome = validator["R4"].validate(xml.encode(), fhir_version="R4")
    rules = [i.rule for i in outcome.issues if i.rule in ("xml-whitespace", "string-whitespace")]
    assert rules == ["xml-whitespace"]
