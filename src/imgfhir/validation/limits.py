"""Bounds on what one validation reports: issue caps, echoed values, inputs that are not trees.

A 3 MB file of a million empty arrays is a million errors: without a cap, 41 s and 1.2 GB to
build and print them. The caps keep the report useful and the cost bounded:

* per resource, the first `IssueLimits.per_resource` issues are kept; the rest are counted and
  summarised by one issue (rule `issue-limit`) whose severity is the highest one suppressed, so that
  a capped outcome has the verdict of the full one;
* a validation that keeps producing issues is stopped once it has made `per_resource x stop_factor`
  of them (outside slice probes, whose issues are mostly discarded), so that time and memory stay
  bounded too; the issues found first are reported with the stop notice;
* per run (a `Validator`'s lifetime, or until `Validator.new_run()`), at most `per_run` issues in all;
* every message and location is cut to a readable length (a key or a string value of megabytes is
  echoed as its first characters and its length).

A Python dict given to the API may share or even contain itself; JSON never does. Walking such a
graph as a tree is exponential (or endless), so it is refused with one fatal issue, unless it only
shares a few sub-objects: then a tree copy of it is validated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from imgfhir.outcome import Issue, Severity

if TYPE_CHECKING:
    from imgfhir.validation.context import Context

RULE = "issue-limit"
_RANK: dict[str, int] = {"information": 0, "warning": 1, "error": 2, "fatal": 3}


@dataclass(frozen=True, slots=True)
class IssueLimits:
    """How much one validation (and one run) reports; None switches a cap off."""

    per_resource: int | None = 1000
    per_run: int | None = None  # the CLI sets one; a long-lived API validator would starve without new_run()
    stop_factor: int = 50  # a validation stops after per_resource x stop_factor issues
    message_chars: int = 2000  # a longer message or location is cut
    echoed_chars: int = 120  # a longer run of non-blank characters (a key, a value) is cut
    tree_nodes: int = 1_000_000  # a dict sharing sub-objects is copied only up to this many objects

    def __post_init__(self) -> None:
        for name in ("per_resource", "per_run"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"IssueLimits.{name} must be at least 1 or None, not {value}")
        if self.stop_factor < 1 or self.message_chars < 80 or self.echoed_chars < 20 or self.tree_nodes < 1:
            raise ValueError(f"issue limits out of range: {self}")


RUN_LIMITS = IssueLimits(per_run=100_000)  # `imgfhir validate`: one run, all its outcomes held until printed


class IssueFlood(BaseException):
    """Raised from `model.issue` when a validation has made too many issues (a BaseException: the rules'
    own ``except Exception`` must not swallow it); the validator catches it."""


@dataclass(slots=True)
class _Meter:
    ctx: Context
    stop_after: int
    keep: int
    made: int = 0
    first: list[Issue] = field(default_factory=list)
    worst: str = "information"


_METER: ContextVar[_Meter | None] = ContextVar("imgfhir_issue_meter", default=None)


def made(found: Issue) -> None:
    """Count an issue a rule made (called by `model.issue`); stop the validation past the limit."""
    m = _METER.get()
    if m is None or m.ctx.probing:
        return
    m.made += 1
    if len(m.first) < m.keep:
        m.first.append(found)
    if _RANK.get(found.severity, 0) > _RANK[m.worst]:
        m.worst = found.severity
    if m.made > m.stop_after:
        raise IssueFlood


@contextmanager
def metered(ctx: Context, limits: IssueLimits) -> Iterator[_Meter | None]:
    """Count the issues made while validating with `ctx` (no meter when there is no per-resource cap)."""
    if limits.per_resource is None:
        yield None
        return
    m = _Meter(ctx, limits.per_resource * limits.stop_factor, limits.per_resource)
    token = _METER.set(m)
    try:
        yield m
    finally:
        _METER.reset(token)


def stop_notice(m: _Meter) -> Issue:
    """Why a stopped validation reports only the issues it made first (with the highest severity made)."""
    message = (
        f"validation stopped after {m.made} issues (over {m.stop_after}: IssueLimits.per_resource x "
        f"stop_factor); the first ones found are reported"
    )
    return Issue(_severity(m.worst), "too-costly", message, rule=RULE)


def capped(issues: list[Issue], keep: int | None, why: str) -> list[Issue]:
    """The first `keep` issues, and one issue for the rest (their number, their highest severity)."""
    if keep is None or len(issues) <= keep:
        return issues
    notices = [i for i in issues if i.rule == RULE]  # an earlier cap's own count stays
    others = [i for i in issues if i.rule != RULE] if notices else issues
    if len(others) <= keep:
        return issues
    rest = others[keep:]
    worst = max(rest, key=lambda i: _RANK.get(i.severity, 0)).severity
    counts = ", ".join(f"{n} {s}" for s, n in _counts(rest))
    message = f"{len(rest)} more issues not reported ({counts}): over the limit of {keep} {why}"
    return [*others[:keep], *notices, Issue(_severity(worst), "too-costly", message, rule=RULE)]


def _counts(issues: list[Issue]) -> list[tuple[str, int]]:
    found: dict[str, int] = {}
    for i in issues:
        found[i.severity] = found.get(i.severity, 0) + 1
    return sorted(found.items(), key=lambda kv: -_RANK.get(kv[0], 0))


def _severity(name: str) -> Severity:
    return "error" if name == "fatal" else name  # type: ignore[return-value]


def shortened(issues: list[Issue], limits: IssueLimits) -> list[Issue]:
    """Issues whose message or location echo a huge key or value, cut to a readable length."""
    out = issues
    for n, i in enumerate(issues):
        message = _cut(i.message, limits)
        expression = _cut(i.expression, limits) if i.expression is not None else None
        if message is not i.message or expression is not i.expression:
            if out is issues:
                out = list(issues)
            out[n] = replace(i, message=message, expression=expression)
    return out


@lru_cache(maxsize=8)
def _long_run(chars: int) -> re.Pattern[str]:
    return re.compile(rf"\S{{{chars},}}")


def _cut(text: str, limits: IssueLimits) -> str:
    if len(text) <= limits.echoed_chars:
        return text
    pattern = _long_run(limits.echoed_chars + 1)
    if pattern.search(text) is None and len(text) <= limits.message_chars:
        return text
    keep = limits.echoed_chars - 20
    cut = pattern.sub(lambda m: f"{m.group(0)[:keep]}...({len(m.group(0))} characters)", text)
    if len(cut) > limits.message_chars:
        cut = f"{cut[: limits.message_chars]}...({len(text)} characters in all)"
    return cut


# -- inputs that are not trees -------------------------------------------------------------------------------------


def shares_objects(value: Any) -> bool:
    """Does the dict hold one dict or list twice (shared, or cyclic)? One cheap pass over the containers."""
    seen: set[int] = set()
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        key = id(node)
        if key in seen:
            return True
        seen.add(key)
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append(child)
    return False


def tree_problem(value: Any, limit: int) -> str | None:
    """Why a dict that shares objects cannot be validated as JSON: a cycle, or more than `limit`
    objects once each shared one is counted where it occurs. None: a tree copy is cheap."""
    size: dict[int, int] = {}  # id → objects in the expanded subtree, once finished
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = [c for c in (node.values() if isinstance(node, dict) else node) if isinstance(c, dict | list)]
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            if size[key] > limit:
                return f"shares objects so that it stands for more than {limit} JSON objects and arrays"
            continue
        if key in size:
            continue
        if key in on_path:
            return "contains itself (a cycle of dicts or lists)"
        on_path.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                return "contains itself (a cycle of dicts or lists)"
            if id(child) not in size:
                stack.append((child, False))
    return None


def tree_copy(value: dict[str, Any]) -> dict[str, Any]:
    """A copy in which every shared object is copied where it occurs (iterative: JSON may nest 1,024 deep)."""
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        for key, child in source.items() if isinstance(source, dict) else enumerate(source):
            new: Any = {} if isinstance(child, dict) else [] if isinstance(child, list) else child
            if isinstance(child, dict | list):
                stack.append((child, new))
            if isinstance(target, dict):
                target[key] = new
            else:
                target.append(new)
    return root
