"""Extensions: the URL must name a known definition, whose own rules then apply (value, nesting, context)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.engine import check_element
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.plan import FHIR_SD, compile_profile
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
    plan = compile_profile(ctx.scope, url)
    if plan.type != "Extension":
        yield issue("error", "invalid", f"{url} is a {plan.type} definition, not an extension", item, "extension")
        return
    if modifier and not plan.root.ed.get("isModifier") and not _is_modifier(plan.sd):
        yield issue("error", "structure", f"{url} is not a modifier extension", item, "extension")
    yield from _context(ctx, plan.sd, element, item)
    yield from _context_invariants(ctx, plan.sd, item)
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


def _context(ctx: Context, sd: dict[str, Any], element: ElementPlan, item: Item) -> Iterator[Issue]:
    """Context of use: element contexts are matched against the path of the extended element."""
    contexts = sd.get("context")
    if not isinstance(contexts, list) or not contexts:
        return
    where = _extended_path(element)
    if where is not None and where[:1].islower() and ctx.primitive_path:
        where = ctx.primitive_path  # `string.extension` of an Address.line: the context is Address.line
    instance_where = _instance_path(ctx, item)
    if where is None:
        return
    for c in contexts:
        if not isinstance(c, dict):
            continue
        kind, expr = c.get("type"), str(c.get("expression", ""))
        if kind == "extension":
            if _inside_extension(ctx, item, expr.split("|", 1)[0]) is not False:
                return
            continue
        if kind != "element":
            return  # fhirpath contexts: not checked (listed in README)
        if expr in ("Element", "Resource", "DomainResource", "Base") or _context_matches(ctx, expr, where):
            return
        if instance_where is not None and _context_matches(ctx, expr, instance_where):
            return
    allowed = ", ".join(str(c.get("expression")) for c in contexts if isinstance(c, dict))
    message = f"extension {sd.get('url')} is not allowed on {instance_where or where} (context: {allowed})"
    yield issue("error", "structure", message, item, "extension-context")


def _inside_extension(ctx: Context, item: Item, url: str) -> bool | None:
    """Is the extension at `item` used within an extension `url` (on it, or on any element inside
    it, such as its primitive value)? None where the item has no place in the document (a probe)."""
    if item.expression.startswith("$"):
        return None
    node: Any = ctx.root
    key: str | int | None = None
    for step in item.pointer[:-2]:  # down to the extension holding this one's list
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
        if isinstance(step, str):
            key = step
        elif key in ("extension", "modifierExtension") and isinstance(node, dict) and node.get("url") == url:
            return True
    return False


def _extended_path(element: ElementPlan) -> str | None:
    """The definition path of the element carrying the extension (`Composition`, `Coding`, ...)."""
    head, _, last = element.path.rpartition(".")
    return head if last in ("extension", "modifierExtension") and head else None


def _instance_path(ctx: Context, item: Item) -> str | None:
    """`List.source` for `Bundle.entry[0].resource.source.extension[0]`: the extended element's path
    inside the resource being validated, for elements whose definition came from their datatype."""
    prefix = ctx.resource_item.expression
    if not item.expression.startswith(prefix):
        return None
    rest = item.expression[len(prefix) :]
    head, sep, _ = rest.rpartition(".extension")
    if not sep:
        head, sep, _ = rest.rpartition(".modifierExtension")
    if not sep:
        return None
    return _INDEX.sub("", f"{ctx.resource.get('resourceType')}{head}")


_INDEX = re.compile(r"\[\d+\]")


@lru_cache(maxsize=1024)
def _choice_path(expr: str) -> re.Pattern[str]:
    """`Observation.component.value[x]` as a pattern that also matches the instance's
    `Observation.component.valueQuantity` (a path read from the document names the chosen type)."""
    return re.compile(
        ".".join(
            re.escape(s[:-3]) + "(?:\\[x\\]|[A-Z][A-Za-z0-9]*)" if s.endswith("[x]") else re.escape(s)
            for s in expr.split(".")
        )
    )


def _context_matches(ctx: Context, expr: str, path: str) -> bool:
    """Paths are compared exactly; a bare type name matches its resource, or any element of a
    datatype (the instance path does not carry datatypes, so those are accepted, not guessed)."""
    if expr == path or ("[x]" in expr and _choice_path(expr).fullmatch(path) is not None):
        return True
    if "." in expr:
        return False
    hit = ctx.scope.entry(FHIR_SD + expr)
    return hit is None or hit[1].kind != "resource"
