"""Extensions: the URL must name a known definition, whose own rules then apply (value, nesting, context)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.snapshot import SnapshotError
from imgfhir.validation.context import Context
from imgfhir.validation.engine import check_element
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.plan import compile_profile, versioned_canonical
from imgfhir.validation.rules.extension_context import check_context
from imgfhir.validation.rules.invariants import holds


def _is_extension(element: ElementPlan) -> bool:
    return element.name in ("extension", "modifierExtension") and element.slice_name is None


@rule("extension", applies=_is_extension)
def extension(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    ext = item.value
    if not isinstance(ext, dict):
        return
    url = ext.get("url")
    modifier = element.name == "modifierExtension"
    if not isinstance(url, str) or not url:
        yield issue("error", "structure", "extension without a url", item, "extension")
        return
    has_value = any(k.startswith("value") for k in ext)
    has_children = bool(ext.get("extension"))
    if has_value == has_children:
        message = (
            "an extension must have either extensions or a value, not both (ext-1)"
            if has_value
            else ("an extension must have either extensions or a value (ext-1)")
        )
        yield issue("error", "invariant", message, item, "ext-1")
    if "/" not in url and not url.startswith("urn:"):
        return  # a nested extension's local name: its parent's definition slices it
    if ctx.scope.entry(url) is None:
        if modifier:
            message = f"unknown modifier extension {url}: it cannot be ignored, so the resource cannot be understood"
            yield issue("error", "not-found", message, item, "extension")
        elif _allowed_unknown(ctx, url):
            message = f"unknown extension {url} (its domain is allowed without a definition; not checked)"
            yield issue("information", "not-found", message, item, "extension")
        else:
            message = (
                f"unknown extension {url}: its definition could not be found, so it is not allowed here "
                "(add the package that defines it, or allow its domain with --extension-domain)"
            )
            yield issue("error", "not-found", message, item, "extension")
        return
    try:
        plan = compile_profile(ctx.scope, url)
    except SnapshotError as exc:  # the reference: the definition has no snapshot, so it cannot be used
        what = versioned_canonical(ctx.scope, url)
        message = f"extension {what} cannot be used: its snapshot cannot be generated ({exc})"
        yield issue("error", "not-supported", message, item, "profile-definition")
        return
    for problem in plan.problems:
        yield issue("error", "invalid", f"extension {plan.versioned_url}: {problem}", item, "profile-definition")
    if plan.type != "Extension":
        yield issue("error", "invalid", f"{url} is a {plan.type} definition, not an extension", item, "extension")
        return
    if modifier and not plan.root.ed.get("isModifier") and not _is_modifier(plan.sd):
        yield issue("error", "structure", f"{url} is not a modifier extension", item, "extension")
    placed = list(check_context(ctx, plan.sd, element, item, modifier))
    yield from placed
    if not any(i.rule == "extension-context" and i.severity == "error" for i in placed):
        yield from _context_invariants(ctx, plan.sd, item)  # only where the context admits it, as the reference
    yield from check_element(ctx, plan.root, Item(ext, item.expression, item.pointer, "Extension"))


def _datatype(type_code: str | None) -> str | None:
    """The FHIRPath type of a context node, where it is a datatype (backbone elements have none)."""
    if type_code and type_code[:1].isupper() and type_code not in ("BackboneElement", "Element"):
        return type_code
    return None


def _context_invariants(ctx: Context, sd: dict[str, Any], item: Item) -> Iterator[Issue]:
    """StructureDefinition.contextInvariant: FHIRPath that must hold on the element the extension is
    used on (e.g. quantity-accuracy: `$this is Quantity`)."""
    expressions = [e for e in sd.get("contextInvariant", ()) if isinstance(e, str)]
    holder = item.parent
    if not expressions or holder is None:
        return
    if ctx.primitive_path is not None:  # on a primitive: FHIRPath's node would be its value, not `_x`
        for expression in expressions:
            message = f"context invariant of {sd.get('url')} not checked on a primitive value [{expression}]"
            yield issue("information", "informational", message, item, "extension-context")
        return
    for expression in expressions:
        verdict, problem = holds(ctx, expression, ctx.release, holder.value, _datatype(holder.type))
        if verdict is None:
            message = f"context invariant of {sd.get('url')} not checked: {problem} [{expression}]"
            yield issue("information", "informational", message, item, "extension-context")
        elif not verdict:
            message = f"extension {sd.get('url')} is not allowed here: its context invariant fails [{expression}]"
            yield issue("error", "structure", message, item, "extension-context")


# domains the reference validator accepts unknown extensions from without being told to
_ALWAYS_ALLOWED = ("http://hl7.org/fhir/tools/StructureDefinition/",)


def _allowed_unknown(ctx: Context, url: str) -> bool:
    """May an extension without a definition be used (the reference validator's `-extension`)?"""
    domains = ctx.validator.extension_domains
    return (
        "any" in domains
        or "nema.org" in url
        or url.startswith(_ALWAYS_ALLOWED)
        or any(url.startswith(d) for d in domains)
    )


def _is_modifier(sd: dict[str, Any]) -> bool:
    elements = sd.get("snapshot", {}).get("element", [])
    return bool(elements and elements[0].get("isModifier"))
