"""Terminology bindings: codes against the bound value set, displays against their code system.

- required: a code outside the value set is an error (a CodeableConcept needs one coding in it);
- extensible: the same finding is a warning;
- preferred / example: membership is not checked;
- a display that is none of the designations of a known CodeSystem is a warning (any strength);
- a code outside the maximum value set (R4 maxValueSet or additional-binding extension, R5
  additional binding, with purpose "maximum") is an error whatever the strength; the other purposes
  of additional bindings (candidate, starter, ui, preferred, ...) set no rule for an instance;
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


MAX_VALUE_SET = "http://hl7.org/fhir/StructureDefinition/elementdefinition-maxValueSet"
ADDITIONAL_BINDING = "http://hl7.org/fhir/tools/StructureDefinition/additional-binding"


def _bindable(element: ElementPlan) -> bool:
    if element.binding is None or not (element.binding.value_set or maximum_value_set(element)):
        return False
    return any(t in BINDABLE or t in _QUANTITY_LIKE for t in element.type_codes)


def maximum_value_set(element: ElementPlan) -> str | None:
    """The binding's maximum value set: R4 maxValueSet extension or an R5 additional binding."""
    if "binding:max" not in element.memo:
        found: str | None = None
        raw = element.ed.get("binding")
        if isinstance(raw, dict):
            for ext in raw.get("extension") or []:
                if isinstance(ext, dict) and ext.get("url") == MAX_VALUE_SET:
                    value = ext.get("valueCanonical") or ext.get("valueUri")
                    found = value if isinstance(value, str) else found
                elif isinstance(ext, dict) and ext.get("url") == ADDITIONAL_BINDING:  # R5's form, in R4
                    parts = {p.get("url"): p for p in ext.get("extension") or [] if isinstance(p, dict)}
                    value = parts.get("valueSet", {}).get("valueCanonical")
                    if parts.get("purpose", {}).get("valueCode") == "maximum" and isinstance(value, str):
                        found = value
            for extra in raw.get("additional") or []:
                if (
                    isinstance(extra, dict)
                    and extra.get("purpose") == "maximum"
                    and isinstance(extra.get("valueSet"), str)
                ):
                    found = extra["valueSet"]
        element.memo["binding:max"] = found
    value = element.memo["binding:max"]
    return value if isinstance(value, str) else None


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


@rule(RULE, "item", applies=_bindable, reads=("binding", "type"))
def binding(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    assert element.binding is not None
    coded, kind = _coded(element, item)
    if kind is None:
        return
    term = ctx.terminology
    value_set = element.binding.value_set
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
    if value_set:
        yield from _check(term, item, element.binding.strength, value_set, coded, kind)
    maximum = maximum_value_set(element)
    if maximum and coded:
        checks = [term.validate_code(maximum, system, code) for system, code, _ in coded]
        if checks and all(check.valid is False for check in checks):
            shown = ", ".join(f"{s}#{c}" if s else f"'{c}'" for s, c, _ in coded)
            yield issue("error", "code-invalid", f"{shown} is not in the maximum value set {maximum}", item, RULE)


def _coded(element: ElementPlan, item: Item) -> tuple[list[Coded], str | None]:
    """The codes an item carries and the kind of value holding them (None: nothing to check)."""
    type_code = _type_of(element, item)
    value = item.value
    if type_code == "CodeableReference":
        value = value.get("concept") if isinstance(value, dict) else None
        if value is None:
            return [], None  # a reference only: nothing coded to check
        type_code = "CodeableConcept"
    if type_code in ("code", "string", "uri"):
        return ([(None, value, None)], "code") if isinstance(value, str) else ([], None)
    if type_code == "Coding":
        coded = _coding(value)
        return ([coded], "Coding") if coded is not None else ([], None)
    if type_code == "CodeableConcept":
        return (_codings(value), "CodeableConcept") if isinstance(value, dict) else ([], None)
    if type_code in _QUANTITY_LIKE and isinstance(value, dict) and isinstance(value.get("code"), str):
        return [(_str(value.get("system")), value["code"], None)], "Quantity"
    return [], None


def _check(
    term: Terminology, item: Item, strength: str, value_set: str, coded: list[Coded], kind: str
) -> Iterator[Issue]:
    if strength not in CHECKED:
        return
    if not coded:
        if strength == "required":
            message = f"no code provided, and a code from value set {value_set} is required"
            yield issue("error", "code-invalid", message, item, RULE)
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
