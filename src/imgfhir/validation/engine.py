"""The walk: match a resource's JSON against compiled element plans and run the rule table.

The engine knows FHIR's JSON shape (choice names, primitive `_x` siblings, arrays) and how to
descend (into unfolded children, a type's own definition, a type profile, or a contained
resource); everything it finds wrong is left to the rules, so each check stays one small
function in the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.packages import UnknownCanonical
from imgfhir.snapshot import SnapshotError
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue
from imgfhir.validation.plan import compile_profile, compiled_or_none

FHIR_SD = "http://hl7.org/fhir/StructureDefinition/"
MAX_RESOURCE_DEPTH = 32
RESOURCE_TYPES = frozenset({"Resource", "DomainResource"})


def upper_first(code: str) -> str:
    return code[:1].upper() + code[1:]


def is_primitive(type_code: str | None) -> bool:
    return bool(type_code) and type_code[:1].islower()  # type: ignore[index]


@dataclass(frozen=True, slots=True)
class Slot:
    """How one JSON key maps onto the definition: the element and the type it carries."""

    element: ElementPlan
    type: str | None
    array: bool


def is_array_element(element: ElementPlan) -> bool:
    base = element.ed.get("base")
    max_value = base.get("max") if isinstance(base, dict) else element.ed.get("max")
    return max_value != "1" and max_value != "0"


def type_profile(element: ElementPlan, type_code: str | None) -> str | None:
    for t in element.ed.get("type", ()):
        profiles = t.get("profile") or []
        if profiles and (type_code is None or len(element.type_codes) == 1 or t.get("code") == type_code):
            return str(profiles[0])
    return None


def children_of(ctx: Context, element: ElementPlan, type_code: str | None) -> dict[str, ElementPlan]:
    """The child definitions that apply below `element` for a value of `type_code`."""
    if element.children:
        return element.children
    key = f"children:{type_code}"
    cached = element.memo.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    found: dict[str, ElementPlan] = {}
    ref = element.ed.get("contentReference")
    if isinstance(ref, str):
        found = _content_reference(ctx, ref)
    elif type_code and not is_primitive(type_code) and type_code not in RESOURCE_TYPES:
        url = type_profile(element, type_code) or FHIR_SD + type_code
        plan = compiled_or_none(ctx.scope, url) or compiled_or_none(ctx.scope, FHIR_SD + type_code)
        if plan is not None:
            found = plan.root.children
    element.memo[key] = found
    return found


def _content_reference(ctx: Context, ref: str) -> dict[str, ElementPlan]:
    url, _, fragment = ref.partition("#")
    plan = compiled_or_none(ctx.scope, url or FHIR_SD + fragment.split(".")[0])
    if plan is None:
        return {}
    node = plan.root
    for name in fragment.split(".")[1:]:
        nxt = node.children.get(name)
        if nxt is None:
            return {}
        node = nxt
    return node.children


def slots(ctx: Context, element: ElementPlan, type_code: str | None) -> dict[str, Slot]:
    """JSON key → slot for a complex value of `type_code` defined by `element` (cached)."""
    key = f"slots:{type_code}"
    cached = element.memo.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    out: dict[str, Slot] = {}
    for child in children_of(ctx, element, type_code).values():
        array = is_array_element(child)
        if child.is_choice:
            stem = child.name[:-3]
            for code in child.type_codes:
                out[stem + upper_first(code)] = Slot(child, code, array)
        else:
            single = child.type_codes[0] if len(child.type_codes) == 1 else None
            out[child.name] = Slot(child, single, array)
    element.memo[key] = out
    return out


def groups(
    ctx: Context, element: ElementPlan, type_code: str | None
) -> list[tuple[ElementPlan, list[tuple[str, Slot]]]]:
    """Each child definition with its JSON keys (one, or one per type of a choice), cached per type."""
    key = f"groups:{type_code}"
    cached: list[tuple[ElementPlan, list[tuple[str, Slot]]]] | None = element.memo.get(key)
    if cached is None:
        by_child: dict[int, tuple[ElementPlan, list[tuple[str, Slot]]]] = {}
        for json_key, slot in slots(ctx, element, type_code).items():
            by_child.setdefault(id(slot.element), (slot.element, []))[1].append((json_key, slot))
        cached = element.memo[key] = list(by_child.values())
    return cached


def _occurrences(parent: Item, keyed: list[tuple[str, Slot]]) -> list[Item]:
    """Every value of one child element inside `parent` (a JSON object), as items in document order."""
    obj = parent.value
    found: list[Item] = []
    for key, slot in keyed:
        value = obj.get(key)
        extras = obj.get("_" + key)
        if value is None and extras is None:
            continue
        name = key
        if slot.array:
            values = value if isinstance(value, list) else ([] if value is None else [value])
            ext_list = extras if isinstance(extras, list) else ([] if extras is None else [extras])
            for i in range(max(len(values), len(ext_list))):
                v = values[i] if i < len(values) else None
                e = ext_list[i] if i < len(ext_list) else None
                if v is None and e is None:
                    continue
                item = parent.child(name, v, i, slot.type, key)
                item.extras = e if isinstance(e, dict) else None
                found.append(item)
        else:
            v = value[0] if isinstance(value, list) and len(value) == 1 else value
            item = parent.child(name, v, None, slot.type, key)
            item.extras = extras if isinstance(extras, dict) else None
            found.append(item)
    return found


def check_element(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """All item rules of `element` on `item`, then its children (or, for a resource, its own definition)."""
    for r in element.item_rules:
        yield from r.fn(ctx, element, item)
    if ctx.validator.extra_rules:
        for r in ctx.validator.extra_rules_for(element)[0]:
            yield from r.fn(ctx, element, item)
    if not isinstance(item.value, dict):
        return
    if is_nested_resource(ctx, item):
        yield from check_resource(ctx, item, _resource_profiles(element, item.type))
        return
    yield from check_children(ctx, element, item)


def is_nested_resource(ctx: Context, item: Item) -> bool:
    """A contained, Bundle entry or Parameters resource: checked against its own definitions."""
    if not isinstance(item.value, dict) or item.value is ctx.resource or "resourceType" not in item.value:
        return False
    return item.type is None or item.type in RESOURCE_TYPES or is_resource_type(ctx, item.type)


def is_resource_type(ctx: Context, type_code: str) -> bool:
    hit = ctx.scope.entry(FHIR_SD + type_code)
    return hit is not None and hit[1].kind == "resource"


def _resource_profiles(element: ElementPlan, type_code: str | None) -> list[str]:
    """Profiles a contained/entry resource must meet, from the element's type (e.g. a Bundle slice)."""
    return [
        str(p)
        for t in element.ed.get("type", ())
        if t.get("code") in (type_code, "Resource")
        for p in t.get("profile", ())
    ]


