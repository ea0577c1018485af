"""The data the strategies pass around: where a generated value sits (`Site`), what a mutant must make
the validator report (`ExpectedIssue`), the state of one draw (`Draw`), of a Bundle being built, and of
the object being built (`At`, `Building`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from imgfhir.validation.model import ElementPlan

if TYPE_CHECKING:
    from imgfhir.strategies.builder import ProfileBuilder

MAX_DEPTH = 5  # below this, only required elements are generated
MUTATION_KINDS = (
    "drop-required",
    "exceed-max",
    "primitive-format",
    "fixed-value",
    "pattern-value",
    "binding",
    "unknown-element",
    "closed-slice",
    "invariant",
    "choice-type",
    "dangling-reference",
)

Pointer = tuple[str | int, ...]
# the slicing entry a value belongs to, and its discriminator paths (split into names)
SliceContext = tuple[ElementPlan, list[list[str]]]


@dataclass(frozen=True, slots=True)
class ExpectedIssue:
    """What the validator must report for a mutant: an error with `rule` at `expression`."""

    kind: str
    rule: str
    expression: str
    change: str


@dataclass(slots=True)
class Site:
    """One generated value: where it is (JSON pointer, FHIRPath) and the definition it came from."""

    pointer: Pointer
    expression: str
    parent_expression: str
    element: ElementPlan
    type: str | None
    key: str
    array: bool
    group_size: int  # occurrences of this element (or slice) in its parent
    slice_element: ElementPlan | None  # the slicing entry when this value belongs to a slice
    discriminating: bool  # inside a slice's discriminator path: breaking it changes slice matching
    how: str = "generated"  # generated | fixed | pattern | bound | reference | entry


@dataclass(slots=True)
class Entry:
    """One entry of a Bundle being built: planned (fullUrl, profile) before its resource exists, so
    that references made while building other entries can already name it."""

    full_url: str
    type: str
    profile: str
    conforms: frozenset[str]  # the profile and the profiles it derives from
    resource: dict[str, Any] | None = None


@dataclass(slots=True)
class BundleContext:
    seed: int
    entries: list[Entry] = field(default_factory=list)

    def full_url(self) -> str:
        """A fresh urn:uuid (bdl-7: fullUrls are unique): the entry's index below a drawn prefix."""
        return f"urn:uuid:{uuid.UUID(int=(self.seed << 16) | len(self.entries), version=4)}"

    def find(self, full_url: str) -> Entry | None:
        return next((e for e in self.entries if e.full_url == full_url), None)


@dataclass(slots=True)
class Draw:
    """One instance being drawn: hypothesis's `draw`, and what construction has recorded so far."""

    draw: Callable[[st.SearchStrategy[Any]], Any]
    sites: list[Site] = field(default_factory=list)
    contained: list[dict[str, Any]] = field(default_factory=list)  # targets built for references
    nested: bool = False  # building a contained resource: its references stay literal
    bundle: BundleContext | None = None  # building a Bundle: references name its entries
    targets: tuple[str, ...] = ()  # target profiles of the CodeableReference being built

    def forget(self, pointer: Pointer, key: str | int) -> None:
        """Drop the sites at and below `pointer + key`: construction removed that value."""
        at = (*pointer, key)
        self.sites[:] = [s for s in self.sites if s.pointer[: len(at)] != at]


@dataclass(frozen=True, slots=True)
class At:
    """Where the walk is: the FHIRPath and JSON pointer of the value being built, its depth, and the
    slice it belongs to with the names below the slice item (`rel`; None outside a slice)."""

    expr: str
    pointer: Pointer
    depth: int = 0
    slice_ctx: SliceContext | None = None
    rel: tuple[str, ...] | None = None

    def at_depth(self, depth: int) -> At:
        return replace(self, depth=depth)

    def below(self, name: str) -> tuple[str, ...] | None:
        """`rel` one name further down (None outside a slice)."""
        return None if self.rel is None else (*self.rel, name)


@dataclass(slots=True)
class Building:
    """One JSON object whose children have been generated, for the steps that then settle the
    invariants construction does not meet child by child."""

    builder: ProfileBuilder
    d: Draw
    element: ElementPlan
    type_code: str | None
    kids: dict[str, ElementPlan]
    wanted: list[str]  # children forced by the element's invariants
    out: dict[str, Any]
    at: At

    def drop(self, key: str) -> None:
        del self.out[key]
        self.d.forget(self.at.pointer, key)

    def kid(self, name: str) -> ElementPlan | None:
        return kid(self.kids, name)


def kid(kids: dict[str, ElementPlan], name: str) -> ElementPlan | None:
    """The child `name`, or the choice `name[x]`."""
    return kids.get(name) or kids.get(name + "[x]")


def choice_key(key: str, stem: str) -> bool:
    """Is `key` the JSON name of a choice `stem[x]` for one type (`valueQuantity` for `value`)?"""
    return key.startswith(stem) and key[len(stem) : len(stem) + 1].isupper()


def has_child(obj: dict[str, Any], name: str) -> bool:
    return any(k == name or choice_key(k, name) for k in obj)


def keys_of(obj: dict[str, Any], name: str) -> list[str]:
    """The keys of `obj` that carry the element `name` (itself, or the choice `name[x]` for a type)."""
    return [k for k in obj if k == name or choice_key(k, name)]


def get(obj: Any, pointer: Pointer | list[str | int]) -> Any:
    for p in pointer:
        obj = obj[p]
    return obj


def find(obj: Any, pointer: Pointer) -> Any:
    """The value at `pointer`, or None when construction dropped it after recording its site."""
    try:
        return get(obj, pointer)
    except (KeyError, IndexError, TypeError):
        return None


def target_profiles(element: ElementPlan, type_code: str) -> tuple[str, ...]:
    return tuple(
        str(u).split("|", 1)[0]
        for t in element.ed.get("type", ())
        if t.get("code") == type_code
        for u in t.get("targetProfile", ())
    )
