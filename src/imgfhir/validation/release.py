"""Which FHIR release a resource is written for, when the caller does not say.

The reference validator takes the version from `-version` or the IG; imgfhir users validate folders of
mixed R4 and R5 resources, so without `--fhir-version` each resource votes: the release of the package
defining each `meta.profile` (when only one release defines it), a resource type only one release has
(ImagingSelection is R5, MedicinalProduct R4), top-level elements only one release defines
(`Observation.triggeredBy` is R5), and, for a Bundle or contained resources, the votes of the resources
inside. Conflicting or no votes give no answer: the caller falls back to R4 and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imgfhir.choices import choice_type
from imgfhir.packages import PackageStore, UnknownCanonical

FHIR_SD = "http://hl7.org/fhir/StructureDefinition/"
RELEASES = ("R4", "R5")
MAX_NESTED = 200  # resources inside a Bundle/contained looked at: enough to decide, bounded for big Bundles


@dataclass(frozen=True, slots=True)
class Detected:
    """The release found (None: undecided) and why, for the message that reports it."""

    release: str | None
    reason: str


def detect_release(store: PackageStore, resource: dict[str, Any]) -> Detected:
    releases = [r for r in RELEASES if r in store.releases()]
    if len(releases) < 2:
        only = releases[0] if releases else None
        return Detected(only, f"only FHIR {only} is loaded" if only else "no packages are loaded")
    votes: dict[str, str] = {}
    _vote(store, resource, votes, [0])
    found = set(votes)
    if len(found) == 1:
        release = found.pop()
        return Detected(release, votes[release])
    if found:
        return Detected(None, f"conflicting hints: {votes['R4']} (R4), {votes['R5']} (R5)")
    return Detected(None, "nothing in the resource is specific to one FHIR release")


def _vote(store: PackageStore, res: dict[str, Any], votes: dict[str, str], seen: list[int]) -> None:
    seen[0] += 1
    rt = res.get("resourceType")
    if not isinstance(rt, str) or seen[0] > MAX_NESTED:
        return
    for release, reason in _profile_votes(store, res):
        votes.setdefault(release, reason)
    having = {r: t for r in RELEASES if (t := _tree(store, r, rt, "resource")) is not None}
    if len(having) == 1:
        only = next(iter(having))
        votes.setdefault(only, f"resource type {rt} exists only in FHIR {only}")
    elif having:
        _Walk(store, votes).object({r: (t, rt) for r, t in having.items()}, rt, res)
    for nested in _nested(res):
        _vote(store, nested, votes, seen)


def _profile_votes(store: PackageStore, res: dict[str, Any]) -> list[tuple[str, str]]:
    meta = res.get("meta")
    declared = meta.get("profile") if isinstance(meta, dict) else None
    found: list[tuple[str, str]] = []
    for url in declared if isinstance(declared, list) else []:
        if not isinstance(url, str):
            continue
        defined = [r for r in RELEASES if _defines_canonical(store, url, r)]
        if len(defined) == 1:
            found.append((defined[0], f"meta.profile {url} is a FHIR {defined[0]} profile"))
    return found


def _defines_canonical(store: PackageStore, url: str, release: str) -> bool:
    try:
        store.scope_for_canonical(url, release)
    except UnknownCanonical:
        return False
    return True


@dataclass(frozen=True, slots=True)
class _Element:
    path: str
    types: tuple[str, ...]
    repeats: bool


@dataclass(frozen=True, slots=True)
class _Tree:
    """A resource or datatype definition's elements by path, and the paths that have children."""

    elements: dict[str, _Element]
    parents: frozenset[str]

    def child(self, path: str, key: str) -> tuple[_Element, str | None] | None:
        """The element of JSON key `key` under `path` and, for a choice, the type its name states
        (`valueQuantity` → `value[x]`, `Quantity`); None when the definition has no such element."""
        name = key[1:] if key.startswith("_") else key
        direct = self.elements.get(f"{path}.{name}")
        if direct is not None:
            return direct, None
        for cut in range(len(name) - 1, 0, -1):
            choice = self.elements.get(f"{path}.{name[:cut]}[x]") if name[cut].isupper() else None
            if choice is not None:
                typed = choice_type(name, name[:cut], choice.types)
                return (choice, typed) if typed is not None else None
        return None


