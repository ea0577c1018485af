"""JSON shape and unknown elements (FHIR JSON format rules)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.engine import Slot, is_nested_resource, slots
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.plan import RESOURCE_TYPES, has_primitive_type, is_primitive


def _complex(element: ElementPlan) -> bool:
    return (
        bool(element.children)
        or any(not is_primitive(t) for t in element.type_codes)
        or ("contentReference" in element.ed)
    )


@rule("unknown-element", applies=_complex, reads=("type", "contentReference", "children"))
def unknown_elements(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """Every property of an object must be defined for its type (or be its `_x` primitive sibling)."""
    if not isinstance(item.value, dict) or is_primitive(item.type) or is_nested_resource(ctx, item):
        return
    table = slots(ctx, element, item.type)
    for key in item.value:
        if key == "fhir_comments" or (key == "resourceType" and item.value is ctx.resource):
            continue
        name = key[1:] if key.startswith("_") else key
        if name in table:
            continue
        where = Item(item.value[key], f"{item.expression}.{key}", (*item.pointer, key))
        choice = _choice_for(key, table.values())
        if choice is not None:
            suffix = key[len(choice.name) - 3 :]
            message = f"type {suffix} is not allowed for {choice.name} (allowed: {', '.join(choice.type_codes)})"
            yield issue("error", "structure", message, where, "type")
        else:
            message = f"unknown element {key!r} in {item.type or element.path}"
            yield issue("error", "structure", message, where, "unknown-element")


def _choice_for(key: str, slot_values: Iterable[Slot]) -> ElementPlan | None:
    for slot in slot_values:
        stem = slot.element.name[:-3]
        if slot.element.is_choice and key.startswith(stem) and key[len(stem) : len(stem) + 1].isupper():
            return slot.element
    return None


@rule("json-shape", applies=_complex, reads=("type", "contentReference", "children"))
def json_shape(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """Arrays where the definition repeats, single values where it does not; no empty or null values."""
    obj = item.value
    if item.type in RESOURCE_TYPES or is_nested_resource(ctx, item):
        return  # checked against its own definition
    if not isinstance(obj, dict):
        if item.value is not None and not is_primitive(item.type):
            message = f"expected a JSON object for {item.type or element.path}"
            yield issue("error", "structure", message, item, "json-shape")
        return
    if not obj:
        message = "empty object: FHIR elements must have a value or children (ele-1)"
        yield issue("error", "structure", message, item, "json-shape")
        return
    table = slots(ctx, element, item.type)
    for key, value in obj.items():
        name = key[1:] if key.startswith("_") else key
        slot = table.get(name)
        if slot is None:
            continue
        if isinstance(value, list):
            if not slot.array:
                problem = f"{key} must be a single value, not an array"
            elif not value:
                problem = f"{key}: empty array"
            elif not key.startswith("_") and not slot.primitive and any(v is None for v in value):
                problem = f"{key}: null in an array of complex values"
            else:
                problem = ""
        elif slot.array:
            problem = f"{key} must be an array"
        elif value is None:
            problem = f"{key}: null is not a value"
        else:
            problem = ""
        if problem:
            yield issue("error", "structure", problem, _at(item, key, value), "json-shape")
        if value == "" and not key.startswith("_"):
            yield issue("error", "structure", f"{key}: empty string (ele-1)", _at(item, key, value), "json-shape")


def _at(item: Item, key: str, value: object) -> Item:
    return Item(value, f"{item.expression}.{key}", (*item.pointer, key))


_EXTRAS_KEYS = frozenset({"id", "extension", "fhir_comments"})


@rule("unknown-element", applies=has_primitive_type, reads=("type",))
def primitive_extras(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """A primitive's `_name` object holds its id and extensions, nothing else (not its value)."""
    extras = item.extras
    if extras is None:
        return
    at = item.extras_item()
    if not extras:
        message = "empty object: FHIR elements must have a value or children (ele-1)"
        yield issue("error", "structure", message, at, "json-shape")
    for key in extras:
        if key not in _EXTRAS_KEYS:
            where = Item(extras[key], f"{at.expression}.{key}", (*at.pointer, key))
            yield issue(
                "error",
                "structure",
                f"unknown element {key!r} in the extensions of a {item.type}",
                where,
                "unknown-element",
            )
