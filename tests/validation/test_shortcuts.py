"""Compiled invariant shortcuts must agree with the FHIRPath engine: the engine is the oracle.

Every IG and core example is validated twice — with the shortcuts, and with every invariant
evaluated by FHIRPath — and the invariant findings must be identical.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from imgfhir.packages import load_store
from imgfhir.validation import Validator
from imgfhir.validation.rules import invariants
from imgfhir.validation.shortcuts import compile_shortcut

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RELEASES = {
    "hl7.fhir.uv.radiation-dose-summary": "R4",
    "hl7.fhir.uv.dicom-sr": "R5",
    "hl7.fhir.eu.imaging": "R4",
    "hl7.fhir.eu.imaging-r5": "R5",
    "r4": "R4",
    "r5": "R5",
}


def _inputs() -> list[tuple[Path, str]]:
    found = []
    for folder, release in RELEASES.items():
        base = FIXTURES / ("core-examples" if folder in ("r4", "r5") else "ig-examples") / folder
        found += [(p, release) for p in sorted(base.glob("*.json"))]
    return found


def _invariant_findings(validator: Validator) -> set[tuple[str, str, str | None, str | None]]:
    out = set()
    for path, release in _inputs():
        res = orjson.loads(path.read_bytes())
        if not isinstance(res, dict) or "resourceType" not in res:
            continue
        for i in validator.validate(res, fhir_version=release).issues:
            if i.code in ("invariant", "informational") and i.rule not in (None, "binding"):
                out.add((path.name, i.severity, i.rule, i.expression))
    return out


def test_shortcuts_agree_with_the_fhirpath_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _invariant_findings(Validator(load_store(env=False, entry_points=False)))
    monkeypatch.setattr(invariants, "_shortcut", lambda expression: None)
    slow = _invariant_findings(Validator(load_store(env=False, entry_points=False)))
    assert fast == slow
    assert any(f[2] == "dom-6" for f in fast)  # the comparison saw failing invariants, not only passes


@pytest.mark.parametrize(
    ("expression", "node", "expected"),
    [
        ("dataAbsentReason.empty() or value.empty()", {"valueQuantity": {"value": 1}, "dataAbsentReason": {}}, False),
        ("dataAbsentReason.empty() or value.empty()", {"valueQuantity": {"value": 1}}, True),
        ("a.exists() implies b.exists()", {"a": 1}, False),
        ("a.empty() and b.empty() or c.exists()", {"c": [1]}, True),
        ("low.exists() or high.exists() or text.exists()", {"_text": {"extension": [{}]}}, True),
        ("a.exists().not()", {"a": [None]}, True),
    ],
)
def test_shortcut_semantics(expression: str, node: dict[str, object], expected: bool) -> None:
    check = compile_shortcut(expression)
    assert check is not None and check(node) is expected


@pytest.mark.parametrize(
    "expression",
    ["value.where(x).empty()", "Observation.value.exists()", "a.exists() != b.exists()", "a.count() > 1", "a = b"],
)
def test_other_expressions_are_left_to_the_engine(expression: str) -> None:
    assert compile_shortcut(expression) is None