def _tree(store: PackageStore, release: str, type_code: str, kind: str | None = None) -> _Tree | None:
    """`type_code`'s element tree in `release` (a resource when kind is "resource"), or None."""
    scope = store.scope(release=release)
    key = f"release-tree:{type_code}"
    if key not in scope.memo:
        sd = scope.find(FHIR_SD + type_code)
        tree: _Tree | None = None
        if sd is not None and sd.get("kind") in ("resource", "complex-type"):
            found: dict[str, _Element] = {}
            for e in (sd.get("snapshot") or {}).get("element", []):
                if isinstance(e.get("path"), str) and "." in e["path"] and "contentReference" not in e:
                    codes = tuple(str(t.get("code")) for t in e.get("type", ()) if isinstance(t, dict))
                    found[e["path"]] = _Element(e["path"], codes, e.get("max") not in ("0", "1"))
            tree = _Tree(found, frozenset(p.rsplit(".", 1)[0] for p in found))
        scope.memo[key] = (tree, sd.get("kind") if sd else None)
    cached: tuple[_Tree | None, str | None] = scope.memo[key]
    return cached[0] if kind is None or cached[1] == kind else None


# (tree, path of the object in it) per release
_Where = dict[str, tuple[_Tree, str]]
MAX_NODES = 5000  # JSON objects looked at per resource


class _Walk:
    """Walks a resource's JSON against the definitions of both releases at once, voting for the release
    that alone allows a key, an array, or a value's shape (object vs primitive)."""

    def __init__(self, store: PackageStore, votes: dict[str, str]) -> None:
        self.store, self.votes, self.nodes = store, votes, 0

    def object(self, where: _Where, label: str, obj: dict[str, Any]) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            return
        for key, value in obj.items():
            if key == "resourceType" or key.startswith("_"):
                continue
            found = {r: t.child(path, key) for r, (t, path) in where.items()}
            known = [r for r, hit in found.items() if hit is not None]
            if len(known) == 1:
                self.vote(known[0], f"{label}.{key} exists only in FHIR {known[0]}")
            elif len(known) == len(where):
                self.value(where, found, f"{label}.{key}", value)

    def value(self, where: _Where, found: dict[str, Any], label: str, value: Any) -> None:
        shapes = {r: _shape(hit[0], hit[1], value) for r, hit in found.items()}
        fits = [r for r, ok in shapes.items() if ok]
        if len(fits) == 1:
            self.vote(fits[0], f"the value of {label} fits only FHIR {fits[0]}")
            return
        inner: _Where = {}
        for r, (element, typed) in found.items():
            tree = where[r][0]
            if element.path in tree.parents:
                inner[r] = (tree, element.path)
            else:
                codes = (typed,) if typed else element.types
                sub = _tree(self.store, r, codes[0]) if len(codes) == 1 else None
                if sub is not None:
                    inner[r] = (sub, codes[0])
        if len(inner) == len(where):
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and "resourceType" not in item:
                    self.object(inner, label, item)

    def vote(self, release: str, reason: str) -> None:
        self.votes.setdefault(release, reason)


def _shape(element: _Element, typed: str | None, value: Any) -> bool:
    """Can `value` be the JSON of `element` at all: an array only where it repeats, an object only for a
    complex type, a scalar only for a primitive one?"""
    if isinstance(value, list):
        if not element.repeats:
            return False
        value = next((v for v in value if v is not None), None)
        if value is None:
            return True
    codes = (typed,) if typed else element.types
    if not codes:
        return True
    primitive = [c[:1].islower() or c.startswith("http://hl7.org/fhirpath/") for c in codes]
    if isinstance(value, dict):
        return not all(primitive)
    return any(primitive)


def _nested(res: dict[str, Any]) -> list[dict[str, Any]]:
    contained = res.get("contained")
    found = [c for c in contained if isinstance(c, dict)] if isinstance(contained, list) else []
    entries = res.get("entry") if res.get("resourceType") == "Bundle" else None
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            found.append(entry["resource"])
    return found
