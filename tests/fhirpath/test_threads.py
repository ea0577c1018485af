"""Evaluation state is per call: R4 and R5 evaluations running at the same time in several threads each
see their own release's model (fhirpathpy keeps it in a class attribute, which imgfhir makes per context)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from imgfhir.fhirpath import FhirPathError, compile
from imgfhir.outcome import Issue
from imgfhir.validation import Validator
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue
from imgfhir.validation.plugins import for_resources

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REPORT_R4 = json.loads((FIXTURES / "core-examples/r4/DiagnosticReport-ultrasound.json").read_text())
REPORT_R5 = json.loads((FIXTURES / "core-examples/r5/DiagnosticReport-ultrasound.json").read_text())
HEARTBEAT_R5 = json.loads((FIXTURES / "fhirpath/threads/r5-bundle-subscription-heartbeat.json").read_text())
BDL_13 = "type = 'subscription-notification' implies entry.first().resource.is(SubscriptionStatus)"

# (resource, expression, release, expected): each answer depends on the release's model
CASES: list[tuple[dict[str, Any], str, str, list[Any]]] = [
    (REPORT_R4, "conclusion.is(markdown)", "R4", [False]),  # R4: a string
    (REPORT_R4, "conclusion.as(string)", "R4", ["Unremarkable study"]),
    (REPORT_R5, "conclusion.is(markdown)", "R5", [True]),  # R5: a markdown
    (REPORT_R5, "conclusion.as(string)", "R5", []),  # as() matches a primitive type exactly
    (HEARTBEAT_R5, "entry.resource.ofType(SubscriptionStatus).exists()", "R5", [True]),  # unknown to R4
]


@pytest.fixture(autouse=True)
def _switch_often() -> Iterator[None]:
    """Threads hand over every few microseconds instead of every 5 ms, so interleavings are many."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def test_each_case_depends_on_the_release() -> None:
    for resource, expression, release, expected in CASES:
        assert compile(expression, release).evaluate(resource) == expected, (expression, release)
        other = "R5" if release == "R4" else "R4"
        try:
            assert compile(expression, other).evaluate(resource) != expected, (expression, other)
        except FhirPathError as exc:
            assert "unknown type SubscriptionStatus" in str(exc)


def _in_threads(jobs: list[Callable[[], list[str]]], rounds: int = 1) -> list[str]:
    """Run every job in its own thread, all started together; the problems they report."""
    barrier = threading.Barrier(len(jobs))
    problems: list[str] = []

    def run(job: Callable[[], list[str]]) -> None:
        barrier.wait()
        for _ in range(rounds):
            problems.extend(job())

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return problems


def _evaluations(release: str) -> Callable[[], list[str]]:
    mine = [(r, compile(e, rel), expected) for r, e, rel, expected in CASES if rel == release]

    def job() -> list[str]:
        wrong = []
        for resource, compiled, expected in mine * 20:
            try:
                got: Any = compiled.evaluate(resource)
            except FhirPathError as exc:
                got = str(exc)
            if got != expected:
                wrong.append(f"{release} {compiled.expression}: {got!r}")
        return wrong

    return job


@pytest.mark.parametrize("workers", [2, 6])
def test_r4_and_r5_evaluations_in_parallel_threads(workers: int) -> None:
    jobs = [_evaluations("R4" if i % 2 else "R5") for i in range(workers)]
    assert _in_threads(jobs, rounds=30) == []


def _notified_status(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """Says whether a Bundle carries a SubscriptionStatus: a type only the R5 model knows."""
    try:
        found = compile("entry.resource.ofType(SubscriptionStatus).exists()", ctx.release).evaluate(item.value)
    except FhirPathError as exc:
        found = [str(exc)]
    yield issue("information", "informational", f"status notification: {found}", item, "status-notification")


def test_one_validator_used_from_r4_and_r5_threads() -> None:
    extra = for_resources("status-notification", _notified_status, resource_types=["Bundle"])
    validator = Validator(rules=[extra])
    inputs = [(REPORT_R4, "R4"), (HEARTBEAT_R5, "R5"), (REPORT_R5, "R5")]
    alone = [validator.validate(r, fhir_version=release).issues for r, release in inputs]
    said = [[i.message for i in issues if i.rule == "status-notification"] for issues in alone]
    assert said == [[], ["status notification: [True]"], []]

    def job(index: int) -> Callable[[], list[str]]:
        def run() -> list[str]:
            resource, release = inputs[index]
            got = validator.validate(resource, fhir_version=release).issues
            return [] if got == alone[index] else [f"{resource['resourceType']} ({release}): {got}"]

        return run

    assert _in_threads([job(i % 3) for i in range(6)], rounds=25) == []
