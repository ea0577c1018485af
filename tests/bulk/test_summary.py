"""The end-of-run summary, the progress bar and the aggregating HTML report of a streamed run."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from imgfhir.bulk import Checked, Summary, summary
from imgfhir.bulk.progress import Progress, input_bytes, wanted
from imgfhir.cli import app
from imgfhir.outcome import Issue
from tests.support import FIXTURES

EXPORT = FIXTURES / "validation" / "bulk" / "rds-export.ndjson"
P = "http://example.org/StructureDefinition/p"


def record(label: str, *issues: Issue, seconds: float = 0.01, profiles: tuple[str, ...] = ()) -> Checked:
    return Checked(label, list(issues), seconds=seconds, profiles=profiles)


def test_counts_by_severity_rule_profile_and_the_slowest_records() -> None:
    s = Summary(keep_slowest=2)
    s.add(record("a:1", Issue("error", "value", "bad date", rule="primitive"), profiles=(P,), seconds=0.5))
    s.add(record("a:2", Issue("warning", "informational", "no narrative", rule="dom-6"), profiles=(P,)))
    s.add(record("a:3", Issue("warning", "informational", "no  narrative", rule="dom-6"), seconds=0.2))
    s.add(Checked("a:4", [], blank=2, empty=True))
    assert (s.records, s.invalid, s.blank, s.errors, s.warnings) == (3, 1, 2, 1, 2)
    assert s.by_rule == {"primitive": 1, "dom-6": 2}
    assert (s.by_profile[P], s.invalid_by_profile[P]) == (2, 1)
    assert s.messages[("dom-6", "no narrative")] == 2  # whitespace does not make a message new
    assert sorted(s.slowest, reverse=True) == [(0.5, "a:1"), (0.2, "a:3")]
    text = s.render()
    assert "3 records" in text and "2 valid, 1 invalid; 2 blank lines skipped" in text
    assert "slowest records: a:1 500 ms, a:3 200 ms" in text
    assert f"{P}  2, 1 invalid" in text


def test_distinct_messages_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summary, "MAX_MESSAGES", 3)
    s = Summary()
    for n in range(10):
        s.add(record(f"r:{n}", Issue("error", "value", f"value {n} is bad", rule="primitive")))
    assert len(s.messages) == 3 and s.other_messages == 7
    assert "7  other messages" in s.render()


def test_the_bar_shows_records_rate_and_errors() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=150, color_system=None)
    with Progress(10_000, shown=True, console=console, label="export.ndjson") as bar:
        for n in range(3):
            bar.advance(100, errors=n)
            bar._updated = 0.0  # no throttling in the test
        assert bar._bar is not None
        bar._bar.refresh()
    shown = out.getvalue()
    assert "export.ndjson" in shown and "3 records" in shown and "3 errors" in shown and "/s" in shown


def test_the_bar_is_off_in_pipes_and_with_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("TERM", "xterm")
    assert wanted(False, Tty())
    assert not wanted(False, io.StringIO())
    assert not wanted(True, Tty())
    monkeypatch.setenv("TERM", "dumb")
    assert not wanted(False, Tty())
    off = Progress(None, shown=False)
    off.advance(10, 1)
    assert (off.records, off.errors, off._bar) == (1, 1, None)


def test_input_bytes_are_known_for_files_not_for_stdin(tmp_path: Path) -> None:
    assert input_bytes([str(EXPORT)]) == EXPORT.stat().st_size
    assert input_bytes([str(EXPORT), "-"]) is None


def test_html_of_a_stream_is_written_at_the_end_from_the_records_with_issues(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result: Any = CliRunner().invoke(app, ["validate", str(EXPORT), "--format", "html", "-o", str(out)])
    assert result.exit_code == 1
    page = out.read_text()
    assert "<b>7</b> inputs" in page
    assert f"{EXPORT}:7" in page and f"{EXPORT}:3<" not in page
    assert "<mark>" in page  # source lines quoted: the records' texts were kept
