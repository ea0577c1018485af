"""Slicing: assign each occurrence to a slice by its discriminators, then check rules and slices.

Discriminator paths are the restricted FHIRPath the spec allows (element names, `$this`,
`extension('url')`, `resolve()`, `ofType(T)`), evaluated directly on the JSON: a general
FHIRPath engine per occurrence and slice would dominate validation time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.engine import (
    against,
    check_element,
    children_of,
    conforms,
    probe_element,
    resource_location,
    slots,
    upper_first,
)
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.plan import FHIR_SD, type_profile
from imgfhir.validation.rules.cardinality import cardinality_issues
from imgfhir.validation.rules.invariants import member_of
from imgfhir.validation.rules.values import matches_fixed, matches_pattern

_STEP = re.compile(
    r"\s*(\$this|resolve\(\)|extension\('([^']*)'\)|extension\(\"([^\"]*)\"\)|ofType\(([^)]*)\)|[A-Za-z0-9_\[\]]+)\s*"
)


def steps(path: str) -> list[str]:
    """Split a discriminator path into steps, keeping `extension('http://a.b/c')` whole."""
    out: list[str] = []
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            raise ValueError(f"unsupported discriminator path {path!r}")
        out.append(m.group(1))
        pos = m.end()
        if pos < len(path) and path[pos] == ".":
            pos += 1
    return out


def _has_slicing(element: ElementPlan) -> bool:
    return element.slicing is not None and bool(element.slices)


def _requires_a_slice(element: ElementPlan) -> bool:
    return any(sl.min > 0 or _requires_a_slice(sl) for sl in element.slices)


@rule("slice", "group", applies=_has_slicing, absent=_requires_a_slice)
def slicing(ctx: Context, element: ElementPlan, parent: Item) -> Iterator[Issue]:
    yield from _check_slicing(ctx, element, parent, list(ctx.group))


def _discriminators(element: ElementPlan) -> list[tuple[str, tuple[str, ...] | None]]:
    """The slicing's discriminators as (type, path steps), parsed once; None for a path we cannot read."""
    cached: list[tuple[str, tuple[str, ...] | None]] | None = element.memo.get("discriminators")
    if cached is None:
        cached = []
        for d in (element.slicing or {}).get("discriminator", ()):
            if not isinstance(d, dict):
                continue
            try:
                path: tuple[str, ...] | None = tuple(steps(str(d.get("path", "$this"))))
            except ValueError:
                path = None
            cached.append((str(d.get("type")), path))
        element.memo["discriminators"] = cached
    return cached


def _check_slicing(ctx: Context, element: ElementPlan, parent: Item, items: list[Item]) -> Iterator[Issue]:
    spec = element.slicing or {}
    discriminators = _discriminators(element)
    rules = spec.get("rules", "open")
    assigned: list[ElementPlan | None] = []
    for it in items:
        match = None
        for sl in element.slices:
            if _matches(ctx, element, sl, it, discriminators):
                match = sl
                break
        assigned.append(match)
    order = {id(s): i for i, s in enumerate(element.slices)}
    last = -1
    seen_unmatched = False
    for it, found in zip(items, assigned, strict=True):
        if found is None:
            seen_unmatched = True
            if rules == "closed":
                message = f"this element does not match any known slice of {element.path} (slicing is closed)"
                yield issue("error", "structure", message, it, "slice")
            continue
        if rules == "openAtEnd" and seen_unmatched:
            message = f"slice {found.slice_name} comes after unsliced content (slicing of {element.path} is openAtEnd)"
            yield issue("error", "structure", message, it, "slice")
        if spec.get("ordered") and order[id(found)] < last:
            message = f"slice {found.slice_name} is out of order (slicing of {element.path} is ordered)"
            yield issue("error", "structure", message, it, "slice")
        last = max(last, order[id(found)])
    unmatched = [it for it, s in zip(items, assigned, strict=True) if s is None]
    for sl in element.slices:
        matched = [it for it, s in zip(items, assigned, strict=True) if s is sl]
        yield from cardinality_issues(sl, parent, len(matched), f"{element.path}:{sl.slice_name}")
        if unmatched and (len(matched) < sl.min or rules == "closed") and not ctx.probing:
            for it in unmatched:
                yield from _why_not(ctx, element, sl, it, discriminators)
        if not sl.covered or ctx.extra or ctx.probing:
            for it in matched:
                yield from check_element(ctx, sl, it)
        if _has_slicing(sl):  # re-slices
            yield from _check_slicing(ctx, sl, parent, matched)


