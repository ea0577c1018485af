"""The walk: match a resource's JSON against compiled element plans and run the rule table.

The engine knows FHIR's JSON shape (choice names, primitive `_x` siblings, arrays) and how to
descend (into unfolded children, a type's own definition, a type profile, or a contained
resource); everything it finds wrong is left to the rules, so each check stays one small
function in the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.packages import UnknownCanonical
from imgfhir.snapshot import SnapshotError
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, speaks_when_absent
from imgfhir.validation.plan import (
    FHIR_SD,
    RESOURCE_TYPES,
    compile_profile,
    is_primitive,
    loaded_entry,
    loaded_versions,
    type_children,
    versioned_canonical,
)
from imgfhir.validation.suggest import canonical_hint, resource_type_hint

MAX_RESOURCE_DEPTH = 32


def upper_first(code: str) -> str:
    return code[:1].upper() + code[1:]


@dataclass(frozen=True, slots=True)
class Slot:
    """How one JSON key maps onto the definition: the element and the type it carries."""

    element: ElementPlan
    type: str | None
    array: bool
    primitive: bool  # the type is a FHIR primitive (`_key` siblings, JSON scalars)


def is_array_element(element: ElementPlan) -> bool:
    base = element.ed.get("base")
    max_value = base.get("max") if isinstance(base, dict) else element.ed.get("max")
    return max_value != "1" and max_value != "0"


def children_of(ctx: Context, element: ElementPlan, type_code: str | None) -> dict[str, ElementPlan]:
    """The child definitions that apply below `element` for a value of `type_code`."""
    return type_children(ctx.scope, element, type_code)


def slots(ctx: Context, element: ElementPlan, type_code: str | None) -> dict[str, Slot]:
    """JSON key → slot for a complex value of `type_code` defined by `element` (cached)."""
    cached = element.slot_tables.get(type_code)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    out: dict[str, Slot] = {}
    for child in children_of(ctx, element, type_code).values():
        array = is_array_element(child)
        if child.is_choice:
            stem = child.name[:-3]
            for code in child.type_codes:
                out[stem + upper_first(code)] = Slot(child, code, array, is_primitive(code))
        else:
            single = child.type_codes[0] if len(child.type_codes) == 1 else None
            out[child.name] = Slot(child, single, array, is_primitive(single))
    element.slot_tables[type_code] = out
    return out


def groups(
    ctx: Context, element: ElementPlan, type_code: str | None
) -> list[tuple[ElementPlan, list[tuple[str, Slot]]]]:
    """Each child definition with its JSON keys (one, or one per type of a choice)."""
    by_child: dict[int, tuple[ElementPlan, list[tuple[str, Slot]]]] = {}
    for json_key, slot in slots(ctx, element, type_code).items():
        by_child.setdefault(id(slot.element), (slot.element, []))[1].append((json_key, slot))
    return list(by_child.values())


def _occurrences(parent: Item, keyed: list[tuple[str, Slot]]) -> list[Item]:
    """Every value of one child element inside `parent` (a JSON object), as items in document order."""
    obj = parent.value
    if len(keyed) == 1 and not keyed[0][1].array:  # the usual case: one key, one value
        key, slot = keyed[0]
        value = obj.get(key)
        if "_" + key not in obj and not isinstance(value, list):
            return [] if value is None else [parent.child(key, value, None, slot.type)]
    found: list[Item] = []
    for key, slot in keyed:
        value = obj.get(key)
        extras = obj.get("_" + key)
        if value is None and extras is None:
            continue
        if slot.array:
            if extras is None and isinstance(value, list):  # the usual case: a plain array
                for i, v in enumerate(value):
                    if v is not None:
                        found.append(parent.child(key, v, i, slot.type))
                continue
            values = value if isinstance(value, list) else ([] if value is None else [value])
            ext_list = extras if isinstance(extras, list) else ([] if extras is None else [extras])
            for i in range(max(len(values), len(ext_list))):
                v = values[i] if i < len(values) else None
                e = ext_list[i] if i < len(ext_list) else None
                if v is None and e is None:
                    continue
                item = parent.child(key, v, i, slot.type)
                item.extras = e if isinstance(e, dict) else None
                found.append(item)
        else:
            v = value[0] if isinstance(value, list) and len(value) == 1 else value
            item = parent.child(key, v, None, slot.type)
            item.extras = extras if isinstance(extras, dict) else None
            found.append(item)
    return found


def check_element(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """All item rules of `element` on `item`, then its children (or, for a resource, its own definition)."""
    out: list[Issue] = []
    walk_element(ctx, element, item, out)
    return iter(out)


def probe_element(ctx: Context, element: ElementPlan, item: Item) -> list[Issue]:
    """`element`'s issues on `item`, with nothing left to its twin: a probe (does this value meet this
    slice, this profile?) asks about one element, outside the walk in which the twins take part."""
    ctx.probing += 1
    try:
        out: list[Issue] = []
        walk_element(ctx, element, item, out)
        return out
    finally:
        ctx.probing -= 1


def walk_element(ctx: Context, element: ElementPlan, item: Item, out: list[Issue]) -> None:
    """check_element, collecting into `out`: the walk recurses through plain calls, not generators."""
    for r in element.full_item_rules if ctx.probing or ctx.extra else element.item_rules:
        out.extend(r.fn(ctx, element, item))
    if ctx.extra:
        for r in ctx.validator.extra_rules_for(element)[0]:
            out.extend(r.fn(ctx, element, item))
    value = item.value
    if type(value) is not dict:
        if item.extras is not None:  # a primitive's id and extensions, defined by its type
            saved, ctx.primitive_path = ctx.primitive_path, element.path
            try:
                walk_children(ctx, element, item.extras_item(), out)
            finally:
                ctx.primitive_path = saved
        return
    if "resourceType" in value and is_nested_resource(ctx, item):
        out.extend(check_resource(ctx, item, _resource_profiles(element, item.type)))
        return
    walk_children(ctx, element, item, out)


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


@dataclass(frozen=True, slots=True)
class Layout:
    """The child groups of an element for one type, indexed for the walk: which group a JSON key
    belongs to (`_x` siblings too), and which groups have rules that speak even when absent."""

    groups: list[tuple[ElementPlan, list[tuple[str, Slot]]]]
    index: dict[str, int]
    ruled: frozenset[int]  # groups whose rules speak even when absent, less those their twins cover
    ruled_all: frozenset[int]  # the same, twins' share included (for probes)
    # the element's twin walks the same children over the same value (both take them from one type)
    covered: bool


def layout(ctx: Context, element: ElementPlan, type_code: str | None) -> Layout:
    cached: Layout | None = element.layouts.get(type_code)
    if cached is None:
        found = groups(ctx, element, type_code)
        index = {k: i for i, (_, keyed) in enumerate(found) for name, _ in keyed for k in (name, "_" + name)}
        ruled_all = frozenset(i for i, (child, _) in enumerate(found) if speaks_when_absent(child))
        ruled = frozenset(i for i in ruled_all if not found[i][0].covered)
        twin = element.twin
        covered = (
            twin is not None
            and not element.children
            and not twin.children
            and twin.path == element.path  # the path a primitive's extensions are checked against
            and children_of(ctx, element, type_code) is children_of(ctx, twin, type_code)
        )
        cached = element.layouts[type_code] = Layout(found, index, ruled, ruled_all, covered)
    return cached


def walk_children(ctx: Context, element: ElementPlan, item: Item, out: list[Issue]) -> None:
    obj = item.value
    plan = layout(ctx, element, item.type)
    extra = ctx.extra
    skip = not extra and not ctx.probing
    if plan.covered and skip:
        return  # the twin walks these children over this value
    if extra:
        wanted: Iterable[int] = range(len(plan.groups))
    else:
        index = plan.index
        present = {index[k] for k in obj if k in index}
        ruled = plan.ruled if skip else plan.ruled_all
        wanted = sorted(present | ruled) if ruled else sorted(present)
    for i in wanted:
        child, keyed = plan.groups[i]
        if child.covered and skip:
            continue  # restates its twin, which checks the same values
        group = _occurrences(item, keyed)
        group_rules = child.group_rules
        if extra:
            group_rules = group_rules + ctx.validator.extra_rules_for(child)[1]
        if group_rules:
            saved = ctx.group
            ctx.group = group
            try:
                for r in group_rules:
                    out.extend(r.fn(ctx, child, item))
            finally:
                ctx.group = saved
        for occ in group:
            walk_element(ctx, child, occ, out)


def check_resource(ctx: Context, item: Item, profiles: list[str] | None = None) -> Iterator[Issue]:
    """Validate a resource against its base definition, its known meta.profile and `profiles`."""
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
        message = f"unknown resourceType {rt!r} in FHIR {ctx.release}" + resource_type_hint(ctx.scope, rt)
        yield issue("error", "structure", message, item, "structure")
        return
    urls = [base]
    meta = res.get("meta")
    declared = meta.get("profile") if isinstance(meta, dict) else None
    for i, url in enumerate(declared if isinstance(declared, list) else []):
        if not isinstance(url, str):
            continue
        if loaded_entry(ctx.scope, url) is None:
            # the reference: VALIDATION_VAL_PROFILE_UNKNOWN, a warning at the meta.profile entry
            # (InstanceValidator.start); a `|version` that is not loaded is not another version
            at = item.child("meta", meta, None, "Meta").child("profile", url, i, "canonical")
            yield issue("warning", "not-found", _unknown_profile(ctx, url), at, "profile")
        else:
            urls.append(url)
    urls += list(profiles or [])
    for url in dict.fromkeys(urls):
        yield from against(ctx, item, url)


def _unknown_profile(ctx: Context, url: str) -> str:
    versions = loaded_versions(ctx.scope, url) if "|" in url else []
    loaded = f" (loaded versions: {', '.join(versions)})" if versions else ""
    hint = "" if versions else canonical_hint(ctx.scope, url)
    return f"profile {url} is not known{loaded}{hint}; the resource is not checked against it"


def against(ctx: Context, item: Item, url: str) -> list[Issue]:
    """The issues of the resource at `item` against one definition, worked out once per validation:
    a Bundle entry is reached by the Bundle's base and profile passes, its slices, and the
    conformance probes of references and slicing, all asking the same question."""
    key = (id(item.value), url)
    hit = ctx.checked.get(key)
    if hit is not None and hit[0] == item.pointer:
        return hit[1]
    ctx.checked[key] = (item.pointer, [])  # while being worked out: a reference cycle back here sees none
    found: list[Issue] = []
    _against(ctx, item, url, found)
    ctx.checked[key] = (item.pointer, found)
    return found


def _against(ctx: Context, item: Item, url: str, out: list[Issue]) -> None:
    res = item.value
    rt = res["resourceType"]
    try:
        plan = compile_profile(ctx.scope, url)
    except UnknownCanonical as exc:
        out.append(issue("error", "not-found", f"cannot use profile {url}: {exc}", item, "profile"))
        return
    except SnapshotError as exc:
        # the reference: no snapshot can be generated, VALIDATION_VAL_PROFILE_NOSNAPSHOT (an error)
        what = versioned_canonical(ctx.scope, url)
        message = f"profile {what} cannot be used: its snapshot cannot be generated ({exc})"
        out.append(issue("error", "not-supported", message, item, "profile-definition"))
        return
    for problem in plan.problems:
        out.append(issue("error", "invalid", f"profile {plan.versioned_url}: {problem}", item, "profile-definition"))
    if plan.type != rt:
        out.append(issue("error", "invalid", f"profile {url} is for {plan.type}, not {rt}", item, "profile"))
        return
    saved = (ctx.resource, ctx.resource_item, ctx.depth, ctx.probing)
    root_item = Item(res, item.expression, item.pointer, rt, None)
    # a resource is checked against its base definition and its profiles alike, probe or not
    ctx.resource, ctx.resource_item, ctx.depth, ctx.probing = res, root_item, ctx.depth + 1, 0
    try:
        root_rules = plan.root.item_rules
        if ctx.extra:  # with rules from elsewhere, nothing is left to twins
            root_rules = plan.root.full_item_rules + ctx.validator.extra_rules_for(plan.root)[0]
        for r in root_rules:
            out.extend(r.fn(ctx, plan.root, root_item))
        walk_children(ctx, plan.root, root_item, out)
    finally:
        ctx.resource, ctx.resource_item, ctx.depth, ctx.probing = saved


def _has_errors(issues: Iterable[Issue]) -> bool:
    return any(i.severity in ("error", "fatal") for i in issues)  # lazy: stops at the first error


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
    known = [url for url in profiles if ctx.scope.entry(url) is not None]
    if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
        # a resource conforms to a profile when it meets the profile and its base definition
        item = resource_location(ctx, value)
        base = FHIR_SD + value["resourceType"]
        if not known or ctx.scope.entry(base) is None or _has_errors(against(ctx, item, base)):
            return False
        return any(not _has_errors(against(ctx, item, url)) for url in known)
    for url in known:
        plan = compile_profile(ctx.scope, url)
        if not _has_errors(probe_element(ctx, plan.root, Item(value, "$probe", (), type_code))):
            return True
    return False


def resource_location(ctx: Context, resource: dict[str, Any]) -> Item:
    """Where `resource` sits in the document being validated (found once per validation), so a
    conformance probe works it out as the walk will; `$probe` for a resource from elsewhere."""
    if ctx.locations is None:
        ctx.locations = _locate(Item(ctx.root, str(ctx.root.get("resourceType")), ()))
    return ctx.locations.get(id(resource)) or Item(resource, "$probe", (), str(resource.get("resourceType")))


def _locate(root: Item) -> dict[int, Item]:
    """id → item of every resource in a document: the root, contained, Bundle entries (and their
    response outcomes), Parameters values."""
    found: dict[int, Item] = {}
    stack = [root]
    while stack:
        at = stack.pop()
        res = at.value
        found.setdefault(id(res), at)
        for item in _objects(at, "contained"):
            stack.extend(_resource(item))
        rt = res.get("resourceType")
        if rt == "Bundle":
            for entry in _objects(at, "entry"):
                stack.extend(_resource(entry, "resource"))
                for response in _objects(entry, "response"):
                    stack.extend(_resource(response, "outcome"))
        elif rt == "Parameters":
            params = _objects(at, "parameter")
            while params:
                param = params.pop()
                stack.extend(_resource(param, "resource"))
                params.extend(_objects(param, "part"))
    return found


def _objects(parent: Item, name: str) -> list[Item]:
    """The JSON objects under `name` in `parent` (one, or each of an array), as items."""
    value = parent.value.get(name)
    if isinstance(value, list):
        return [parent.child(name, v, i, None) for i, v in enumerate(value) if isinstance(v, dict)]
    return [parent.child(name, value, None, None)] if isinstance(value, dict) else []


def _resource(item: Item, name: str | None = None) -> list[Item]:
    found = _objects(item, name) if name else [item]
    return [it for it in found if isinstance(it.value.get("resourceType"), str)]
