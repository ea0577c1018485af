"""FHIRPath functions fhirpathpy lacks or gets wrong, as an invocation table for imgfhir's contexts.

The table has fhirpathpy's invocation-registry shape (``fn``, ``arity`` with parameter kinds, ``nullable``
...) and is passed unprocessed as the evaluation context's ``userInvocationTable``, so each ``fn`` is
called as ``fn(ctx, input_collection, *params)`` and entries here win over fhirpathpy's own.
"""

from __future__ import annotations

import calendar
import html
import importlib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from functools import cmp_to_key
from typing import Any

from imgfhir.fhirpath import regexes, temporal
from imgfhir.fhirpath._patches import type_is
from imgfhir.fhirpath.quantities import CALENDAR_YEAR_MONTH, comparable, product_unit, to_base

_nodes: Any = importlib.import_module("fhirpathpy.engine.nodes")
_util: Any = importlib.import_module("fhirpathpy.engine.util")
_equality: Any = importlib.import_module("fhirpathpy.engine.invocations.equality")

_DATE_TYPES = {"date": "date", "dateTime": "dateTime", "instant": "dateTime", "time": "time"}
SYSTEM_VARIABLES = frozenset({"resource", "rootResource", "context", "ucum", "sct", "loinc", "terminologies"})


class FunctionError(Exception):
    """An invalid call (wrong input or argument) of one of these functions."""


def value_of(item: Any) -> Any:
    """The FHIRPath value of an item: FHIR date/dateTime/time strings become fhirpathpy FP_* values."""
    if isinstance(item, _nodes.ResourceNode):
        kind = _DATE_TYPES.get(str(item.path))
        if kind and isinstance(item.data, str):
            if kind == "time":
                return _nodes.FP_Time(item.data) or item.data
            return _nodes.FP_DateTime(item.data) or item.data
    return _util.get_data(item)


def _singleton(coll: list[Any], what: str) -> Any:
    if len(coll) > 1:
        raise FunctionError(f"{what} expects a single item, got {len(coll)}")
    return value_of(coll[0]) if coll else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


# -- toString / single / hasValue -----------------------------------------------------------------------------------


def _to_string(ctx: dict[str, Any], coll: list[Any]) -> Any:
    if len(coll) != 1:
        return []
    value = value_of(coll[0])
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _nodes.FP_TimeBase):
        return value.asStr
    if isinstance(value, _nodes.FP_Quantity):
        return f"{value.value} {value.unit}"
    if isinstance(value, dict | list):
        return []
    return str(value)


def _single(ctx: dict[str, Any], coll: list[Any]) -> Any:
    if len(coll) > 1:
        raise FunctionError(f"single() on a collection of {len(coll)} items")
    return coll


def _has_value(ctx: dict[str, Any], coll: list[Any]) -> bool:
    if len(coll) != 1:
        return False
    value = _util.get_data(coll[0])
    return value is not None and not isinstance(value, dict | list)


# -- boundaries and precision ---------------------------------------------------------------------------------------

_MAX_PRECISION = 31
_DATE_PRECISIONS = (4, 6, 8, 10, 12, 14, 17)
_TIME_PRECISIONS = (2, 4, 6, 9)


def _decimal_places(value: Decimal | int) -> int:
    if isinstance(value, int):
        return 0
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _decimal_boundary(value: Decimal | int, precision: int | None, high: bool) -> Decimal | None:
    target = 8 if precision is None else precision
    if target < 0 or target > _MAX_PRECISION:
        return None
    places = _decimal_places(value)
    quantum = Decimal(1).scaleb(-target)
    number = Decimal(value)
    if target < places:
        truncated = number.quantize(quantum, rounding=ROUND_DOWN)
        if truncated == 0:
            return truncated.copy_abs()
        bump = number >= 0 if high else number < 0
        return truncated + (quantum if high else -quantum) if bump else truncated
    half = Decimal(5).scaleb(-places - 1)
    bound = number + half if high else number - half
    return bound.quantize(quantum, rounding=ROUND_CEILING if high else ROUND_FLOOR)


_DT_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2}))?)?"
    r"(?:T(?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<ms>\d+))?)?)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?$"
)
_TIME_RE = re.compile(r"^T?(?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<ms>\d+))?)?)?$")