def check_children(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    obj = item.value
    for child, keyed in groups(ctx, element, item.type):
        group_rules = child.group_rules
        present = any(k in obj or "_" + k in obj for k, _ in keyed)
        if not present and not group_rules and not ctx.validator.extra_rules:
            continue  # absent and nothing to say about absence
        group = _occurrences(item, keyed) if present else []
        if ctx.validator.extra_rules:
            group_rules = group_rules + ctx.validator.extra_rules_for(child)[1]
        if group_rules:
            saved = ctx.group
            ctx.group = group
            try:
                for r in group_rules:
                    yield from r.fn(ctx, child, item)
            finally:
                ctx.group = saved
        for occ in group:
            yield from check_element(ctx, child, occ)


def check_resource(
    ctx: Context, item: Item, profiles: list[str] | None = None, *, only: bool = False
) -> Iterator[Issue]:
    """Validate a resource against its base definition, its known meta.profile and `profiles`
    (with `only`, against `profiles` alone: a conformance probe)."""
    res = item.value
    rt = res.get("resourceType")
    if not isinstance(rt, str):
        yield issue("error", "structure", "resource has no resourceType", item, "structure")
        return
    if ctx.depth >= MAX_RESOURCE_DEPTH:
        yield issue("fatal", "too-costly", f"resources nested more than {MAX_RESOURCE_DEPTH} deep", item, "structure")
        return
    base = FHIR_SD + rt
    if ctx.scope.entry(base) is None:
        yield issue("error", "structure", f"unknown resourceType {rt!r} in FHIR {ctx.release}", item, "structure")
        return
    urls = [] if only else [base]
    meta = None if only else res.get("meta")
    declared = meta.get("profile") if isinstance(meta, dict) else None
    for url in declared if isinstance(declared, list) else []:
        if not isinstance(url, str):
            continue
        if ctx.scope.entry(url) is None:
            message = f"profile {url} is not known; the resource is not checked against it"
            yield issue("warning", "not-found", message, item, "profile")
        else:
            urls.append(url)
    urls += list(profiles or [])
    saved = (ctx.resource, ctx.resource_item, ctx.depth)
    ctx.resource, ctx.resource_item, ctx.depth = res, item, ctx.depth + 1
    root_item = Item(res, item.expression, item.pointer, rt, None)
    try:
        for url in dict.fromkeys(urls):
            try:
                plan = compile_profile(ctx.scope, url)
            except (SnapshotError, UnknownCanonical) as exc:
                yield issue("error", "not-supported", f"cannot use profile {url}: {exc}", item, "profile")
                continue
            if plan.type != rt:
                yield issue("error", "invalid", f"profile {url} is for {plan.type}, not {rt}", item, "profile")
                continue
            root_rules = plan.root.item_rules
            if ctx.validator.extra_rules:
                root_rules = root_rules + ctx.validator.extra_rules_for(plan.root)[0]
            for r in root_rules:
                yield from r.fn(ctx, plan.root, root_item)
            yield from check_children(ctx, plan.root, root_item)
    finally:
        ctx.resource, ctx.resource_item, ctx.depth = saved


def conforms(ctx: Context, value: Any, type_code: str | None, profiles: list[str]) -> bool:
    """Does `value` meet one of `profiles` (no errors)? Asked again and again by slicing and references:
    cached per call, and across calls for the resources the caller made available (`known`)."""
    key = (id(value), tuple(profiles))
    cache = ctx.validator.known_conformance if id(value) in ctx.validator.known_ids else ctx.conformance
    cached = cache.get(key)
    if cached is None:
        cache[key] = True  # assumed while being checked: reference cycles terminate
        cached = cache[key] = _conforms_uncached(ctx, value, type_code, profiles)
    return cached


def _conforms_uncached(ctx: Context, value: Any, type_code: str | None, profiles: list[str]) -> bool:
    for url in profiles:
        if ctx.scope.entry(url) is None:
            continue
        probe = Item(value, "$probe", (), type_code)
        if isinstance(value, dict) and "resourceType" in value:
            found = check_resource(ctx, probe, [url], only=True)
        else:
            plan = compile_profile(ctx.scope, url)
            found = check_element(ctx, plan.root, probe)
        if not any(i.severity in ("error", "fatal") for i in found):  # lazy: stops at the first error
            return True
    return False
