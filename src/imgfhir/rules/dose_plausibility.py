"""Plausibility of radiation dose figures (optional rule set, off by default).

Checks the components of Radiation Dose Summary Observations (R4) and of the EU imaging radiation
dose Observations (R4 and R5) whose code is one of the DICOM dose concepts below:

- negative values (no dose, time, activity or volume is below zero);
- units that do not measure that quantity (CTDIvol in mGy.cm, DLP in mGy, DAP not an area-dose
  product, ...), read from the UCUM code, else from the human-readable unit;
- figures beyond generous bounds, far above anything clinically reported; the source of each bound
  is given next to it.

Every finding is a warning with rule "dose-plausibility", located at the component's value.
Use it with `Validator(rules=dose_plausibility.RULES)`, or as the `dose-plausibility` entry point
of the `imgfhir.rules` plugin group.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeGuard

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, Rule, issue
from imgfhir.validation.plugins import for_resources

RULE_NAME = "dose-plausibility"

RDS_PROFILE = "http://hl7.org/fhir/uv/radiation-dose-summary/StructureDefinition/radiation-dose-summary"
EU_DOSE_PROFILES = (
    "http://hl7.eu/fhir/imaging/StructureDefinition/ObservationRadiationDoseEuImaging",
    "http://hl7.eu/fhir/imaging-r5/StructureDefinition/ObservationRadiationDoseEuImaging",
)
DCM_SYSTEMS = frozenset({"http://dicom.nema.org/resources/ontology/DCM", "urn:oid:1.2.840.10008.2.16.4"})
UCUM = "http://unitsofmeasure.org"

Dimension = frozenset[tuple[str, int]]


def _dim(**exponents: int) -> Dimension:
    return frozenset(exponents.items())


DOSE = _dim(Gy=1)
DOSE_LENGTH = _dim(Gy=1, m=1)
DOSE_AREA = _dim(Gy=1, m=2)
TIME = _dim(s=1)
ACTIVITY = _dim(Bq=1)
VOLUME = _dim(m=3)
EQUIVALENT_DOSE = _dim(Sv=1)


@dataclass(frozen=True, slots=True)
class DoseQuantity:
    """What a DICOM dose concept measures, the units it may be given in, and an upper bound (in SI)."""

    label: str
    dimension: Dimension
    measures: str  # "absorbed dose", for messages
    usual_units: str  # for messages
    bound: float | None = None  # SI units of the dimension (Gy, Gy.m, Gy.m2, s, Bq, m3, Sv)
    bound_text: str = ""


# Bounds are deliberately generous: a figure above them is a unit slip or a data error, not a dose.
# CTDIvol: the AAPM alert value of 1000 mGy ("AAPM Recommendations Regarding Notification and Alert
# Values for CT Scanners", 2011; the Dose Check alert of NEMA XR 25) is a level scanners refuse to
# reach without confirmation.
_CTDIVOL = DoseQuantity("CTDIvol", DOSE, "absorbed dose", "mGy", 1.0, "1000 mGy")
# DLP: that CTDIvol alert value (1000 mGy) over a 100 cm scan length = 100000 mGy.cm = 1 Gy.m.
_DLP = DoseQuantity("DLP", DOSE_LENGTH, "dose-length product", "mGy.cm", 1.0, "100000 mGy.cm")
# DAP (kerma-area product): 20 times the NCRP Report 168 (2010) substantial radiation dose level for
# fluoroscopically guided interventions, P_KA = 500 Gy.cm2, i.e. 10000 Gy.cm2 = 1 Gy.m2.
_DAP = DoseQuantity("DAP", DOSE_AREA, "dose-area product", "Gy.m2, dGy.cm2, cGy.cm2, mGy.cm2, uGy.m2", 1.0, "1 Gy.m2")
# Reference-point air kerma / entrance dose: 20 times the NCRP Report 168 substantial radiation dose
# level K_a,r = 5 Gy, i.e. 100 Gy.
_RP_DOSE = DoseQuantity("reference point dose", DOSE, "absorbed dose (air kerma)", "mGy", 100.0, "100 Gy")
# Average glandular dose: about 30 times the MQSA limit of 3 mGy per view (21 CFR 900.12(e)(5)(vi)),
# i.e. 100 mGy, above any accumulated mammography or tomosynthesis examination.
_AGD = DoseQuantity("average glandular dose", DOSE, "absorbed dose", "mGy", 0.1, "100 mGy")
# Irradiation times: one day (86400 s); no single procedure irradiates for longer.
_TIME = DoseQuantity("irradiation time", TIME, "time", "s, min, h", 86400.0, "24 h")
# Administered activity: 100 GBq, about 9 times the largest usual therapeutic administration
# (11.1 GBq = 300 mCi of I-131, SNMMI/EANM guidelines for differentiated thyroid cancer).
_ACTIVITY = DoseQuantity("administered activity", ACTIVITY, "activity", "MBq, GBq, mCi", 1e11, "100 GBq")
_VOLUME = DoseQuantity("radiopharmaceutical volume", VOLUME, "volume", "mL, cm3")
_EFFECTIVE = DoseQuantity("effective dose", EQUIVALENT_DOSE, "effective dose", "mSv")

# DICOM PS3.16 codes (DCM) of the dose summary concepts (RDS component value set, TID 10001-10022)
QUANTITIES: dict[str, DoseQuantity] = {
    "113830": _CTDIVOL,  # Mean CTDIvol
    "113838": _DLP,  # DLP
    "113813": _DLP,  # CT Dose Length Product Total
    "113722": _DAP,  # Dose Area Product Total
    "113726": _DAP,  # Fluoro Dose Area Product Total
    "113727": _DAP,  # Acquisition Dose Area Product Total
    "122130": _DAP,  # Dose Area Product
    "113725": _RP_DOSE,  # Dose (RP) Total
    "113728": _RP_DOSE,  # Fluoro Dose (RP) Total
    "113729": _RP_DOSE,  # Acquisition Dose (RP) Total
    "113738": _RP_DOSE,  # Dose (RP)
    "111636": _RP_DOSE,  # Entrance Exposure at RP
    "111637": _AGD,  # Accumulated Average Glandular Dose
    "111631": _AGD,  # Average Glandular Dose
    "113730": _TIME,  # Total Fluoro Time
    "113855": _TIME,  # Total Acquisition Time
    "113507": _ACTIVITY,  # Administered activity
    "123005": _VOLUME,  # Radiopharmaceutical Volume
    "113839": _EFFECTIVE,  # Effective Dose
}
# counts that cannot be negative (valueInteger or valueQuantity)
COUNTS: dict[str, str] = {"113731": "number of radiographic frames"}  # Total Number of Radiographic Frames

# -- a small UCUM subset: enough to tell a dose from a dose-length or dose-area product --------------

_PREFIXES = {
    "": 1.0, "da": 1e1, "h": 1e2, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "d": 1e-1, "c": 1e-2, "m": 1e-3, "u": 1e-6, "n": 1e-9, "p": 1e-12,
}  # fmt: skip
_BASES: dict[str, tuple[Dimension, float]] = {
    "Gy": (DOSE, 1.0),
    "Sv": (EQUIVALENT_DOSE, 1.0),
    "m": (_dim(m=1), 1.0),
    "s": (TIME, 1.0),
    "Bq": (ACTIVITY, 1.0),
    "Ci": (ACTIVITY, 3.7e10),
    "L": (VOLUME, 1e-3),
    "l": (VOLUME, 1e-3),
}
_UNPREFIXED: dict[str, tuple[Dimension, float]] = {"min": (TIME, 60.0), "h": (TIME, 3600.0), "d": (TIME, 86400.0)}
_TOKEN = re.compile(r"([A-Za-z]+)(\d*)")


def parse_unit(unit: str) -> tuple[Dimension, float] | None:
    """(dimension, factor to SI) of a UCUM-like unit such as `mGy.cm2`, `Gy·cm²`, `µGy*m^2`; None if unknown."""
    text = unit.strip().replace("²", "2").replace("³", "3").replace("µ", "u").replace("μ", "u").replace("^", "")
    if not text:
        return None
    exponents: dict[str, int] = {}
    factor = 1.0
    for token in re.split(r"[.·* ]+", text.replace("\N{MULTIPLICATION SIGN}", ".")):
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        name, power = match.group(1), int(match.group(2) or "1")
        found = _unit_token(name)
        if found is None:
            return None
        dimension, scale = found
        for base, exp in dimension:
            exponents[base] = exponents.get(base, 0) + exp * power
        factor *= scale**power
    return frozenset((b, e) for b, e in exponents.items() if e), factor


def _unit_token(name: str) -> tuple[Dimension, float] | None:
    if name in _UNPREFIXED:
        return _UNPREFIXED[name]
    for size in (0, 1, 2):
        prefix, base = name[:size], name[size:]
        if prefix in _PREFIXES and base in _BASES:
            dimension, scale = _BASES[base]
            return dimension, scale * _PREFIXES[prefix]
    return None


# -- the rule --------------------------------------------------------------------------------------


def _concept(code: Any) -> str | None:
    codings = code.get("coding") if isinstance(code, dict) else None
    for coding in codings if isinstance(codings, list) else ():
        if not isinstance(coding, dict) or coding.get("system") not in DCM_SYSTEMS:
            continue
        code_value = coding.get("code")
        if isinstance(code_value, str) and (code_value in QUANTITIES or code_value in COUNTS):
            return code_value
    return None


def _unit_of(quantity: dict[str, Any]) -> str | None:
    code, unit = quantity.get("code"), quantity.get("unit")
    if quantity.get("system") == UCUM and isinstance(code, str):
        return code
    if isinstance(unit, str):
        return unit
    return code if isinstance(code, str) else None


def _warn(code: str, message: str, at: Item) -> Issue:
    return issue("warning", code, message, at, RULE_NAME)


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_quantity(kind: DoseQuantity, quantity: dict[str, Any], at: Item) -> Iterator[Issue]:
    value = quantity.get("value")
    unit = _unit_of(quantity)
    if _is_number(value) and value < 0:
        yield _warn("value", f"{kind.label} is negative ({value}{' ' + unit if unit else ''})", at)
    if unit is None:
        message = f"{kind.label} has no unit (expected a unit of {kind.measures}, e.g. {kind.usual_units})"
        yield _warn("value", message, at)
        return
    parsed = parse_unit(unit)
    if parsed is None or parsed[0] != kind.dimension:
        message = f"{kind.label} in {unit!r}: not a unit of {kind.measures} (expected e.g. {kind.usual_units})"
        yield _warn("value", message, at)
        return
    # the tolerance keeps a figure exactly at the bound (100000 mGy.cm) from tripping on rounding
    if kind.bound is not None and _is_number(value) and value * parsed[1] > kind.bound * (1 + 1e-9):
        message = f"{kind.label} of {value} {unit} is implausible (above {kind.bound_text})"
        yield _warn("business-rule", message, at)


def dose_component(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """One Observation.component: its dose value, if the code is a known dose concept."""
    component = item.value
    if not isinstance(component, dict):
        return
    concept = _concept(component.get("code"))
    if concept is None:
        return
    for key in ("valueQuantity", "valueInteger"):
        value = component.get(key)
        if value is None:
            continue
        at = Item(value, f"{item.expression}.{key}", (*item.pointer, key))
        kind = QUANTITIES.get(concept)
        if kind is not None and isinstance(value, dict):
            yield from check_quantity(kind, value, at)
        elif concept in COUNTS:
            number = value.get("value") if isinstance(value, dict) else value
            if _is_number(number) and number < 0:
                yield _warn("value", f"{COUNTS[concept]} is negative ({number})", at)


RULES: list[Rule] = [
    for_resources(
        RULE_NAME,
        dose_component,
        resource_types=("Observation",),
        profiles=(RDS_PROFILE, *EU_DOSE_PROFILES),
        path="Observation.component",
    )
]
