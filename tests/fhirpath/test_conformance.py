"""The official FHIRPath conformance suites (R4, R5) through imgfhir's FHIRPath layer.

Every test of the suite runs; the pass rate must stay at or above FLOOR. Tests known to fail are listed
with their reason in known_failures.txt: any other failure fails here, and a listed test that now
passes is reported (a warning) so the list can shrink. `python bench/fhirpath_suite.py` prints the
same numbers per group next to fhirpathpy alone.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from imgfhir.fhirpath.suite import Report, read_known_failures, run_suite
from tests.support import FIXTURES

SUITES = FIXTURES / "fhirpath"
KNOWN_FAILURES = Path(__file__).resolve().parent / "known_failures.txt"
FLOOR = {"R4": 0.99, "R5": 0.99}
"""Measured pass rate rounded down to the percent; raise it when the rate rises."""


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Report]:
    result = {release: run_suite(SUITES / release.lower(), release) for release in FLOOR}
    summary = {
        release: {"passed": r.passed, "total": r.total, "rate": round(r.rate, 4), "groups": r.per_group()}
        for release, r in result.items()
    }
    path = tmp_path_factory.getbasetemp() / "fhirpath-conformance-summary.json"
    path.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    for r in result.values():
        print(r.summary_line())
    print(f"summary: {path}")
    return result


@pytest.mark.parametrize("release", sorted(FLOOR))
def test_pass_rate_floor(reports: dict[str, Report], release: str) -> None:
    report = reports[release]
    assert report.total > 900, "the suite did not load"
    assert report.rate >= FLOOR[release], report.summary_line()


@pytest.mark.parametrize("release", sorted(FLOOR))
def test_no_new_failures(reports: dict[str, Report], release: str) -> None:
    known = read_known_failures(KNOWN_FAILURES)
    failures = reports[release].failures()
    new = [f"{o.test.group}/{o.test.name}: {o.detail}" for o in failures if (release, o.test.name) not in known]
    assert not new, f"{len(new)} new failure(s):\n" + "\n".join(new)
    failing = {o.test.name for o in failures}
    fixed = sorted(name for rel, name in known if rel == release and name not in failing)
    if fixed:
        warnings.warn(f"{release}: known failures now pass, remove them: {', '.join(fixed)}", stacklevel=1)


def test_known_failures_name_real_tests(reports: dict[str, Report]) -> None:
    names = {(release, o.test.name) for release, r in reports.items() for o in r.outcomes}
    stale = sorted(f"{rel} {name}" for rel, name in read_known_failures(KNOWN_FAILURES) if (rel, name) not in names)
    assert not stale, f"known_failures.txt names tests the suites do not have: {stale}"


def test_every_known_failure_has_a_reason() -> None:
    missing = [f"{rel} {name}" for (rel, name), why in read_known_failures(KNOWN_FAILURES).items() if not why]
    assert not missing
