"""Mutants: a valid instance broken in one targeted place (`places.candidates` says where), with the
issue (rule, FHIRPath location) the validator must report for it. One function per mutation kind."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from imgfhir.strategies.builder import ProfileBuilder
from imgfhir.strategies.instances import element_values
from imgfhir.strategies.model import MAX_DEPTH, At, Draw, ExpectedIssue, Site, get
from imgfhir.strategies.places import FOREIGN_TYPES, first_leaf, foreign_type, invariant_option
from imgfhir.strategies.primitives import BAD_PRIMITIVES, different
from imgfhir.strategies.slices import break_discriminator
from imgfhir.validation.rules.bundles import enclosing_bundle

# mutant (changed in place), the site, the draw (for kinds that build values): the expected issue
Mutate = Callable[[ProfileBuilder, dict[str, Any], Site, Draw | None], ExpectedIssue]


MUTATORS: dict[str, Mutate] = {}  # mutation kind -> how it breaks an instance (one per MUTATION_KINDS entry)


def _mutates(kind: str) -> Callable[[Mutate], Mutate]:
    def register(fn: Mutate) -> Mutate:
        MUTATORS[kind] = fn
        return fn

    return register


def apply_mutation(
    builder: ProfileBuilder, instance: dict[str, Any], kind: str, site: Site | None, d: Draw | None = None
) -> tuple[dict[str, Any], ExpectedIssue]:
    """A copy of `instance` broken by mutation `kind` at `site` (None: the resource's root)."""
    mutant = copy.deepcopy(instance)
    if site is None:  # unknown-element at the root
        mutant["colour"] = "red"
        return mutant, ExpectedIssue(kind, "unknown-element", f"{builder.plan.type}.colour", "added colour")
    mutate = MUTATORS.get(kind)
    if mutate is None:
        raise ValueError(f"unknown mutation kind {kind}")
    return mutant, mutate(builder, mutant, site, d)


def _parent(mutant: dict[str, Any], site: Site) -> tuple[Any, Any]:
    """The object or array holding the value at `site`, and its key or index there."""
    return get(mutant, site.pointer[:-1]), site.pointer[-1]


@_mutates("unknown-element")
def _unknown_element(builder: ProfileBuilder, mutant: dict[str, Any], site: Site, d: Draw | None) -> ExpectedIssue:
    get(mutant, site.pointer)["colour"] = "red"
    return ExpectedIssue("unknown-element", "unknown-element", f"{site.expression}.colour", "added colour")


@_mutates("invariant")
def _invariant(builder: ProfileBuilder, mutant: dict[str, Any], site: Site, d: Draw | None) -> ExpectedIssue:
    """Build the child an exclusive invariant forbids beside one that is there."""
    found = invariant_option(builder, site, mutant)
    assert found is not None and d is not None
    constraint, child = found
    obj = get(mutant, site.pointer)
    before = set(obj)
    at = At(site.expression, site.pointer, MAX_DEPTH)
    element_values(builder, d, child, site.type, at, obj, force=True)
    change = f"added {', '.join(sorted(set(obj) - before))} to {site.expression} ({constraint})"
    return ExpectedIssue("invariant", constraint, site.expression, change)


@_mutates("closed-slice")
def _closed_slice(builder: ProfileBuilder, mutant: dict[str, Any], site: Site, d: Draw | None) -> ExpectedIssue:
    """Repeat a slice's occurrence with a discriminator changed so that it matches no slice."""
    assert site.slice_element is not None
    parent, last = _parent(mutant, site)
    item = copy.deepcopy(parent[last])
    break_discriminator(site.slice_element, item)
    parent.append(item)
    where = f"{site.parent_expression}.{site.key}[{len(parent) - 1}]"
    return ExpectedIssue("closed-slice", "slice", where, f"added {where}: {site.expression} matching no slice")


@_mutates("choice-type")
def _choice_type(builder: ProfileBuilder, mutant: dict[str, Any], site: Site, d: Draw | None) -> ExpectedIssue:
    """Rename a choice to a type it does not allow (in place: the key keeps its position)."""
    foreign = foreign_type(site)
    assert foreign is not None
    parent, last = _parent(mutant, site)
    new_key = site.element.name[:-3] + foreign
    items = [(new_key, dict(FOREIGN_TYPES[foreign])) if k == last else (k, v) for k, v in parent.items()]
    parent.clear()
    parent.update(items)
    where = f"{site.parent_expression}.{new_key}"
    return ExpectedIssue("choice-type", "type", where, f"{site.expression} replaced by {where}")


@_mutates("drop-required")
def _drop_required(builder: ProfileBuilder, mutant: dict[str, Any], site: Site, d: Draw | None) -> ExpectedIssue:
    parent, last = _parent(mutant, site)
    if site.array:
        holder, key = get(mutant, site.pointer[:-2]), site.pointer[-2]
        del holder[key][last]
        if not holder[key]:
            del holder[key]
    else:
        del parent[last]
    return ExpectedIssue("drop-required", "cardinality", site.parent_expression, f"removed {site.expression}")


@_mutates("exceed-max")
def _exceed_max(builder: ProfileBuilder, mutant: dict[str, Any], site: Site, d: Draw | None) -> ExpectedIssue:
    parent, last = _parent(mutant, site)
    parent.append(copy.deepcopy(parent[last]))
    return ExpectedIssue("exceed-max", "cardinality", site.parent_expression, f"repeated {site.expression}")


@_mutates("primitive-format")
def _primitive_format(builder: ProfileBuilder, mutant: dict[str, Any], site: Site, d: Draw | None) -> ExpectedIssue:
    parent, last = _parent(mutant, site)
    parent[last] = BAD_PRIMITIVES[str(site.type)]
    return ExpectedIssue("primitive-format", "primitive", site.expression, f"{site.expression} = {parent[last]!r}")


@_mutates("fixed-value")
def _fixed_value(builder: ProfileBuilder, mutant: dict[str, Any], site: Site, d: Draw | None) -> ExpectedIssue:
    parent, last = _parent(mutant, site)
    parent[last] = different(parent[last])
    return ExpectedIssue("fixed-value", "fixed", site.expression, f"{site.expression} changed")


@_mutates("pattern-value")
def _pattern_value(builder: ProfileBuilder, mutant: dict[str, Any], site: Site, d: Draw | None) -> ExpectedIssue:
    """Change the first string the pattern states (or the primitive value itself)."""
    parent, last = _parent(mutant, site)
    if isinstance(parent[last], dict):
        leaf = first_leaf(site.element.pattern[1] if site.element.pattern else None)
        assert leaf is not None
        holder = get(parent[last], leaf[:-1])
        holder[leaf[-1]] = different(holder[leaf[-1]])
    else:
        parent[last] = different(parent[last])
    return ExpectedIssue("pattern-value", "pattern", site.expression, f"{site.expression} changed")


@_mutates("binding")
def _binding(builder: ProfileBuilder, mutant: dict[str, Any], site: Site, d: Draw | None) -> ExpectedIssue:
    parent, last = _parent(mutant, site)
    if isinstance(parent[last], str):
        parent[last] = "not-in-the-value-set"
    else:
        for coding in _codings(parent[last]):
            coding["code"] = "not-in-the-value-set"
            coding.pop("display", None)
    return ExpectedIssue("binding", "binding", site.expression, f"{site.expression} code outside the value set")


def _codings(value: Any) -> list[dict[str, Any]]:
    """The codings a bound value carries (a Coding, CodeableConcept or CodeableReference's concept)."""
    if not isinstance(value, dict):
        return []
    if "coding" in value:
        return [c for c in value["coding"] if isinstance(c, dict)]
    if "concept" in value:
        return _codings(value["concept"])
    return [value] if "code" in value else []


@_mutates("dangling-reference")
def _dangling_reference(
    builder: ProfileBuilder, mutant: dict[str, Any], site: Site, d: Draw | None
) -> ExpectedIssue:
    """A reference that resolves to nothing, the way the enclosing Bundle (if any) makes that an error."""
    parent, last = _parent(mutant, site)
    found_bundle = enclosing_bundle(mutant, site.pointer)
    bundle_type = found_bundle[0].get("type") if found_bundle else None
    if bundle_type == "document":  # documents are self-contained: a Type/id must name an entry
        parent[last] = f"{str(parent[last]).split('/')[0]}/dangling"
        rule = "bundle-document-reference"
    elif bundle_type in ("transaction", "batch"):  # a urn: reference must be an entry's fullUrl
        parent[last] = "urn:uuid:00000000-0000-4000-8000-00000000dead"
        rule = "bundle-transaction-reference"
    else:
        parent[last], rule = "#missing", "reference"
    change = f"{site.expression} = {parent[last]!r}"
    return ExpectedIssue("dangling-reference", rule, site.parent_expression, change)
