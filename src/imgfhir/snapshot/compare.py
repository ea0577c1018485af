"""Element-by-element comparison of two snapshots: how far is ours from a published one?

The comparison is deliberately narrow. It looks only at what changes validation outcomes
(cardinality, types with their profiles, aggregation and versioning, fixed/pattern values,
minValue/maxValue/maxLength, contentReference, bindings with their additional bindings, slicing,
constraint keys, isModifier, mustHaveValue/valueAlternatives) and at element presence;
documentation text, mappings and element order are ignored, because published snapshots differ
there between tool versions without changing meaning.
Elements are aligned by `id`, never by position, so one missing element does not make every
later element look different.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from imgfhir.choices import is_choice_key

Element = Mapping[str, Any]

__all__ = [
    "Difference",
    "agreement",
    "choice_id_variants",
    "compare_element",
    "compare_elements",
    "element_key",
    "element_keys",
    "resolve_diff_id",
    "strip_version",
]


@dataclass(frozen=True)
class Difference:
    """One disagreement on one field of one element.

    `expected` is the published value, `actual` ours; `None` on either side means "absent".
    Values are JSON-shaped (sets become sorted tuples) so a Difference prints and serialises
    as it reads, and two runs can be diffed textually.
    """

    element: str
    field: str
    expected: Any
    actual: Any

    def __hash__(self) -> int:
        # values may be dicts (fixed/pattern); hash their canonical JSON instead of failing
        return hash((self.element, self.field, _canonical(self.expected), _canonical(self.actual)))

    @property
    def kind(self) -> str:
        """`missing` (ours lacks something published), `extra` (ours adds something), or `changed`."""
        if self.actual is None:
            return "missing"
        if self.expected is None:
            return "extra"
        if isinstance(self.expected, tuple) and isinstance(self.actual, tuple):
            exp, act = set(self.expected), set(self.actual)
            if act < exp:
                return "missing"
            if act > exp:
                return "extra"
        return "changed"

    @property
    def group(self) -> str:
        """The field with per-type qualifiers dropped (`type[Reference].targetProfile` → `type.targetProfile`),
        so that differences of one kind are counted together across type codes."""
        return re.sub(r"\[[^\]]*\]", "", self.field)

    def as_dict(self) -> dict[str, Any]:
        return {
            "element": self.element,
            "field": self.field,
            "kind": self.kind,
            "expected": self.expected,
            "actual": self.actual,
        }


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


# -- alignment -------------------------------------------------------------------------


def element_key(element: Element) -> str:
    """The element's `id`; for old or hand-written snapshots without ids, `path:sliceName`.

    Ids, unlike paths, are unique within a snapshot (slices share their path), which is
    what makes them the right key for alignment.
    """
    ident = element.get("id")
    if isinstance(ident, str) and ident:
        return ident
    path = str(element.get("path", "?"))
    slice_name = element.get("sliceName")
    return f"{path}:{slice_name}" if isinstance(slice_name, str) and slice_name else path


def _keyed(elements: Iterable[Element]) -> dict[str, Element]:
    """Index elements by key; a repeated key gets an occurrence suffix (`id#2`) instead of
    silently overwriting, so duplicates in either snapshot surface as missing/extra elements."""
    keyed: dict[str, Element] = {}
    for element in elements:
        key = element_key(element)
        n = 1
        unique = key
        while unique in keyed:
            n += 1
            unique = f"{key}#{n}"
        keyed[unique] = element
    return keyed


def element_keys(elements: Iterable[Element]) -> list[str]:
    """The alignment keys of a snapshot, in order, exactly as compare_elements uses them."""
    return list(_keyed(elements))


# -- normalisation ---------------------------------------------------------------------


def strip_version(canonical: str) -> str:
    """Drop a `|version` suffix: published snapshots pin versions inconsistently across tool
    releases, and a version pin does not change which definition is meant within one package set."""
    return canonical.split("|", 1)[0]


_JSON_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-json-type"
_SYSTEM_TYPES = {"string": "String", "boolean": "Boolean", "number": "Decimal"}


def _type_code(t: Mapping[str, Any]) -> str:
    """The type code, reading the pre-4.0.1 spelling of system types as the modern one.

    A few R4 core snapshots (made by an older publisher) give `Extension.id`/`.url` a type with no
    `code`, only `_code` extensions naming the JSON type; R4 4.0.1 itself says
    `http://hl7.org/fhirpath/System.String`. Both mean the same, so they must not count as a difference.
    """
    code = t.get("code")
    if isinstance(code, str):
        return code
    ext = t.get("_code")
    for e in ext.get("extension") or () if isinstance(ext, Mapping) else ():
        if isinstance(e, Mapping) and e.get("url") == _JSON_TYPE_EXT and e.get("valueString") in _SYSTEM_TYPES:
            return f"http://hl7.org/fhirpath/System.{_SYSTEM_TYPES[e['valueString']]}"
    return ""


_TYPE_LISTS = ("profile", "targetProfile", "aggregation")


def _types(element: Element) -> dict[str, dict[str, Any]]:
    """type code → {"profile": urls, "targetProfile": urls, "aggregation": modes, "versioning": rule}.

    Lists are sorted, version-free tuples. Repeated entries for one code (legal in older snapshots)
    are merged, since what matters is which profiles a value of that type may conform to, not how
    the list was written. `versioning` defaults to `either` (ElementDefinition.type.versioning).
    """
    merged: dict[str, dict[str, set[str]]] = {}
    versioning: dict[str, set[str]] = {}
    for t in element.get("type") or ():
        if not isinstance(t, Mapping):
            continue
        code = _type_code(t)
        slot = merged.setdefault(code, {name: set() for name in _TYPE_LISTS})
        for name in _TYPE_LISTS:
            urls = t.get(name) or ()
            if isinstance(urls, str):  # STU3-style single value
                urls = (urls,)
            slot[name].update(strip_version(str(u)) for u in urls)
        versioning.setdefault(code, set()).add(str(t.get("versioning", "either")))
    out: dict[str, dict[str, Any]] = {}
    for code, slot in merged.items():
        out[code] = {k: tuple(sorted(v)) for k, v in slot.items()}
        out[code]["versioning"] = "/".join(sorted(versioning[code]))
    return out


def _prefixed(element: Element, prefix: str) -> dict[str, Any] | None:
    """All `fixed…`/`pattern…` entries as {key: value} (key keeps the type suffix, so
    `fixedCode` vs `fixedString` is a difference), or None when there are none."""
    found = {
        k: v for k, v in element.items() if is_choice_key(k, prefix)
    }
    return found or None


def _slicing(element: Element) -> dict[str, Any] | None:
    """Slicing reduced to what constrains instances. `ordered` defaults to false in FHIR, so an
    absent `ordered` equals an explicit false; `description` is prose and is ignored."""
    slicing = element.get("slicing")
    if not isinstance(slicing, Mapping):
        return None
    discriminator = tuple(
        (str(d.get("type", "")), str(d.get("path", "")))
        for d in slicing.get("discriminator") or ()
        if isinstance(d, Mapping)
    )
    return {
        "discriminator": discriminator,
        "rules": slicing.get("rules"),
        "ordered": bool(slicing.get("ordered", False)),
    }


def _fragment(element: Element) -> str | None:
    ref = element.get("contentReference")
    return "#" + ref.partition("#")[2] if isinstance(ref, str) else None


def _constraint_keys(element: Element) -> tuple[str, ...]:
    """Constraint keys only: expressions and wording of a key drift between releases
    (xpath removed, typos fixed) while the key identifies the rule."""
    return tuple(sorted({str(c.get("key")) for c in element.get("constraint") or () if isinstance(c, Mapping)}))


# -- comparison ------------------------------------------------------------------------


def _scalar(key: str, field: str, expected: Any, actual: Any) -> Iterator[Difference]:
    if expected != actual:
        yield Difference(key, field, expected, actual)


def _compare_types(key: str, expected: Element, actual: Element) -> Iterator[Difference]:
    exp, act = _types(expected), _types(actual)
    if set(exp) != set(act):
        yield Difference(key, "type", tuple(sorted(exp)), tuple(sorted(act)))
    for code in sorted(set(exp) & set(act)):
        for name in (*_TYPE_LISTS, "versioning"):
            yield from _scalar(key, f"type[{code}].{name}", exp[code][name], act[code][name])


def _compare_binding(key: str, expected: Element, actual: Element) -> Iterator[Difference]:
    exp, act = expected.get("binding"), actual.get("binding")
    exp = exp if isinstance(exp, Mapping) else {}
    act = act if isinstance(act, Mapping) else {}
    yield from _scalar(key, "binding.strength", exp.get("strength"), act.get("strength"))
    exp_vs, act_vs = exp.get("valueSet"), act.get("valueSet")
    yield from _scalar(
        key,
        "binding.valueSet",
        strip_version(exp_vs) if isinstance(exp_vs, str) else exp_vs,
        strip_version(act_vs) if isinstance(act_vs, str) else act_vs,
    )
    yield from _scalar(key, "binding.additional", _additional(exp), _additional(act))


def _additional(binding: Mapping[str, Any]) -> tuple[tuple[str, str], ...] | None:
    """R5 additional bindings as sorted (purpose, value set) pairs: the purpose decides whether the
    validator checks the binding (`required`, `maximum`, ...); documentation and usage are prose."""
    found = {
        (str(a.get("purpose")), strip_version(str(a.get("valueSet"))))
        for a in binding.get("additional") or ()
        if isinstance(a, Mapping)
    }
    return tuple(sorted(found)) or None


def _compare_slicing(key: str, expected: Element, actual: Element) -> Iterator[Difference]:
    exp, act = _slicing(expected), _slicing(actual)
    if exp is None or act is None:
        yield from _scalar(key, "slicing", exp, act)
        return
    for name in ("discriminator", "rules", "ordered"):
        yield from _scalar(key, f"slicing.{name}", exp[name], act[name])


# choice-typed properties compared with their type suffix (`minValueInteger` vs `minValueDecimal` differ)
_VALUE_PREFIXES = ("fixed", "pattern", "minValue", "maxValue")
# plain properties compared as they are; `contentReference` by its fragment (a published snapshot
# may spell the target with or without the definition's canonical in front)
_SCALARS = ("maxLength", "mustHaveValue")


def compare_element(key: str, expected: Element, actual: Element) -> list[Difference]:
    """Differences between two versions of one element (both present)."""
    diffs: list[Difference] = []
    diffs += _scalar(key, "path", expected.get("path"), actual.get("path"))
    diffs += _scalar(key, "min", expected.get("min"), actual.get("min"))
    diffs += _scalar(key, "max", expected.get("max"), actual.get("max"))
    diffs += _compare_types(key, expected, actual)
    for prefix in _VALUE_PREFIXES:
        diffs += _scalar(key, prefix, _prefixed(expected, prefix), _prefixed(actual, prefix))
    for name in _SCALARS:
        diffs += _scalar(key, name, expected.get(name), actual.get(name))
    diffs += _scalar(key, "isModifier", bool(expected.get("isModifier")), bool(actual.get("isModifier")))
    exp_alt, act_alt = expected.get("valueAlternatives") or (), actual.get("valueAlternatives") or ()
    diffs += _scalar(key, "valueAlternatives", tuple(sorted(map(str, exp_alt))), tuple(sorted(map(str, act_alt))))
    diffs += _scalar(key, "contentReference", _fragment(expected), _fragment(actual))
    diffs += _compare_binding(key, expected, actual)
    diffs += _compare_slicing(key, expected, actual)
    exp_keys, act_keys = _constraint_keys(expected), _constraint_keys(actual)
    diffs += _scalar(key, "constraint", exp_keys, act_keys)
    return diffs


def compare_elements(expected: Iterable[Element], actual: Iterable[Element]) -> list[Difference]:
    """All differences between a published snapshot (`expected`) and ours (`actual`).

    Missing elements are reported as `Difference(id, "element", path, None)`, extra ones as
    `Difference(id, "element", None, path)`. Order: expected elements in their snapshot order,
    then extra elements in ours.
    """
    exp, act = _keyed(expected), _keyed(actual)
    diffs: list[Difference] = []
    for key, element in exp.items():
        other = act.get(key)
        if other is None:
            diffs.append(Difference(key, "element", element.get("path"), None))
        else:
            diffs += compare_element(key, element, other)
    diffs += [Difference(key, "element", None, element.get("path")) for key, element in act.items() if key not in exp]
    return diffs


def agreement(expected: Iterable[Element], actual: Iterable[Element]) -> tuple[int, int]:
    """(expected elements that are present in ours and match on every compared field,
    number of expected elements). Extra elements in ours do not enter this ratio; count them
    from compare_elements if they matter."""
    exp, act = _keyed(expected), _keyed(actual)
    matching = sum(1 for key, element in exp.items() if key in act and not compare_element(key, element, act[key]))
    return matching, len(exp)


# -- differential ids vs snapshot ids --------------------------------------------------


def choice_id_variants(segment: str) -> list[str]:
    """Ways a snapshot may spell one differential id segment that names a choice element
    narrowed to one type.

    A differential may say `valueQuantity` for `value[x]` restricted to Quantity. Snapshot
    generators write that either as the choice element itself (`value[x]`, with one type) or —
    the R4 publisher's habit — as a type slice `value[x]:valueQuantity`. Any split of a
    camelCase name before an upper-case letter is a candidate (`valueCodeableConcept` →
    `value[x]`, `valueCodeable[x]`); the caller keeps only candidates that exist. The segment
    itself comes first. A slice on a renamed choice (`valueQuantity:s`) maps to `value[x]:s`.
    """
    name, sep, slice_name = segment.partition(":")
    variants = [segment]
    for i in range(1, len(name)):
        if name[i].isupper() and name[i - 1] != "[":
            choice = f"{name[:i]}[x]"
            if sep:
                variants.append(f"{choice}:{slice_name}")
            else:
                variants += [choice, f"{choice}:{name}"]
    return variants


def resolve_diff_id(diff_id: str, snapshot_ids: Collection[str]) -> str | None:
    """The snapshot id that a differential element id denotes, or None if there is none.

    Exact ids win. Otherwise each segment is tried in its choice-renamed variants
    (see choice_id_variants), left to right, keeping only prefixes that are themselves
    snapshot ids — every ancestor of a snapshot element is in the snapshot, so the search stays
    small. `Observation.valueQuantity.value` thus resolves to `Observation.value[x].value` or
    `Observation.value[x]:valueQuantity.value`, whichever the snapshot has.
    """
    if diff_id in snapshot_ids:
        return diff_id
    prefixes = [""]
    for segment in diff_id.split("."):
        prefixes = [
            candidate
            for prefix in prefixes
            for variant in choice_id_variants(segment)
            if (candidate := f"{prefix}.{variant}" if prefix else variant) in snapshot_ids
        ]
        if not prefixes:
            return None
    return prefixes[0]
