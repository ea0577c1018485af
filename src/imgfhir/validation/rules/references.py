"""References: resolve within the resource (contained) and the Bundle, and check the target's type."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.engine import conforms
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.rules.bundles import BundleIndex, enclosing_bundle, is_conditional


def resolve_reference(
    ctx: Context, reference: Any, pointer: tuple[str | int, ...] | None = None
) -> dict[str, Any] | None:
    """The resource a Reference (or reference string) points to, if it is in this document.

    With the reference's `pointer`, a Bundle nested in another (a document inside a transaction)
    is searched first, as the innermost Bundle is the one its references are relative to."""
    ref = reference.get("reference") if isinstance(reference, dict) else reference
    if not isinstance(ref, str):
        return None
    if pointer is not None and not ref.startswith("#"):
        inner = enclosing_bundle(ctx.root, pointer)
        if inner is not None and inner[0] is not ctx.root:
            index = BundleIndex.of(inner[0])
            at = index.target(ref, inner[1].get("fullUrl"))
            if at is not None:
                entry = inner[0]["entry"][at]
                return entry.get("resource") if isinstance(entry.get("resource"), dict) else None
    if ref.startswith("#"):
        # `#id` names a resource contained in the resource at hand or, from a contained resource,
        # in its container (contained resources refer to each other, and `#` to the container)
        container = _container(ctx)
        for holder in (ctx.resource, container):
            for res in holder.get("contained", ()) if isinstance(holder, dict) else ():
                if isinstance(res, dict) and res.get("id") == ref[1:]:
                    return res
        return (container if container is not None else ctx.resource) if ref == "#" else None
    hit = ctx.entries.get(ref)
    if hit is None and "/_history/" in ref:
        hit = ctx.entries.get(ref.split("/_history/", 1)[0])
    if hit is None and "/" in ref and not ref.startswith("urn:"):
        local = "/".join(ref.split("/_history/", 1)[0].rsplit("/", 2)[-2:])
        hit = ctx.entries.get(local) if not ref.startswith(("http:", "https:")) else None
        if hit is None:
            hit = ctx.known.get(local)
    return hit


def _container(ctx: Context) -> dict[str, Any] | None:
    """The resource that contains the one being checked (None unless it is a contained resource)."""
    pointer = ctx.resource_item.pointer
    if len(pointer) < 2 or pointer[-2] != "contained" or not isinstance(pointer[-1], int):
        return None
    node: Any = ctx.root
    for step in pointer[:-2]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node if isinstance(node, dict) else None


def _literal_type(ref: str) -> str | None:
    """The resource type a literal reference names (`Patient/1`, `http://x/fhir/Patient/1/_history/2`)."""
    if ref.startswith(("#", "urn:")):
        return None
    parts = ref.split("/_history/", 1)[0].rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 and parts[-2][:1].isupper() else None


def _is_reference(element: ElementPlan) -> bool:
    return "Reference" in element.type_codes


@rule("reference", applies=_is_reference, reads=("type",))
def reference(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    if item.type not in (None, "Reference") or not isinstance(item.value, dict):
        return
    ref = item.value.get("reference")
    if not isinstance(ref, str):
        return
    stated = item.value.get("type")
    literal = _literal_type(ref)
    if isinstance(stated, str) and literal and stated.rsplit("/", 1)[-1] != literal:
        message = f"Reference.type {stated} disagrees with the reference {ref} (a {literal})"
        yield issue("error", "structure", message, item, "reference")
    target = resolve_reference(ctx, item.value, item.pointer)
    if target is None:
        inner = enclosing_bundle(ctx.root, item.pointer)
        if ref.startswith("#"):
            yield issue("error", "not-found", f"contained resource {ref} not found", item, "reference")
        elif inner is not None and inner[0].get("type") == "document":
            pass  # the bundle-document-reference rule says what a document must resolve
        elif is_conditional(ref):
            pass  # a search, not a resource: InstanceValidator.checkReference checks only its syntax
        elif ctx.root.get("resourceType") == "Bundle":
            message = f"reference {ref} cannot be resolved within the Bundle"
            yield issue("warning", "not-found", message, item, "reference")
        return
    allowed = {
        str(p).rsplit("/", 1)[-1]
        for t in element.ed.get("type", ())
        if t.get("code") == "Reference"
        for p in t.get("targetProfile", ())
    }
    rt = target.get("resourceType")
    if allowed and "Resource" not in allowed and rt not in allowed and not _profile_allows(ctx, element, rt):
        message = f"reference to a {rt}; allowed targets: {', '.join(sorted(allowed))}"
        yield issue("error", "structure", message, item, "reference")
        return
    profiles = _target_profiles_for(ctx, element, rt)
    if profiles and not conforms(ctx, target, str(rt), profiles):
        message = f"the {rt} referenced by {ref} does not conform to {' or '.join(profiles)}"
        yield issue("error", "structure", message, item, "reference")


def _reference_rules(element: ElementPlan) -> tuple[frozenset[str], str | None]:
    """The aggregation modes (contained, referenced, bundled) and versioning the element's Reference
    type states: what kind of reference is allowed, not what it points to (read once per element)."""
    found: tuple[frozenset[str], str | None] | None = element.memo.get("reference-rules")
    if found is None:
        modes: set[str] = set()
        versioning = None
        for t in element.ed.get("type", ()):
            if t.get("code") == "Reference":
                modes.update(str(m) for m in t.get("aggregation", ()))
                versioning = t.get("versioning") or versioning
        found = element.memo["reference-rules"] = (frozenset(modes), versioning)
    return found


def _states_reference_rules(element: ElementPlan) -> bool:
    modes, versioning = _reference_rules(element)
    return bool(modes) or versioning in ("specific", "independent")


@rule("reference", applies=_states_reference_rules, reads=("type",))
def aggregation(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """ElementDefinition.type.aggregation and .versioning: a reference `#id` is contained, one that
    resolves to an entry of the enclosing Bundle is bundled, any other is referenced."""
    if item.type not in (None, "Reference") or not isinstance(item.value, dict):
        return
    ref = item.value.get("reference")
    if not isinstance(ref, str):
        return
    modes, versioning = _reference_rules(element)
    if modes:
        if ref.startswith("#"):
            mode = "contained"
        else:
            inner = enclosing_bundle(ctx.root, item.pointer)
            bundled = inner is not None and BundleIndex.of(inner[0]).target(ref, inner[1].get("fullUrl")) is not None
            mode = "bundled" if bundled else "referenced"
        if mode not in modes:
            message = f"reference {ref} is {mode}; {element.path} allows only {', '.join(sorted(modes))} references"
            yield issue("error", "structure", message, item, "reference")
    if not ref.startswith("#"):
        if versioning == "specific" and "/_history/" not in ref:
            message = f"reference {ref} must be version-specific (…/_history/version) at {element.path}"
            yield issue("error", "structure", message, item, "reference")
        elif versioning == "independent" and "/_history/" in ref:
            message = f"reference {ref} must not name a version at {element.path}"
            yield issue("error", "structure", message, item, "reference")


def _target_profiles_for(ctx: Context, element: ElementPlan, resource_type: Any) -> list[str]:
    """The profiles a resolved target of this type must meet: none when the bare type is allowed."""
    profiles: list[str] = []
    for t in element.ed.get("type", ()):
        for url in t.get("targetProfile", ()):
            url = str(url).split("|", 1)[0]
            if url == f"http://hl7.org/fhir/StructureDefinition/{resource_type}":
                return []
            hit = ctx.scope.entry(url)
            if hit is not None and hit[1].type == resource_type:
                profiles.append(url)
    return profiles


def _profile_allows(ctx: Context, element: ElementPlan, resource_type: Any) -> bool:
    """A targetProfile that is a profile (not a core type) allows the type it constrains."""
    for t in element.ed.get("type", ()):
        for url in t.get("targetProfile", ()):
            hit = ctx.scope.entry(str(url))
            if hit is not None and hit[1].type == resource_type:
                return True
    return False
