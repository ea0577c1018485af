"""A small UCUM subset for FHIRPath quantity comparison and arithmetic (fhirpathpy knows only a few units).

A unit string (``'mg'``, ``'g/m'``, ``'m2'``, ``'[lb_av]'``, ``week``) maps to a factor to SI-like base
units and a dimension vector. Unknown units return None so callers can fall back to fhirpathpy.
Calendar durations ``year``/``month`` (no quotes) are not definite and are kept out of conversions.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple

Dims = tuple[tuple[str, int], ...]


class Canonical(NamedTuple):
    factor: Decimal
    dims: Dims


_D = Decimal
_BASE: dict[str, tuple[Decimal, str]] = {
    "m": (_D(1), "L"),
    "g": (_D(1), "M"),
    "s": (_D(1), "T"),
    "K": (_D(1), "Θ"),
    "mol": (_D(1), "N"),
    "L": (_D("0.001"), "L3"),
    "l": (_D("0.001"), "L3"),
    "min": (_D(60), "T"),
    "h": (_D(3600), "T"),
    "d": (_D(86400), "T"),
    "wk": (_D(604800), "T"),
    "mo": (_D("2629800"), "T"),  # UCUM mean Julian month
    "a": (_D("31557600"), "T"),  # UCUM mean Julian year
    "[lb_av]": (_D("453.59237"), "M"),
    "[oz_av]": (_D("28.349523125"), "M"),
    "[in_i]": (_D("0.0254"), "L"),
    "[ft_i]": (_D("0.3048"), "L"),
    "[mi_i]": (_D("1609.344"), "L"),
    "[degF]": (_D(5) / _D(9), "Θ"),
    "Cel": (_D(1), "Θ"),
    "[iU]": (_D(1), "IU"),
    "U": (_D(1), "U"),
    "eq": (_D(1), "N"),
    "%": (_D("0.01"), ""),
    "1": (_D(1), ""),
}
_PREFIXES: dict[str, Decimal] = {
    "k": _D(1000), "h": _D(100), "da": _D(10), "d": _D("0.1"), "c": _D("0.01"), "m": _D("0.001"),
    "u": _D("0.000001"), "n": _D("1e-9"), "p": _D("1e-12"), "M": _D(1000000), "G": _D(1000000000),
}  # fmt: skip
_CALENDAR: dict[str, str] = {
    "week": "wk", "weeks": "wk", "day": "d", "days": "d", "hour": "h", "hours": "h", "minute": "min",
    "minutes": "min", "second": "s", "seconds": "s", "millisecond": "ms", "milliseconds": "ms",
}  # fmt: skip
CALENDAR_YEAR_MONTH = frozenset({"year", "years", "month", "months"})
_ATOM = re.compile(r"^(?P<unit>\[[^\]]+\]|[A-Za-z%]+|1)(?P<exp>-?\d+)?$")


def _dims(spec: str, power: int) -> dict[str, int]:
    if not spec:
        return {}
    letter, digits = spec[0], spec[1:]
    return {letter if letter != "Θ" else "Θ": (int(digits) if digits else 1) * power}


def _atom(text: str) -> Canonical | None:
    m = _ATOM.match(text)
    if not m:
        return None
    unit, power = m["unit"], int(m["exp"] or 1)
    if unit in _BASE:
        factor, spec = _BASE[unit]
    else:
        for prefix, scale in _PREFIXES.items():
            rest = unit[len(prefix) :]
            if unit.startswith(prefix) and rest in _BASE and not rest.startswith("["):
                factor, spec = _BASE[rest][0] * scale, _BASE[rest][1]
                break
        else:
            return None
    dims = _dims(spec, power)
    return Canonical(factor**power, tuple(sorted(dims.items())))


def canonical(unit: str | None) -> Canonical | None:
    """Factor and dimensions of a FHIRPath quantity unit (quoted UCUM or calendar keyword), or None."""
    if unit is None:
        return Canonical(_D(1), ())
    text = unit.strip()
    if text.startswith("'") and text.endswith("'"):
        text = text[1:-1]
    elif text in _CALENDAR:
        text = _CALENDAR[text]
    elif text in CALENDAR_YEAR_MONTH:
        return None
    factor = _D(1)
    dims: dict[str, int] = {}
    for i, part in enumerate(re.split(r"(/)", text)):
        if part == "/" or not part:
            continue
        sign = -1 if i > 0 and text[: text.find(part)].count("/") % 2 else 1
        for piece in part.split("."):
            atom = _atom(piece)
            if atom is None:
                return None
            factor = factor * atom.factor if sign > 0 else factor / atom.factor
            for dim, power in atom.dims:
                dims[dim] = dims.get(dim, 0) + sign * power
    return Canonical(factor, tuple(sorted((k, v) for k, v in dims.items() if v)))


def comparable(left: str | None, right: str | None) -> bool:
    a, b = canonical(left), canonical(right)
    return a is not None and b is not None and a.dims == b.dims


def to_base(value: Decimal | int, unit: str | None) -> tuple[Decimal, Dims] | None:
    c = canonical(unit)
    if c is None:
        return None
    return Decimal(value) * c.factor, c.dims


def product_unit(left: str | None, right: str | None, divide: bool) -> tuple[Decimal, str] | None:
    """The factor and UCUM unit (in base units, quoted) of left*right or left/right."""
    a, b = canonical(left), canonical(right)
    if a is None or b is None:
        return None
    dims = dict(a.dims)
    for dim, power in b.dims:
        dims[dim] = dims.get(dim, 0) + (-power if divide else power)
    factor = a.factor / b.factor if divide else a.factor * b.factor
    names = {"L": "m", "M": "g", "T": "s", "Θ": "K", "N": "mol", "IU": "[iU]", "U": "U"}
    num = ".".join(f"{names[d]}{p if p != 1 else ''}" for d, p in sorted(dims.items()) if p > 0)
    den = ".".join(f"{names[d]}{-p if p != -1 else ''}" for d, p in sorted(dims.items()) if p < 0)
    unit = (num or "1") + (f"/{den}" if den else "")
    return factor, f"'{unit}'"
