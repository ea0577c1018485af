"""Terminology bindings: codes against the bound value set, displays against their code system.

- required: a code outside the value set is an error (a CodeableConcept needs one coding in it);
- extensible: the same finding is a warning;
- preferred / example: membership is not checked;
- a display that is none of the designations of a known CodeSystem is a warning (any strength);
- when membership cannot be decided offline (SNOMED CT, LOINC, a value set we do not have), one
  information issue says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from imgfhir.outcome import Issue, Severity
from imgfhir.terminology import CodeCheck, Terminology
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule

BINDABLE = frozenset({"code", "Coding", "CodeableConcept", "CodeableReference", "Quantity", "string", "uri"})
# Quantity profiles (SimpleQuantity, Duration, Age, ...) are validated as Quantity
_QUANTITY_LIKE = frozenset({"Quantity", "SimpleQuantity", "Age", "Distance", "Duration", "Count", "MoneyQuantity"})
RULE = "binding"
CHECKED = ("required", "extensible")

Coded = tuple[str | None, str, str | None]  # (system, code, display)


def _bindable(element: ElementPlan) -> bool:
    if element.binding is None or not element.binding.value_set:
        return False
    return any(t in BINDABLE or t in _QUANTITY_LIKE for t in element.type_codes)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _coding(value: Any) -> Coded | None:
    if not isinstance(value, dict):
        return None
    code = _str(value.get("code"))
    if code is None:
        return None
    return _str(value.get("system")), code, _str(value.get("display"))


def _codings(value: Any) -> list[Coded]:
    """The codings of a CodeableConcept (None entries and code-less codings dropped)."""
    if not isinstance(value, dict):
        return []
    raw = value.get("coding")
    return [c for c in map(_coding, raw if isinstance(raw, list) else []) if c is not None]


def _type_of(element: ElementPlan, item: Item) -> str | None:
    if item.type:
        return item.type
    return element.type_codes[0] if len(element.type_codes) == 1 else None


@rule(RULE, "item", applies=_bindable)
def binding(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    assert element.binding is not None and element.binding.value_set
    strength = element.binding.strength
    value_set = element.binding.value_set
    type_code = _type_of(element, item)
    value = item.value
    if type_code == "CodeableReference":
        value = value.get("concept") if isinstance(value, dict) else None
        if value is None:
            return  # a reference only: nothing coded to check
        type_code = "CodeableConcept"
    if type_code in ("code", "string", "uri"):
        if isinstance(value, str):
            yield from _check(ctx.terminology, item, strength, value_set, [(None, value, None)], "code")
    elif type_code == "Coding":
        coded = _coding(value)
        if coded is not None:
            yield from _check(ctx.terminology, item, strength, value_set, [coded], "Coding")
    elif type_code == "CodeableConcept":
        codings = _codings(value)
        if codings:
            yield from _check(ctx.terminology, item, strength, value_set, codings, "CodeableConcept")
        elif strength == "required" and isinstance(value, dict):
            yield issue(
                "error",
                "code-invalid",
                f"no code provided, and a code from value set {value_set} is required",
                item,
                RULE,
            )
    elif type_code in _QUANTITY_LIKE and isinstance(value, dict) and isinstance(value.get("code"), str):
        unit = (_str(value.get("system")), value["code"], None)
        yield from _check(ctx.terminology, item, strength, value_set, [unit], "Quantity")


def _check(
    term: Terminology, item: Item, strength: str, value_set: str, coded: list[Coded], kind: str
) -> Iterator[Issue]:
    # displays: judged against the code system whatever the strength
    for system, code, display in coded:
        if system is not None and display is not None and term.check_display(system, code, display) is False:
            cs = term.code_system(system)
            concept = cs.get(code) if cs else None
            expected = concept.display if concept else None
            yield issue(
                "warning",
                "code-invalid",
                f"wrong display '{display}' for {system}#{code}" + (f": expected '{expected}'" if expected else ""),
                item,
                RULE,
            )
    if strength not in CHECKED:
        return
    checks: list[tuple[Coded, CodeCheck]] = [(c, term.validate_code(value_set, c[0], c[1], None)) for c in coded]
    if any(check.valid for _, check in checks):
        return
    undecided = [check for _, check in checks if check.valid is None]
    if undecided:
        reason = undecided[0].reason or "cannot be decided offline"
        yield issue(
            "information",
            "informational",
            f"binding to {value_set} not checked offline: {reason}",
            item,
            RULE,
        )
        return
    severity: Severity = "error" if strength == "required" else "warning"
    shown = ", ".join(f"{s}#{c}" if s else f"'{c}'" for s, c, _ in coded)
    if kind == "CodeableConcept" and len(coded) > 1:
        message = f"none of the codings ({shown}) is in the {strength} value set {value_set}"
    elif kind == "Quantity":
        message = f"unit {shown} is not in the {strength} value set {value_set}"
    else:
        message = checks[0][1].message + f" ({strength} binding)"
    yield issue(severity, "code-invalid", message, item, RULE)
