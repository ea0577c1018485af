"""UCUM units (https://ucum.org/ucum): validity, canonical form, commensurability and conversion.

One module for every layer that meets units: FHIRPath quantities, minValue/maxValue bounds and the
offline terminology. Unit expressions are parsed with the UCUM grammar of `ucumvert` (a lark
grammar generated from the UCUM essence) and reduced, in exact decimal arithmetic, through the unit
definitions of the UCUM essence file that `ucumvert` ships -- as the reference validator's
ucum-java does. ucumvert's own conversion layer goes through pint, whose definitions disagree with
UCUM for a number of units (`[Cal]`, `'`, `[cft_i]`, `m[Hg]`, ...; see tests/test_ucum.py), so it
is not used.

A canonical unit is a factor and a dimension vector over the seven UCUM base units (m, s, g, rad,
K, C, cd); an arbitrary unit (`[iU]`, `[arb'U]`) is a dimension of its own, commensurable only with
itself. Special units: the temperatures (Cel, [degF], [degRe]) convert with their offset when they
stand alone; the other special units (logarithms, pH, ...) compare only with the same unit.
"""

from __future__ import annotations

import importlib.util
from decimal import Context, Decimal, InvalidOperation, localcontext
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, NamedTuple

Dims = tuple[tuple[str, int], ...]

_CTX = Context(prec=50)
_ONE = Decimal(1)
_NS = "{http://unitsofmeasure.org/ucum-essence}"
# offsets to kelvin of the special units that are linear: K = value * factor + offset
_TEMPERATURE_OFFSET = {"Cel": Decimal("273.15"), "degF": Decimal("459.67"), "degRe": Decimal("218.52")}


class Unit(NamedTuple):
    """A unit reduced to UCUM base units: `value * factor + offset` is the value in base units.
    `special` names a special unit with a non-linear scale (only the same unit compares with it)."""

    factor: Decimal
    dims: Dims
    offset: Decimal = Decimal(0)
    special: str | None = None


class _Term(NamedTuple):
    factor: Decimal
    dims: dict[str, int]
    special: str | None = None  # a special unit inside the term (only valid alone, power 1)
    offset: Decimal = Decimal(0)


class _Definition(NamedTuple):
    value: Decimal
    unit: str  # the defining unit expression
    arbitrary: bool
    function: str | None  # special units: the function's name (Cel, degF, pH, ...)


