"""Per-validation state handed to every rule: where we are, what we can resolve, what we found."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from imgfhir.packages import Scope

if TYPE_CHECKING:
    from imgfhir.outcome import Issue
    from imgfhir.terminology import Terminology
    from imgfhir.validation.model import Item
    from imgfhir.validation.validator import Validator


@dataclass
class Context:
    """Shared by all rules during one `validate()` call.

    `resource` is the resource currently being walked (a contained or Bundle entry resource while
    inside one), `root` the outermost resource; `group` holds the occurrences a "group" rule is
    looking at; `entries` maps Bundle fullUrls and `Type/id` to entry resources for reference
    resolution, `known` other resources the caller made available (Validator.add_resources).
    """

    validator: Validator
    scope: Scope
    release: str
    root: dict[str, Any]
    resource: dict[str, Any]
    resource_item: Item
    group: list[Item] = field(default_factory=list)
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    known: dict[str, dict[str, Any]] = field(default_factory=dict)
    depth: int = 0
    # (id of a value, profiles) → conforms: slicing asks again for every slice and occurrence
    conformance: dict[tuple[int, tuple[str, ...]], bool] = field(default_factory=dict)
    # (id of a resource, profile) → (where it was checked, its issues): see engine.against
    checked: dict[tuple[int, str], tuple[tuple[str | int, ...], list[Issue]]] = field(default_factory=dict)
    locations: dict[int, Item] | None = None  # id of a resource → where it sits in the document
    # id of a resource → its contained resources by id (rules.references: `#id` lookups)
    contained_index: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # while walking a primitive's extensions: the definition path of that primitive (`Address.line`),
    # which the primitive type's own definition (`string.extension`) does not know
    primitive_path: str | None = None
    # inside a probe (engine.probe_element): every rule of the probed element runs, none is left to a twin
    probing: int = 0
    # rules from plugins or Validator(rules=...): the walk then runs every rule everywhere
    extra: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.extra = bool(self.validator.extra_rules)

    @cached_property
    def terminology(self) -> Terminology:
        return self.validator.terminology(self.scope)
