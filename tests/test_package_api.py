"""The top-level API: `imgfhir.validate` as `jsonschema.validate`, lazily imported; Outcome in a REPL."""

from __future__ import annotations

import subprocess
import sys

import imgfhir
from tests.support import FIXTURES

BROKEN = FIXTURES / "validation" / "Observation-545-broken.json"


def test_validate_at_the_top_level() -> None:
    outcome = imgfhir.validate(BROKEN)
    assert isinstance(outcome, imgfhir.Outcome) and not outcome.ok
    assert {i.rule for i in outcome.issues if i.severity == "error"} == {"binding", "primitive"}


def test_import_imgfhir_stays_light() -> None:
    code = "import sys, imgfhir; print(any(m.startswith('imgfhir.validation') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_outcome_repr_lists_issues_with_positions() -> None:
    text = repr(imgfhir.validate(BROKEN))
    lines = text.splitlines()
    assert lines[0] == "Outcome(ok=False, errors=2, warnings=3, issues=5)"
    assert any("Observation.status 36:13" in line and "[binding]" in line for line in lines)


def test_outcome_repr_is_bounded() -> None:
    many = imgfhir.Outcome([imgfhir.Issue("error", "invalid", f"problem {n}") for n in range(50)])
    lines = repr(many).splitlines()
    assert len(lines) == 1 + imgfhir.Outcome.MAX_SHOWN + 1 and lines[-1] == "  ... and 30 more"
