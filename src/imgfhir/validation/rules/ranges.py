"""minValue[x] / maxValue[x]: inclusive bounds on numbers, dates, times and Quantities.

Numbers compare as decimals. Dates and times compare at the precision both share: `2019` is
neither before nor after `2019-06-01`, so a bound is only broken where the shared precision says
so, and a time-zone offset on one side only leaves the wall-clock reading. Quantities compare
when they state the same unit (UCUM code, else unit text); otherwise the bound is reported as
not checked, since no unit conversion is done offline.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule

RULE = "value-range"


def value_bounds(element: ElementPlan) -> tuple[tuple[str, Any] | None, tuple[str, Any] | None]:
    """(type suffix, value) of the element's minValue[x] and maxValue[x] (`("Quantity", {...})`),
    read once per element."""
    found: tuple[tuple[str, Any] | None, tuple[str, Any] | None] | None = element.memo.get("value-bounds")
    if found is None:
        low = high = None
        for key, value in element.ed.items():
            if key.startswith("minValue") and len(key) > 8:
                low = (key[8:], value)
            elif key.startswith("maxValue") and len(key) > 8:
                high = (key[8:], value)
        found = element.memo["value-bounds"] = (low, high)
    return found


def _bounded(element: ElementPlan) -> bool:
    low, high = value_bounds(element)
    return low is not None or high is not None


@rule(RULE, applies=_bounded)
def value_range(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    if item.value is None:
        return
    low, high = value_bounds(element)
    for bound, sign, word in ((low, 1, "minimum"), (high, -1, "maximum")):
        if bound is None:
            continue
        kind, limit = bound
        order = compare_to_bound(kind, item.value, limit)
        if order is None:
            value = item.value
            in_other_units = (
                kind == "Quantity"
                and isinstance(value, dict)
                and isinstance(limit, dict)
                and "value" in value
                and not _same_unit(value, limit)
            )
            if in_other_units:
                message = f"the {word} {_show(limit)} is in other units than {_show(value)}: not checked"
                yield issue("information", "informational", message, item, RULE)
            continue
        if order * sign < 0:
            message = f"value {_show(item.value)} is {'below' if sign > 0 else 'above'} the {word} {_show(limit)}"
            yield issue("error", "value", message, item, RULE)


def compare_to_bound(kind: str, value: Any, limit: Any) -> int | None:
    """-1, 0 or 1 as value is below, at or above limit; None where they cannot be compared."""
    if kind == "Quantity":
        if not isinstance(value, dict) or not isinstance(limit, dict) or not _same_unit(value, limit):
            return None
        return _compare_numbers(value.get("value"), limit.get("value"))
    if kind in ("Date", "DateTime", "Instant", "Time"):
        return _compare_temporal(value, limit) if isinstance(value, str) and isinstance(limit, str) else None
    return _compare_numbers(value, limit)


def _same_unit(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.get("code") is not None and b.get("code") is not None:
        return bool(a.get("code") == b.get("code") and a.get("system") == b.get("system"))
    return a.get("unit") is not None and a.get("unit") == b.get("unit")


def _compare_numbers(a: Any, b: Any) -> int | None:
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    try:
        x, y = Decimal(str(a)), Decimal(str(b))
    except (InvalidOperation, ValueError):
        return None
    return (x > y) - (x < y)


def _compare_temporal(a: str, b: str) -> int | None:
    full_a, full_b = _instant(a), _instant(b)
    if full_a is not None and full_b is not None:
        if (full_a.tzinfo is None) != (full_b.tzinfo is None):  # one without an offset: wall clock
            full_a, full_b = full_a.replace(tzinfo=None), full_b.replace(tzinfo=None)
        return (full_a > full_b) - (full_a < full_b)
    # a date (or a bare time) on either side: the characters both state, up to the day
    shared = min(len(a), len(b)) if ":" in a[:3] else min(len(a), len(b), 10)
    x, y = a[:shared], b[:shared]
    return (x > y) - (x < y)


def _instant(text: str) -> datetime | None:
    """A date with a time of day as a datetime; None for a date alone or a bare time."""
    if len(text) <= 10:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _show(value: Any) -> str:
    if isinstance(value, dict):
        unit = value.get("code") or value.get("unit") or ""
        return f"{value.get('value')} {unit}".strip()
    return str(value)
