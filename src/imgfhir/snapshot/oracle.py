"""The snapshot oracle: regenerate published snapshots and measure how many elements agree.

Every StructureDefinition that ships with a published `snapshot`, a `differential` and a
`baseDefinition` is a test case for free: the package authors' tooling (the IG publisher) already
computed the answer. We strip the snapshot, regenerate it from the differential in the scope of
the SD's own package, and compare element by element (see compare.py).
"""

from __future__ import annotations

import copy
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from dataclasses import field as _field
from functools import lru_cache
from typing import Any

from imgfhir.packages import PackageStore, load_store
from imgfhir.snapshot.compare import Difference, compare_elements, element_keys
from imgfhir.snapshot.generator import SnapshotError, generator_for

__all__ = [
    "Case",
    "CaseResult",
    "DifferenceClass",
    "Report",
    "bundled_store",
    "discover_cases",
    "run",
    "run_case",
    "sample_cases",
]


@lru_cache(maxsize=1)
def bundled_store() -> PackageStore:
    """The SDK's bundled packages only (no $IMGFHIR_PACKAGES, no plugins), loaded once per process,
    so oracle results do not depend on the machine they run on and tests share generator caches."""
    return load_store(env=False, entry_points=False)


@dataclass(frozen=True, slots=True)
class Case:
    """One published StructureDefinition to regenerate."""

    package: str  # package key, id#version
    url: str
    filename: str
    derivation: str | None


@dataclass(slots=True)
class CaseResult:
    case: Case
    expected: int = 0  # elements in the published snapshot
    matched: int = 0  # of those, present in ours and equal on every compared field
    extra: int = 0  # elements only in ours
    differences: list[Difference] = field(default_factory=list)
    error: str | None = None  # "ExceptionType: message" when generation failed
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "package": self.case.package,
            "url": self.case.url,
            "derivation": self.case.derivation,
            "expected": self.expected,
            "matched": self.matched,
            "extra": self.extra,
            "error": self.error,
            "seconds": round(self.seconds, 4),
            "differences": [d.as_dict() for d in self.differences],
        }


@dataclass(slots=True)
class DifferenceClass:
    """All differences sharing a (field, kind), e.g. ("constraint", "missing")."""

    field: str
    kind: str
    count: int = 0
    profiles: set[str] = _field(default_factory=set)
    examples: list[tuple[str, str]] = _field(default_factory=list)  # (profile url, element id)


