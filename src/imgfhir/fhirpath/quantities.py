"""FHIRPath quantity units over UCUM (imgfhir.ucum): comparison, conversion and products.

A FHIRPath unit is a quoted UCUM code (`'mg'`, `'g/m'`) or a calendar duration keyword (`week`,
`days`). The definite calendar keywords mean their UCUM unit (`week` = `'wk'`); `year` and `month`
are not definite durations and stay out of conversions. Unknown units give None, so callers can
fall back to fhirpathpy.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from imgfhir import ucum
from imgfhir.ucum import Dims, Unit

__all__ = ["CALENDAR_YEAR_MONTH", "Dims", "canonical", "comparable", "product_unit", "to_base"]

_CALENDAR: dict[str, str] = {
    "week": "wk", "weeks": "wk", "day": "d", "days": "d", "hour": "h", "hours": "h", "minute": "min",
    "minutes": "min", "second": "s", "seconds": "s", "millisecond": "ms", "milliseconds": "ms",
}  # fmt: skip
CALENDAR_YEAR_MONTH = frozenset({"year", "years", "month", "months"})
_UNITY = "1"


def _code(unit: str | None) -> str | None:
    """The UCUM code a FHIRPath unit stands for; None for `year`/`month` and non-units."""
    if unit is None:
        return _UNITY
    text = unit.strip()
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1]
    return _CALENDAR.get(text)


def canonical(unit: str | None) -> Unit | None:
    """The UCUM unit of a FHIRPath quantity unit (quoted UCUM or calendar keyword), or None."""
    code = _code(unit)
    return ucum.canonical(code) if code is not None else None


def comparable(left: str | None, right: str | None) -> bool:
    a, b = _code(left), _code(right)
    return a is not None and b is not None and ucum.commensurable(a, b)


def to_base(value: Decimal | int, unit: str | None) -> tuple[Decimal, Dims] | None:
    code = _code(unit)
    return ucum.to_base(Decimal(value), code) if code is not None else None


def product_unit(left: str | None, right: str | None, divide: bool) -> tuple[Decimal, str] | None:
    """The factor and UCUM unit (in base units, quoted) of left*right or left/right."""
    a, b = canonical(left), canonical(right)
    if a is None or b is None or a.special or b.special:
        return None
    dims = dict(a.dims)
    for dim, power in b.dims:
        dims[dim] = dims.get(dim, 0) + (-power if divide else power)
    with localcontext() as ctx:
        ctx.prec = 50
        factor = a.factor / b.factor if divide else a.factor * b.factor
    unit = ucum.unit_string(tuple(sorted((k, v) for k, v in dims.items() if v)))
    return factor, f"'{unit}'"
