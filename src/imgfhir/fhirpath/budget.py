"""Step and time budgets of FHIRPath evaluation: a profile's expression must not stall validation.

An expression comes from whoever wrote the profile (`--package`), so it may be hostile or simply
careless: `descendants().select(%resource.descendants())` is quadratic, chained `combine()` grows
geometrically, a regex may backtrack catastrophically. Every evaluation gets a `Meter`:

* each evaluated AST node costs one step plus one per item of its result, so the work and the
  memory an evaluation can build are bounded by `Budget.steps`;
* functions whose cost is not in the size of their result pay up front: the set functions and
  membership operators that compare every item with every other (`exclude`, `intersect`, `in`, `~`,
  ...) pay the product of their operand sizes, string builders (`&`, `replace`, `join`, ...) the
  length of what they build, calls into the validator (`resolve()`, `memberOf()`, `conformsTo()`) a
  fixed price;
* the clock is read as steps are charged, and regexes run with the time left as their timeout;
* an expression longer than `Budget.expression_length` is refused at compile time (the parser alone
  needs about a minute for a megabyte).

A caller may also open a `scope` (the validator does, per resource): its deadline is shared by every
evaluation inside it, so a constraint evaluated at each of many values cannot add up to hours.
Exceeding any limit raises `BudgetExceeded`, a `FhirPathError`, with phase ``"budget"``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from imgfhir.fhirpath.errors import FhirPathError


@dataclass(frozen=True, slots=True)
class Budget:
    """Limits of FHIRPath evaluation. The defaults leave the core and IG invariants ~100x headroom
    on the imaging IGs' examples (the largest evaluation there takes a few thousand steps)."""

    steps: int = 1_000_000  # per evaluation: AST nodes evaluated + items they produce + up-front charges
    seconds: float = 2.0  # per evaluation, regex matching included
    total_seconds: float = 20.0  # per `scope` (the validator opens one per resource)
    expression_length: int = 10_000  # characters, checked before parsing

    def __post_init__(self) -> None:
        if self.steps < 1 or self.seconds <= 0 or self.total_seconds <= 0 or self.expression_length < 1:
            raise ValueError(f"budget limits must be positive: {self}")


DEFAULT_BUDGET = Budget()


class BudgetExceeded(FhirPathError):
    """An evaluation (or a compilation) went over its `Budget`."""

    def __init__(self, reason: str, expression: str) -> None:
        super().__init__(f"not evaluated: budget exceeded ({reason})", expression, "budget")


class Exhausted(BaseException):
    """Raised inside fhirpathpy when the meter runs out: a BaseException, so that fhirpathpy's and
    our functions' ``except Exception`` cannot swallow it; the engine turns it into `BudgetExceeded`."""


@dataclass(slots=True)
class _Scope:
    budget: Budget
    deadline: float
    exhausted: str | None = None  # why an earlier evaluation in the scope stopped, if it did


_SCOPE: ContextVar[_Scope | None] = ContextVar("imgfhir_fhirpath_budget_scope", default=None)
_CLOCK_EVERY = 512  # steps between two reads of the clock


