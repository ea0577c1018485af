"""Where an extension may be used: StructureDefinition.context and the FHIR versions it is meant for.

Follows the reference validator (InstanceValidator.checkExtensionContext): the element the extension
sits on (the container) is described by its path in the resource and by its logical paths (the path
from each datatype on the way down: `CodeableConcept`, `CodeableConcept.coding`, `Coding`); each
context is tried in turn and the first that admits the container wins:

- `element`: `Element`/`Any` anywhere, `Resource` on a resource, else a path equal to the context
  (a choice context `x.value[x]` matching its chosen type), directly or through the base types of
  its first segment (`DomainResource.extension` admits `Observation.extension`);
- `extension`: the container is the extension named, or the value of that extension;
- `fhirpath`: the container is among the results of the expression evaluated on the resource.

A context carrying `version-specific-use` applies only within its FHIR versions; a definition
carrying it may only be used within them at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.engine import conforms, upper_first
from imgfhir.validation.model import ElementPlan, Item, issue
from imgfhir.validation.plan import FHIR_SD, compiled_or_none, type_children

VERSION_SPECIFIC_USE = "http://hl7.org/fhir/StructureDefinition/version-specific-use"
_RELEASE_VERSION = {"R4": "4.0", "R5": "5.0"}
# logical paths at which the reference admits every extension (example, fixed and pattern values)
_ANYWHERE = frozenset({"ElementDefinition.example.value", "ElementDefinition.pattern", "ElementDefinition.fixed"})
# the canonical resources (FHIR R4 and R5), which a `CanonicalResource` context admits
_CANONICAL = frozenset(
    (
        "ActivityDefinition",
        "ActorDefinition",
        "CapabilityStatement",
        "ChargeItemDefinition",
        "Citation",
        "CodeSystem",
        "CompartmentDefinition",
        "ConceptMap",
        "ConditionDefinition",
        "EffectEvidenceSynthesis",
        "EventDefinition",
        "Evidence",
        "EvidenceReport",
        "EvidenceVariable",
        "ExampleScenario",
        "GraphDefinition",
        "ImplementationGuide",
        "Library",
        "Measure",
        "MessageDefinition",
        "NamingSystem",
        "ObservationDefinition",
        "OperationDefinition",
        "PlanDefinition",
        "Questionnaire",
        "Requirements",
        "ResearchDefinition",
        "ResearchElementDefinition",
        "RiskEvidenceSynthesis",
        "SearchParameter",
        "SpecimenDefinition",
        "StructureDefinition",
        "StructureMap",
        "SubscriptionTopic",
        "TerminologyCapabilities",
        "TestPlan",
        "TestScript",
        "ValueSet",
        "",
    )
)
_INDEX = re.compile(r"\[\d+\]")


@dataclass(frozen=True, slots=True)
class Place:
    """The container of an extension: its paths, and whether it is a resource."""

    paths: tuple[str, ...]  # instance path in its resource (indexes stripped) and definition paths
    resource_type: str
    steps: tuple[str, ...]  # the instance path below the resource, as JSON names
    is_resource: bool


def check_context(
    ctx: Context, sd: dict[str, Any], element: ElementPlan, item: Item, modifier: bool
) -> Iterator[Issue]:
    """The issues of using the extension `sd` at `item` (an occurrence of `element`)."""
    if item.expression.startswith("$"):
        return  # a probe (does this value meet that slice?) has no place in a document
    yield from _definition_versions(ctx, sd, item)
    contexts = _fixed_contexts(sd, ctx.release)
    if not contexts:
        return
    place = _place(ctx, element, item)
    if place is None:
        return
    versioned = False
    shown: list[str] = []
    for kind, expression, applies, has_versions in contexts:
        versioned = versioned or has_versions
        if not applies:
            continue
        shown.append(f"{kind[:1]}:{expression}")
        verdict = _admits(ctx, kind, expression, place, item)
        if verdict is None:
            message = f"context {kind}:{expression} of {sd.get('url')} not checked (its expression cannot be evaluated)"
            yield issue("information", "informational", message, item, "extension-context")
            return
        if verdict:
            return
    if any(p.replace("[x]", "") in _ANYWHERE for p in place.paths + _logical_paths(ctx, place)):
        return
    what = "modifier extension" if modifier else "extension"
    here = ", ".join(dict.fromkeys(p for p in place.paths if p))
    allowed = ", ".join(shown) or "none"
    scope = f" for FHIR {_RELEASE_VERSION.get(ctx.release, ctx.release)}" if versioned else ""
    message = f"the {what} {sd.get('url')} is not allowed here (allowed{scope} = {allowed}; this element is [{here}])"
    yield issue("error", "structure", message, item, "extension-context")


# -- FHIR versions ------------------------------------------------------------------------------------


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in text.split(".")[:2])


def _range(holder: dict[str, Any]) -> tuple[str | None, str | None] | None:
    """(startFhirVersion, endFhirVersion) of a version-specific-use extension on `holder`, if any."""
    for ext in holder.get("extension", ()):
        if isinstance(ext, dict) and ext.get("url") == VERSION_SPECIFIC_USE:
            bounds = {e.get("url"): e.get("valueCode") for e in ext.get("extension", ()) if isinstance(e, dict)}
            start, end = bounds.get("startFhirVersion"), bounds.get("endFhirVersion")
            return (start if isinstance(start, str) else None, end if isinstance(end, str) else None)
    return None


def _within(bounds: tuple[str | None, str | None], release: str) -> bool:
    mine = _version(_RELEASE_VERSION.get(release, "0.0"))
    start, end = bounds
    return (start is None or mine >= _version(start)) and (end is None or mine <= _version(end))


def _definition_versions(ctx: Context, sd: dict[str, Any], item: Item) -> Iterator[Issue]:
    """An extension meant for some FHIR versions only (reference: EXTENSION_FHIR_VERSION_EARLIEST/LATEST)."""
    bounds = _range(sd)
    if bounds is None or _within(bounds, ctx.release):
        return
    mine = _RELEASE_VERSION.get(ctx.release, ctx.release)
    start, end = bounds
    if start is not None and _version(mine) < _version(start):
        message = f"the extension {sd.get('url')} is for FHIR {start} and later, and this is FHIR {mine}"
    else:
        message = f"the extension {sd.get('url')} is for FHIR {end} and earlier, and this is FHIR {mine}"
    yield issue("error", "business-rule", message, item, "extension-version")


# the reference's corrections of core definitions' contexts (InstanceValidator.fixContexts)
_CONTEXT_FIXES: dict[str, tuple[int | None, str]] = {
    FHIR_SD + "structuredefinition-fhir-type": (0, "ElementDefinition.type"),
    FHIR_SD + "regex": (None, "ElementDefinition.type"),
    FHIR_SD + "structuredefinition-normative-version": (0, "Element"),
}
_R4_ANYWHERE = (FHIR_SD + "capabilitystatement-expectation", FHIR_SD + "capabilitystatement-prohibited")


def _fixed_contexts(sd: dict[str, Any], release: str) -> list[tuple[str, str, bool, bool]]:
    """(type, expression, applies in this release, states versions) of each context."""
    out: list[tuple[str, str, bool, bool]] = []
    for c in sd.get("context", ()) or ():
        if isinstance(c, dict) and isinstance(c.get("type"), str) and isinstance(c.get("expression"), str):
            bounds = _range(c)
            out.append((c["type"], c["expression"], bounds is None or _within(bounds, release), bounds is not None))
    url = str(sd.get("url"))
    fix = _CONTEXT_FIXES.get(url)
    if release == "R4" and url in _R4_ANYWHERE:
        fix = (0, "Element")
    if fix is not None and out:
        at, expression = fix
        if at is None:
            out.append(("element", expression, True, False))
        else:
            out[at] = ("element", expression, out[at][2], out[at][3])
    return out


# -- the container ------------------------------------------------------------------------------------


def _place(ctx: Context, element: ElementPlan, item: Item) -> Place | None:
    prefix = ctx.resource_item.expression
    expression = item.expression
    if not expression.startswith(prefix):
        return None
    rest = expression[len(prefix) :]
    head, sep, _ = rest.rpartition(".extension")
    if not sep:
        head, sep, _ = rest.rpartition(".modifierExtension")
    rt = str(ctx.resource.get("resourceType"))
    steps = tuple(s for s in _INDEX.sub("", head).split(".") if s)
    paths = [".".join((rt, *steps))]
    defined, _, last = element.path.rpartition(".")
    if last in ("extension", "modifierExtension") and defined:
        paths.append(defined)
    if ctx.primitive_path is not None:
        paths.append(ctx.primitive_path)
    return Place(tuple(paths), rt, steps, not steps)


def _logical_paths(ctx: Context, place: Place) -> tuple[str, ...]:
    """The container's paths from each datatype on the way down (NodeStack's logical paths), found by
    walking the resource's base definition along the instance path; cached per scope and path."""
    memo: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = ctx.scope.memo.setdefault("logical-paths", {})
    key = (place.resource_type, place.steps)
    found = memo.get(key)
    if found is None:
        found = memo[key] = _walk(ctx, place)
    return found


