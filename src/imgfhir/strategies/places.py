"""Where in one generated instance a mutation of each kind is well defined, and where inside a Bundle
the validator reports it (in place, or as the entry's slice falling below its minimum)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from imgfhir.packages import UnknownCanonical
from imgfhir.snapshot import SnapshotError
from imgfhir.strategies.builder import ProfileBuilder, builder_for
from imgfhir.strategies.invariants import exclusive_constraints
from imgfhir.strategies.model import Pointer, Site, find, get, has_child, kid
from imgfhir.strategies.primitives import BAD_PRIMITIVES
from imgfhir.strategies.slices import break_discriminator, undiscriminated_items, unidentified_items
from imgfhir.validation.engine import upper_first
from imgfhir.validation.model import ElementPlan
from imgfhir.validation.plan import FHIR_SD, is_primitive

# types no choice element of the imaging profiles allows: a `type` mutant renames a choice to one of them
FOREIGN_TYPES: dict[str, dict[str, str]] = {
    "Address": {"city": "Elsewhere"},
    "HumanName": {"family": "Elsewhere"},
    "ContactPoint": {"value": "elsewhere"},
}

Places = list[Site | None]  # None: the resource's root object (an unknown element added there)
Finder = Callable[[list[Site], list[Site], ProfileBuilder, dict[str, Any]], Places]


FINDERS: dict[str, Finder] = {}  # mutation kind -> where it applies (one per MUTATION_KINDS entry)


def _finds(kind: str) -> Callable[[Finder], Finder]:
    def register(fn: Finder) -> Finder:
        FINDERS[kind] = fn
        return fn

    return register


def candidates(kind: str, sites: list[Site], builder: ProfileBuilder, instance: dict[str, Any]) -> Places:
    """The places in one generated instance where a mutation of `kind` is well defined."""
    hidden = unidentified_items(builder, sites)
    safe = [
        s
        for s in sites
        if not s.discriminating and not _under_extension(s) and not any(s.pointer[: len(p)] == p for p in hidden)
    ]
    finder = FINDERS.get(kind)
    found = finder(sites, safe, builder, instance) if finder is not None else []
    if builder.plan.type != "Bundle":
        return found
    return [s for s in found if entry_verdict(builder, kind, s, sites, instance) is not None]


@_finds("drop-required")
def _drop_required(sites: list[Site], safe: list[Site], builder: ProfileBuilder, instance: dict[str, Any]) -> Places:
    return [
        s
        for s in safe
        if s.how != "reference"
        and s.group_size <= s.element.min
        and not (s.array and s.group_size > 1)
        and len(get(instance, s.pointer[: -2 if s.array else -1])) > 1  # the parent keeps a child
    ]


@_finds("exceed-max")
def _exceed_max(sites: list[Site], safe: list[Site], builder: ProfileBuilder, instance: dict[str, Any]) -> Places:
    return [s for s in safe if s.array and s.element.max is not None and s.group_size >= s.element.max]


@_finds("primitive-format")
def _primitive_format(sites: list[Site], safe: list[Site], builder: ProfileBuilder, instance: dict[str, Any]) -> Places:
    return [s for s in safe if s.how == "generated" and s.type in BAD_PRIMITIVES and _plain(s)]


@_finds("fixed-value")
def _fixed_value(sites: list[Site], safe: list[Site], builder: ProfileBuilder, instance: dict[str, Any]) -> Places:
    return [s for s in safe if s.how == "fixed" and is_primitive(s.type) and s.key != "url"]


@_finds("pattern-value")
def _pattern_value(sites: list[Site], safe: list[Site], builder: ProfileBuilder, instance: dict[str, Any]) -> Places:
    return [s for s in safe if s.how == "pattern" and _patternable(s)]


@_finds("binding")
def _binding(sites: list[Site], safe: list[Site], builder: ProfileBuilder, instance: dict[str, Any]) -> Places:
    return [s for s in safe if s.how == "bound" and s.element.binding and s.element.binding.strength == "required"]


@_finds("unknown-element")
def _unknown_element(sites: list[Site], safe: list[Site], builder: ProfileBuilder, instance: dict[str, Any]) -> Places:
    loose = undiscriminated_items(sites)
    objects = [
        s
        for s in safe
        if isinstance(find(instance, s.pointer), dict)
        and "resourceType" not in get(instance, s.pointer)
        and not any(s.pointer[: len(p)] == p for p in loose)
    ]
    return [None, *objects]


@_finds("closed-slice")
def _closed_slice(sites: list[Site], safe: list[Site], builder: ProfileBuilder, instance: dict[str, Any]) -> Places:
    return [
        s
        for s in sites
        if s.slice_element is not None
        and s.array
        and (s.slice_element.slicing or {}).get("rules") == "closed"
        and not _under_extension(s)
        and find(instance, s.pointer) is not None
        and break_discriminator(s.slice_element, copy.deepcopy(get(instance, s.pointer)))
    ]


@_finds("invariant")
def _invariant(sites: list[Site], safe: list[Site], builder: ProfileBuilder, instance: dict[str, Any]) -> Places:
    return [s for s in [root_site(builder), *safe] if invariant_option(builder, s, instance) is not None]


@_finds("choice-type")
def _choice_type(sites: list[Site], safe: list[Site], builder: ProfileBuilder, instance: dict[str, Any]) -> Places:
    return [
        s
        for s in safe
        if s.element.is_choice
        and not s.array
        and s.how != "reference"
        and s.pointer[-1] == s.key
        and s.key.startswith(s.element.name[:-3])
        and s.key != s.element.name
        and foreign_type(s)
    ]


@_finds("dangling-reference")
def _dangling_reference(
    sites: list[Site], safe: list[Site], builder: ProfileBuilder, instance: dict[str, Any]
) -> Places:
    return [s for s in safe if s.how == "reference"]




def _plain(site: Site) -> bool:
    return site.element.binding is None and site.key not in ("url", "reference") and site.element.pattern is None


def _patternable(site: Site) -> bool:
    pattern = site.element.pattern[1] if site.element.pattern else None
    return is_primitive(site.type) or (isinstance(pattern, dict) and first_leaf(pattern) is not None)


def _under_extension(site: Site) -> bool:
    """Inside a value of an extension: leave those alone."""
    return any(p in ("extension", "modifierExtension") for p in site.pointer)


def first_leaf(value: Any) -> list[str | int] | None:
    """The path to the first string inside `value` (None when it holds none)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str):
                return [k]
            sub = first_leaf(v)
            if sub is not None:
                return [k, *sub]
    if isinstance(value, list) and value:
        sub = first_leaf(value[0])
        return None if sub is None else [0, *sub]
    return None


