"""fixed[x] (exact) and pattern[x] (partial) values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule


def json_of(item: Item) -> Any:
    """The item as FHIR JSON data, merging a primitive's value and its `_x` extras like the spec's model."""
    return item.value


def matches_pattern(pattern: Any, value: Any) -> bool:
    """Every property the pattern states is present with that value; arrays: each pattern entry matches one."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(k in value and matches_pattern(v, value[k]) for k, v in pattern.items())
    if isinstance(pattern, list):
        values = value if isinstance(value, list) else [value]
        return all(any(matches_pattern(p, v) for v in values) for p in pattern)
    return equal_values(pattern, value)


def equal_values(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return bool(a == b)


def matches_fixed(fixed: Any, value: Any) -> bool:
    if isinstance(fixed, dict):
        if not isinstance(value, dict):
            return False
        stripped = {k: v for k, v in value.items() if k != "id" and k != "extension"}
        return set(fixed) == set(stripped) and all(matches_fixed(v, stripped[k]) for k, v in fixed.items())
    if isinstance(fixed, list):
        return isinstance(value, list) and len(fixed) == len(value) and all(map(matches_fixed, fixed, value))
    return equal_values(fixed, value)


@rule("fixed", applies=lambda e: e.fixed is not None)
def fixed_value(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    assert element.fixed is not None
    key, expected = element.fixed
    if item.value is None:
        return  # a primitive with extensions only: cardinality/ele rules decide
    if not matches_fixed(expected, item.value):
        message = f"value must be exactly {_show(expected)} ({key}), found {_show(item.value)}"
        yield issue("error", "value", message, item, "fixed")


@rule("pattern", applies=lambda e: e.pattern is not None)
def pattern_value(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    assert element.pattern is not None
    key, expected = element.pattern
    if item.value is None:
        return
    if not matches_pattern(expected, item.value):
        message = f"value must match the pattern {_show(expected)} ({key}), found {_show(item.value)}"
        yield issue("error", "value", message, item, "pattern")


def _show(value: Any) -> str:
    import json

    # the stdlib encoder: instance values may be anything JSON allows, e.g. integers beyond 64 bits
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= 200 else text[:197] + "..."
