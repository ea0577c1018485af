"""The official FHIRPath conformance suites (fhir-test-cases tests-fhir-r4.xml / r5.xml) as data and a runner.

Shared by tests/fhirpath/test_conformance.py and bench/fhirpath_suite.py. A suite folder holds the
test XML and JSON forms of its inputs (the XML inputs the suite names are looked up as ``<stem>.json``).
Two engines run the same tests: ``imgfhir`` (this package) and ``fhirpathpy`` (the library alone, the peer).

Scoring: every <test> counts. A test with ``invalid`` passes when the engine raises (at compile or
evaluation). Otherwise the result must match the <output> items in order (any order when
``ordered="false"``): booleans, integers and decimals by type and value, string-like types (string, code,
id, uri, ...) by text, date/dateTime/time by their literal text, Quantity by value and unit.
``predicate="true"`` reduces the result to ``exists()`` first. Tests with ``mode="strict"`` compile with
imgfhir's strict model checks (fhirpathpy has none); other modes run as any test.
"""

from __future__ import annotations

import copy
import importlib
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from imgfhir.fhirpath.engine import compile
from imgfhir.fhirpath.errors import FhirPathError

_nodes: Any = importlib.import_module("fhirpathpy.engine.nodes")
_util: Any = importlib.import_module("fhirpathpy.engine.util")

SUITE_FILES = {"R4": "tests-fhir-r4.xml", "R5": "tests-fhir-r5.xml"}
ENGINES = ("imgfhir", "fhirpathpy")


@dataclass(frozen=True, slots=True)
class SuiteTest:
    group: str
    name: str
    expression: str
    inputfile: str | None
    invalid: str | None = None
    predicate: bool = False
    mode: str | None = None
    ordered: bool = True
    outputs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    test: SuiteTest
    passed: bool
    detail: str = ""


@dataclass(slots=True)
class Report:
    release: str
    engine: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(o.passed for o in self.outcomes)

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.passed]

    def per_group(self) -> dict[str, tuple[int, int]]:
        groups: dict[str, tuple[int, int]] = {}
        for o in self.outcomes:
            ok, n = groups.get(o.test.group, (0, 0))
            groups[o.test.group] = (ok + o.passed, n + 1)
        return groups

    def summary_line(self) -> str:
        return f"{self.release} {self.engine}: {self.passed}/{self.total} = {100 * self.rate:.1f} %"


def load_suite(folder: Path, release: str) -> list[SuiteTest]:
    """Every <test> of the release's suite XML in `folder`, in document order."""
    root = ET.parse(folder / SUITE_FILES[release]).getroot()
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]  # the r5 suite is namespaced, r4 is not
    tests: list[SuiteTest] = []
    for group in root.iter("group"):
        for test in group.iter("test"):
            expr = test.find("expression")
            if expr is None:
                continue
            tests.append(
                SuiteTest(
                    group=group.get("name", ""),
                    name=test.get("name", ""),
                    expression=expr.text or "",
                    inputfile=test.get("inputfile"),
                    invalid=expr.get("invalid"),
                    predicate=test.get("predicate") == "true",
                    mode=test.get("mode"),
                    ordered=test.get("ordered") != "false",
                    outputs=tuple((o.get("type", ""), o.text or "") for o in test.findall("output")),
                )
            )
    return tests


@lru_cache(maxsize=64)
def _input_bytes(folder: Path, inputfile: str) -> bytes | None:
    path = folder / (Path(inputfile).stem + ".json")
    return path.read_bytes() if path.is_file() else None


def load_input(folder: Path, inputfile: str | None) -> Any:
    """A fresh copy of the test's input resource (engines may annotate it), or None when absent."""
    if inputfile is None:
        return {}
    raw = _input_bytes(folder, inputfile)
    return None if raw is None else orjson.loads(raw)


Evaluator = Callable[[str, str, Any, bool], list[Any]]


def _imgfhir(expression: str, release: str, resource: Any, strict: bool) -> list[Any]:
    context = resource.get("resourceType") if strict and isinstance(resource, dict) else None
    return compile(expression, release, strict=strict, context_type=context).evaluate(resource, raw=True)


def _fhirpathpy(expression: str, release: str, resource: Any, strict: bool) -> list[Any]:
    fhirpathpy: Any = importlib.import_module("fhirpathpy")
    models: Any = importlib.import_module("fhirpathpy.models")
    env = {"resource": resource, "rootResource": resource, "context": resource}
    model = models.models[release.lower()]
    options = {"returnRawData": True, "traceFn": _no_trace}
    result: list[Any] = fhirpathpy.evaluate(resource, expression, env, model, options)
    return result


def _no_trace(label: str, items: Any) -> None:
    return None


EVALUATORS: dict[str, Evaluator] = {"imgfhir": _imgfhir, "fhirpathpy": _fhirpathpy}


def run_test(test: SuiteTest, folder: Path, release: str, engine: str = "imgfhir") -> Outcome:
    resource = load_input(folder, test.inputfile)
    if resource is None:
        return Outcome(test, False, f"no JSON form of input {test.inputfile}")
    try:
        strict = test.mode == "strict"
        result = EVALUATORS[engine](test.expression, release, copy.deepcopy(resource), strict)
    except (FhirPathError, Exception) as exc:  # noqa: BLE001 - the peer raises anything
        if test.invalid:
            return Outcome(test, True)
        return Outcome(test, False, f"raised {type(exc).__name__}: {str(exc)[:200]}")
    if test.invalid:
        return Outcome(test, False, f"expected a {test.invalid} error, got {_show(result)}")
    if test.predicate:
        result = [bool(result)] if not (len(result) == 1 and isinstance(_data(result[0]), bool)) else result
    mismatch = compare(result, test.outputs, ordered=test.ordered)
    return Outcome(test, mismatch is None, mismatch or "")


