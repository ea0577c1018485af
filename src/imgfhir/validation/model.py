"""The validator's vocabulary: instance items, compiled element plans, and the rule table.

A rule is a small function `(ctx, element, item) -> Iterator[Issue]`, registered once in
`RULES` with the kind of place it applies to:

- "item" rules see one occurrence of an element (a JSON value with its location);
- "group" rules see all occurrences of one element within one parent (cardinality, slicing),
  passed as `item` = the parent and `ctx.group` = the occurrences.

`applies(element)` is asked once per element when a profile is compiled into a plan, so the
per-instance loop only runs rules that can fire there (build once, validate many).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from imgfhir.outcome import Issue, Severity
from imgfhir.validation.limits import made

if TYPE_CHECKING:
    from imgfhir.validation.context import Context

RuleKind = Literal["item", "group"]


class Item:
    """One JSON value in the instance being validated.

    `value` is the JSON value (dict for complex types and resources, str/int/float/bool for a
    primitive's value, None for a primitive that only has extensions); `extras` is the
    primitive's `_name` sibling object, if any; `type` the FHIR type code it is validated as;
    `expression` its FHIRPath location (`Observation.component[1].valueQuantity`); `pointer` its
    JSON location as keys/indexes, used to report line and column. A child's expression and
    pointer are spelled out only when asked for: most values never carry an issue.
    """

    __slots__ = ("_expression", "_index", "_name", "_parent", "_pointer", "extras", "type", "value")

    def __init__(
        self,
        value: Any,
        expression: str,
        pointer: tuple[str | int, ...],
        type: str | None = None,
        extras: dict[str, Any] | None = None,
    ) -> None:
        self.value = value
        self.type = type
        self.extras = extras
        self._expression: str | None = expression
        self._pointer: tuple[str | int, ...] | None = pointer
        self._parent: Item | None = None
        self._name = ""
        self._index: int | None = None

    @property
    def expression(self) -> str:
        if self._expression is None:
            assert self._parent is not None
            index = f"[{self._index}]" if self._index is not None else ""
            self._expression = f"{self._parent.expression}.{self._name}{index}"
        return self._expression

    @property
    def pointer(self) -> tuple[str | int, ...]:
        if self._pointer is None:
            assert self._parent is not None
            tail = (self._name,) if self._index is None else (self._name, self._index)
            self._pointer = self._parent.pointer + tail
        return self._pointer

    @property
    def parent(self) -> Item | None:
        """The value this one sits in (None for a resource's root and for probes)."""
        return self._parent

    def child(self, name: str, value: Any, index: int | None, type_code: str | None) -> Item:
        """The value at `name` (`[index]`) inside this one (a JSON key: `valueQuantity`, not `value[x]`)."""
        item = Item.__new__(Item)
        item.value, item.type, item.extras = value, type_code, None
        item._expression = item._pointer = None
        item._parent, item._name, item._index = self, name, index
        return item

    def extras_item(self) -> Item:
        """A primitive's `_name` object (its id and extensions) as an item: same FHIRPath location,
        its own JSON location (`_birthDate`, `_given[1]`)."""
        pointer = self.pointer
        at = max((i for i, step in enumerate(pointer) if isinstance(step, str)), default=-1)
        if at >= 0:
            pointer = (*pointer[:at], f"_{pointer[at]}", *pointer[at + 1 :])
        return Item(self.extras, self.expression, pointer, self.type)

    def __repr__(self) -> str:
        return f"Item({self.expression}, type={self.type})"


@dataclass(slots=True)
class Binding:
    strength: str
    value_set: str | None
    description: str | None = None


@dataclass(slots=True)
class ElementPlan:
    """One ElementDefinition of a snapshot, compiled: what the validator needs, looked up once."""

    id: str
    path: str
    name: str  # last path segment as in the definition (`value[x]`)
    ed: dict[str, Any]  # the ElementDefinition itself (read-only)
    min: int
    max: int | None  # None = unbounded
    type_codes: tuple[str, ...]
    profile_url: str  # canonical of the StructureDefinition this plan came from
    fhir_release: str
    children: dict[str, ElementPlan] = field(default_factory=dict)  # by name as in the definition
    slices: list[ElementPlan] = field(default_factory=list)
    slice_name: str | None = None
    binding: Binding | None = None
    fixed: tuple[str, Any] | None = None  # ("fixedCode", "final")
    pattern: tuple[str, Any] | None = None
    item_rules: list[Rule] = field(default_factory=list)  # less those its twin runs on the same values
    # every item rule that applies here: a probe (slice matching, conformance of a value) checks the
    # element on its own, without the walk that covers the twin's share
    full_item_rules: list[Rule] = field(default_factory=list)
    group_rules: list[Rule] = field(default_factory=list)
    memo: dict[Any, Any] = field(default_factory=dict)  # per-rule compiled data (regexes, FHIRPath, ...)
    # the engine's per-type tables (engine.slots / engine.layout), by the type of the value
    slot_tables: dict[str | None, Any] = field(default_factory=dict)
    layouts: dict[str | None, Any] = field(default_factory=dict)
    # the element that checks the same values in the same validation: for an element of a resource
    # profile the base resource's at the same place (the base pass), for a slice the sliced element;
    # what this element states as its twin does is not checked twice (see plan.mark_twins)
    twin: ElementPlan | None = field(default=None, repr=False, compare=False)
    # this element and everything below it restate its twin
    covered: bool = False

    @property
    def is_choice(self) -> bool:
        return self.name.endswith("[x]")

    @property
    def slicing(self) -> dict[str, Any] | None:
        value = self.ed.get("slicing")
        return value if isinstance(value, dict) else None


RuleFn = Callable[["Context", ElementPlan, Item], Iterator[Issue]]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str  # reported as Issue.rule when the function does not set its own
    kind: RuleKind
    fn: RuleFn
    applies: Callable[[ElementPlan], bool]
    # group rules: can it report anything where the element does not occur? (if not, an absent
    # element is not visited at all: most elements of a definition are absent from an instance)
    absent: Callable[[ElementPlan], bool] | None = None
    # item rules: the ElementDefinition properties the rule's verdict depends on (besides the value);
    # where an element states them as its twin does, the twin's verdict on the same value stands and
    # the rule is skipped here (plan.mark_twins). None: never skipped.
    reads: tuple[str, ...] | None = None


RULES: list[Rule] = []


def _always(_element: ElementPlan) -> bool:
    return True


def rule(
    name: str,
    kind: RuleKind = "item",
    applies: Callable[[ElementPlan], bool] = _always,
    absent: Callable[[ElementPlan], bool] | None = None,
    reads: tuple[str, ...] | None = None,
) -> Callable[[RuleFn], RuleFn]:
    """Register a rule function in the one table (third-party rules: entry point group imgfhir.rules)."""

    def register(fn: RuleFn) -> RuleFn:
        RULES.append(Rule(name, kind, fn, applies, absent, reads))
        return fn

    return register


def speaks_when_absent(element: ElementPlan) -> bool:
    """Can a group rule of `element` report something where it has no occurrences?"""
    return any(r.absent is None or r.absent(element) for r in element.group_rules)


def issue(severity: Severity, code: str, message: str, item: Item, rule_name: str) -> Issue:
    """An Issue located at `item` (line/column are filled in later from the pointer); counted against the
    validation's issue limit (`limits.made`)."""
    found = Issue(severity, code, message, expression=item.expression, rule=rule_name, pointer=item.pointer)
    made(found)
    return found
