"""Slices: which generated values take part in a slice's discriminators (construction keeps them,
mutants leave them alone), which slice occurrences the validator cannot identify, and how to change
an occurrence so that it matches no slice (closed-slice mutants)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imgfhir.strategies.model import Pointer, Site, SliceContext, has_child
from imgfhir.strategies.primitives import different
from imgfhir.validation.model import ElementPlan
from imgfhir.validation.rules.slicing import _discriminators

if TYPE_CHECKING:
    from imgfhir.strategies.builder import ProfileBuilder

_FUNCTIONS = ("ofType(", "resolve(", "extension(")


def discriminator_paths(entry: ElementPlan) -> list[tuple[str, list[str]]]:
    """(type, path steps, `$this` left out) of each discriminator of the slicing `entry` that the
    validator can read (its parse, memoised on the element: `extension('url')` stays one step)."""
    return [(kind, [p for p in path if p != "$this"]) for kind, path in _discriminators(entry) if path is not None]


def on_discriminator_path(slice_ctx: SliceContext | None, rel: tuple[str, ...] | None) -> bool:
    """Whether `rel` (names below a slice item) is a prefix of one of the slice's discriminator paths."""
    if slice_ctx is None or rel is None:
        return False
    for path in slice_ctx[1]:
        names = [p.removesuffix("[x]") for p in path if not p.startswith(_FUNCTIONS)]
        if len(rel) <= len(names) and tuple(names[: len(rel)]) == rel:
            return True
    return False


def discriminating(slice_ctx: SliceContext | None, rel: tuple[str, ...] | None) -> bool:
    """Whether a value at `rel` (names below the slice item) takes part in a discriminator of `slice_ctx`."""
    if slice_ctx is None or rel is None:
        return False
    for path in slice_ctx[1]:
        names = [p for p in path if not p.startswith(_FUNCTIONS)]
        if any(p.startswith(("resolve(", "extension(")) for p in path) or not names:
            return True
        n = min(len(names), len(rel))
        if tuple(x.removesuffix("[x]") for x in names[:n]) == rel[:n]:
            return True
    return False


# ---- occurrences the validator does not hold to their slice --------------------------------------


def undiscriminated_items(sites: list[Site]) -> list[Pointer]:
    """Pointers of slice occurrences matched by conformance (no discriminators): any change may unmatch them."""
    return [
        s.pointer
        for s in sites
        if s.slice_element is not None and not (s.slice_element.slicing or {}).get("discriminator")
    ]


def unidentified_items(builder: ProfileBuilder, sites: list[Site]) -> list[Pointer]:
    """Pointers of slice occurrences whose value discriminator names an element without a fixed or pattern
    value (ServiceRequestOrderEuImaging identifier:accessionNumber, discriminated by `type`, fixes only
    type.coding's slices): nothing identifies them, so the validator takes them as unsliced content and
    does not hold them to the slice's definition."""
    return [
        s.pointer
        for s in sites
        if s.slice_element is not None
        and s.element.slice_name is not None
        and s.how != "entry"
        and not _identifiable(builder, s.slice_element, s.element)
    ]


def _identifiable(builder: ProfileBuilder, entry: ElementPlan, sl: ElementPlan) -> bool:
    memo: dict[str, bool] = entry.memo.setdefault("strategies:identifiable", {})
    if sl.id not in memo:
        memo[sl.id] = all(
            _discriminator_value_at(builder, sl, path)
            for kind, path in discriminator_paths(entry)
            if kind in ("value", "pattern")
        )
    return memo[sl.id]


def _discriminator_value_at(builder: ProfileBuilder, sl: ElementPlan, path: list[str]) -> bool:
    if not path or path == ["url"] or any("(" in p for p in path):
        return True  # the slice itself, an extension's url, or a path not followed here
    node: ElementPlan | None = sl
    for step in path:
        kids = builder.children(node, _single_type(node)) if node is not None else {}
        node = kids.get(step) or kids.get(step.removesuffix("[x]") + "[x]")
        if node is None:
            return False
    return node is not None and (node.fixed is not None or node.pattern is not None)


def _single_type(element: ElementPlan) -> str | None:
    return element.type_codes[0] if len(element.type_codes) == 1 else None


# ---- breaking a discriminator ----------------------------------------------------------------------


def break_discriminator(entry: ElementPlan, item: Any) -> bool:
    """Change `item` in place so that one of `entry`'s discriminators no longer matches any slice."""
    for kind, path in discriminator_paths(entry):
        if not path or any("(" in p for p in path[:-1]):
            continue
        if kind in ("value", "pattern") and "(" not in path[-1] and _perturb(item, path):
            return True
        if kind == "type" and path[-1] in ("resolve()", "reference") and _retarget(item, path[:-1]):
            return True
    return False


def _retarget(item: Any, path: list[str]) -> bool:
    """Point the references at `path` to a type no slice takes."""
    refs = [r for r in values_on_path(item, path) if isinstance(r, dict) and "reference" in r]
    for ref in refs:
        ref["reference"] = "Basic/not-a-slice-target"
        ref.pop("type", None)
    return bool(refs)


def values_on_path(value: Any, path: list[str]) -> list[Any]:
    """The JSON values at `path` (element names; a choice `x[x]` matches `xType`) below `value`."""
    if not path:
        return value if isinstance(value, list) else [value]
    if isinstance(value, list):
        return [v for item in value for v in values_on_path(item, path)]
    if not isinstance(value, dict):
        return []
    name = path[0].removesuffix("[x]")
    subs = [sub for k, sub in value.items() if k == name or has_child({k: 0}, name)]
    return [v for sub in subs for v in values_on_path(sub, path[1:])]


def _perturb(value: Any, path: list[str]) -> bool:
    """Change every string at `path` below `value` (all of them when the path ends on an object)."""
    changed = False
    for holder in values_on_path(value, path[:-1]):
        if not isinstance(holder, dict):
            continue
        name = path[-1].removesuffix("[x]")
        for k in [k for k in holder if k == name or has_child({k: 0}, name)]:
            holder[k], hit = _perturb_all(holder[k])
            changed = changed or hit
    return changed


def _perturb_all(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str):
        return value + "-other", True
    if isinstance(value, list):
        pairs = [_perturb_all(v) for v in value]
        return [v for v, _ in pairs], any(h for _, h in pairs)
    if isinstance(value, dict):
        pairs2 = {k: _perturb_all(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs2.items()}, any(h for _, h in pairs2.values())
    if isinstance(value, (bool, int, float)):
        return different(value), True
    return value, False