@dataclass(slots=True)
class Report:
    results: list[CaseResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def extra(self) -> int:
        """Elements only in our snapshots; agreement ignores them, so they are reported beside it."""
        return sum(r.extra for r in self.results)

    def totals(self, results: Iterable[CaseResult] | None = None) -> tuple[int, int]:
        """(matched, expected) elements. A failed case counts all its published elements as unmatched:
        an error must never raise the agreement figure by shrinking the denominator."""
        matched = expected = 0
        for r in self.results if results is None else results:
            matched += r.matched
            expected += r.expected
        return matched, expected

    @property
    def agreement(self) -> float:
        matched, expected = self.totals()
        return matched / expected if expected else 0.0

    def per_package(self) -> dict[str, tuple[int, int, int, int, int]]:
        """package key → (matched elements, expected elements, extra elements, cases, errored cases)."""
        grouped: dict[str, list[CaseResult]] = defaultdict(list)
        for r in self.results:
            grouped[r.case.package].append(r)
        out: dict[str, tuple[int, int, int, int, int]] = {}
        for key, results in grouped.items():
            matched, expected = self.totals(results)
            extra = sum(r.extra for r in results)
            out[key] = (matched, expected, extra, len(results), sum(1 for r in results if r.error))
        return out

    @property
    def errors(self) -> list[CaseResult]:
        return [r for r in self.results if r.error]

    def difference_classes(self, examples: int = 3) -> list[DifferenceClass]:
        """Differences grouped by (field group, kind), largest first; each with a few example ids
        from distinct profiles, so one class is not illustrated by one odd profile only."""
        classes: dict[tuple[str, str], DifferenceClass] = {}
        for r in self.results:
            for d in r.differences:
                cls = classes.get((d.group, d.kind))
                if cls is None:
                    cls = classes[(d.group, d.kind)] = DifferenceClass(d.group, d.kind)
                cls.count += 1
                if r.case.url not in cls.profiles and len(cls.examples) < examples:
                    cls.examples.append((r.case.url, d.element))
                cls.profiles.add(r.case.url)
        return sorted(classes.values(), key=lambda c: (-c.count, c.field, c.kind))

    def summary_line(self) -> str:
        matched, expected = self.totals()
        pct = 100.0 * matched / expected if expected else 0.0
        return (
            f"{matched}/{expected} elements ({pct:.2f} %), {self.extra} extra, in {len(self.results)} profiles, "
            f"{len(self.errors)} errors, {self.seconds:.1f} s"
        )

    def per_package_lines(self) -> list[str]:
        lines = []
        for key, (matched, expected, extra, cases, errors) in sorted(self.per_package().items()):
            pct = 100.0 * matched / expected if expected else 0.0
            lines.append(f"{key}: {matched}/{expected} ({pct:.2f} %), {extra} extra, {cases} profiles, {errors} errors")
        return lines

    def as_dict(self) -> dict[str, Any]:
        matched, expected = self.totals()
        return {
            "matched": matched,
            "expected": expected,
            "agreement": self.agreement,
            "seconds": round(self.seconds, 3),
            "extra": self.extra,
            "errors": len(self.errors),
            "packages": {
                key: {"matched": m, "expected": e, "extra": x, "cases": c, "errors": n}
                for key, (m, e, x, c, n) in sorted(self.per_package().items())
            },
            "classes": [
                {
                    "field": c.field,
                    "kind": c.kind,
                    "count": c.count,
                    "profiles": len(c.profiles),
                    "examples": [{"url": u, "element": e} for u, e in c.examples],
                }
                for c in self.difference_classes()
            ],
            "cases": [r.as_dict() for r in self.results],
        }


# -- cases -----------------------------------------------------------------------------


def _is_case(sd: dict[str, Any]) -> bool:
    def has_elements(part: str) -> bool:
        section = sd.get(part)
        return isinstance(section, dict) and bool(section.get("element"))

    return bool(sd.get("baseDefinition")) and has_elements("snapshot") and has_elements("differential")


def discover_cases(store: PackageStore, packages: Sequence[str] | None = None) -> list[Case]:
    """Every SD with a published snapshot, a differential and a baseDefinition, in store order
    (packages) and file order (within a package), so runs and subsets are reproducible.
    `packages` filters by package id or id#version."""
    cases: list[Case] = []
    for pkg in store.packages:
        if packages is not None and pkg.id not in packages and pkg.key not in packages:
            continue
        for entry in pkg.entries:
            if entry.resource_type != "StructureDefinition" or not entry.url or not entry.base_definition:
                continue
            if _is_case(pkg.load(entry.filename)):
                cases.append(Case(pkg.key, entry.url, entry.filename, entry.derivation))
    return cases


def sample_cases(cases: Sequence[Case], per_package: int) -> list[Case]:
    """A deterministic subset: up to `per_package` cases from each package, evenly spread over
    its file order (so a subset still sees profiles, extensions and resources alike)."""
    grouped: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        grouped[case.package].append(case)
    chosen: list[Case] = []
    for group in grouped.values():
        if len(group) <= per_package:
            chosen += group
        else:
            step = len(group) / per_package
            chosen += [group[int(i * step)] for i in range(per_package)]
    return chosen


# -- running ---------------------------------------------------------------------------


def _without_snapshot(sd: dict[str, Any]) -> dict[str, Any]:
    """A deep copy without `snapshot`: the generator must not see the answer, and must not be able
    to alter the package's cached (shared, read-only) resource."""
    return copy.deepcopy({k: v for k, v in sd.items() if k != "snapshot"})


def run_case(store: PackageStore, case: Case) -> CaseResult:
    """Regenerate one case and compare. Any exception is recorded on the result, never raised:
    one broken profile must not hide the figures for the other two thousand."""
    pkg = store.get(case.package)
    if pkg is None:
        raise LookupError(f"package {case.package} is not in the store")
    published = pkg.load(case.filename)
    expected = published["snapshot"]["element"]
    result = CaseResult(case, expected=len(expected))
    start = time.perf_counter()
    try:
        generated = generator_for(store.scope(pkg)).generate(_without_snapshot(published))
        actual = generated["snapshot"]["element"]
    except SnapshotError as exc:
        result.error = f"SnapshotError: {exc or '(no message)'}"
    except Exception as exc:  # noqa: BLE001 - the oracle measures; every failure is data
        result.error = f"{type(exc).__name__}: {exc or '(no message)'}"
    else:
        result.differences = compare_elements(expected, actual)
        keys = element_keys(expected)
        wrong = {d.element for d in result.differences}
        result.matched = sum(1 for key in keys if key not in wrong)
        result.extra = sum(1 for d in result.differences if d.field == "element" and d.expected is None)
    result.seconds = time.perf_counter() - start
    return result


def run(
    store: PackageStore,
    packages: Sequence[str] | None = None,
    *,
    cases: Sequence[Case] | None = None,
    limit: int | None = None,
    progress: Callable[[CaseResult], None] | None = None,
) -> Report:
    """Run the oracle over `cases` (default: all cases of `packages`, or of every package)."""
    todo = list(cases) if cases is not None else discover_cases(store, packages)
    if limit is not None:
        todo = todo[:limit]
    report = Report()
    start = time.perf_counter()
    for case in todo:
        result = run_case(store, case)
        report.results.append(result)
        if progress is not None:
            progress(result)
    report.seconds = time.perf_counter() - start
    return report
