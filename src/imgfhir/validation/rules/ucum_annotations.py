"""UCUM annotations (`{...}`) in a Quantity's code: a best-practice message, as InstanceValidator.checkQuantity
reports it (bpCheck, at the level of the --best-practice option, a warning by default)."""

from __future__ import annotations

from collections.abc import Iterator

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.rules.invariants import BEST_PRACTICE_LEVELS

UCUM = "http://unitsofmeasure.org"
_NONE: tuple[Issue, ...] = ()


def _is_quantity(element: ElementPlan) -> bool:
    return "Quantity" in element.type_codes


@rule("ucum-annotation", applies=_is_quantity, reads=("type",))
def ucum_annotation(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """A UCUM code with an annotation: without a unit (TYPE_SPECIFIC_CHECKS_DT_QTY_UCUM_ANNOTATIONS_NO_UNIT),
    with a unit that does not contain the annotation's text, ignoring case (_NOT_IN_UNIT), or else
    (_ANNOTATIONS): annotations carry no meaning for a UCUM processor, so the unit should say it.
    Only the Quantity type itself is checked (not Age, Duration, ...), as the reference does."""
    value = item.value
    if item.type != "Quantity" or type(value) is not dict:
        return iter(_NONE)
    code = value.get("code")
    if type(code) is not str or "{" not in code or value.get("system") != UCUM:
        return iter(_NONE)
    start, end = code.find("{"), code.find("}")
    severity = BEST_PRACTICE_LEVELS[ctx.validator.best_practice]
    if end <= 0 or start >= end or severity is None:
        return iter(_NONE)
    annotation, text = code[start : end + 1], code[start + 1 : end]
    unit = value.get("unit")
    if not isinstance(unit, str):
        message = f"the UCUM code {code!r} has the annotation {annotation} but the quantity has no unit to explain it"
    elif text.lower() not in unit.lower():
        message = f"the UCUM code {code!r} has the annotation {annotation}, which the unit {unit!r} does not mention"
    else:
        message = f"the UCUM code {code!r} has the annotation {annotation}: annotations carry no meaning in UCUM"
    return iter((issue(severity, "business-rule", message, item, "ucum-annotation"),))