class Meter:
    """The budget of one evaluation; lives in the evaluation's context dict (so threads never share one)."""

    __slots__ = ("budget", "deadline", "left", "until_clock")

    def __init__(self, budget: Budget, deadline: float | None = None) -> None:
        self.budget = budget
        own = time.monotonic() + budget.seconds
        self.deadline = own if deadline is None else min(own, deadline)
        self.left = budget.steps
        self.until_clock = _CLOCK_EVERY

    def charge(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise Exhausted(f"more than {self.budget.steps} steps")
        self.until_clock -= steps
        if self.until_clock <= 0:
            self.until_clock = _CLOCK_EVERY
            self.check_clock()

    def check_clock(self) -> None:
        if time.monotonic() > self.deadline:
            raise Exhausted(f"over {self.budget.seconds:g} s")

    def seconds_left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Exhausted(f"over {self.budget.seconds:g} s")
        return left


def current_budget() -> Budget:
    """The budget of the innermost `scope`, else `DEFAULT_BUDGET`."""
    active = _SCOPE.get()
    return active.budget if active is not None else DEFAULT_BUDGET


@contextmanager
def scope(budget: Budget | None = None) -> Iterator[None]:
    """Evaluations inside share one deadline of `budget.total_seconds` and use `budget` as their own."""
    chosen = budget or current_budget()
    token = _SCOPE.set(_Scope(chosen, time.monotonic() + chosen.total_seconds))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def meter(budget: Budget | None, expression: str) -> Meter:
    """A meter for one evaluation: `budget`, else the scope's; inside a spent scope, none is left."""
    active = _SCOPE.get()
    if active is not None and active.exhausted is not None:
        raise BudgetExceeded(f"{active.exhausted} in an earlier evaluation", expression)
    if active is None:
        return Meter(budget or DEFAULT_BUDGET)
    if time.monotonic() > active.deadline:
        active.exhausted = f"over {active.budget.total_seconds:g} s for the resource"
        raise BudgetExceeded(active.exhausted, expression)
    return Meter(budget or active.budget, active.deadline)


def note_exhausted() -> None:
    """Past the scope's own deadline, later evaluations in the scope stop at once."""
    active = _SCOPE.get()
    if active is not None and time.monotonic() > active.deadline:
        active.exhausted = f"over {active.budget.total_seconds:g} s for the resource"


def check_length(expression: str) -> None:
    limit = current_budget().expression_length
    if len(expression) > limit:
        raise BudgetExceeded(f"the expression has {len(expression)} characters, over {limit}", expression)


# -- charging inside fhirpathpy ------------------------------------------------------------------------------------


def metered_eval(original: Callable[..., Any]) -> Callable[..., Any]:
    """fhirpathpy's ``do_eval``, charging the context's meter one step per node and one per result item;
    without a meter (fhirpathpy used directly) it is the original."""

    def do_eval(ctx: dict[str, Any], parent_data: Any, node: dict[str, Any]) -> Any:
        result = original(ctx, parent_data, node)
        m: Meter | None = ctx.get("imgfhir_meter")
        if m is not None:  # Meter.charge inlined: this runs for every node of every evaluation
            n = 1 + len(result) if type(result) is list else 1
            m.left -= n
            m.until_clock -= n
            if m.left < 0 or m.until_clock <= 0:
                m.charge(0)
        return result

    return do_eval


def _ctx_meter(ctx: dict[str, Any]) -> Meter | None:
    found: Meter | None = ctx.get("imgfhir_meter") if isinstance(ctx, dict) else None
    return found


def _size(value: Any) -> int:
    return len(value) if isinstance(value, list) else 1


def product_cost(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn(ctx, a, b)` compares every item of `a` with every item of `b`: charge |a| x |b| first."""

    def charged(ctx: dict[str, Any], a: Any, b: Any = None, *rest: Any) -> Any:
        m = _ctx_meter(ctx)
        if m is not None:
            m.charge(_size(a) * _size(b))
        return fn(ctx, a, b, *rest)

    return charged


def output_cost(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` builds strings: charge one step per 16 characters of its result (`&` in `aggregate` doubles)."""

    def charged(ctx: dict[str, Any], *args: Any) -> Any:
        result = fn(ctx, *args)
        m = _ctx_meter(ctx)
        if m is not None:
            items = result if isinstance(result, list) else [result]
            m.charge(sum(len(r) >> 4 for r in items if isinstance(r, str)))
        return result

    return charged


CALL_COST = 100  # steps per resolve() / memberOf() / conformsTo() item: each may run a validation


def call_cost(fn: Callable[..., Any]) -> Callable[..., Any]:
    def charged(ctx: dict[str, Any], coll: Any, *args: Any) -> Any:
        m = _ctx_meter(ctx)
        if m is not None:
            m.charge(CALL_COST * _size(coll))
        return fn(ctx, coll, *args)

    return charged


PRODUCT = ("exclude", "intersect", "subsetOf", "supersetOf", "inOp", "containsOp", "~", "!~")
OUTPUT = ("&", "+", "replace", "replaceMatches", "join", "encode", "escape", "unescape")
CALLS = ("resolve", "memberOf", "conformsTo")


def charged_table(table: dict[str, dict[str, Any]], registry: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`table` (imgfhir's invocation table, over fhirpathpy's `registry`) with the charges above."""
    out = dict(table)
    for names, wrap in ((PRODUCT, product_cost), (OUTPUT, output_cost), (CALLS, call_cost)):
        for name in names:
            entry = table.get(name) or registry.get(name)
            if entry is not None:
                out[name] = {**entry, "fn": wrap(entry["fn"])}
    return out
