"""JSON shape and unknown elements (FHIR JSON format rules)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

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
        # fhir_comments (DSTU2 JSON comments) is an unknown property from STU3 on, as the reference
        # validator reads it (elementmodel/JsonParser.checkNotProcessed: UNRECOGNISED_PROPERTY_)
        if key == "resourceType" and item.value is ctx.resource:
            continue
        name = key[1:] if key.startswith("_") else key
        if name in table:
            continue
        where = Item(item.value[key], f"{item.expression}.{key}", (*item.pointer, key))
        choice = _choice_for(key, table.values())
        if choice is not None:
            suffix = key[len(choice.name) - 3 :]
            message = f"type {suffix} is not allowed for {choice.name} (allowed: {', '.join(choice.type_codes)})"
            yield issue("error", "structure", message + did_you_mean(key, table), where, "type")
        else:
            message = f"unknown element {key!r} in {item.type or element.path}"
            yield issue("error", "structure", message + did_you_mean(key, table), where, "unknown-element")


def did_you_mean(key: str, table: Mapping[str, object]) -> str:
    """` (did you mean 'status'?)` for a misspelt property (`stauts`, `valueStrng`), else ""."""
    name = key[1:] if key.startswith("_") else key
    close = difflib.get_close_matches(name, list(table), n=2, cutoff=0.75)
    prefix = "_" if key.startswith("_") else ""
    return f" (did you mean {' or '.join(repr(prefix + c) for c in close)}?)" if close else ""


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
                if slot.primitive:
                    yield from _primitive_array(obj, key, value, item)
        elif slot.array:
            problem = f"{key} must be an array"
        elif value is None:
            problem = f"{key}: null is not a value"
        elif slot.primitive and key.startswith("_") and type(value) is not dict:
            problem = f"{key} must be an object (the id and extensions of {key[1:]}), not {_kind(value)}"
        else:
            problem = ""
        if problem:
            yield issue("error", "structure", problem, _at(item, key, value), "json-shape")
        if value == "" and not key.startswith("_"):
            yield issue("error", "structure", f"{key}: empty string (ele-1)", _at(item, key, value), "json-shape")


def _at(item: Item, key: str, value: object, index: int | None = None) -> Item:
    if index is None:
        return Item(value, f"{item.expression}.{key}", (*item.pointer, key))
    return Item(value, f"{item.expression}.{key}[{index}]", (*item.pointer, key, index))


def _primitive_array(obj: dict[str, Any], key: str, values: list[Any], item: Item) -> Iterator[Issue]:
    """A repeating primitive's two arrays (`given`, `_given`): null only pads one of them where the
    other has the item (FHIR JSON format; elementmodel/JsonParser.parseChildPrimitive pairs them by
    index), and `_given` holds objects."""
    extras = key.startswith("_")
    other = obj.get(key[1:] if extras else "_" + key)
    twin = other if isinstance(other, list) else []
    for i, v in enumerate(values):
        if v is None:
            partner = twin[i] if i < len(twin) else None
            if extras and partner is None and i < len(twin):
                continue  # both null: reported once, at the value
            if partner is None or (not extras and type(partner) is not dict):
                holds = f"{key[1:]}[{i}] holds no value" if extras else f"_{key}[{i}] holds no id or extension"
                message = f"{key}[{i}] is null, but {holds} (null only pads one array to the other)"
                yield issue("error", "structure", message, _at(item, key, v, i), "json-shape")
        elif extras and type(v) is not dict:
            message = f"{key}[{i}] must be an object (the id and extensions of {key[1:]}[{i}]), not {_kind(v)}"
            yield issue("error", "structure", message, _at(item, key, v, i), "json-shape")


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else "an array" if isinstance(value, list) else "null"


_EXTRAS_KEYS = frozenset({"id", "extension"})


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
