"""How one differential element changes the snapshot element it constrains.

Most properties replace the inherited value. The exceptions are where the spec says a profile
adds rather than replaces: constraints (new keys are appended, each remembering the profile
that introduced it), mappings, conditions and aliases accumulate; slicing and binding are
refined property by property so a profile that only tightens the strength keeps the value set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imgfhir.choices import is_choice_key
from imgfhir.snapshot.tree import Element, clone

_NOT_INHERITED_FROM_DIFF = frozenset({"id", "path", "base"})
# choice-typed ElementDefinition properties: one value, under a name that carries its type
_CHOICE_PREFIXES = ("defaultValue", "fixed", "pattern", "minValue", "maxValue")


def _choice_prefix(key: str) -> str | None:
    """`minValuePositiveInt` → `minValue`; None for any other property."""
    for prefix in _CHOICE_PREFIXES:
        if is_choice_key(key, prefix):
            return prefix
    return None


def _merge_constraints(el: Element, value: Any, source: str) -> None:
    current: list[dict[str, Any]] = el.setdefault("constraint", [])
    for c in value:
        new = clone(c)
        new.setdefault("source", source)
        for i, old in enumerate(current):
            if old.get("key") == new.get("key"):
                current[i] = new
                break
        else:
            current.append(new)


def _union(key: str) -> Callable[[Element, Any, str], None]:
    def merge(el: Element, value: Any, _source: str) -> None:
        current: list[Any] = el.setdefault(key, [])
        for item in value:
            if item not in current:
                current.append(clone(item))

    return merge


def _refine(key: str) -> Callable[[Element, Any, str], None]:
    def merge(el: Element, value: Any, _source: str) -> None:
        merged = dict(el.get(key) or {})
        merged.update(clone(value))
        el[key] = merged

    return merge


def _merge_binding(el: Element, value: Any, source: str) -> None:
    # a new value set replaces the old binding's description/extensions as well
    if "valueSet" in value and value.get("valueSet") != (el.get("binding") or {}).get("valueSet"):
        el["binding"] = clone(value)
    else:
        _refine("binding")(el, value, source)


def _merge_content_reference(el: Element, value: Any, _source: str) -> None:
    # A constraint cannot turn a typed element into a reference to another element's definition:
    # the Java generator never copies contentReference from a differential onto an inherited element
    # (ProfileUtilities.updateFromDefinition has no contentReference branch); only a new element of
    # a specialization, which has neither yet, takes it.
    if "type" not in el and "contentReference" not in el:
        el["contentReference"] = value


_MERGERS: dict[str, Callable[[Element, Any, str], None]] = {
    "contentReference": _merge_content_reference,
    "constraint": _merge_constraints,
    "mapping": _union("mapping"),
    "condition": _union("condition"),
    "alias": _union("alias"),
    "slicing": _refine("slicing"),
    "binding": _merge_binding,
}


def merge_element(el: Element, diff: Element, source: str) -> None:
    """Apply `diff` to `el` in place; `source` is the canonical of the profile being built."""
    for key, value in diff.items():
        if key in _NOT_INHERITED_FROM_DIFF:
            continue
        merger = _MERGERS.get(key)
        if merger is not None:
            merger(el, value, source)
            continue
        prefix = _choice_prefix(key)
        if prefix is not None:
            # a new value of a choice property replaces the old one whatever its type
            # (`minValuePositiveInt` replaces `minValueInteger`): the element has one value
            for old in [k for k in el if _choice_prefix(k) == prefix]:
                del el[old]
        el[key] = clone(value)
