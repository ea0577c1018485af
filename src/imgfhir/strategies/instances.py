"""The walk that builds an instance from a compiled plan: an object's children (required ones, the
optional ones drawn, those its invariants and its slices' discriminators need), each element's
occurrences (its slices first), and the value of each occurrence (fixed, bound, pattern, primitive,
reference or a nested object). Every value built is recorded as a `Site` for the mutants."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from imgfhir.packages import UnknownCanonical
from imgfhir.snapshot import SnapshotError
from imgfhir.strategies import references
from imgfhir.strategies.builder import ProfileBuilder, builder_for
from imgfhir.strategies.invariants import SKIP_OPTIONAL, invariant_children, left_out, required_prefix, settle
from imgfhir.strategies.model import MAX_DEPTH, At, Building, Draw, Site, target_profiles
from imgfhir.strategies.primitives import (
    FALLBACK_CODES,
    ID,
    PRIMITIVES,
    TEXT,
    WORD,
    coded,
    merge_pattern,
    within_bounds,
)
from imgfhir.strategies.slices import discriminating, discriminator_paths, on_discriminator_path
from imgfhir.validation.engine import is_array_element, upper_first
from imgfhir.validation.model import ElementPlan
from imgfhir.validation.plan import is_primitive
from imgfhir.validation.rules.bindings import max_value_set

_RESOURCE_SKIP = frozenset({"implicitRules", "language", "text", "contained", "meta"})
_REFERENCES = frozenset({"Reference", "CodeableReference"})
# ele-1: the children tried first to fill an object that would otherwise be empty
_FILL_FIRST = ("value[x]", "value", "text", "display", "code", "system", "start", "name", "family", "reference")

Item = tuple[ElementPlan, ElementPlan | None]  # (definition of one occurrence, its slicing entry)


def plain_resource(builder: ProfileBuilder, d: Draw) -> dict[str, Any]:
    """A resource of the builder's profile, its contained targets attached (not a Bundle's entries)."""
    rt = builder.plan.type
    out: dict[str, Any] = {"resourceType": rt}
    out.update(complex_value(builder, d, builder.plan.root, rt, At(rt, ())))
    if d.contained and not d.nested:
        out["contained"] = d.contained
    return out


def optional(d: Draw, depth: int) -> bool:
    """Whether to build an optional element: ever less often deeper down, never below MAX_DEPTH."""
    if depth >= MAX_DEPTH:
        return False
    return bool(d.draw(st.integers(0, 3 + depth)) == 3)


# ---- objects --------------------------------------------------------------------------------------


def complex_value(builder: ProfileBuilder, d: Draw, element: ElementPlan, type_code: str | None, at: At) -> Any:
    """A JSON object for `element` carrying `type_code`, children walked from the plan."""
    if type_code == "Reference" and not element.children:
        return reference(builder, d, element, at)
    if type_code == "CodeableReference" and d.bundle is not None:
        saved, d.targets = d.targets, target_profiles(element, "CodeableReference")
        try:
            return complex_children(builder, d, element, type_code, at)
        finally:
            d.targets = saved
    return complex_children(builder, d, element, type_code, at)


def complex_children(
    builder: ProfileBuilder, d: Draw, element: ElementPlan, type_code: str | None, at: At
) -> dict[str, Any]:
    kids = builder.children(element, type_code)
    out: dict[str, Any] = {}
    if type_code == "Reference" and "reference" in kids and kids["reference"].max != 0:
        out["reference"] = reference(builder, d, element, at)["reference"]
    entry = at.slice_ctx[0] if at.slice_ctx and at.rel == () else None
    wanted = invariant_children(builder, element, kids, entry)
    for child in kids.values():
        if child.max == 0 or child.name in out:
            continue
        if on_discriminator_path(at.slice_ctx, at.below(child.name.removesuffix("[x]"))) or child.name in wanted:
            element_values(builder, d, child, type_code, at, out, force=True)
        elif not _left_out(builder, d, element, child, type_code, at):
            element_values(builder, d, child, type_code, at, out)
    obj = Building(builder, d, element, type_code, kids, wanted, out, at)
    settle(obj)
    _extension_value(obj)
    if not out and type_code and not is_primitive(type_code):
        _fill_empty(obj)
    return out


def _left_out(
    builder: ProfileBuilder, d: Draw, element: ElementPlan, child: ElementPlan, type_code: str | None, at: At
) -> bool:
    """Whether `child` is not built: left out by design, or optional and not drawn."""
    if _left_out_by_design(d, element, child, type_code, at.depth == 0):
        return True
    if child.min > 0 or any(s.min > 0 for s in child.slices):
        return False
    return child.name in SKIP_OPTIONAL or not optional(d, at.depth) or _unanswerable(builder, d, child)


def _left_out_by_design(d: Draw, element: ElementPlan, child: ElementPlan, type_code: str | None, root: bool) -> bool:
    if root and child.name in _RESOURCE_SKIP and child.min == 0:
        return True
    if root and type_code == "Bundle" and child.name == "entry" and d.bundle is not None:
        return True  # the entries are built from the entry slices (bundles.build_bundle)
    if left_out(element, child.name, root):
        return True
    return child.name == "url" and type_code == "Extension" and child.fixed is None


def _unanswerable(builder: ProfileBuilder, d: Draw, child: ElementPlan) -> bool:
    """An optional reference no Bundle entry answers, or an optional resource or narrative."""
    if d.bundle is not None and set(child.type_codes) & _REFERENCES and not references.bundle_has_target(
        builder, d, child
    ):
        return True
    return any(t in ("Resource", "Narrative") or (t[:1].isupper() and builder.is_resource(t)) for t in child.type_codes)


def _extension_value(obj: Building) -> None:
    """ext-1: an extension has a value or nested extensions."""
    if obj.type_code != "Extension" or any(k.startswith("value") for k in obj.out) or "extension" in obj.out:
        return
    vx = obj.kids.get("value[x]")
    if vx is not None and vx.max != 0:
        element_values(obj.builder, obj.d, vx, obj.type_code, obj.at, obj.out, force=True)


def _fill_empty(obj: Building) -> None:
    """ele-1: an element has a value or children; pick one simple child to fill an empty object."""
    deepest = obj.at.at_depth(MAX_DEPTH)
    first = [c for name in _FILL_FIRST if (c := obj.kids.get(name)) is not None]
    rest = [c for c in obj.kids.values() if c.name not in ("id", "extension", "modifierExtension")]
    for child in [*first, *rest]:
        if child.max != 0:
            element_values(obj.builder, obj.d, child, obj.type_code, deepest, obj.out, force=True)
            if obj.out:
                return


# ---- occurrences of one element -------------------------------------------------------------------


def element_values(
    builder: ProfileBuilder,
    d: Draw,
    child: ElementPlan,
    parent_type: str | None,
    at: At,
    out: dict[str, Any],
    force: bool = False,
) -> None:
    """Occurrences of `child` in `out`: its slices first (in order), then unsliced values."""
    array = is_array_element(child)
    if child.slices and child.slicing is not None:
        items = _slice_items(d, child, at.depth, force)
    else:
        items = _plain_items(d, child, at.depth, array)
    if child.max is not None:
        items = items[: child.max]
    values = [_occurrence(builder, d, child, at, items, i, array) for i in range(len(items))]
    for key, value in values:
        if array:
            out.setdefault(key, []).append(value)
        else:
            out[key] = value


def _slice_items(d: Draw, child: ElementPlan, depth: int, force: bool) -> list[Item]:
    """Each slice `min` times (an optional one drawn), then unsliced values where the slicing is open."""
    items: list[Item] = []
    for sl in child.slices:
        if sl.max != 0:
            items += [(sl, child)] * _slice_count(d, child, sl, depth)
    if not items and child.name != "extension":
        items = _without_slices(child, force)
    while len(items) < child.min:
        items.append(items[-1] if items else (child, None))
    return items


def _slice_count(d: Draw, child: ElementPlan, sl: ElementPlan, depth: int) -> int:
    if sl.min == 0 and depth < MAX_DEPTH and child.name != "modifierExtension" and optional(d, depth):
        return 1
    return sl.min


def _without_slices(child: ElementPlan, force: bool) -> list[Item]:
    """No slice drawn: a forced element takes its first usable slice, else an unsliced value if open."""
    usable = [sl for sl in child.slices if sl.max != 0]
    if force and usable:
        return [(usable[0], child)]
    closed = (child.slicing or {}).get("rules") == "closed"
    return [(child, None)] if not closed and (child.min > 0 or force) else []


def _plain_items(d: Draw, child: ElementPlan, depth: int, array: bool) -> list[Item]:
    n = max(child.min, 1)
    if child.max is None or child.max > n:
        n += d.draw(st.integers(0, 1)) if depth < 2 and array else 0
    return [(child, None)] * n


def _occurrence(
    builder: ProfileBuilder, d: Draw, child: ElementPlan, at: At, items: list[Item], i: int, array: bool
) -> tuple[str, Any]:
    """The JSON key and value of occurrence `i` of `child` (a choice's key carries the type)."""
    definition, entry = items[i]
    type_code = pick_type(d, child, definition)
    key = child.name[:-3] + upper_first(type_code) if child.is_choice else child.name
    index = i if array else None
    name_expr = f"{at.expr}.{key}" + (f"[{index}]" if index is not None else "")
    ptr = (*at.pointer, key) + ((index,) if index is not None else ())
    if entry is not None:
        here = At(name_expr, ptr, at.depth + 1, (entry, [p for _, p in discriminator_paths(entry)]), ())
    else:
        here = At(name_expr, ptr, at.depth + 1, at.slice_ctx, at.below(child.name.removesuffix("[x]")))
    flag = discriminating(here.slice_ctx, here.rel)
    value, how = value_of(builder, d, definition, type_code, here)
    group = sum(1 for dd, _ in items if dd is definition)
    d.sites.append(Site(ptr, name_expr, at.expr, definition, type_code, key, array, group, entry, flag, how))
    return key, value


def pick_type(d: Draw, child: ElementPlan, definition: ElementPlan) -> str:
    """The type of one occurrence: drawn among the allowed ones (a closed choice slicing's only)."""
    if not definition.type_codes and not child.type_codes:
        return "BackboneElement" if "contentReference" in definition.ed else "string"
    codes = _allowed_types(child, definition)
    simple = [t for t in codes if t != "Resource"] or list(codes)
    return str(d.draw(st.sampled_from(simple))) if len(simple) > 1 else simple[0]


def _allowed_types(child: ElementPlan, definition: ElementPlan) -> tuple[str, ...]:
    codes = definition.type_codes or child.type_codes
    if definition is not child or not child.is_choice or not child.slices:
        return codes
    if (child.slicing or {}).get("rules") != "closed":
        return codes
    allowed = [t for s in child.slices for t in s.type_codes]
    return tuple(t for t in codes if t in allowed) or codes


# ---- one value ------------------------------------------------------------------------------------


def value_of(builder: ProfileBuilder, d: Draw, element: ElementPlan, type_code: str, at: At) -> tuple[Any, str]:
    """The value of one occurrence and how it was made (the `Site.how` the mutants select on)."""
    if element.fixed is not None:
        return copy.deepcopy(element.fixed[1]), "fixed"
    found = _bound_value(builder, d, element, type_code, at)
    if found is None:
        found = _fallback_code(element, type_code)
    if found is not None:
        return found
    if element.pattern is not None:
        pattern = element.pattern[1]
        if is_primitive(type_code) or not element.children:
            return copy.deepcopy(pattern), "pattern"
        return merge_pattern(pattern, complex_value(builder, d, element, type_code, at)), "pattern"
    if is_primitive(type_code):
        return _primitive_value(builder, d, element, type_code, at)
    if builder.is_resource(type_code):
        return {"resourceType": type_code, "id": d.draw(ID)}, "generated"
    return within_bounds(element, complex_value(builder, d, element, type_code, at)), "generated"


def _binds(element: ElementPlan) -> bool:
    """Required and extensible bindings, and a preferred one with a maximum value set (it binds alike)."""
    binding = element.binding
    return binding is not None and (binding.strength in ("required", "extensible") or bool(max_value_set(element)))


def _bound_value(
    builder: ProfileBuilder, d: Draw, element: ElementPlan, type_code: str, at: At
) -> tuple[Any, str] | None:
    """A code drawn from the offline expansion of the element's value set."""
    if not _binds(element) or element.binding is None:
        return None
    codes = builder.expansion(element.binding.value_set)
    if not codes or element.pattern is not None:
        return None
    system, code, display = d.draw(st.sampled_from(codes))
    value = coded(type_code, system, code, display)
    if value is not None and not element.children:
        return value, "bound"
    coding = element.children.get("coding")
    if type_code == "CodeableConcept" and value is not None and coding is not None and not coding.slices:
        # a profiled CodeableConcept (constraints on its children): the bound coding replaces theirs
        generated = complex_value(builder, d, element, type_code, at)
        generated["coding"] = value["coding"]
        d.forget(at.pointer, "coding")
        return generated, "bound"
    return None


def _fallback_code(element: ElementPlan, type_code: str) -> tuple[Any, str] | None:
    """A grammar-checked code for a required binding whose value set is not expanded offline."""
    binding, limited = element.binding, max_value_set(element)
    if binding is None or not (binding.strength == "required" or limited):
        return None
    if element.pattern is not None or element.children:
        return None
    fallback = FALLBACK_CODES.get(str(limited or binding.value_set).split("|")[0])
    value = coded(type_code, *fallback) if fallback else None
    return None if value is None else (value, "generated")


def _primitive_value(
    builder: ProfileBuilder, d: Draw, element: ElementPlan, type_code: str, at: At
) -> tuple[Any, str]:
    prefix = required_prefix(element)
    if prefix is not None and type_code in ("string", "uri", "url", "id", "code"):
        # mhd-startswithuuid: startsWith('urn:uuid:') (an IHE MHD entryUUID identifier)
        return d.draw(PRIMITIVES["uuid"] if prefix == "urn:uuid:" else WORD.map(prefix.__add__)), "generated"
    if type_code == "string" and at.expr.endswith(".reference"):
        if d.bundle is not None:
            return references.bundle_target(builder, d, element), "reference"
        return f"Patient/{d.draw(ID)}", "reference"
    return within_bounds(element, d.draw(PRIMITIVES.get(type_code, TEXT))), "generated"


# ---- references -----------------------------------------------------------------------------------


def reference(builder: ProfileBuilder, d: Draw, element: ElementPlan, at: At) -> dict[str, Any]:
    """A Reference: to a contained target, to a Bundle entry, or a literal `Type/id`."""
    contained = contained_target(builder, d, element, at)
    if contained is not None:
        ref = {"reference": f"#{contained['id']}"}
    elif d.bundle is not None:
        ref = {"reference": references.bundle_target(builder, d, element)}
    else:
        target = d.draw(st.sampled_from(builder.target_types(element)))
        ref = {"reference": f"{target}/{d.draw(ID)}"}
    slice_entry = at.slice_ctx[0] if at.slice_ctx else None
    flag = discriminating(at.slice_ctx, at.below("reference"))
    where = (*at.pointer, "reference")
    expr = f"{at.expr}.reference"
    d.sites.append(Site(where, expr, at.expr, element, "string", "reference", False, 1, slice_entry, flag, "reference"))
    return ref


def contained_target(builder: ProfileBuilder, d: Draw, element: ElementPlan, at: At) -> dict[str, Any] | None:
    """A contained resource conforming to one of the reference's target profiles, where one is needed."""
    profiles = references.contained_profiles(d, element, at.slice_ctx)
    if not profiles:
        return None
    try:
        sub = builder_for(d.draw(st.sampled_from(profiles)), store=builder.store, release=builder.release)
    except (SnapshotError, UnknownCanonical):
        return None
    target = plain_resource(sub, Draw(d.draw, nested=True))
    target["id"] = f"target{len(d.contained)}"
    meta = target.get("meta")
    if isinstance(meta, dict):  # dom-4, dom-5: no version, last update or security labels when contained
        for key in ("versionId", "lastUpdated", "security"):
            meta.pop(key, None)
        if not meta:
            del target["meta"]
    d.contained.append(target)
    return target