def _walk(ctx: Context, place: Place) -> tuple[str, ...]:
    plan = compiled_or_none(ctx.scope, FHIR_SD + place.resource_type)
    if plan is None:
        return ()
    element = plan.root
    type_code: str | None = place.resource_type
    logical: list[str] = []
    for step in place.steps:
        children = type_children(ctx.scope, element, type_code)
        child, chosen = _child(children, step)
        if child is None:
            return tuple(logical)
        name = child.name
        logical = [f"{lp}.{name}" for lp in logical] + ([f"{lp}.{step}" for lp in logical] if chosen else [])
        type_code = chosen or (child.type_codes[0] if len(child.type_codes) == 1 else None)
        if type_code:
            logical.append(type_code)
        element = child
    return tuple(logical)


def _child(children: dict[str, ElementPlan], json_name: str) -> tuple[ElementPlan | None, str | None]:
    """The definition of a JSON key, and the type a choice key names (`valueQuantity` → Quantity)."""
    found = children.get(json_name)
    if found is not None:
        return found, None
    for child in children.values():
        if child.is_choice and json_name.startswith(child.name[:-3]):
            suffix = json_name[len(child.name) - 3 :]
            for code in child.type_codes:
                if upper_first(code) == suffix:
                    return child, code
    return None, None