def run_suite(folder: Path, release: str, engine: str = "imgfhir", tests: Iterable[SuiteTest] | None = None) -> Report:
    report = Report(release, engine)
    for test in load_suite(folder, release) if tests is None else tests:
        report.outcomes.append(run_test(test, folder, release, engine))
    return report


# -- comparison ---------------------------------------------------------------------------------------------------


def _data(item: Any) -> Any:
    return _util.get_data(item)


def _show(result: list[Any]) -> str:
    return "[" + ", ".join(repr(_data(i)) for i in result)[:200] + "]"


def _strip_unit(unit: str | None) -> str:
    return (unit or "").strip().strip("'")


def _matches(item: Any, kind: str, text: str) -> bool:
    value = _data(item)
    if not kind:  # the r4 suite leaves some outputs untyped: infer the kind from the value
        kind = "boolean" if isinstance(value, bool) else "decimal" if isinstance(value, Decimal | float) else ""
        if isinstance(value, int) and not isinstance(value, bool):
            kind = "integer"
        elif isinstance(value, _nodes.FP_Quantity):
            kind = "Quantity"
        elif isinstance(value, _nodes.FP_TimeBase):
            kind = "time" if isinstance(value, _nodes.FP_Time) else "dateTime"
    if kind == "boolean":
        return isinstance(value, bool) and str(value).lower() == text.strip()
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool) and str(value) == text.strip()
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, Decimal | float):
            return False
        try:
            return Decimal(str(value)) == Decimal(text.strip())
        except InvalidOperation:
            return False
    if kind in ("date", "dateTime", "time"):
        expected = text.strip().lstrip("@").lstrip("T")
        if isinstance(value, _nodes.FP_TimeBase):
            value = value.asStr
        return isinstance(value, str) and value.lstrip("T") == expected
    if kind == "Quantity":
        if not isinstance(value, _nodes.FP_Quantity):
            return False
        number, _, unit = text.strip().partition(" ")
        return bool(Decimal(str(value.value)) == Decimal(number) and _strip_unit(value.unit) == _strip_unit(unit))
    return isinstance(value, str) and value == text


def compare(result: list[Any], outputs: tuple[tuple[str, str], ...], *, ordered: bool = True) -> str | None:
    """None when `result` matches the expected outputs, else a one-line explanation."""
    if len(result) != len(outputs):
        return f"expected {len(outputs)} item(s) {[t for _, t in outputs]}, got {_show(result)}"
    if ordered:
        for i, (item, (kind, text)) in enumerate(zip(result, outputs, strict=True)):
            if not _matches(item, kind, text):
                return f"item {i}: expected {kind} {text!r}, got {_data(item)!r}"
        return None
    remaining = list(result)
    for kind, text in outputs:
        hit = next((r for r in remaining if _matches(r, kind, text)), None)
        if hit is None:
            return f"no item matches {kind} {text!r} in {_show(result)}"
        remaining.remove(hit)
    return None


def group_counts(outcomes: Iterable[Outcome]) -> Counter[str]:
    return Counter(o.test.group for o in outcomes)


# -- known failures -----------------------------------------------------------------------------------------------


def read_known_failures(path: Path) -> dict[tuple[str, str], str]:
    """``(release, test name) -> reason`` from a known-failures file.

    Format: ``RELEASE test-name`` per line; the reason of an entry is the ``#`` comment block above it
    (the last block before a run of entries); a blank line between comments starts a new block.
    """
    known: dict[tuple[str, str], str] = {}
    reason: list[str] = []
    in_entries = False
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text:
            if not in_entries:
                reason = []
            continue
        if text.startswith("#"):
            if in_entries:
                reason, in_entries = [], False
            reason.append(text.lstrip("#").strip())
            continue
        in_entries = True
        release, _, name = text.partition(" ")
        known[(release, name.strip())] = " ".join(reason)
    return known


def format_known_failures(reports: Iterable[Report], previous: dict[tuple[str, str], str]) -> str:
    """The known-failures file for `reports`, grouped by suite group, keeping the reasons of `previous`."""
    by_group: dict[str, list[tuple[str, str]]] = {}
    for report in reports:
        for o in report.failures():
            by_group.setdefault(o.test.group, []).append((report.release, o.test.name))
    blocks: list[str] = []
    for group in sorted(by_group):
        entries = by_group[group]
        reasons = dict.fromkeys(previous[e] for e in entries if e in previous)
        reason = " / ".join(r for r in reasons if r) or "TODO: reason"
        text = f"{group}: {reason.removeprefix(group + ': ')}"
        lines = textwrap.wrap(text, 110, initial_indent="# ", subsequent_indent="# ")
        blocks.append("\n".join([*lines, *(f"{rel} {name}" for rel, name in entries)]))
    header = "# Official FHIRPath suite tests imgfhir fails, per suite group with the reason (tests/fhirpath/).\n"
    header += "# Regenerate with `python bench/fhirpath_suite.py --write-known-failures` (keeps the reasons).\n"
    return header + "\n" + "\n\n".join(blocks) + "\n"
