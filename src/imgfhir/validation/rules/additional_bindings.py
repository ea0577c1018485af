"""Additional bindings: R5 ElementDefinition.binding.additional and, in R4, the tools extension
http://hl7.org/fhir/tools/StructureDefinition/additional-binding (same parts as sub-extensions).

As InstanceValidator evaluates them (checkCodeableConcept / checkCodedElement, isTestableBinding,
convertPurposeToStrength, isInScope):

- purposes maximum and required are checked as a required binding (error), extensible as an
  extensible one (warning); preferred only reports in the reference's "base only" mode, so nothing;
  minimum, candidate, current, ui, starter and component set no rule for an instance;
- usage contexts: a binding without usage always applies. A usage whose code system is the
  profile's own URL names a path in the resource (`Observation.category`): the binding applies
  when a value there matches the usage's CodeableConcept (its first coding: system, code, and
  version if given). Any other usage applies only when it matches one of the usage contexts the
  validator was configured with (BaseValidator.isKnownUsage); none are configured offline, so such
  a binding is not evaluated. Every usage of a binding must apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, rule
from imgfhir.validation.rules.bindings import bindable_type, coded_values, judge

ADDITIONAL_BINDING = "http://hl7.org/fhir/tools/StructureDefinition/additional-binding"
RULE = "binding-additional"
# purpose → the strength it is checked with (InstanceValidator.convertPurposeToStrength)
CHECKED_AS = {"maximum": "required", "required": "required", "extensible": "extensible", "preferred": "preferred"}


@dataclass(frozen=True, slots=True)
class Usage:
    system: str | None
    code: str | None
    value: Any  # valueCodeableConcept (the only kind the reference matches against data), else None


@dataclass(frozen=True, slots=True)
class Additional:
    purpose: str
    value_set: str | None
    usage: tuple[Usage, ...]


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    code = raw.get("code")
    code = code if isinstance(code, dict) else {}
    system, value = code.get("system"), code.get("code")
    concept = raw.get("valueCodeableConcept")
    return Usage(
        system if isinstance(system, str) else None,
        value if isinstance(value, str) else None,
        concept if isinstance(concept, dict) else None,
    )


def _from_r5(raw: dict[str, Any]) -> Additional | None:
    purpose, value_set = raw.get("purpose"), raw.get("valueSet")
    if not isinstance(purpose, str):
        return None
    usage = tuple(u for u in map(_usage, raw.get("usage") or []) if u is not None)
    return Additional(purpose, value_set if isinstance(value_set, str) else None, usage)


def _from_extension(ext: dict[str, Any]) -> Additional | None:
    parts = [p for p in ext.get("extension") or [] if isinstance(p, dict)]
    purpose = next((p.get("valueCode") for p in parts if p.get("url") == "purpose"), None)
    value_set = next((p.get("valueCanonical") for p in parts if p.get("url") == "valueSet"), None)
    if not isinstance(purpose, str):
        return None
    usage = tuple(u for p in parts if p.get("url") == "usage" and (u := _usage(p.get("valueUsageContext"))))
    return Additional(purpose, value_set if isinstance(value_set, str) else None, usage)


def additional_bindings(element: ElementPlan) -> tuple[Additional, ...]:
    """The element's additional bindings, read once per element."""
    found = element.memo.get("binding:additional")
    if found is None:
        raw = element.ed.get("binding")
        raw = raw if isinstance(raw, dict) else {}
        items = [_from_r5(a) for a in raw.get("additional") or [] if isinstance(a, dict)]
        items += [
            _from_extension(e)
            for e in raw.get("extension") or []
            if isinstance(e, dict) and e.get("url") == ADDITIONAL_BINDING
        ]
        found = element.memo["binding:additional"] = tuple(a for a in items if a is not None)
    return found


def _applies(element: ElementPlan) -> bool:
    testable = any(a.value_set and a.purpose in CHECKED_AS for a in additional_bindings(element))
    return testable and bindable_type(element)


@rule(RULE, "item", applies=_applies, reads=("binding", "type"))
def additional_binding(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    found = coded_values(element, item)
    if found is None:
        return
    coded, kind = found
    for extra in additional_bindings(element):
        strength = CHECKED_AS.get(extra.purpose)
        if strength is None or extra.value_set is None:
            continue
        note = in_scope(extra, element.profile_url, ctx.resource)
        if note is None:
            continue
        label = f"additional binding ({extra.purpose}{note})"
        issues, _ = judge(ctx.terminology, item, strength, extra.value_set, coded, kind, label)
        yield from issues


def in_scope(extra: Additional, profile: str, resource: dict[str, Any]) -> str | None:
    """None when a usage context keeps the binding from applying, else a note naming the usages met."""
    notes = []
    for usage in extra.usage:
        if usage.system is None or usage.system.split("|", 1)[0] != profile or not usage.code:
            return None  # a usage context the validator was not configured with
        wanted = _first_coding(usage.value)
        if wanted is None or not any(_matches(v, wanted) for v in _values_at(resource, usage.code)):
            return None
        notes.append(f"; usage {usage.code} = {wanted.get('code')}")
    return "".join(notes)


def _first_coding(value: Any) -> dict[str, Any] | None:
    codings = value.get("coding") if isinstance(value, dict) else None
    first = codings[0] if isinstance(codings, list) and codings else None
    return first if isinstance(first, dict) else None


def _values_at(resource: dict[str, Any], path: str) -> list[Any]:
    """The values at a dotted element path (`Observation.category`) in the resource, lists flattened."""
    head, *steps = path.split(".")
    if head != resource.get("resourceType"):
        return []
    values: list[Any] = [resource]
    for step in steps:
        name = step.split("[", 1)[0]
        nxt: list[Any] = []
        for value in values:
            child = value.get(name) if isinstance(value, dict) else None
            nxt.extend(child if isinstance(child, list) else [child] if child is not None else [])
        values = nxt
    return values


def _matches(value: Any, wanted: dict[str, Any]) -> bool:
    """A CodeableConcept (any coding) or Coding value equal to the usage coding (matchesUsage...)."""
    if not isinstance(value, dict):
        return False
    codings = value.get("coding")
    for coding in codings if isinstance(codings, list) else [value]:
        if not isinstance(coding, dict) or coding.get("code") is None:
            continue
        same = coding.get("system") == wanted.get("system") and coding.get("code") == wanted.get("code")
        if same and (wanted.get("version") is None or coding.get("version") == wanted.get("version")):
            return True
    return False
