"""`imgfhir validate` report options: --format compact and html, --level, --best-practice, --baseline.

The HTML report is rendered in headless Chromium (Debian's chromium package; .ci/run installs it) and
checked by the text a reader sees; a screenshot goes to $IMGFHIR_TEST_ARTIFACTS (default: pytest's tmp).
"""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from imgfhir.cli import app
from tests.support import FIXTURES

runner = CliRunner()
VALIDATION = FIXTURES / "validation"
GOOD = VALIDATION / "Observation-545.json"
BROKEN = VALIDATION / "Observation-545-broken.json"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
IN_CI = os.environ.get("CI") == "true"


def run(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def test_compact_is_one_problem_matcher_line_per_issue() -> None:
    result = run("validate", "--format", "compact", BROKEN)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    status = next(line for line in lines if "Observation.status" in line)
    assert status.startswith(f"{BROKEN}:36:")
    _file, line, column, rest = status.split(":", 3)
    assert int(line) == 36 and int(column) > 0
    assert rest.startswith(" error: ") and rest.endswith("]")
    assert lines[-1].startswith("1 file, ")


def test_level_hides_less_severe_issues_but_keeps_the_verdict() -> None:
    everything = run("validate", "--format", "compact", BROKEN).stdout
    errors_only = run("validate", "--format", "compact", "--level", "error", BROKEN)
    assert errors_only.exit_code == 1
    assert " warning: " in everything and " warning: " not in errors_only.stdout
    assert " error: " in errors_only.stdout


def test_best_practice_levels() -> None:
    """dom-6 (a resource should have narrative) is a best-practice invariant of R4 DomainResource."""
    resource = json.loads(GOOD.read_text())
    resource.pop("text", None)
    text = json.dumps(resource)

    def dom6(level: str) -> list[str]:
        result = runner.invoke(app, ["validate", "--format", "compact", "--best-practice", level, "-"], input=text)
        return [line for line in result.stdout.splitlines() if "[dom-6]" in line]

    assert all(" warning: " in line for line in dom6("warning")) and dom6("warning")
    assert all(" error: " in line for line in dom6("error")) and dom6("error")
    assert all(" information: " in line for line in dom6("hint")) and dom6("hint")
    assert dom6("ignore") == []


def test_baseline_accepts_known_issues_and_fails_on_new_ones(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    first = run("validate", "--write-baseline", baseline, BROKEN)
    assert first.exit_code == 1 and baseline.is_file()
    again = run("validate", "--baseline", baseline, BROKEN)
    assert again.exit_code == 0, again.output
    assert "accepted by the baseline" in again.stderr
    new = tmp_path / "new.json"
    new.write_text(BROKEN.read_text().replace('"final"', '"finalised"'))
    other = run("validate", "--baseline", baseline, new)
    assert other.exit_code == 1  # a new file: the baseline names the old one


def test_unusable_baseline_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "b.json"
    bad.write_text("[1]")
    result = run("validate", "--baseline", bad, GOOD)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: baseline") and len(result.stderr.splitlines()) == 1


class _Text(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.skip += tag in ("style", "script", "title")

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag in ("style", "script", "title")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def _visible_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join("".join(parser.parts).split())


def test_html_report_is_self_contained(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run("validate", "--format", "html", "-o", out, GOOD, BROKEN)
    assert result.exit_code == 1
    page = out.read_text()
    assert "<script" not in page and "http://" not in page.split("<body>", 1)[0]
    text = _visible_text(page)
    assert "Invalid" in text and "2 inputs" in text
    assert str(BROKEN) in text and "line 36" in text
    assert '"status" : "finished"' in text or '"status": "finished"' in text  # the source line is quoted


@pytest.mark.skipif(CHROMIUM is None and not IN_CI, reason="chromium is not installed (apt-get install chromium)")
def test_html_report_renders_in_chromium(tmp_path: Path) -> None:
    assert CHROMIUM is not None, "CI installs Debian's chromium"
    out = tmp_path / "report.html"
    run("validate", "--format", "html", "-o", out, GOOD, BROKEN)
    artifacts = Path(os.environ.get("IMGFHIR_TEST_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    text = _visible_text(dom)
    assert "Validation report" in text and "Invalid" in text
    assert "Observation.status" in text and "line 36" in text
    assert "Most frequent rules" in text
    shot = artifacts / "validation-report.png"
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1280,1600", out.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
