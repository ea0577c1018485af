"""Helpers shared by the CodeSystem and ValueSet resource rules (codesystem_content, valueset_content)."""

from __future__ import annotations

from typing import Any

from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item

# CodeSystem.concept.property.value[x] / ValueSet filter types: JSON key → FHIR type
VALUE_KEYS: dict[str, str] = {
    "valueCode": "code",
    "valueCoding": "Coding",
    "valueString": "string",
    "valueInteger": "integer",
    "valueBoolean": "boolean",
    "valueDateTime": "dateTime",
    "valueDecimal": "decimal",
}


def is_resource_root(element: ElementPlan, resource_type: str) -> bool:
    return element.path == resource_type


def at(item: Item, *path: str | int) -> Item:
    """The item at `path` below `item` (keys, with an index after an array key), or the deepest
    existing one on the way: an issue about an element is located at that element."""
    here = item
    steps = list(path)
    while steps:
        key = steps.pop(0)
        assert isinstance(key, str)
        value = here.value.get(key) if isinstance(here.value, dict) else None
        if value is None:
            return here
        index = steps.pop(0) if steps and isinstance(steps[0], int) else None
        if isinstance(index, int):
            if not isinstance(value, list) or index >= len(value):
                return here
            value = value[index]
        here = here.child(key, value, index if isinstance(index, int) else None, None)
    return here


def canonical_url(canonical: str) -> str:
    return canonical.split("|", 1)[0]


def canonical_version(canonical: str) -> str | None:
    return canonical.split("|", 1)[1] if "|" in canonical else None


def loaded_resource(ctx: Context, canonical: str, resource_type: str) -> dict[str, Any] | None:
    """A resource of the scope by canonical (version suffix ignored), when it has that type."""
    hit = ctx.scope.entry(canonical_url(canonical)) if canonical else None
    if hit is None or hit[1].resource_type != resource_type:
        return None
    return hit[0].load(hit[1].filename)


def loaded_code_system(ctx: Context, canonical: str) -> dict[str, Any] | None:
    return loaded_resource(ctx, canonical, "CodeSystem")


def value_type(prop: dict[str, Any]) -> tuple[str, Any] | None:
    """(FHIR type, value) of a concept property's value[x]."""
    for key, fhir_type in VALUE_KEYS.items():
        if key in prop:
            return fhir_type, prop[key]
    return None


def is_hl7(url: Any) -> bool:
    """BaseValidator.isHL7: the canonical url contains `hl7`."""
    return isinstance(url, str) and "hl7" in url