# -- the contexts -------------------------------------------------------------------------------------


def _admits(ctx: Context, kind: str, expression: str, place: Place, item: Item) -> bool | None:
    if kind == "element":
        return _element(ctx, expression, place)
    if kind == "extension":
        return _extension(ctx, expression, item)
    if kind == "fhirpath":
        return _fhirpath(ctx, expression, item)
    return False


def _element(ctx: Context, expression: str, place: Place) -> bool:
    """An `element` context (cached per scope: it depends on the paths alone, not on the values)."""
    memo: dict[tuple[str, tuple[str, ...], str], bool] = ctx.scope.memo.setdefault("element-contexts", {})
    key = (expression, place.paths, place.resource_type)
    verdict = memo.get(key)
    if verdict is None:
        verdict = _element_uncached(ctx, expression, place)
        if "#" not in expression:  # a profile-qualified context depends on the resource's content
            memo[key] = verdict
    return verdict


def _element_uncached(ctx: Context, expression: str, place: Place) -> bool:
    profile, _, name = expression.rpartition("#")
    if name in ("Element", "Any") or (name == "Resource" and place.is_resource):
        return True
    if name == "CanonicalResource" and place.is_resource and place.resource_type in _CANONICAL:
        return True
    if not profile and any(_same_element(p, name) for p in place.paths):
        return True
    paths = place.paths + _logical_paths(ctx, place)
    if not profile and any(_same_element(p, name) for p in paths):
        return True
    if profile and not _resource_meets(ctx, profile):
        return False
    return any(_through_base_types(ctx, p, name) for p in paths)