def root_site(builder: ProfileBuilder) -> Site:
    rt = builder.plan.type
    return Site((), rt, "", builder.plan.root, rt, "", False, 1, None, False)


def foreign_type(site: Site) -> str | None:
    """A datatype the choice element of `site` does not allow."""
    allowed = set((site.slice_element or site.element).type_codes) | set(site.element.type_codes)
    return next((t for t in FOREIGN_TYPES if t not in allowed), None)


def invariant_option(builder: ProfileBuilder, site: Site, instance: dict[str, Any]) -> tuple[str, ElementPlan] | None:
    """(constraint key, child to add) that breaks an exclusive invariant of the object at `site`."""
    obj = find(instance, site.pointer)
    if not isinstance(obj, dict) or site.type is None or is_primitive(site.type):
        return None
    constraints = exclusive_constraints(site.element)
    if not constraints:
        return None
    kids = builder.children(site.element, site.type)
    for key, first, second, symmetric in constraints:
        for present, absent in [(first, second), (second, first)][: 2 if symmetric else 1]:
            child = kid(kids, absent)
            if has_child(obj, present) and not has_child(obj, absent) and child is not None and child.max != 0:
                return key, child
    return None


# ---- inside a Bundle's entries ----------------------------------------------------------------------


def entry_verdict(
    builder: ProfileBuilder, kind: str, site: Site | None, sites: list[Site], instance: dict[str, Any]
) -> str | None:
    """Where a mutant inside a Bundle entry shows. An entry that breaks its slice's profile no longer
    matches that (open) slice and is checked against its base definition only: a violation the base
    definition also states is reported where it is ("precise"); any other is reported as the slice
    falling below its minimum ("slice"), or not at all when the slice has room to spare (None)."""
    if site is None or len(site.pointer) < 3 or site.pointer[0] != "entry" or site.pointer[2] != "resource":
        return "precise"
    if kind in ("primitive-format", "unknown-element", "dangling-reference") or _base_states(
        builder, kind, site, instance
    ):
        return "precise"
    slot = next((s for s in sites if s.how == "entry" and s.pointer == site.pointer[:2]), None)
    return "slice" if slot is not None and slot.group_size <= slot.element.min else None


def _base_states(builder: ProfileBuilder, kind: str, site: Site, instance: dict[str, Any]) -> bool:
    """Whether the base definition of the entry's resource type forbids what mutation `kind` does at `site`."""
    base = _base_element(builder, instance, site.pointer)
    if base is None:
        return False
    held = find(instance, site.pointer[:-1]) if site.array else None
    count = len(held) if isinstance(held, list) else 1
    if kind == "drop-required":
        return base.min >= count
    if kind == "exceed-max":
        return base.max is not None and count >= base.max
    if kind == "binding":
        return base.binding is not None and base.binding.strength == "required"
    if kind == "choice-type":
        foreign = foreign_type(site)
        return foreign is not None and foreign not in base.type_codes
    if kind == "invariant":
        found = invariant_option(builder, site, instance)
        return found is not None and any(c.get("key") == found[0] for c in base.ed.get("constraint", ()))
    return False  # fixed, pattern and slices are the profile's own


def _base_element(builder: ProfileBuilder, instance: dict[str, Any], pointer: Pointer) -> ElementPlan | None:
    """The base resource definition's element at `pointer` (inside a Bundle entry's resource)."""
    resource = find(instance, pointer[:3])
    if not isinstance(resource, dict):
        return None
    rt = str(resource.get("resourceType"))
    try:
        base = builder_for(FHIR_SD + rt, store=builder.store, release=builder.release)
    except (SnapshotError, UnknownCanonical):
        return None
    node: ElementPlan = base.plan.root
    type_code: str | None = rt
    for step in pointer[3:]:
        if isinstance(step, int):
            continue
        found = _base_child(base.children(node, type_code), step)
        if found is None:
            return None
        node, type_code = found
    return node


def _base_child(kids: dict[str, ElementPlan], key: str) -> tuple[ElementPlan, str | None] | None:
    """The child definition a JSON key names, and the type it carries (None when not one type)."""
    child = kids.get(key)
    if child is not None:
        return child, child.type_codes[0] if len(child.type_codes) == 1 else None
    child = next((k for n, k in kids.items() if k.is_choice and has_child({key: 0}, n[:-3])), None)
    if child is None:
        return None
    suffix = key[len(child.name) - 3 :]
    return child, next((t for t in child.type_codes if upper_first(t) == suffix), None)
