"""imgfhir.ucum against the UCUM functional tests and the UCUM definitions themselves.

FUNCTIONAL_* are a small selection of cases from the UCUM functional tests (UcumFunctionalTests.xml,
maintained by Grahame Grieve for the UCUM organisation, Eclipse Public License 1.0); the case ids
are theirs.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from imgfhir import ucum
from imgfhir.ucum import _essence

FUNCTIONAL_VALIDATION = [
    ("1-101", "m", True),
    ("1-102", "m/", False),
    ("1-104", "/m", True),
    ("1-106", "10*-3/ul", True),
    ("1-108", "10+3/ul", False),  # 10 is not a unit: an exponent needs a unit
    ("1-114", "4.[pi].10*-7.N/A2", True),
    ("1-115a", "rad2{\u9320}", False),  # no unicode in annotations
    ("1-116", "{a}.rad2{b}", True),
    ("1-116a", "{a}rad2{b}", False),
    ("1-149", "iU", False),
    ("1-210", "molv", False),
    ("1-263", "g/12h", False),
    ("1-345", "umol/2.h", True),
    ("k=1=002", "dyn.s/(cm5.m2)", True),
]
FUNCTIONAL_CONVERSION = [
    ("3-102", "6.3", "mm", "m", "0.0063"),
    ("3-108", "6.3", "s/m/g", "s.m-1.g-1", "6.3"),
    ("3-111a", "6.3", "s/m.mg", "s.m-1.g", "0.0063"),
    ("3-115", "6.3", "s/4/m", "s/m", "1.575"),
    ("3-118", "6.30", "[in_i]", "m", "0.160"),
    ("3-120", "6.3", "g.m.s-2.A-2", "g.m.C-2", "6.3"),
    ("3-124", "1", "[mu_0]", "g.m.C-2", "0.00125663706143591729538506"),
    ("3-125", "1", "m[Hg]", "g.s-2.m-1", "133322000"),
    ("3-126", "1", "S", "g-1.m-2.C2.s", "0.001"),
    ("3-128", "1", "1/[ly]", "cm-1", "1.05700083402461546370946e-18"),
]


@pytest.mark.parametrize(("case", "unit", "valid"), FUNCTIONAL_VALIDATION, ids=[c[0] for c in FUNCTIONAL_VALIDATION])
def test_functional_validation(case: str, unit: str, valid: bool) -> None:
    assert ucum.is_valid(unit) is valid


@pytest.mark.parametrize(
    ("case", "value", "source", "target", "outcome"), FUNCTIONAL_CONVERSION, ids=[c[0] for c in FUNCTIONAL_CONVERSION]
)
def test_functional_conversion(case: str, value: str, source: str, target: str, outcome: str) -> None:
    got = ucum.convert(Decimal(value), source, target)
    assert got is not None
    expected = Decimal(outcome)
    significant = len(expected.as_tuple().digits)  # the outcome states the precision it holds to
    assert abs(got - expected) <= abs(expected) * 5 * Decimal(10) ** -significant


def test_every_essence_definition_holds() -> None:
    """Each unit of the essence equals its definition (value x defining unit): the reduction is exact,
    where pint's own definitions (used by ucumvert's converter) are not (`[Cal]` is 1000 `cal`,
    `'` is a minute of arc, `[cft_i]` a cubic foot, `m[Hg]` exactly 133.322 kPa)."""
    _, _, units = _essence()
    checked = 0
    for code, definition in units.items():
        if definition.function or (definition.arbitrary and definition.unit == "1"):
            continue
        unit, defining = ucum.canonical(code), ucum.canonical(definition.unit)
        assert unit is not None and defining is not None, code
        assert unit.dims == defining.dims, code
        assert abs(unit.factor - defining.factor * definition.value) <= abs(unit.factor) * Decimal("1e-25"), code
        checked += 1
    assert checked > 200
    assert ucum.convert(Decimal(1), "[Cal]", "cal") == 1000
    assert ucum.convert(Decimal(60), "'", "deg") == 1
    assert ucum.convert(Decimal(1), "[cft_i]", "[ft_i]3") == 1
    assert ucum.convert(Decimal(1), "mm[Hg]", "Pa") == Decimal("133.322")


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        ("37", "Cel", "K", "310.15"),
        ("98.6", "[degF]", "Cel", "37"),
        ("90", "min", "h", "1.5"),
        ("2", "[lb_av]", "g", "907.18474"),
        ("1", "[IU]", "[iU]", "1"),
        ("1", "mg/mg", "1", "1"),
    ],
)
def test_conversions(value: str, source: str, target: str, expected: str) -> None:
    got = ucum.convert(Decimal(value), source, target)
    assert got is not None and abs(got - Decimal(expected)) < Decimal("1e-30")


@pytest.mark.parametrize(
    ("a", "b"),
    [("g/g", "g2"), ("kg", "m"), ("[IU]", "mol"), ("[pH]", "mol/l"), ("Cel", "m"), ("mg", "not-a-unit")],
)
def test_not_commensurable(a: str, b: str) -> None:
    assert not ucum.commensurable(a, b)
    assert ucum.convert(Decimal(1), a, b) is None


def test_ratio_units_reduce_by_their_structure() -> None:
    """The sign of each part comes from the parse, not from where its text first occurs."""
    assert ucum.canonical("g/g") == ucum.canonical("1")
    assert ucum.canonical("mg/mg") == ucum.canonical("1")
    unit = ucum.canonical("g/m/g")
    assert unit is not None and unit.dims == (("m", -1),)


@pytest.mark.parametrize("code", ["", " mg", "mg ", "m/", "10+3"])
def test_invalid_codes_have_no_unit(code: str) -> None:
    assert ucum.canonical(code) is None