def _same_element(path: str, expression: str) -> bool:
    """`Observation.component.value[x]` names `Observation.component.valueQuantity` too."""
    return path == expression or ("[x]" in expression and _choice_pattern(expression).fullmatch(path) is not None)


@lru_cache(maxsize=1024)
def _choice_pattern(expression: str) -> re.Pattern[str]:
    return re.compile(
        ".".join(
            re.escape(s[:-3]) + "(?:\\[x\\]|[A-Z][A-Za-z0-9]*)" if s.endswith("[x]") else re.escape(s)
            for s in expression.split(".")
        )
    )


def _through_base_types(ctx: Context, path: str, expression: str) -> bool:
    """Does the context name `path` by a base type of its first segment (`DomainResource.extension`
    for `Observation.extension`, `Quantity` for `Age`)?"""
    head, dot, tail = path.partition(".")
    return any(f"{t}{dot}{tail}" == expression for t in _base_types(ctx, head))


def _base_types(ctx: Context, type_name: str) -> tuple[str, ...]:
    memo: dict[str, tuple[str, ...]] = ctx.scope.memo.setdefault("base-types", {})
    found = memo.get(type_name)
    if found is None:
        chain: list[str] = []
        sd = ctx.scope.find(FHIR_SD + type_name) if ctx.scope.entry(FHIR_SD + type_name) else None
        while sd is not None and len(chain) < 16:
            chain.append(str(sd.get("type")))
            base = sd.get("baseDefinition")
            sd = ctx.scope.find(base) if isinstance(base, str) and ctx.scope.entry(base) else None
        found = memo[type_name] = tuple(chain)
    return found


def _resource_meets(ctx: Context, profile: str) -> bool:
    """A context `profile#path`: the resource must meet that profile (reference: checkConformsToProfile)."""
    if profile == FHIR_SD + str(ctx.resource.get("resourceType")):
        return True
    return ctx.scope.entry(profile) is not None and conforms(ctx, ctx.resource, None, [profile])


def _json_at(ctx: Context, pointer: tuple[str | int, ...]) -> Any:
    node: Any = ctx.root
    for step in pointer:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _extension(ctx: Context, url: str, item: Item) -> bool:
    """The container is the extension `url` itself, or the value of that extension."""
    pointer = item.pointer[:-2]
    if len(pointer) >= 2 and isinstance(pointer[-1], str) and pointer[-1].lstrip("_").startswith("value"):
        pointer = pointer[:-1]  # a value (or a primitive value's `_value` object) of an extension
    if len(pointer) < 2 or pointer[-2] not in ("extension", "modifierExtension"):
        return False
    holder = _json_at(ctx, pointer)
    return isinstance(holder, dict) and holder.get("url") == url


def _fhirpath(ctx: Context, expression: str, item: Item) -> bool | None:
    """The container is among the nodes the expression selects on the resource."""
    from imgfhir.fhirpath import FhirPathError, compile

    container = _container(ctx, item)
    try:
        found = compile(expression, ctx.release).evaluate(ctx.resource, root_resource=ctx.root, lenient=True)
    except (FhirPathError, ValueError, RecursionError):
        return None
    if isinstance(container, dict | list):
        return any(r is container for r in found)
    return container is not None and any(r == container and type(r) is type(container) for r in found)


def _container(ctx: Context, item: Item) -> Any:
    """The JSON value the extension at `item` sits on (for a primitive's `_x` object, the primitive)."""
    pointer = item.pointer[:-2]
    names = [i for i, s in enumerate(pointer) if isinstance(s, str)]
    if names and str(pointer[names[-1]]).startswith("_"):
        at = names[-1]
        pointer = (*pointer[:at], str(pointer[at])[1:], *pointer[at + 1 :])
    return _json_at(ctx, pointer)