def _date_precision(text: str) -> int | None:
    m = _DT_RE.match(text)
    if not m:
        return None
    return sum(n for key, n in (("y", 4), ("mo", 2), ("d", 2), ("h", 2), ("mi", 2), ("s", 2), ("ms", 3)) if m[key])


def _time_precision(text: str) -> int | None:
    m = _TIME_RE.match(text)
    if not m:
        return None
    return sum(n for key, n in (("h", 2), ("mi", 2), ("s", 2), ("ms", 3)) if m[key])


def _date_boundary(text: str, precision: int | None, high: bool) -> str | None:
    m = _DT_RE.match(text)
    if not m:
        return None
    target = 17 if precision is None else precision
    if target not in _DATE_PRECISIONS:
        return None
    year = int(m["y"])
    month = int(m["mo"]) if m["mo"] else (12 if high else 1)
    day = int(m["d"]) if m["d"] else (calendar.monthrange(year, month)[1] if high else 1)
    hour = m["h"] or ("23" if high else "00")
    minute = m["mi"] or ("00" if m["h"] else ("59" if high else "00"))
    second = m["s"] or ("59" if high else "00")
    milli = (m["ms"] or ("999" if high else "000"))[:3].ljust(3, "0")
    tz = m["tz"] or ("-12:00" if high else "+14:00")
    out = f"{year:04d}"
    if target >= 6:
        out += f"-{month:02d}"
    if target >= 8:
        out += f"-{day:02d}"
    if target >= 10:
        out += f"T{hour}"
    if target >= 12:
        out += f":{minute}"
    if target >= 14:
        out += f":{second}"
    if target >= 17:
        out += f".{milli}"
    if target > 8:
        out += tz
    return out


def _time_boundary(text: str, precision: int | None, high: bool) -> str | None:
    m = _TIME_RE.match(text)
    if not m:
        return None
    target = 9 if precision is None else precision
    if target not in _TIME_PRECISIONS:
        return None
    parts = [m["h"], m["mi"] or ("59" if high else "00"), m["s"] or ("59" if high else "00")]
    milli = (m["ms"] or ("999" if high else "000"))[:3].ljust(3, "0")
    out = ":".join(parts[: {2: 1, 4: 2, 6: 3, 9: 3}[target]])
    return out + f".{milli}" if target == 9 else out


def _boundary(high: bool) -> Callable[..., Any]:
    def fn(ctx: dict[str, Any], coll: list[Any], precision: Any = None) -> Any:
        value = _singleton(coll, "boundary")
        digits = None if precision is None or precision == [] else int(precision)
        if value is None:
            return []
        if _is_number(value):
            result = _decimal_boundary(value, digits, high)
            return [] if result is None else result
        if isinstance(value, _nodes.FP_Quantity):
            bound = _decimal_boundary(Decimal(str(value.value)), digits, high)
            return [] if bound is None else _nodes.FP_Quantity(bound, value.unit)
        if isinstance(value, _nodes.FP_Time):
            text = _time_boundary(value.asStr, digits, high)
            return [] if text is None else _nodes.FP_Time(text)
        if isinstance(value, _nodes.FP_DateTime):
            text = _date_boundary(value.asStr, digits, high)
            return [] if text is None else _nodes.FP_DateTime(text)
        return []

    return fn


def _precision(ctx: dict[str, Any], coll: list[Any]) -> Any:
    value = _singleton(coll, "precision()")
    if value is None:
        return []
    if _is_number(value):
        return _decimal_places(value)
    if isinstance(value, _nodes.FP_Quantity):
        return _decimal_places(Decimal(str(value.value)))
    if isinstance(value, _nodes.FP_Time):
        return _time_precision(value.asStr) or []
    if isinstance(value, _nodes.FP_DateTime):
        return _date_precision(value.asStr) or []
    return []


# -- sort -------------------------------------------------------------------------------------------------------------


def _compare_values(a: Any, b: Any) -> int:
    if a is None or b is None:
        return (a is not None) - (b is not None)
    if isinstance(a, _nodes.FP_TimeBase) and isinstance(b, _nodes.FP_TimeBase):
        c: int | None = a.compare(b)
        return 0 if c is None else c
    if _is_number(a) and _is_number(b):
        return int(a > b) - int(a < b)
    sa, sb = str(a), str(b)
    return (sa > sb) - (sa < sb)


