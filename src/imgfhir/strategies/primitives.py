"""Primitive and coded values: lexical forms per FHIR primitive type, the wrong ones mutants use, coded
values for bound elements, and values moved inside an element's minValue/maxValue."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from imgfhir.validation.model import ElementPlan
from imgfhir.validation.rules.bindings import QUANTITY_LIKE
from imgfhir.validation.rules.ranges import compare_to_bound, value_bounds

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
ID = st.text(_LETTERS + "0123456789-.", min_size=1, max_size=16)
WORD = st.text(_LETTERS + "0123456789", min_size=1, max_size=10)
TEXT = st.text(
    st.characters(categories=("L", "N", "P", "Zs"), max_codepoint=0x2FFF, exclude_characters="\u2028\u2029"),
    min_size=1,
    max_size=16,
).map(lambda s: s.strip() or "x")
_MOMENT = st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2049, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)


def _date(d: datetime, precision: int) -> str:
    return [f"{d:%Y}", f"{d:%Y-%m}", f"{d:%Y-%m-%d}"][precision]


def _datetime(d: datetime, precision: int) -> str:
    return _date(d, precision) if precision < 3 else d.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "boolean": st.booleans(),
    "integer": st.integers(-1000, 1000),
    "unsignedInt": st.integers(0, 1000),
    "positiveInt": st.integers(1, 1000),
    "integer64": st.integers(-(10**12), 10**12).map(str),
    "decimal": st.one_of(
        st.integers(-10000, 10000),
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).map(lambda f: round(f, 4)),
    ),
    "string": TEXT,
    "markdown": TEXT,
    "code": WORD,
    "id": ID,
    "uri": WORD.map(lambda w: f"http://example.org/{w}"),
    "url": WORD.map(lambda w: f"http://example.org/{w}"),
    "canonical": WORD.map(lambda w: f"http://example.org/fhir/{w}"),
    "oid": st.lists(st.integers(0, 999), min_size=1, max_size=4).map(lambda xs: "urn:oid:1." + ".".join(map(str, xs))),
    "uuid": st.uuids().map(lambda u: f"urn:uuid:{u}"),
    "date": st.tuples(_MOMENT, st.integers(0, 2)).map(lambda t: _date(*t)),
    "dateTime": st.tuples(_MOMENT, st.integers(0, 3)).map(lambda t: _datetime(*t)),
    "instant": _MOMENT.map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"),
    "time": _MOMENT.map(lambda d: d.strftime("%H:%M:%S")),
    "base64Binary": st.binary(min_size=1, max_size=24).map(lambda b: base64.b64encode(b).decode()),
    "xhtml": st.just('<div xmlns="http://www.w3.org/1999/xhtml">generated</div>'),
}

# codes for required bindings to value sets that cannot be expanded offline (grammar-checked)
FALLBACK_CODES: dict[str, tuple[str | None, str, str | None]] = {
    "http://hl7.org/fhir/ValueSet/all-languages": ("urn:ietf:bcp:47", "en", None),
    "http://hl7.org/fhir/ValueSet/languages": ("urn:ietf:bcp:47", "en", None),
    "http://hl7.org/fhir/ValueSet/mimetypes": ("urn:ietf:bcp:13", "application/json", None),
    "http://hl7.org/fhir/ValueSet/ucum-units": ("http://unitsofmeasure.org", "mm", None),
}

# a lexically wrong value per primitive type, for mutants (the validator's `primitive` rule)
BAD_PRIMITIVES: dict[str, Any] = {
    "boolean": "true",
    "integer": 1.5,
    "unsignedInt": -1,
    "positiveInt": 0,
    "decimal": "1.0",
    "code": " padded code",
    "id": "not an id!",
    "oid": "1.2.3",
    "uuid": "urn:uuid:NOT-A-UUID",
    "uri": "has spaces in it",
    "url": "has spaces in it",
    "canonical": "has spaces in it",
    "date": "2024-13-01",
    "dateTime": "2024-02-30T10:00:00Z",
    "instant": "2024-01-01",
    "time": "25:00:00",
    "base64Binary": "!!not base64!!",
    "string": 42,
    "markdown": 42,
}


def coded(type_code: str, system: str | None, code: str, display: str | None) -> Any:
    """A value of `type_code` carrying one code (None for a type that carries no code)."""
    coding: dict[str, Any] = {"code": code}
    if system:
        coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    shapes: dict[str, Any] = {
        "Coding": coding,
        "CodeableConcept": {"coding": [coding]},
        "CodeableReference": {"concept": {"coding": [coding]}},
    }
    if type_code in ("code", "string", "uri"):
        return code
    if type_code in QUANTITY_LIKE:
        return {"value": 1, **({"system": system} if system else {}), "code": code}
    return shapes.get(type_code)


def merge_pattern(pattern: Any, value: Any) -> Any:
    """`value` with everything `pattern` states laid over it (arrays: entry by entry)."""
    if isinstance(pattern, dict) and isinstance(value, dict):
        out = dict(value)
        for k, v in pattern.items():
            out[k] = merge_pattern(v, value[k]) if k in value else copy.deepcopy(v)
        return out
    if isinstance(pattern, list) and isinstance(value, list):
        merged = [merge_pattern(p, value[i]) if i < len(value) else copy.deepcopy(p) for i, p in enumerate(pattern)]
        return merged + value[len(pattern) :]
    return copy.deepcopy(pattern)


def within_bounds(element: ElementPlan, value: Any) -> Any:
    """`value` moved onto the element's minValue[x]/maxValue[x] where it falls outside them (a
    Quantity first takes the bound's unit: bounds are stated in one unit and not converted)."""
    for bound, below in zip(value_bounds(element), (True, False), strict=True):
        if bound is None:
            continue
        kind, limit = bound
        if kind == "Quantity" and isinstance(value, dict) and isinstance(limit, dict):
            value = {k: v for k, v in value.items() if k not in ("unit", "system", "code", "comparator")}
            value.update({k: limit[k] for k in ("unit", "system", "code") if k in limit})
            value.setdefault("value", limit.get("value"))
        order = compare_to_bound(kind, value, limit)
        if order is not None and (order < 0 if below else order > 0):
            value = {**value, "value": limit.get("value")} if kind == "Quantity" else copy.deepcopy(limit)
    return value


def different(value: Any) -> Any:
    """A value of the same JSON kind that is not `value`."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "-other"
    return "other"