def _why_not(
    ctx: Context,
    element: ElementPlan,
    sl: ElementPlan,
    item: Item,
    discriminators: list[tuple[str, tuple[str, ...] | None]],
) -> Iterator[Issue]:
    """Why an occurrence that matches slice `sl` on everything but a profile is not in it: the
    profile's errors on the resource it names, as information next to the slice's count (what the
    reference validator lists as the slice-matching details). Without them, a Bundle whose
    Composition misses one element of its profile says only that the Composition slice is empty."""
    profile_paths = [path for kind, path in discriminators if kind == "profile" and path is not None]
    if not profile_paths:
        return
    for kind, path in discriminators:
        if kind != "profile" and (path is None or not _discriminate(ctx, sl, item, kind, path)):
            return
    for path in profile_paths:
        target, type_hint = _definition_at(ctx, sl, item.type, path)
        if target is None:
            continue
        for value, _ in _values_at(ctx, item, path):
            rt = value.get("resourceType") if isinstance(value, dict) else None
            if not isinstance(rt, str):
                continue  # values of datatype profiles have no place of their own to report from
            where = resource_location(ctx, value)
            for url in _profiles(target, type_hint):
                hit = ctx.scope.entry(url)
                if hit is None or hit[1].type != rt:
                    continue
                # a resource conforms to a profile when it meets the profile and its base definition
                for found in [*against(ctx, where, FHIR_SD + rt), *against(ctx, where, url)]:
                    if found.severity in ("error", "fatal"):
                        message = (
                            f"{item.expression} is not in slice {element.path}:{sl.slice_name}, "
                            f"as {rt} does not conform to {url}: {found.message}"
                        )
                        yield replace(
                            found, severity="information", code="informational", message=message, rule="slice"
                        )


def _matches(
    ctx: Context,
    entry: ElementPlan,
    sl: ElementPlan,
    item: Item,
    discriminators: list[tuple[str, tuple[str, ...] | None]],
) -> bool:
    if not discriminators:  # no discriminator: the occurrence must conform to the slice
        return not any(i.severity in ("error", "fatal") for i in probe_element(ctx, sl, item))
    for kind, path in discriminators:
        if path is None:
            return False
        try:
            if not _discriminate(ctx, sl, item, kind, path):
                return False
        except ValueError:
            return False
    return True


def _discriminate(ctx: Context, sl: ElementPlan, item: Item, kind: str, path: tuple[str, ...]) -> bool:
    target, type_hint = _definition_at(ctx, sl, item.type, path)
    values = _values_at(ctx, item, path)
    if kind == "exists":
        if target is None:
            return False
        required = target.min >= 1
        forbidden = target.max == 0
        return (bool(values) or not required) and (not values or not forbidden)
    if target is None:
        return False
    if kind in ("value", "pattern"):
        expected = _expected_value(target, sl, path)
        if expected is None:
            binding = target.binding
            if binding is not None and binding.strength == "required" and binding.value_set:
                # "as determined by the applicable fixed value, pattern, or required ValueSet binding"
                # (IHE MHD's Folders slice: request.method bound to the folder actions)
                return any(_member(ctx, v, binding.value_set) for v, _ in values)
            if _fixes_below(target):
                # the value sits below the path (a modelling slip seen in published IGs, e.g. on the
                # coding slices): the value must meet what the slice states there
                return any(_conforms_to_element(ctx, target, v, t) for v, t in values)
            # the slice states nothing at the path (IHE MHD's Documents slice, request.method):
            # the discriminator does not tell it apart, so it does not exclude anything from it
            return True
        how, value = expected
        check = matches_fixed if how == "fixed" else matches_pattern
        return any(check(value, v) for v, _ in values)
    if kind == "type":
        if path and path[-1] in ("resolve()", "reference"):
            # the type of the referenced resource: resolved, or read from a literal `Type/id`
            holder, _ = _definition_at(ctx, sl, item.type, path[:-1])
            allowed = {_type_of_profile(ctx, p) for p in _target_profiles(holder or target)}
            refs = _values_at(ctx, item, path[:-1])
            return any(_referenced_type(ctx, v) in allowed for v, _ in refs)
        allowed = set(target.type_codes)
        return any(t in allowed for _, t in values if t)
    if kind == "profile":
        if target.type_codes == ("Reference",) and (not path or path[-1] != "resolve()"):
            # a profile discriminator on a Reference means the referenced resource's profile
            refs = _values_at(ctx, item, path)
            path = (*path, "resolve()")
            values = _values_at(ctx, item, path)
            if not values:
                # not resolvable here (a logical or external reference): its stated or literal type is
                # all there is to go on, as for a type discriminator
                wanted = {_type_of_profile(ctx, p) for p in _target_profiles(target)}
                return any(_stated_type(ctx, v) in wanted for v, _ in refs)
        profiles = _target_profiles(target) if path and path[-1] == "resolve()" else _profiles(target, type_hint)
        if not profiles:
            # the element the path names carries no profile (a modelling slip seen in published IGs):
            # the value must conform to what the slice states there, rather than match nothing
            return any(_conforms_to_element(ctx, target, v, t) for v, t in values)
        return any(conforms(ctx, v, t, profiles) for v, t in values)
    return False


