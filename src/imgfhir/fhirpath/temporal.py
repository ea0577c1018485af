"""Date, DateTime and Time arithmetic and comparison by FHIRPath's rules, on the literal text.

fhirpathpy converts date-times to UTC when adding durations (losing the written offset) and compares
values of different precision or with/without time zones as if they were complete. Here a value is a
list of components up to its precision plus its offset; results keep the input's precision and offset.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_DOWN, Decimal
from typing import NamedTuple

from dateutil.relativedelta import relativedelta  # type: ignore[import-untyped]

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2}))?)?"
    r"(?:T(?:(?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<ms>\d+))?)?)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?$"
)
_TIME_RE = re.compile(
    r"^T?(?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<ms>\d+))?)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?$"
)
_FIELDS = ("y", "mo", "d", "h", "mi", "s", "ms")
_TIME_FIELDS = ("h", "mi", "s", "ms")

_UNIT_NAMES = {
    "year": "year", "years": "year", "month": "month", "months": "month", "week": "week", "weeks": "week",
    "day": "day", "days": "day", "hour": "hour", "hours": "hour", "minute": "minute", "minutes": "minute",
    "second": "second", "seconds": "second", "millisecond": "millisecond", "milliseconds": "millisecond",
    "'wk'": "week", "'d'": "day", "'h'": "hour", "'min'": "minute", "'s'": "second", "'ms'": "millisecond",
    "'year'": "year", "'month'": "month", "'week'": "week", "'day'": "day", "'hour'": "hour",
    "'minute'": "minute", "'second'": "second", "'millisecond'": "millisecond",
}  # fmt: skip
_SECONDS: dict[str, Decimal] = {
    "week": Decimal(604800), "day": Decimal(86400), "hour": Decimal(3600), "minute": Decimal(60),
    "second": Decimal(1), "millisecond": Decimal("0.001"),
}  # fmt: skip
_FIELD_UNIT = {"y": "year", "mo": "month", "d": "day", "h": "hour", "mi": "minute", "s": "second", "ms": "millisecond"}


class TemporalError(ValueError):
    """Date/time arithmetic with a unit that is not a calendar or definite time unit."""


class Parts(NamedTuple):
    fields: tuple[str, ...]  # the components present, in order (``("y", "mo", "d")``)
    values: dict[str, str]
    tz: str | None
    is_time: bool


def parse(text: str, is_time: bool = False) -> Parts | None:
    m = (_TIME_RE if is_time else _DATE_RE).match(text)
    if not m:
        return None
    names = _TIME_FIELDS if is_time else _FIELDS
    fields = tuple(f for f in names if m[f] is not None)
    return Parts(fields, {f: m[f] for f in fields}, m["tz"], is_time)


def _offset(tz: str | None) -> timezone | None:
    if tz is None:
        return None
    if tz == "Z":
        return UTC
    sign = 1 if tz[0] == "+" else -1
    return timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))


def _to_datetime(p: Parts) -> datetime:
    v = p.values
    micro = int((v.get("ms") or "0")[:6].ljust(6, "0"))
    if p.is_time:
        return datetime(2000, 1, 1, int(v["h"]), int(v.get("mi", 0)), int(v.get("s", 0)), micro)
    return datetime(
        int(v["y"]), int(v.get("mo", 1)), int(v.get("d", 1)), int(v.get("h", 0)), int(v.get("mi", 0)),
        int(v.get("s", 0)), micro, tzinfo=_offset(p.tz),
    )  # fmt: skip


def _format(dt: datetime, p: Parts) -> str:
    out = []
    for f in p.fields:
        if f == "y":
            out.append(f"{dt.year:04d}")
        elif f == "mo":
            out.append(f"-{dt.month:02d}")
        elif f == "d":
            out.append(f"-{dt.day:02d}")
        elif f == "h":
            out.append(("T" if not p.is_time else "") + f"{dt.hour:02d}")
        elif f == "mi":
            out.append(f":{dt.minute:02d}")
        elif f == "s":
            out.append(f":{dt.second:02d}")
        elif f == "ms":
            out.append(f".{dt.microsecond // 1000:03d}")
    return "".join(out) + (p.tz or "" if "h" in p.fields else "")


def add(text: str, is_time: bool, amount: Decimal | int, unit: str | None, sign: int) -> str:
    """`text` plus (sign=1) or minus (sign=-1) `amount` `unit`, at the precision of `text`."""
    p = parse(text, is_time)
    if p is None:
        raise TemporalError(f"not a date/time: {text}")
    name = _UNIT_NAMES.get(unit or "")
    if name is None:
        raise TemporalError(f"{unit} is not a calendar duration usable in date/time arithmetic")
    finest = _FIELD_UNIT[p.fields[-1]]
    value = Decimal(amount) * sign
    if name in ("year", "month") or (finest in ("year", "month") and name in ("week", "day")):
        if finest == "year" and name != "year":
            value = value / 12 if name == "month" else value * _SECONDS[name] / 86400 / 365
            name = "year"
        elif finest == "month" and name in ("week", "day"):
            value = value * _SECONDS[name] / 86400 / 30
            name = "month"
        n = int(value.to_integral_value(rounding=ROUND_DOWN))
        delta: relativedelta | timedelta = relativedelta(years=n) if name == "year" else relativedelta(months=n)
    else:
        if finest in ("year", "month"):
            raise TemporalError(f"cannot add {unit} to {text}")
        seconds = value * _SECONDS[name]
        if name not in ("second", "millisecond"):
            seconds = Decimal(int(value.to_integral_value(rounding=ROUND_DOWN))) * _SECONDS[name]
        finest_seconds = Decimal(_SECONDS["day" if finest == "day" else finest])
        if finest != "millisecond":
            seconds = (seconds / finest_seconds).to_integral_value(rounding=ROUND_DOWN) * finest_seconds
        delta = timedelta(seconds=float(seconds))
    result = _to_datetime(p) + delta
    return _format(result, p)


def _components(p: Parts, utc: bool) -> list[int]:
    dt = _to_datetime(p)
    if utc and p.tz is not None and not p.is_time:
        dt = dt.astimezone(UTC)
    full = [dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second * 1000 + dt.microsecond // 1000]
    return full[3:] if p.is_time else full


def compare(a_text: str, b_text: str, is_time: bool) -> int | None:
    """-1/0/1, or None when the values are equal up to the shorter precision but differ in precision."""
    a, b = parse(a_text, is_time), parse(b_text, is_time)
    if a is None or b is None:
        raise TemporalError(f"cannot compare {a_text} with {b_text}")
    # seconds and milliseconds are one precision (10:00:00 = 10:00:00.000)
    levels = ("h", "mi", "s") if is_time else ("y", "mo", "d", "h", "mi", "s")
    la = len([f for f in a.fields if f in levels])
    lb = len([f for f in b.fields if f in levels])
    has_time = (not is_time) and "h" in a.fields and "h" in b.fields
    if has_time and (a.tz is None) != (b.tz is None):
        return None
    utc = has_time and a.tz is not None and b.tz is not None
    ca, cb = _components(a, utc), _components(b, utc)
    for x, y in zip(ca[: min(la, lb)], cb[: min(la, lb)], strict=True):
        if x != y:
            return -1 if x < y else 1
    return 0 if la == lb else None
