"""Hostile FHIRPath is bounded: every attack is refused with BudgetExceeded, quickly.

The attacks would run for minutes (or exhaust memory) without the budget; the tests give small
budgets so that they stay fast, and assert on the error, not on timing (bench/ measures time).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from imgfhir.fhirpath import FhirPathError, compile
from imgfhir.fhirpath.budget import DEFAULT_BUDGET, Budget, BudgetExceeded, scope

CORE = Path(__file__).resolve().parent.parent / "fixtures" / "core-examples" / "r4"
SMALL = Budget(steps=20_000, seconds=0.5)


def _patient(family: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = orjson.loads((CORE / "Patient-example.json").read_bytes())
    if family is not None:
        res["name"] = [{"family": family}]
    return res


def _exceeded(expression: str, resource: dict[str, Any], limits: Budget = SMALL) -> BudgetExceeded:
    with pytest.raises(BudgetExceeded) as info:
        compile(expression).evaluate(resource, limits=limits)
    return info.value


@pytest.mark.parametrize(
    "expression",
    [
        "name.family.matches('^(a|aa)+$')",  # catastrophic backtracking: exponential in the a's
        "name.family.matchesFull('(a|aa)+')",
        "name.family.replaceMatches('^(a|aa)+$', 'x')",
    ],
)
def test_a_backtracking_regex_runs_out_of_time(expression: str) -> None:
    error = _exceeded(expression, _patient("a" * 60 + "!"), Budget(seconds=0.05))
    assert error.phase == "budget"
    assert "not evaluated: budget exceeded" in str(error) and "ran out of time" in str(error)


def test_the_same_regexes_answer_on_short_input() -> None:
    resource = _patient("aaaa")
    assert compile("name.family.matches('^(a|aa)+$')").evaluate(resource) == [True]
    assert compile("name.family.replaceMatches('(a)a', '$1b')").evaluate(resource) == ["abab"]


@pytest.mark.parametrize(
    "expression",
    [
        "descendants().select(%resource.descendants())",  # quadratic in the resource
        "descendants().select(%resource.descendants()).select(%resource.descendants())",  # cubic
        "descendants().combine(descendants()).select(%resource.descendants().combine(%resource.descendants()))",
        "descendants().aggregate($total & $total, 'ab')",  # a string doubled per item
        "(1 | 2 | 3).repeat($this + 1)",  # never converges: every round adds an item
    ],
)
def test_runaway_evaluations_are_stopped_by_steps(expression: str) -> None:
    start = time.monotonic()
    error = _exceeded(expression, _patient())
    assert "more than 20000 steps" in str(error)
    assert time.monotonic() - start < DEFAULT_BUDGET.seconds  # stopped by steps, well before the clock


@pytest.mark.parametrize(
    "expression",
    [
        "descendants().exclude(%resource.descendants())",  # |a| x |b| comparisons in one call
        "descendants().intersect(%resource.descendants())",
        "descendants().subsetOf(%resource.descendants())",
        "descendants() ~ %resource.descendants()",
    ],
)
def test_quadratic_functions_pay_before_they_run(expression: str) -> None:
    resource = _patient()  # 99 descendants: ~200 steps to build both operands, ~9,800 to compare them
    error = _exceeded(expression, resource, Budget(steps=5_000))
    assert "more than 5000 steps" in str(error)
    compiled = compile(expression)
    assert compiled.evaluate(resource, limits=Budget(steps=20_000)) == compiled.evaluate(resource)  # near miss


def test_an_evaluation_within_budget_is_unchanged() -> None:
    resource = _patient()
    full = compile("descendants().count()").evaluate(resource)
    assert full == compile("descendants().count()").evaluate(resource, limits=SMALL)
    assert full[0] > 50


def test_a_huge_expression_is_refused_before_parsing() -> None:
    expression = "name.exists() and " * 60_000 + "true"  # ~1 MB: the parser alone would need minutes
    with pytest.raises(BudgetExceeded) as info:
        compile(expression)
    assert "over 10000" in str(info.value)
    assert len(str(info.value)) < 500  # the expression is not echoed whole


def test_a_spent_scope_stops_later_evaluations_at_once() -> None:
    resource = _patient()
    with scope(Budget(total_seconds=0.05, seconds=1.0)):
        with pytest.raises(BudgetExceeded):
            compile("descendants().select(%resource.descendants()).select(descendants())").evaluate(resource)
        with pytest.raises(BudgetExceeded, match=r"earlier evaluation|for the resource"):
            compile("name.exists()").evaluate(resource)
    assert compile("name.exists()").evaluate(resource) == [True]  # outside the scope, a fresh budget


def test_budget_errors_are_fhirpath_errors() -> None:
    assert issubclass(BudgetExceeded, FhirPathError)
    with pytest.raises(ValueError, match="positive"):
        Budget(steps=0)