def _member(ctx: Context, value: Any, value_set: str) -> bool:
    """Is a code/Coding/CodeableConcept in the value set? Undecidable offline counts as in."""
    return member_of(ctx, value, value_set) is not False


def _fixes_below(element: ElementPlan, depth: int = 0) -> bool:
    """Does a fixed or pattern value sit somewhere below `element` (its unfolded children and slices)?"""
    if depth > 4:
        return False
    return any(
        e.fixed is not None or e.pattern is not None or _fixes_below(e, depth + 1)
        for e in [*element.children.values(), *element.slices]
    )


def _expected_value(target: ElementPlan, sl: ElementPlan, path: Sequence[str]) -> tuple[str, Any] | None:
    if target.fixed is None and target.pattern is None and target.is_choice and len(target.slices) == 1:
        target = target.slices[0]  # `value` of a choice narrowed to one type: the value is on that type's slice
    if target.fixed is not None:
        return "fixed", target.fixed[1]
    if target.pattern is not None:
        return "pattern", target.pattern[1]
    if path and path[-1] == "url" and target is not sl:
        # an extension slice whose children were not unfolded: the url is the extension's canonical
        owner = sl if len(path) == 1 else None
        profile = type_profile(owner, "Extension") if owner is not None else None
        if profile:
            return "fixed", profile
    return None


def _type_of_profile(ctx: Context, url: str) -> str:
    hit = ctx.scope.entry(url)
    return str(hit[1].type) if hit is not None and hit[1].type else url.rsplit("/", 1)[-1]


def _referenced_type(ctx: Context, reference: Any) -> str | None:
    target = _resolve(ctx, reference)
    if target is not None:
        return str(target.get("resourceType"))
    ref = reference.get("reference") if isinstance(reference, dict) else reference
    if isinstance(ref, str) and not ref.startswith(("#", "urn:")):
        parts = ref.split("/_history/")[0].rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2][:1].isupper():
            return parts[-2]
    return None


def _stated_type(ctx: Context, reference: Any) -> str | None:
    stated = reference.get("type") if isinstance(reference, dict) else None
    if isinstance(stated, str):
        return stated.rsplit("/", 1)[-1]
    return _referenced_type(ctx, reference)


def _profiles(element: ElementPlan, type_code: str | None) -> list[str]:
    return [
        str(p) for t in element.ed.get("type", ()) for p in t.get("profile", ()) if type_code in (None, t.get("code"))
    ]


def _target_profiles(element: ElementPlan) -> list[str]:
    return [str(p) for t in element.ed.get("type", ()) for p in t.get("targetProfile", ())]


def _conforms_to_element(ctx: Context, element: ElementPlan, value: Any, type_code: str | None) -> bool:
    probe = Item(value, "$probe", (), type_code or _single(element))
    return not any(i.severity in ("error", "fatal") for i in probe_element(ctx, element, probe))


def _definition_at(
    ctx: Context, sl: ElementPlan, type_code: str | None, path: Sequence[str]
) -> tuple[ElementPlan | None, str | None]:
    """The element definition a discriminator path names inside slice `sl` (looked up once per
    slice, type and path: matching asks for every occurrence)."""
    key = ("definition-at", type_code, tuple(path))
    found: tuple[ElementPlan | None, str | None] | None = sl.memo.get(key)
    if found is None:
        found = sl.memo[key] = _find_definition(ctx, sl, type_code, path)
    return found