def _sort(ctx: dict[str, Any], coll: list[Any], *keys: Any) -> list[Any]:
    if not keys:
        return sorted(coll, key=cmp_to_key(lambda x, y: _compare_values(value_of(x), value_of(y))))
    decorated = []
    for item in coll:
        row = []
        for key in keys:
            descending, result = key(item)
            got = _singleton(result, "sort key") if result else None
            row.append((descending, got))
        decorated.append((row, item))

    def cmp(x: tuple[list[tuple[bool, Any]], Any], y: tuple[list[tuple[bool, Any]], Any]) -> int:
        for (desc, a), (_, b) in zip(x[0], y[0], strict=True):
            if a is None or b is None:  # items without a key come first, in either direction
                c = _compare_values(a, b)
                if c:
                    return c
                continue
            c = _compare_values(a, b)
            if c:
                return -c if desc else c
        return 0

    return [item for _, item in sorted(decorated, key=cmp_to_key(cmp))]


# -- strings ----------------------------------------------------------------------------------------------------------


def _string_input(coll: list[Any], what: str) -> str | None:
    value = _singleton(coll, what)
    if value is None:
        return None
    if not isinstance(value, str):
        raise FunctionError(f"{what} expects a string input, got {type(value).__name__}")
    return value


def _matches_full(ctx: dict[str, Any], coll: list[Any], regex: Any) -> Any:
    text = _string_input(coll, "matchesFull()")
    if text is None or regex is None or regex == []:
        return []
    return regexes.fullmatch(ctx, str(regex), text)


def _escape(ctx: dict[str, Any], coll: list[Any], target: Any) -> Any:
    text = _string_input(coll, "escape()")
    if text is None:
        return []
    if target == "html":
        return html.escape(text, quote=True).replace("&#x27;", "&#39;")
    if target == "json":
        return json.dumps(text)[1:-1]
    return []


def _unescape(ctx: dict[str, Any], coll: list[Any], target: Any) -> Any:
    text = _string_input(coll, "unescape()")
    if text is None:
        return []
    if target == "html":
        return html.unescape(text)
    if target == "json":
        try:
            result: str = json.loads(f'"{text}"')
        except json.JSONDecodeError:
            return text  # the literal's own escapes were already decoded
        return result
    return []