def _package_dir() -> Path:
    spec = importlib.util.find_spec("ucumvert")  # finds the files without importing ucumvert (and pint)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("ucumvert is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def _parser() -> Any:
    from lark import Lark

    grammar = (_package_dir() / "ucum_grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, start="main_term", strict=True)


@cache
def _essence() -> tuple[dict[str, Decimal], frozenset[str], dict[str, _Definition]]:
    """Prefixes (code -> factor), base units, and unit definitions of the UCUM essence."""
    from xml.etree import ElementTree  # on first use: most validations meet no unit to convert

    root = ElementTree.parse(_package_dir() / "vendor" / "ucum-essence.xml").getroot()  # a file the package ships
    prefixes = {
        p.attrib["Code"]: Decimal(value.attrib["value"])
        for p in root.iter(f"{_NS}prefix")
        if (value := p.find(f"{_NS}value")) is not None
    }
    bases = frozenset(b.attrib["Code"] for b in root.iter(f"{_NS}base-unit"))
    units: dict[str, _Definition] = {}
    for u in root.iter(f"{_NS}unit"):
        value = u.find(f"{_NS}value")
        if value is None:
            continue
        function = value.find(f"{_NS}function")
        if function is not None:
            units[u.attrib["Code"]] = _Definition(
                Decimal(function.attrib["value"]), function.attrib["Unit"], False, function.attrib["name"]
            )
        else:
            arbitrary = u.attrib.get("isArbitrary") == "yes"
            units[u.attrib["Code"]] = _Definition(
                Decimal(value.attrib.get("value", "1")), value.attrib["Unit"], arbitrary, None
            )
    return prefixes, bases, units


def _multiply(a: _Term, b: _Term, power: int = 1) -> _Term:
    dims = dict(a.dims)
    for dim, p in b.dims.items():
        dims[dim] = dims.get(dim, 0) + p * power
    with localcontext(_CTX):
        factor = a.factor * b.factor if power > 0 else a.factor / b.factor
    return _Term(factor, {k: v for k, v in dims.items() if v}, a.special or b.special)


def _power(t: _Term, exponent: int) -> _Term:
    if exponent == 1:
        return t
    with localcontext(_CTX):
        factor = t.factor**exponent
    return _Term(factor, {k: v * exponent for k, v in t.dims.items()}, t.special)


_UNITY = _Term(_ONE, {})


@lru_cache(maxsize=1024)
def _atom(code: str) -> _Term:
    """A unit atom of the essence reduced to base units (KeyError: not a UCUM atom)."""
    _, bases, units = _essence()
    if code in bases:
        return _Term(_ONE, {code: 1})
    definition = units[code]
    if definition.arbitrary and definition.unit == "1":
        return _Term(_ONE, {code: 1})
    term = _evaluate(_parser().parse(definition.unit))
    with localcontext(_CTX):
        scaled = _Term(term.factor * definition.value, term.dims, term.special)
    if definition.function is None:
        return scaled
    if definition.function in _TEMPERATURE_OFFSET:
        with localcontext(_CTX):
            offset = _TEMPERATURE_OFFSET[definition.function] * scaled.factor
        return _Term(scaled.factor, scaled.dims, None, offset)
    return _Term(scaled.factor, scaled.dims, code)


def _simple(children: list[Any]) -> _Term:
    if len(children) == 1:
        token = children[0]
        if token.type == "FACTOR":
            return _Term(Decimal(str(token)), {})
        return _atom(str(token))
    prefixes = _essence()[0]
    atom = _atom(str(children[1]))
    with localcontext(_CTX):
        return _Term(prefixes[str(children[0])] * atom.factor, atom.dims, atom.special, atom.offset)


def _evaluate(node: Any) -> _Term:
    """The term a parse tree of the UCUM grammar stands for (ValueError: not a valid unit)."""
    if not hasattr(node, "data"):  # a bare token: an annotation stands for unity
        if node.type == "ANNOTATION":
            return _UNITY
        raise ValueError(f"unexpected {node.type}")
    kids = node.children
    kind = str(node.data)
    if kind == "main_term":
        if len(kids) == 2:  # a leading division: /m
            return _multiply(_UNITY, _evaluate(kids[1]), -1)
        return _evaluate(kids[0])
    if kind == "term":
        left, right = _evaluate(kids[0]), _evaluate(kids[2])
        if left.offset or right.offset:
            left, right = left._replace(special=left.special or "offset"), right._replace(special="offset")
        return _multiply(left, right, -1 if str(kids[1]) == "/" else 1)
    if kind == "component":  # a unit with its annotation: the annotation carries no meaning
        return _evaluate(kids[0])
    if kind == "annotatable":
        base = kids[0]
        if hasattr(base, "data") and str(base.data) == "simple_unit" and base.children[0].type == "FACTOR":
            raise ValueError("an exponent on a number (10+3 is not 10*3)")
        term = _evaluate(base)
        exponent = int(str(kids[1]))
        if term.offset and exponent != 1:
            term = term._replace(special="offset")
        return _power(term, exponent)
    if kind == "simple_unit":
        return _simple(kids)
    raise ValueError(f"unexpected {kind}")


@lru_cache(maxsize=4096)
def canonical(code: str) -> Unit | None:
    """The unit a UCUM code stands for, reduced to base units; None for an invalid code."""
    if not code or code != code.strip():
        return None
    from lark.exceptions import LarkError

    try:
        term = _evaluate(_parser().parse(code))
    except (LarkError, ValueError, KeyError, InvalidOperation):
        return None
    dims = tuple(sorted(term.dims.items()))
    if term.special == "offset":  # a temperature inside a product: a difference of temperatures
        return Unit(term.factor, dims)
    return Unit(term.factor, dims, term.offset, term.special)


def is_valid(code: str) -> bool:
    """Is `code` a valid UCUM unit expression (case-sensitive codes)?"""
    return canonical(code) is not None


def commensurable(a: str, b: str) -> bool:
    """Can a value in unit `a` be converted to unit `b`?"""
    ua, ub = canonical(a), canonical(b)
    if ua is None or ub is None:
        return False
    if ua.special or ub.special:
        return a == b
    return ua.dims == ub.dims


def to_base(value: Decimal, code: str) -> tuple[Decimal, Dims] | None:
    """`value` in `code` expressed in base units (with the offset of a temperature); None when the
    unit is invalid or non-linear."""
    unit = canonical(code)
    if unit is None or unit.special:
        return None
    with localcontext(_CTX):
        return value * unit.factor + unit.offset, unit.dims


def convert(value: Decimal, source: str, target: str) -> Decimal | None:
    """`value` in unit `source` expressed in unit `target`; None when the units are invalid or not
    commensurable (as ucum-java's UcumService.convert fails)."""
    if source == target and is_valid(source):
        return value
    a, b = canonical(source), canonical(target)
    if a is None or b is None or a.special or b.special or a.dims != b.dims:
        return None
    with localcontext(_CTX):
        return (value * a.factor + a.offset - b.offset) / b.factor


def unit_string(dims: Dims) -> str:
    """A UCUM code for the dimension vector, in base units (`g.m-1`, `1` for unity)."""
    parts = [f"{d}{p if p != 1 else ''}" for d, p in dims if p > 0]
    below = [f"{d}{-p if p != -1 else ''}" for d, p in dims if p < 0]
    return (".".join(parts) or "1") + (f"/{'.'.join(below)}" if below else "")
