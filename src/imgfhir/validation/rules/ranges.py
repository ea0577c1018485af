"""minValue[x] / maxValue[x]: inclusive bounds on numbers, dates, times and Quantities.

Numbers compare as decimals. Dates and times compare at the precision both share: `2019` is
neither before nor after `2019-06-01`, so a bound is only broken where the shared precision says
so, and a time-zone offset on one side only leaves the wall-clock reading. Quantities follow the
reference validator (InstanceValidator.checkQuantity): the same code compares the values; other
UCUM codes convert the value to the bound's unit first (90 min is over a maximum of 1 h), and a
unit that does not convert breaks the bound; a missing system or code, or codes of another
system, leave the bound unchecked with a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from imgfhir import ucum
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
    if item.type in _QUANTITY_LIKE:
        if item.type in _QUANTITY and isinstance(item.value, dict):
            for bound, side in ((low, "min"), (high, "max")):
                if bound is not None:
                    yield from _quantity_bound(item, bound, side)
        return
    for bound, sign, word in ((low, 1, "minimum"), (high, -1, "maximum")):
        if bound is None:
            continue
        kind, limit = bound
        order = compare_to_bound(kind, item.value, limit)
        if order is not None and order * sign < 0:
            message = f"value {_show(item.value)} is {'below' if sign > 0 else 'above'} the {word} {_show(limit)}"
            yield issue("error", "value", message, item, RULE)


# The reference checks bounds on values of type Quantity only (SimpleQuantity and MoneyQuantity are
# profiles of it, type code Quantity): InstanceValidator.checkChildByDefinition calls checkQuantity
# for type.equals("Quantity"), so a bound on an Age, Duration, Distance or Count is not checked there.
_QUANTITY = frozenset({"Quantity", "SimpleQuantity", "MoneyQuantity"})
_QUANTITY_LIKE = _QUANTITY | {"Age", "Duration", "Distance", "Count"}
_UCUM = "http://unitsofmeasure.org"


def _quantity_bound(item: Item, bound: tuple[str, Any], side: str) -> Iterator[Issue]:
    """One bound on a Quantity, step by step as InstanceValidator.checkQuantity: each missing piece
    stops the check with a warning (TYPE_SPECIFIC_CHECKS_DT_QTY_MIN_* / _MAX_*)."""
    kind, limit = bound
    word = "minimum" if side == "min" else "maximum"
    value: dict[str, Any] = item.value
    stated = _decimal(value.get("value"))
    if stated is None:  # ..._VALUE_NO_VALUE
        yield _warn(item, f"the quantity has no value, so the {word} cannot be checked")
        return
    if kind != "Quantity" or not isinstance(limit, dict):  # TYPE_SPECIFIC_CHECKS_DT_QTY_NO_QTY
        yield issue("error", "invalid", f"the {side}Value{kind} of a Quantity must be a Quantity", item, RULE)
        return
    system, code = value.get("system"), value.get("code")
    missing = _unstated(limit, system, code, side)
    if missing is not None:
        yield _warn(item, f"{missing}, so the {word} cannot be checked")
        return
    bound_value = _decimal(limit.get("value"))
    if bound_value is None:  # ..._MIN_MIN_NO_VALUE: an error, the profile's bound is unusable
        yield issue("error", "invalid", f"the {side}Value has no value, so the {word} cannot be checked", item, RULE)
        return
    order = 1 if side == "min" else -1
    if code == limit.get("code"):  # ..._VALUE_WRONG: straight comparison
        if (stated - bound_value) * order < 0:
            yield _broken(item, f"{stated} {code}", f"{bound_value} {code}", side)
        return
    if system != _UCUM:  # ..._CODE_MISMATCH
        yield _warn(item, f"the {side}Value's code {limit.get('code')} differs from the code {code}: not checked")
        return
    converted = ucum.convert(stated, str(code), str(limit.get("code")))
    if converted is None:  # ..._MIN_NO_CONVERT: an error in the reference ("minimum value is not valid")
        message = f"{stated} {code} cannot be converted to the {side}Value's unit {limit.get('code')} (UCUM)"
        yield issue("error", "invalid", message, item, RULE)
    elif (converted - bound_value) * order < 0:  # ..._VALUE_WRONG_UCUM
        shown = f"{stated} {code} ({converted.normalize():f} {limit.get('code')} after UCUM conversion)"
        yield _broken(item, shown, f"{bound_value} {limit.get('code')}", side)


def _unstated(limit: dict[str, Any], system: Any, code: Any, side: str) -> str | None:
    """What the comparison lacks, in the reference's order (MIN_NO_SYSTEM, VALUE_NO_SYSTEM,
    SYSTEM_MISMATCH, MIN_NO_CODE, VALUE_NO_CODE); None when all is there."""
    if not limit.get("system"):
        return f"the {side}Value has no system"
    if not system:
        return "the quantity has no system"
    if system != limit.get("system"):
        return f"the quantity's system {system} differs from the {side}Value's {limit.get('system')}"
    if not limit.get("code"):
        return f"the {side}Value has no code"
    if not code:
        return "the quantity has no code"
    return None


def _broken(item: Item, stated: str, limit: str, side: str) -> Issue:
    relation = "below the minimum" if side == "min" else "above the maximum"
    return issue("error", "invalid", f"value {stated} is {relation} {limit}", item, RULE)


def _warn(item: Item, message: str) -> Issue:
    return issue("warning", "invalid", message, item, RULE)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


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