def _find_definition(
    ctx: Context, sl: ElementPlan, type_code: str | None, path: Sequence[str]
) -> tuple[ElementPlan | None, str | None]:
    node: ElementPlan | None = sl
    current_type = type_code
    for step in path:
        if node is None:
            return None, None
        if step == "$this":
            continue
        if step == "resolve()":
            return node, current_type
        if step.startswith("ofType("):
            current_type = step[7:-1]
            continue
        if step.startswith("extension("):
            url = step[11:-2]
            ext = children_of(ctx, node, current_type).get("extension")
            node = next((s for s in (ext.slices if ext else []) if url in _profiles(s, "Extension")), None)
            current_type = "Extension"
            continue
        if node.slices and node is not sl and len(node.slices) == 1:
            node = node.slices[0]  # a path through an element sliced once means that slice
        children = children_of(ctx, node, current_type if current_type else _single(node))
        nxt = children.get(step)
        if nxt is None:
            choice = children.get(step + "[x]")
            nxt = choice
        if nxt is None:
            for name, child in children.items():
                if child.is_choice and step.startswith(name[:-3]):
                    nxt, current_type = child, step[len(name) - 3 :]
                    break
        else:
            current_type = _single(nxt)
        node = nxt
    return node, current_type


def _single(element: ElementPlan) -> str | None:
    return element.type_codes[0] if len(element.type_codes) == 1 else None


def _values_at(ctx: Context, item: Item, path: Sequence[str]) -> list[tuple[Any, str | None]]:
    """Instance values (with their FHIR type where known) at a discriminator path."""
    current: list[tuple[Any, str | None]] = [(item.value, item.type)]
    for step in path:
        nxt: list[tuple[Any, str | None]] = []
        for value, type_code in current:
            if step == "$this":
                nxt.append((value, type_code))
            elif step == "resolve()":
                target = _resolve(ctx, value)
                if target is not None:
                    nxt.append((target, str(target.get("resourceType"))))
            elif step.startswith("ofType("):
                if type_code == step[7:-1]:
                    nxt.append((value, type_code))
            elif step.startswith("extension("):
                url = step[11:-2]
                for ext in value.get("extension", ()) if isinstance(value, dict) else ():
                    if isinstance(ext, dict) and ext.get("url") == url:
                        nxt.append((ext, "Extension"))
            elif isinstance(value, dict):
                nxt.extend(_property(value, step))
        current = nxt
    return current


def _property(obj: dict[str, Any], name: str) -> list[tuple[Any, str | None]]:
    if name.endswith("[x]"):
        stem = name[:-3]
        out: list[tuple[Any, str | None]] = []
        for key, value in obj.items():
            if key.startswith(stem) and key[len(stem) : len(stem) + 1].isupper():
                t = key[len(stem) :]
                t = t if t[:1].isupper() and t not in _PRIMITIVE_NAMES else t[:1].lower() + t[1:]
                out.extend((v, t) for v in (value if isinstance(value, list) else [value]))
        return out
    value = obj.get(name)
    if value is None:
        return _property(obj, name + "[x]") if name in _CHOICE_STEMS else []
    return [(v, _resource_type(v)) for v in (value if isinstance(value, list) else [value])]


# element names that are choices in some type, so `extension.value` finds `valueBoolean`
_CHOICE_STEMS = frozenset({"value", "effective", "onset", "abatement", "deceased", "multipleBirth", "occurrence"})


def _resource_type(value: Any) -> str | None:
    rt = value.get("resourceType") if isinstance(value, dict) else None
    return rt if isinstance(rt, str) else None


_PRIMITIVE_NAMES = frozenset(
    upper_first(p)
    for p in [
        "base64Binary",
        "boolean",
        "canonical",
        "code",
        "date",
        "dateTime",
        "decimal",
        "id",
        "instant",
        "integer",
        "integer64",
        "markdown",
        "oid",
        "positiveInt",
        "string",
        "time",
        "unsignedInt",
        "uri",
        "url",
        "uuid",
    ]
)


def _resolve(ctx: Context, reference: Any) -> dict[str, Any] | None:
    from imgfhir.validation.rules.references import resolve_reference

    return resolve_reference(ctx, reference)


__all__ = ["slicing", "slots", "steps"]
