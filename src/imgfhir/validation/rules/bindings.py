"""Terminology bindings: codes against the bound value set and against their own code system.

As the reference validator (InstanceValidator.checkCodeableConcept / checkCodedElement and
ValueSetValidator) reports them:

- membership: required → error, extensible → warning, preferred / example → not checked; a
  membership that cannot be decided offline (SNOMED CT, LOINC, a value set or code system content
  we do not have) is one information issue saying so, never a silent pass;
- the R4 maxValueSet extension is checked only when the binding is extensible and no code is in
  its value set (InstanceValidator.checkMaxValueSet): an error (rule `binding-max`);
- each coding against its CodeSystem, whatever the strength (rule `code-in-system`): unknown in a
  complete system → error, unknown in a fragment → warning, example / not-present content → not
  checked (information); a supplement named as Coding.system → error;
- concept status (rule `code-inactive`): an inactive / retired / deprecated concept → warning; a
  value set with compose.inactive = false rejects it (error); a value set that marks a listed
  concept deprecated → warning;
- a display that is none of the designations of a known CodeSystem is a warning (any strength).

Additional bindings (R5 binding.additional, R4 additional-binding extension) are in
additional_bindings.py; they reuse `coded_values` and `judge` from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from imgfhir.outcome import Issue, Severity
from imgfhir.terminology import CodeCheck, Terminology
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule

BINDABLE = frozenset({"code", "Coding", "CodeableConcept", "CodeableReference", "Quantity", "string", "uri"})
# Quantity profiles (SimpleQuantity, Duration, Age, ...) are validated as Quantity
QUANTITY_LIKE = frozenset({"Quantity", "SimpleQuantity", "Age", "Distance", "Duration", "Count", "MoneyQuantity"})
RULE = "binding"
MAX_RULE = "binding-max"
CODE_RULE = "code-in-system"
STATUS_RULE = "code-inactive"
CHECKED = ("required", "extensible")
_STATUS_KEYS = frozenset({"INACTIVE_CONCEPT_FOUND", "DEPRECATED_CONCEPT_FOUND"})

MAX_VALUE_SET = "http://hl7.org/fhir/StructureDefinition/elementdefinition-maxValueSet"


@dataclass(frozen=True, slots=True)
class Coded:
    """One code an item carries, and where it sits (the coding itself inside a CodeableConcept)."""

    system: str | None
    code: str
    display: str | None
    at: Item

    @property
    def shown(self) -> str:
        return f"{self.system}#{self.code}" if self.system else f"'{self.code}'"


def bindable_type(element: ElementPlan) -> bool:
    return any(t in BINDABLE or t in QUANTITY_LIKE for t in element.type_codes)


def _bindable(element: ElementPlan) -> bool:
    if element.binding is None or not (element.binding.value_set or max_value_set(element)):
        return False
    return bindable_type(element)


def max_value_set(element: ElementPlan) -> str | None:
    """The R4 maxValueSet extension on the binding (R5 says it with an additional binding, maximum)."""
    if "binding:max" not in element.memo:
        found: str | None = None
        raw = element.ed.get("binding")
        for ext in raw.get("extension") or [] if isinstance(raw, dict) else []:
            if isinstance(ext, dict) and ext.get("url") == MAX_VALUE_SET:
                value = ext.get("valueCanonical") or ext.get("valueUri")
                found = value if isinstance(value, str) else found
        element.memo["binding:max"] = found
    value = element.memo["binding:max"]
    return value if isinstance(value, str) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _coding(value: Any, at: Item) -> Coded | None:
    if not isinstance(value, dict):
        return None
    code = _str(value.get("code"))
    if code is None:
        return None
    return Coded(_str(value.get("system")), code, _str(value.get("display")), at)


def _codings(value: dict[str, Any], item: Item) -> list[Coded]:
    """The codings of a CodeableConcept (None entries and code-less codings dropped)."""
    raw = value.get("coding")
    found = []
    for i, entry in enumerate(raw if isinstance(raw, list) else []):
        coded = _coding(entry, item.child("coding", entry, i, "Coding"))
        if coded is not None:
            found.append(coded)
    return found


def _type_of(element: ElementPlan, item: Item) -> str | None:
    if item.type:
        return item.type
    return element.type_codes[0] if len(element.type_codes) == 1 else None


def coded_values(element: ElementPlan, item: Item) -> tuple[list[Coded], str] | None:
    """The codes an item carries and the kind of value holding them (None: nothing to check)."""
    type_code = _type_of(element, item)
    value = item.value
    if type_code == "CodeableReference":
        value = value.get("concept") if isinstance(value, dict) else None
        if not isinstance(value, dict):
            return None  # a reference only: nothing coded to check
        item = item.child("concept", value, None, "CodeableConcept")
        type_code = "CodeableConcept"
    if type_code in ("code", "string", "uri"):
        return ([Coded(None, value, None, item)], "code") if isinstance(value, str) else None
    if type_code == "Coding":
        coded = _coding(value, item)
        return ([coded], "Coding") if coded is not None else None
    if type_code == "CodeableConcept":
        return (_codings(value, item), "CodeableConcept") if isinstance(value, dict) else None
    if type_code in QUANTITY_LIKE and isinstance(value, dict) and isinstance(value.get("code"), str):
        return [Coded(_str(value.get("system")), value["code"], None, item)], "Quantity"
    return None


@rule(RULE, "item", applies=_bindable, reads=("binding", "type"))
def binding(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    assert element.binding is not None
    found = coded_values(element, item)
    if found is None:
        return
    coded, kind = found
    term = ctx.terminology
    value_set = element.binding.value_set
    yield from _displays(term, coded)
    yield from code_system_findings(term, coded, value_set)
    if not value_set:
        return
    strength = element.binding.strength
    issues, valid = judge(term, item, strength, value_set, coded, kind, "")
    yield from issues
    maximum = max_value_set(element)
    if maximum and strength == "extensible" and valid is False:
        yield from _check_max(term, item, maximum, value_set, coded)


def _displays(term: Terminology, coded: list[Coded]) -> Iterator[Issue]:
    """Displays are judged against the code system whatever the strength."""
    for c in coded:
        if c.system is None or c.display is None or term.check_display(c.system, c.code, c.display) is not False:
            continue
        cs = term.code_system(c.system)
        concept = cs.get(c.code) if cs else None
        expected = f": expected '{concept.display}'" if concept and concept.display else ""
        yield issue("warning", "code-invalid", f"wrong display '{c.display}' for {c.shown}{expected}", c.at, RULE)


def _system_of(term: Terminology, c: Coded, value_set: str | None) -> str | None:
    """The coding's system; for a plain code the one system the bound value set lists it under
    (ValueSetValidator.systemForCodeInValueSet)."""
    if c.system is not None or value_set is None:
        return c.system
    exp = term.expansion(value_set)
    systems = exp.systems_for(c.code) if exp is not None else set()
    return next(iter(systems)) if len(systems) == 1 else None


def code_system_findings(term: Terminology, coded: list[Coded], value_set: str | None) -> Iterator[Issue]:
    """Each code against its own CodeSystem (unknown code, content not enumerable, inactive concept)."""
    for c in coded:
        system = _system_of(term, c, value_set)
        if system is None:
            continue
        for found in term.code_findings(system, c.code):
            rule_id = STATUS_RULE if found.key in _STATUS_KEYS else CODE_RULE
            yield issue(found.severity, found.code, found.message, c.at, rule_id)


def judge(
    term: Terminology, item: Item, strength: str, value_set: str, coded: list[Coded], kind: str, label: str
) -> tuple[list[Issue], bool | None]:
    """Membership issues of a binding of `strength` ("" label: the element's own binding, else
    e.g. "additional binding (maximum)"), and whether some code is in the value set (None: unknown)."""
    rule_id = RULE if not label else "binding-additional"
    bound = f"{label} " if label else ""
    if strength not in CHECKED:
        return [], None
    if not coded:  # a CodeableConcept with text only (InstanceValidator.validateBindingCodeableConcept)
        if strength == "required":
            message = f"no code provided, and a code from the {bound}value set {value_set} is required"
            return [issue("error", "code-invalid", message, item, rule_id)], False
        message = f"no code provided, and a code should be provided from the {bound}value set {value_set}"
        return [issue("warning", "code-invalid", message, item, rule_id)], False
    checks = [(c, term.validate_code(value_set, c.system, c.code, None)) for c in coded]
    issues = list(_value_set_notes(term, value_set, checks))
    if any(check.valid for _, check in checks):
        return issues, True
    undecided = [check for _, check in checks if check.valid is None]
    if undecided:
        reason = undecided[0].reason or "cannot be decided offline"
        message = f"{bound or 'binding '}to {value_set} not checked offline: {reason}"
        issues.append(issue("information", "informational", message, item, rule_id))
        return issues, None
    severity: Severity = "error" if strength == "required" else "warning"
    shown = ", ".join(c.shown for c in coded)
    where = f"value set {value_set} of the {label}" if label else f"{strength} value set {value_set}"
    if kind == "CodeableConcept" and len(coded) > 1:
        message = f"none of the codings ({shown}) is in the {where}"
    elif kind == "Quantity":
        message = f"unit {shown} is not in the {where}"
    elif label:
        message = f"{shown} is not in the {where}"
    else:
        message = checks[0][1].message + f" ({strength} binding)"
    issues.append(issue(severity, "code-invalid", message, item, rule_id))
    return issues, False


def _value_set_notes(term: Terminology, value_set: str, checks: list[tuple[Coded, CodeCheck]]) -> Iterator[Issue]:
    """What the value set itself says of the codes: inactive ones left out (compose.inactive =
    false: STATUS_CODE_WARNING_CODE), listed ones it deprecates (CONCEPT_DEPRECATED_IN_VALUESET)."""
    exp = term.expansion(value_set)
    if exp is None or not (exp.inactive_excluded or exp.deprecated):
        return
    for c, check in checks:
        system = _system_of(term, c, value_set)
        if system is None:
            continue
        key = (system, c.code)
        if key in exp.inactive_excluded:
            yield issue("error", "business-rule", f"The code '{c.code}' is valid but is not active", c.at, STATUS_RULE)
        elif check.valid and key in exp.deprecated:
            message = (
                f"The presence of the concept '{c.code}' in the system '{system}' in the value set {value_set}"
                f" is marked with a status of {exp.deprecated[key]} and its use should be reviewed"
            )
            yield issue("warning", "business-rule", message, c.at, STATUS_RULE)


def _check_max(term: Terminology, item: Item, maximum: str, value_set: str, coded: list[Coded]) -> Iterator[Issue]:
    """The codes are not in the extensible value set: they must be in the maximum one."""
    if not coded:
        message = f"no code provided, and a code must be provided from the value set {value_set}"
        message += f" (max value set {maximum})"
        yield issue("error", "code-invalid", message, item, MAX_RULE)
        return
    verdicts = [term.validate_code(maximum, c.system, c.code).valid for c in coded]
    if any(verdicts):
        return
    shown = ", ".join(c.shown for c in coded)
    if None in verdicts:
        yield issue("information", "informational", f"maximum value set {maximum} not checked offline", item, MAX_RULE)
        return
    yield issue("error", "code-invalid", f"{shown} is not in the maximum value set {maximum}", item, MAX_RULE)
