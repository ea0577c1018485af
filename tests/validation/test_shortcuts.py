"""Compiled invariant shortcuts must agree with the FHIRPath engine: the engine is the oracle.

Every IG and core example is validated twice — with the shortcuts, and with every invariant
evaluated by FHIRPath — and the invariant findings must be identical.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from imgfhir import fhirpath
from imgfhir.packages import load_store
from imgfhir.validation import Validator
from imgfhir.validation.rules import invariants
from imgfhir.validation.shortcuts import EXACT, compile_shortcut

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
    [
        "value.where(x).empty()",
        "Observation.value.exists()",
        "a.exists() != b.exists()",
        "a.count() > b.count()",
        "a = b",
        "where(a = 'b').exists()",
        "a.where(b.c = 'd').exists()",
    ],
)
def test_other_expressions_are_left_to_the_engine(expression: str) -> None:
    assert compile_shortcut(expression) is None


# ---------------------------------------------------------------------------------------------
# The hand-written equivalents (EXACT) against the engine, on real Bundles, Observations and
# Composition sections and on variants of them that take each shortcut down its other branches.

BUNDLE_TYPES = [None, "document", "collection", "transaction", "batch", "history", "batch-response", "searchset"]


def _real(prefix: str) -> list[tuple[dict[str, Any], str]]:
    found = []
    for path, release in _inputs() + [(p, "R4") for p in sorted((FIXTURES / "validation" / "bundles").glob("*.json"))]:
        res = orjson.loads(path.read_bytes())
        if isinstance(res, dict) and res.get("resourceType") == prefix:
            found.append((res, release))
    return found


def _bundle_variants(bundle: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for t in BUNDLE_TYPES:
        b = copy.deepcopy(bundle)
        if t is None:
            b.pop("type", None)
        else:
            b["type"] = t
        yield b
        entries = b.get("entry") or []
        if entries:
            for change in ("drop-full-url", "request", "response", "duplicate", "history-url", "version", "total"):
                v = copy.deepcopy(b)
                first = v["entry"][0]
                if change == "drop-full-url":
                    first.pop("fullUrl", None)
                elif change == "request":
                    first["request"] = {"method": "POST", "url": "Observation"}
                elif change == "response":
                    first["response"] = {"status": "201"}
                elif change == "duplicate":
                    v["entry"].append(copy.deepcopy(first))
                elif change == "history-url":
                    first["fullUrl"] = "http://example.org/fhir/Patient/1/_history/2"
                elif change == "version":
                    v["entry"].append(copy.deepcopy(first))
                    v["entry"][-1].setdefault("resource", {}).setdefault("meta", {})["versionId"] = "2"
                elif change == "total":
                    v["total"] = 1
                yield v


def _engine_passes(expression: str, release: str, resource: Any, node: Any, context_type: str | None) -> bool:
    result = fhirpath.compile(expression, release).evaluate(
        resource, context_node=None if node is resource else node, context_type=context_type
    )
    return not result or all(r is True for r in result)


def _cases() -> Iterator[tuple[str, str, Any, Any, str | None]]:
    for bundle, release in _real("Bundle"):
        if len(bundle.get("entry") or []) > 8:
            continue  # small ones reach every branch; the engine is slow on big ones
        for variant in _bundle_variants(bundle):
            yield "Bundle", release, variant, variant, None
            for entry in (variant.get("entry") or [])[:3]:
                yield "Bundle.entry", release, variant, entry, "Bundle.entry"
    for obs, release in _real("Observation"):
        yield "Observation", release, obs, obs, None
        with_value = {**copy.deepcopy(obs), "valueString": "x"}
        yield "Observation", release, with_value, with_value, None
        if obs.get("component"):
            clash = copy.deepcopy(with_value)
            clash["component"][0]["code"] = copy.deepcopy(obs.get("code"))
            yield "Observation", release, clash, clash, None
    for comp, release in _real("Composition"):
        for section in comp.get("section") or []:
            yield "Composition.section", release, comp, section, "Composition.section"
            bare = {k: v for k, v in section.items() if k not in ("entry", "emptyReason", "section")}
            yield "Composition.section", release, comp, bare, "Composition.section"


def _kind_of(expression: str) -> str | None:
    """The context an EXACT expression is written for (None: covered by the example oracle above)."""
    if expression.startswith(("contained", "text")):
        return None
    if expression.startswith("value."):
        return "Observation"
    if expression.startswith("fullUrl"):
        return "Bundle.entry"
    return "Bundle"


def test_exact_shortcuts_agree_with_the_engine() -> None:
    checked = {expression: 0 for expression in EXACT if _kind_of(expression)}
    for kind, release, resource, node, context_type in _cases():
        for expression in checked:
            verdict = EXACT[expression](node) if _kind_of(expression) == kind else None
            if verdict is not None:
                slow = _engine_passes(expression, release, resource, node, context_type)
                assert verdict is slow, (expression, str(node)[:400])
                checked[expression] += 1
    assert all(checked.values()), checked
    # both verdicts were seen: the variants reach the failing branches too
    assert sum(checked.values()) > 100


PATIENTS = [
    {"resourceType": "Patient"},
    {"resourceType": "Patient", "telecom": [{"use": "home", "value": "1"}]},
    {"resourceType": "Patient", "telecom": [{"use": "work", "value": "1"}, {"use": "home", "value": "2"}]},
    {"resourceType": "Patient", "telecom": [{"value": "1", "_use": {"extension": [{"url": "x", "valueCode": "y"}]}}]},
    {"resourceType": "Patient", "name": [{"family": "A"}, {"given": ["B"]}]},
    {"resourceType": "Patient", "name": [{"_family": {"extension": [{"url": "u", "valueString": "v"}]}}]},
    {"resourceType": "Patient", "extension": [{"url": "http://a", "valueString": "x"}]},
    {"resourceType": "Patient", "extension": [{"url": "http://b", "valueAnnotation": {"text": "t"}}]},
    {"resourceType": "Patient", "active": True, "communication": [{"preferred": True}, {"preferred": True}]},
]
GRAMMAR = [
    "telecom.where(use = 'home').empty()",
    "telecom.where(use='work').exists() implies telecom.where(use = 'home').exists()",
    "communication.where(preferred=true).count() <= 1",
    "name.count() > 1 or name.family.exists()",
    "name.family.count() = 1",
    "extension('http://a').exists() or extension('http://b').value.text.exists()",
    "extension('http://b').value.text.empty().not()",
]


@pytest.mark.parametrize("expression", GRAMMAR)
def test_grammar_extensions_agree_with_the_engine(expression: str) -> None:
    check = compile_shortcut(expression)
    assert check is not None
    decided = 0
    for patient in PATIENTS:
        verdict = check(patient)
        if verdict is None:
            continue
        decided += 1
        assert verdict is _engine_passes(expression, "R4", patient, patient, None), patient
    assert decided >= len(PATIENTS) - 1