_HTML_ALLOWED = frozenset(
    {"a", "abbr", "acronym", "b", "big", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd"}
    | {"dfn", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre"}
    | {"q", "samp", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr"}
    | {"tt", "ul", "var"}
)
_XHTML = "{http://www.w3.org/1999/xhtml}"


def _html_checks(ctx: dict[str, Any], coll: list[Any]) -> Any:
    """FHIR narrative rules (txt-1/txt-2): XHTML div, allowed elements only, no scripts or event handlers."""
    value = _singleton(coll, "htmlChecks()")
    if not isinstance(value, str):
        return []
    if not value.lstrip().startswith("<div"):
        value = f'<div xmlns="http://www.w3.org/1999/xhtml">{value}</div>'
    try:
        root = ET.fromstring(value)
    except ET.ParseError:
        return False
    if root.tag != _XHTML + "div":
        return False
    for element in root.iter():
        name = element.tag.removeprefix(_XHTML)
        if name not in _HTML_ALLOWED or not element.tag.startswith(_XHTML):
            return False
        if any(attr.lower().startswith("on") for attr in element.attrib):
            return False
    return bool("".join(root.itertext()).strip()) or any(e.tag == _XHTML + "img" for e in root.iter())


# -- types -----------------------------------------------------------------------------------------------------------


def _type_of(item: Any) -> Any:
    return _nodes.TypeInfo.from_value(item)


def _as(ctx: dict[str, Any], coll: list[Any], type_info: Any) -> Any:
    if len(coll) > 1 and not ctx.get("imgfhir_lenient"):
        raise FunctionError(f"as() expects a single item, got {len(coll)}")
    return [item for item in coll if type_is(_type_of(item), type_info, exact_primitives=True)]


def _of_type(ctx: dict[str, Any], coll: list[Any], type_info: Any) -> Any:
    return [item for item in coll if type_is(_type_of(item), type_info, exact_primitives=True)]


# -- variables ----------------------------------------------------------------------------------------------------


def _define_variable(ctx: dict[str, Any], coll: list[Any], name: Any, expr: Any = None) -> list[Any]:
    if not isinstance(name, str):
        raise FunctionError("defineVariable() needs a name")
    variables = ctx["vars"]
    if name in SYSTEM_VARIABLES or dict.__contains__(variables, name):
        raise FunctionError(f"variable %{name} is already defined")
    value = coll if expr is None else expr(coll)
    variables[name] = list(value)
    return coll


# -- operators on dates, times and quantities -------------------------------------------------------------------

_REGISTRY: dict[str, dict[str, Any]] = importlib.import_module("fhirpathpy.engine.invocations").invocation_registry
_QUANTITY_TYPES = frozenset({"Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity", "MoneyQuantity"})
_UCUM = "http://unitsofmeasure.org"


def operand(item: Any) -> Any:
    """`value_of`, plus FHIR Quantity elements as FP_Quantity (UCUM code, else the unit text)."""
    value = value_of(item)
    if isinstance(item, _nodes.ResourceNode) and isinstance(value, dict) and "value" in value:
        info = item.get_type_info()
        if info is not None and info.name in _QUANTITY_TYPES:
            code = value.get("code") if value.get("system") == _UCUM else None
            unit = code or value.get("unit")
            return _nodes.FP_Quantity(Decimal(str(value["value"])), f"'{unit}'" if unit else "'1'")
    return value


def _pair(a: list[Any], b: list[Any]) -> tuple[Any, Any] | None:
    if len(a) != 1 or len(b) != 1:
        return None
    return operand(a[0]), operand(b[0])


def _temporal(x: Any) -> bool:
    return isinstance(x, _nodes.FP_TimeBase)


def _membership(name: str) -> Callable[..., Any]:
    """`in` / `contains`; in lenient mode several items on the tested side must each be members
    (the reference validator's reading, which invariants such as the EU imaging dgr-1 rely on)."""
    original = _REGISTRY[name]["fn"]

    def fn(ctx: dict[str, Any], a: list[Any], b: list[Any]) -> Any:
        items, coll = (a, b) if name == "inOp" else (b, a)
        if len(items) > 1 and ctx.get("imgfhir_lenient"):
            if name == "inOp":
                return bool(coll) and all(original(ctx, [x], coll) is True for x in items)
            return bool(coll) and all(original(ctx, coll, [x]) is True for x in items)
        return original(ctx, a, b)

    return fn


def _arith(name: str, sign: int) -> Callable[..., Any]:
    original = _REGISTRY[name]["fn"]

    def fn(ctx: dict[str, Any], a: list[Any], b: list[Any]) -> Any:
        pair = _pair(a, b)
        if pair is not None and _temporal(pair[0]):
            x, y = pair
            if not isinstance(y, _nodes.FP_Quantity):
                raise FunctionError(f"cannot add {type(y).__name__} to a date/time")
            is_time = isinstance(x, _nodes.FP_Time)
            text = temporal.add(x.asStr.lstrip("T") if is_time else x.asStr, is_time, y.value, y.unit, sign)
            return _nodes.FP_Time(text) if is_time else _nodes.FP_DateTime(text)
        return original(ctx, a, b)

    return fn


def _product(divide: bool) -> Callable[..., Any]:
    original = _REGISTRY["/" if divide else "*"]["fn"]

    def fn(ctx: dict[str, Any], a: list[Any], b: list[Any]) -> Any:
        pair = _pair(a, b)
        if pair is None:
            raise FunctionError("arithmetic needs single operands")
        x, y = pair
        if isinstance(x, _nodes.FP_Quantity) or isinstance(y, _nodes.FP_Quantity):
            qx = x if isinstance(x, _nodes.FP_Quantity) else _nodes.FP_Quantity(x, "'1'")
            qy = y if isinstance(y, _nodes.FP_Quantity) else _nodes.FP_Quantity(y, "'1'")
            unit = product_unit(qx.unit, qy.unit, divide)
            if unit is None:
                return []
            if divide and Decimal(qy.value) == 0:
                return []
            value = Decimal(qx.value) / Decimal(qy.value) if divide else Decimal(qx.value) * Decimal(qy.value)
            return _nodes.FP_Quantity(value * unit[0], unit[1])
        if not _is_number(x) or not _is_number(y):
            raise FunctionError("arithmetic on non-numbers")
        return original(ctx, x, y)

    return fn


def _quantity_compare(x: Any, y: Any) -> int | str | None:
    """-1/0/1; None when not comparable (empty); "fallback" to leave it to fhirpathpy."""
    ux, uy = str(x.unit), str(y.unit)
    definite_year_month = {"'a'", "'mo'"}
    if (ux in CALENDAR_YEAR_MONTH and uy in definite_year_month) or (
        uy in CALENDAR_YEAR_MONTH and ux in definite_year_month
    ):
        return None
    bx, by = to_base(x.value, x.unit), to_base(y.value, y.unit)
    if bx is None or by is None:
        return "fallback"
    if bx[1] != by[1]:
        return None
    return (bx[0] > by[0]) - (bx[0] < by[0])


def _comparison(name: str) -> Callable[..., Any]:
    original = _REGISTRY[name]["fn"]
    tests: dict[str, Callable[[int], bool]] = {
        "=": lambda c: c == 0, "!=": lambda c: c != 0, "<": lambda c: c < 0, ">": lambda c: c > 0,
        "<=": lambda c: c <= 0, ">=": lambda c: c >= 0,
    }  # fmt: skip

    def fn(ctx: dict[str, Any], a: list[Any], b: list[Any]) -> Any:
        pair = _pair(a, b)
        if pair is not None:
            x, y = pair
            if _temporal(x) and _temporal(y):
                is_time = isinstance(x, _nodes.FP_Time)
                if is_time != isinstance(y, _nodes.FP_Time):
                    return [] if name not in ("=", "!=") else name == "!="
                c = temporal.compare(x.asStr.lstrip("T"), y.asStr.lstrip("T"), is_time)
                return [] if c is None else tests[name](c)
            if isinstance(x, _nodes.FP_Quantity) and isinstance(y, _nodes.FP_Quantity):
                q = _quantity_compare(x, y)
                if q != "fallback":
                    return [] if q is None else tests[name](int(q))
        return original(ctx, a, b)

    return fn


# -- logic, iif, equivalence of collections -------------------------------------------------------------------


def _boolean_operand(coll: list[Any], what: str) -> bool | None:
    """Singleton evaluation of a collection as a boolean: empty -> None, one non-boolean item -> True."""
    if len(coll) > 1:
        raise FunctionError(f"{what} expects a single boolean, got {len(coll)} items")
    if not coll:
        return None
    value = _util.get_data(coll[0])
    return value if isinstance(value, bool) else True


def _logic(name: str) -> Callable[..., Any]:
    def fn(ctx: dict[str, Any], a: list[Any], b: list[Any]) -> Any:
        x, y = _boolean_operand(a, name), _boolean_operand(b, name)
        if name == "and":
            result = False if x is False or y is False else (None if x is None or y is None else True)
        elif name == "or":
            result = True if x is True or y is True else (None if x is None or y is None else False)
        elif name == "xor":
            result = None if x is None or y is None else x != y
        else:  # implies
            result = True if x is False or y is True else (None if x is None or y is None else False)
        return [] if result is None else result

    return fn


def _not(ctx: dict[str, Any], coll: list[Any]) -> Any:
    value = _boolean_operand(coll, "not()")
    return [] if value is None else not value


def _iif(ctx: dict[str, Any], data: list[Any], cond: Any, ok: Any, fail: Any = None) -> Any:
    if len(data) > 1:
        raise FunctionError(f"iif() on a collection of {len(data)} items")
    criterion = cond(data)
    if len(criterion) > 1:
        raise FunctionError("iif() criterion is a collection of several items")
    if criterion and not isinstance(_util.get_data(criterion[0]), bool):
        raise FunctionError("iif() criterion is not a boolean")
    if criterion and _util.get_data(criterion[0]) is True:
        return ok(data)
    return fail(data) if fail else []


def _equivalent_collections(negate: bool) -> Callable[..., Any]:
    single = _REGISTRY["~"]["fn"]

    def fn(ctx: dict[str, Any], a: list[Any], b: list[Any]) -> Any:
        if len(a) <= 1 and len(b) <= 1:
            result: list[Any] = single(ctx, a, b)
            same = bool(result and result[0] is True)
        elif len(a) != len(b):
            same = False
        else:
            remaining = list(b)
            same = True
            for x in a:
                hit = next((i for i, y in enumerate(remaining) if single(ctx, [x], [y]) == [True]), None)
                if hit is None:
                    same = False
                    break
                remaining.pop(hit)
        return same != negate

    return fn


# -- small fixes ------------------------------------------------------------------------------------------------


def _string_fn(name: str, empty_args: bool = True) -> Callable[..., Any]:
    original = _REGISTRY[name]["fn"]

    def fn(ctx: dict[str, Any], coll: list[Any], *args: Any) -> Any:
        if empty_args and any(arg is None or arg == [] for arg in args):
            return []
        text = _string_input(coll, f"{name}()")
        if text is None:
            return []
        if name == "startsWith":
            return text.startswith(args[0])
        if name == "endsWith":
            return text.endswith(args[0])
        if name == "replaceMatches":
            return text if args[0] == "" else regexes.sub(ctx, str(args[0]), str(args[1]), text)
        return original(ctx, coll, *args)

    return fn


def _round(ctx: dict[str, Any], coll: list[Any], digits: Any = None) -> Any:
    value = _singleton(coll, "round()")
    if value is None:
        return []
    if not _is_number(value):
        raise FunctionError("round() needs a number")
    places = 0 if digits is None or digits == [] else int(digits)
    if places < 0:
        raise FunctionError("round() precision must not be negative")
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding="ROUND_HALF_UP")


def _abs(ctx: dict[str, Any], coll: list[Any]) -> Any:
    value = operand(coll[0]) if len(coll) == 1 else _singleton(coll, "abs()")
    if value is None:
        return []
    if isinstance(value, _nodes.FP_Quantity):
        return _nodes.FP_Quantity(abs(Decimal(value.value)), value.unit)
    if not _is_number(value):
        raise FunctionError("abs() needs a number or quantity")
    return abs(value)


def _to_boolean_value(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if _is_number(value):
        return {Decimal(1): True, Decimal(0): False}.get(Decimal(value))
    if isinstance(value, str):
        text = value.lower()
        if text in ("true", "t", "yes", "y", "1", "1.0"):
            return True
        if text in ("false", "f", "no", "n", "0", "0.0"):
            return False
    return None


def _to_boolean(ctx: dict[str, Any], coll: list[Any]) -> Any:
    value = _singleton(coll, "toBoolean()")
    result = None if value is None else _to_boolean_value(value)
    return [] if result is None else result


def _converts_to_boolean(ctx: dict[str, Any], coll: list[Any]) -> Any:
    value = _singleton(coll, "convertsToBoolean()")
    return [] if value is None else _to_boolean_value(value) is not None


def _now_value(ctx: dict[str, Any]) -> datetime:
    if "imgfhir_now" not in ctx:
        ctx["imgfhir_now"] = datetime.now().astimezone()
    now: datetime = ctx["imgfhir_now"]
    return now


def _now(ctx: dict[str, Any], coll: list[Any]) -> Any:
    return _nodes.FP_DateTime(_now_value(ctx).isoformat(timespec="milliseconds"))


def _today(ctx: dict[str, Any], coll: list[Any]) -> Any:
    return _nodes.FP_DateTime(_now_value(ctx).date().isoformat())


def _time_of_day(ctx: dict[str, Any], coll: list[Any]) -> Any:
    return _nodes.FP_Time(_now_value(ctx).time().isoformat(timespec="milliseconds"))


def _extension(ctx: dict[str, Any], coll: list[Any], url: Any) -> Any:
    """extension(url), also on primitives, whose extensions live in the ``_name`` sibling."""
    found = []
    for item in coll:
        element = _util.get_data(item)
        sources = [element] if isinstance(element, dict) else []
        extra = getattr(item, "_data", None)
        if isinstance(extra, dict):
            sources.append(extra)
        for source in sources:
            for ext in source.get("extension", ()):
                if isinstance(ext, dict) and ext.get("url") == url:
                    found.append(_nodes.ResourceNode.create_node(ext, "Extension"))
    return found


def _comparable(ctx: dict[str, Any], coll: list[Any], other: Any) -> Any:
    left = _singleton(coll, "comparable()")
    right = _singleton(_util.arraify(other), "comparable()")
    if not isinstance(left, _nodes.FP_Quantity) or not isinstance(right, _nodes.FP_Quantity):
        return []
    return comparable(left.unit, right.unit)


def _resolve(ctx: dict[str, Any], coll: list[Any]) -> list[Any]:
    """resolve(): references to contained resources (``#id``) and to entries of a Bundle being evaluated;
    others go to the caller's resolver (``evaluate(..., resolver=...)``), if any."""
    variables = ctx["vars"]
    roots = [r for r in (variables.get("resource"), variables.get("rootResource")) if isinstance(r, dict)]
    resolver = ctx.get("imgfhir_resolver")
    found: list[Any] = []
    for item in coll:
        data = _util.get_data(item)
        ref = data.get("reference") if isinstance(data, dict) else data
        if not isinstance(ref, str):
            continue
        target = None
        for root in roots:
            if ref.startswith("#"):
                target = next((c for c in root.get("contained", ()) if c.get("id") == ref[1:]), None)
            elif root.get("resourceType") == "Bundle":
                for entry in root.get("entry", ()):
                    res = entry.get("resource") or {}
                    if entry.get("fullUrl") == ref or f"{res.get('resourceType')}/{res.get('id')}" == ref:
                        target = res
                        break
            if target is not None:
                break
        if target is None and resolver is not None:
            target = resolver(ref)
        if target is not None:
            found.append(_nodes.ResourceNode.create_node(target))
    return found


_TX_METHODS = ("expand", "lookup", "validateVS", "validateCS", "subsumes", "translate")


def _argument(value: Any) -> Any:
    items = [_util.get_data(v) for v in _util.arraify(value)]
    return None if not items else items[0] if len(items) == 1 else items


def _terminology(method: str) -> Callable[..., Any]:
    """``%terminologies.<method>(...)``: calls the same-named method of the object the caller put in
    ``env["terminologies"]`` with plain JSON arguments; it returns a FHIR resource (dict) or None."""

    def fn(ctx: dict[str, Any], coll: list[Any], *args: Any) -> Any:
        service = _util.get_data(coll[0]) if len(coll) == 1 else None
        call = getattr(service, method, None)
        if not callable(call):
            raise FunctionError(f"{method}() is a %terminologies function; no terminology service was given")
        result = call(*(_argument(a) for a in args))
        return [] if result is None else _nodes.ResourceNode.create_node(result)

    return fn


def _member_of(ctx: dict[str, Any], coll: list[Any], url: Any) -> Any:
    """memberOf(valueset): asks the caller's ``env["memberOf"]`` callable (value JSON, value set url →
    True, False, or None when it cannot be decided offline); without one, it is an error."""
    check = ctx["vars"].get("memberOf") if isinstance(ctx.get("vars"), dict) else None
    if not callable(check):
        raise FunctionError("memberOf() needs a terminology service; none was given")
    if len(coll) != 1:
        return []
    verdict = check(_util.get_data(coll[0]), url)
    return [] if verdict is None else [bool(verdict)]


_CORE_PROFILE = "http://hl7.org/fhir/StructureDefinition/"


def _conforms_to(ctx: dict[str, Any], coll: list[Any], url: Any) -> Any:
    """conformsTo(url): the caller's ``env["conformsTo"]`` (value JSON, url → bool) when given, else the
    core resource definitions only; other profiles without a validator are an error."""
    check = ctx["vars"].get("conformsTo") if isinstance(ctx.get("vars"), dict) else None
    if callable(check) and isinstance(url, str):  # the caller's validator: any profile
        return [bool(check(_util.get_data(item), url)) for item in coll]
    if not isinstance(url, str) or not url.startswith(_CORE_PROFILE):
        raise FunctionError(f"conformsTo({url!r}) needs a profile validator")
    wanted = _nodes.TypeInfo(name=url.removeprefix(_CORE_PROFILE), namespace="FHIR")
    result = []
    for item in coll:
        info = _nodes.TypeInfo.from_value(_nodes.ResourceNode.create_node(item))
        try:
            result.append(bool(type_is(info, wanted)))
        except TypeError:
            result.append(False)
    return result


FUNCTIONS: dict[str, dict[str, Any]] = {
    "toString": {"fn": _to_string},
    "single": {"fn": _single},
    "as": {"fn": _as, "arity": {1: ["TypeSpecifier"]}},
    "asOp": {"fn": lambda ctx, coll, t: _as(ctx, coll, t), "arity": {2: ["Any", "TypeSpecifier"]}},
    "ofType": {"fn": _of_type, "arity": {1: ["TypeSpecifier"]}},
    "hasValue": {"fn": _has_value},
    "lowBoundary": {"fn": _boundary(high=False), "arity": {0: [], 1: ["Integer"]}},
    "highBoundary": {"fn": _boundary(high=True), "arity": {0: [], 1: ["Integer"]}},
    "precision": {"fn": _precision},
    "matches": {"fn": regexes.matches, "arity": {1: ["String"]}, "nullable_input": True},
    "matchesFull": {"fn": _matches_full, "arity": {1: ["String"]}},
    "escape": {"fn": _escape, "arity": {1: ["String"]}},
    "unescape": {"fn": _unescape, "arity": {1: ["String"]}},
    "htmlChecks": {"fn": _html_checks},
    "defineVariable": {"fn": _define_variable, "arity": {1: ["String"], 2: ["String", "Expr"]}},
    "sort": {"fn": _sort, "variadic": "SortKey"},
    **{op: {"fn": _logic(op), "arity": {2: ["Any", "Any"]}} for op in ("and", "or", "xor", "implies")},
    "not": {"fn": _not},
    "iif": {"fn": _iif, "arity": {2: ["Expr", "Expr"], 3: ["Expr", "Expr", "Expr"]}},
    "~": {"fn": _equivalent_collections(negate=False), "arity": {2: ["Any", "Any"]}},
    "!~": {"fn": _equivalent_collections(negate=True), "arity": {2: ["Any", "Any"]}},
    "startsWith": {"fn": _string_fn("startsWith"), "arity": {1: ["String"]}, "nullable_input": True},
    "endsWith": {"fn": _string_fn("endsWith"), "arity": {1: ["String"]}, "nullable_input": True},
    "indexOf": {"fn": _string_fn("indexOf"), "arity": {1: ["String"]}, "nullable_input": True},
    "replace": {"fn": _string_fn("replace"), "arity": {2: ["String", "String"]}, "nullable_input": True},
    "replaceMatches": {
        "fn": _string_fn("replaceMatches"), "arity": {2: ["String", "String"]}, "nullable_input": True
    },
    "round": {"fn": _round, "arity": {0: [], 1: ["Integer"]}},
    "abs": {"fn": _abs},
    "toBoolean": {"fn": _to_boolean},
    "convertsToBoolean": {"fn": _converts_to_boolean},
    "now": {"fn": _now},
    "today": {"fn": _today},
    "timeOfDay": {"fn": _time_of_day},
    "extension": {"fn": _extension, "arity": {1: ["String"]}},
    "comparable": {"fn": _comparable, "arity": {1: ["AnyAtRoot"]}},
    "conformsTo": {"fn": _conforms_to, "arity": {1: ["String"]}},
    "memberOf": {"fn": _member_of, "arity": {1: ["String"]}},
    "resolve": {"fn": _resolve},
    **{name: {"fn": _terminology(name), "variadic": "Any"} for name in _TX_METHODS},
    "inOp": {"fn": _membership("inOp"), "arity": {2: ["Any", "Any"]}},
    "containsOp": {"fn": _membership("containsOp"), "arity": {2: ["Any", "Any"]}},
    "+": {"fn": _arith("+", 1), "arity": {2: ["Any", "Any"]}, "nullable": True},
    "-": {"fn": _arith("-", -1), "arity": {2: ["Any", "Any"]}, "nullable": True},
    "*": {"fn": _product(divide=False), "arity": {2: ["Any", "Any"]}, "nullable": True},
    "/": {"fn": _product(divide=True), "arity": {2: ["Any", "Any"]}, "nullable": True},
    **{op: {"fn": _comparison(op), "arity": {2: ["Any", "Any"]}, "nullable": True} for op in ("=", "!=")},
    **{op: {"fn": _comparison(op), "arity": {2: ["Any", "Any"]}, "nullable": True} for op in ("<", ">", "<=", ">=")},
}
