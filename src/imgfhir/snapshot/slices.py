"""Consistency of slices with the element they slice, within one snapshot.

Every value in a slice is also a value of the sliced element, so a slice that allows more than
its sliced element (another type, a target profile the sliced element excludes, a weaker binding,
a larger maximum, no fixed value where the sliced element fixes one) is a snapshot that misreports
the profile: the sliced element's constraints still apply, but readers of the slice (model
generators, documentation, the per-slice validation pass) do not see them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from imgfhir.choices import is_choice_key
from imgfhir.snapshot.tree import Element, Node, build

__all__ = ["WiderSlice", "wider_slices"]

_STRENGTH = {"example": 0, "preferred": 1, "extensible": 2, "required": 3}
_BOUNDS = ("minValue", "maxValue")

# canonical → its baseDefinition (None when unknown or a root)
BaseOf = Callable[[str], str | None]


@dataclass(frozen=True)
class WiderSlice:
    """One property in which a slice (`element`) allows more than its sliced element."""

    element: str
    field: str
    sliced: Any
    slice: Any


def _max(value: Any) -> float:
    if value == "*" or value is None:
        return float("inf")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("inf")


def _derives_from(url: str, allowed: set[str], base_of: BaseOf) -> bool:
    """`url` is one of `allowed` or a profile on one of them (its baseDefinition chain reaches one)."""
    seen: set[str] = set()
    current: str | None = url.split("|", 1)[0]
    while current is not None and current not in seen:
        if current in allowed:
            return True
        seen.add(current)
        current = base_of(current)
    return False


def _type_map(el: Element) -> dict[str, dict[str, set[str]]]:
    out: dict[str, dict[str, set[str]]] = {}
    for t in el.get("type") or ():
        if not isinstance(t, Mapping):
            continue
        slot = out.setdefault(str(t.get("code")), {"profile": set(), "targetProfile": set()})
        for name in ("profile", "targetProfile"):
            slot[name].update(str(u).split("|", 1)[0] for u in t.get(name) or ())
    return out


def _types(sid: str, sliced: Element, sl: Element, base_of: BaseOf) -> Iterator[WiderSlice]:
    mine, theirs = _type_map(sl), _type_map(sliced)
    if not theirs:
        return
    if extra := sorted(set(mine) - set(theirs)):
        yield WiderSlice(sid, "type", sorted(theirs), extra)
    for code in sorted(set(mine) & set(theirs)):
        for name in ("profile", "targetProfile"):
            allowed = theirs[code][name]
            if not allowed:
                continue
            own = mine[code][name]
            wider = sorted(u for u in own if not _derives_from(u, allowed, base_of))
            if not own or wider:
                yield WiderSlice(sid, f"type[{code}].{name}", sorted(allowed), sorted(own))


def _binding(sid: str, sliced: Element, sl: Element) -> Iterator[WiderSlice]:
    theirs, mine = sliced.get("binding"), sl.get("binding")
    if not isinstance(theirs, Mapping) or theirs.get("strength") not in ("required", "extensible"):
        return
    if not isinstance(mine, Mapping):
        yield WiderSlice(sid, "binding", dict(theirs), None)
        return
    if _STRENGTH.get(str(mine.get("strength")), -1) < _STRENGTH[str(theirs["strength"])]:
        yield WiderSlice(sid, "binding.strength", theirs.get("strength"), mine.get("strength"))


def _values(sid: str, sliced: Element, sl: Element) -> Iterator[WiderSlice]:
    for prefix in ("fixed", "pattern", *_BOUNDS):
        theirs = [k for k in sliced if is_choice_key(k, prefix)]
        if theirs and not any(is_choice_key(k, prefix) for k in sl):
            yield WiderSlice(sid, prefix, {k: sliced[k] for k in theirs}, None)
    if "maxLength" in sliced and _max(sl.get("maxLength")) > _max(sliced["maxLength"]):
        yield WiderSlice(sid, "maxLength", sliced["maxLength"], sl.get("maxLength"))
    if _max(sl.get("max")) > _max(sliced.get("max")):
        yield WiderSlice(sid, "max", sliced.get("max"), sl.get("max"))


def _compare(sliced: Element, sl: Element, base_of: BaseOf) -> Iterator[WiderSlice]:
    sid = str(sl.get("id") or sl.get("path"))
    yield from _types(sid, sliced, sl, base_of)
    yield from _binding(sid, sliced, sl)
    yield from _values(sid, sliced, sl)


def _walk(node: Node, base_of: BaseOf) -> Iterator[WiderSlice]:
    for sl in node.slices:
        yield from _compare(node.el, sl.el, base_of)
        yield from _walk(sl, base_of)
    for child in node.children:
        yield from _walk(child, base_of)


def wider_slices(elements: list[Element], base_of: BaseOf | None = None) -> list[WiderSlice]:
    """Every property in which a slice of this snapshot allows more than its sliced element.

    `base_of` maps a canonical to its baseDefinition, so that a slice's target profile that is a
    profile on the sliced element's target profile counts as narrower, not different."""
    return list(_walk(build(elements), base_of or (lambda _url: None)))
