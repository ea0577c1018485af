"""A StructureDefinition validated as a resource: is the definition itself sound?

Follows the reference validator's StructureDefinitionValidator.validateStructureDefinition
(org.hl7.fhir.validation/.../instance/type/StructureDefinitionValidator.java): the base definition
and the derivation (kind and type against the base), the snapshot generated from the differential,
the extension contexts and the extension's fixed url; the element-by-element checks are in
`sd_elements`. The rule runs once, at the root of the core StructureDefinition definition, so it
costs nothing when any other resource is validated.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

from imgfhir.outcome import Issue, Severity
from imgfhir.packages import Scope
from imgfhir.snapshot import SnapshotError, generator_for
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.plan import FHIR_SD
from imgfhir.validation.rules import sd_elements
from imgfhir.validation.rules.sd_elements import Definition, element_item

SD_URL = FHIR_SD + "StructureDefinition"
EXTENSION_URL = FHIR_SD + "Extension"
_JSON_NAME = (
    "http://hl7.org/fhir/tools/StructureDefinition/json-name",
    "http://hl7.org/fhir/StructureDefinition/structuredefinition-json-name",
)


def _is_definition_root(element: ElementPlan) -> bool:
    return element.path == "StructureDefinition" and element.profile_url == SD_URL


@rule("structure-definition", applies=_is_definition_root, reads=())
def structure_definition(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """The issues of a StructureDefinition resource as a definition (rules `sd-*`)."""
    if isinstance(item.value, dict):
        yield from definition_issues(ctx.scope, ctx.release, item)


def definition_issues(scope: Scope, release: str, item: Item) -> Iterator[Issue]:
    """The `sd-*` issues of the StructureDefinition at `item`, resolved in `scope`."""
    sd = item.value
    yield from _contexts(scope, sd, item)
    base = _base(scope, sd)
    if base is None:
        base_url = sd.get("baseDefinition")
        if isinstance(base_url, str):  # UNABLE_TO_FIND_BASE__FOR_: a warning, and nothing more is checked
            message = f"cannot find the base definition {base_url}, so the differential cannot be checked"
            yield _at(item, "warning", "not-found", message, "sd-base", "baseDefinition")
        return
    generated = yield from _derivation(scope, sd, base, item)
    yield from sd_elements.check_elements(Definition(scope, release, sd, base, generated), item)
    yield from _extension_url(sd, item)


def _at(item: Item, severity: Severity, code: str, message: str, rule_id: str, *keys: str) -> Issue:
    at = item
    for key in keys:
        at = at.child(key, at.value.get(key) if isinstance(at.value, dict) else None, None, None)
    return issue(severity, code, message, at, rule_id)


def _base(scope: Scope, sd: dict[str, Any]) -> dict[str, Any] | None:
    url = sd.get("baseDefinition")
    if not isinstance(url, str):
        return None
    hit = scope.entry(url)
    if hit is None or hit[1].resource_type != "StructureDefinition":
        return None
    return hit[0].load(hit[1].filename)


Found = Generator[Issue, None, "dict[str, Any] | None"]


def _derivation(scope: Scope, sd: dict[str, Any], base: dict[str, Any], item: Item) -> Found:
    """Kind and type against the base; for a constraint, the snapshot its differential gives
    (returned, None when it cannot be generated)."""
    derivation = sd.get("derivation")
    url = sd.get("url")
    if derivation not in ("constraint", "specialization"):  # SD_MUST_HAVE_DERIVATION
        yield _at(item, "error", "not-found", f"the definition {url} must say its derivation", "sd-derivation")
        return None
    kind, base_kind = sd.get("kind"), base.get("kind")
    if base.get("abstract") is not True and kind != base_kind:  # SD_CONSTRAINED_KIND_NO_MATCH
        message = f"the kind {kind} differs from the kind {base_kind} of the base {base.get('url')}"
        yield _at(item, "error", "not-found", message, "sd-derivation", "kind")
    elif derivation == "constraint" and kind != base_kind:  # SD_DERIVATION_KIND_MISMATCH
        message = f"a constraint must have the kind of its base ({base_kind}), not {kind}"
        yield _at(item, "error", "not-found", message, "sd-derivation", "kind")
    sd_type, base_type = sd.get("type"), base.get("type")
    if derivation == "specialization":
        if sd_type == base_type:  # SD_SPECIALIZED_TYPE_MATCHES
            message = f"a specialization must define a new type, not {sd_type} again"
            yield _at(item, "error", "not-found", message, "sd-derivation", "type")
        return None
    if sd_type != base_type:  # SD_CONSTRAINED_TYPE_NO_MATCH
        message = f"the type {sd_type} of a constraint must be the type of its base ({base_type})"
        yield _at(item, "error", "not-found", message, "sd-derivation", "type")
    return (yield from _snapshot(scope, sd, item))


def _snapshot(scope: Scope, sd: dict[str, Any], item: Item) -> Found:
    """The snapshot generated from the differential (ERROR_GENERATING_SNAPSHOT, an error, where it
    cannot be: an element that matches nothing in the base, an unknown re-slice, ...)."""
    try:
        return generator_for(scope).generate(sd)
    except SnapshotError as exc:
        at = item
        if exc.where is not None and exc.where[0] == str(sd.get("url", "")):
            at = element_item(item, "differential", exc.where[1]) or item
        yield issue("error", "exception", f"the snapshot cannot be generated: {exc}", at, "sd-snapshot")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a malformed differential
        message = f"the snapshot cannot be generated: {type(exc).__name__}: {exc}"
        yield issue("error", "exception", message, item, "sd-snapshot")
    return None


def _contexts(scope: Scope, sd: dict[str, Any], item: Item) -> Iterator[Issue]:
    """checkExtensionContext: only an extension (or a type with a JSON name) has contexts."""
    is_extension = sd.get("type") == "Extension"
    contexts = sd.get("context")
    for i, ec in enumerate(contexts if isinstance(contexts, list) else ()):
        at = item.child("context", ec, i, "Element")
        if not is_extension:
            if not _has_json_name(sd):  # SD_NO_CONTEXT_WHEN_NOT_EXTENSION
                message = f"a definition of type {sd.get('type')} is not an extension: it cannot have a context"
                yield issue("error", "invalid", message, at, "sd-context")
            continue
        if not isinstance(ec, dict):
            continue
        kind, expression = ec.get("type"), ec.get("expression")
        if kind == "element" and expression == "Element":  # SD_CONTEXT_SHOULD_NOT_BE_ELEMENT
            message = f"the context Element of {sd.get('id')} admits any element: is that meant?"
            yield issue("warning", "business-rule", message, at, "sd-context")
        elif kind == "fhirpath" and isinstance(expression, str) and _is_element(scope, expression):
            # SD_CONTEXT_SHOULD_NOT_BE_FHIRPATH: an element path belongs in an element context
            message = f"the fhirpath context {expression} of {sd.get('id')} is an element: use an element context"
            yield issue("warning", "business-rule", message, at, "sd-context")
    invariants = sd.get("contextInvariant")
    for i, ci in enumerate(invariants if isinstance(invariants, list) else ()):
        if not is_extension:  # SD_NO_CONTEXT_INV_WHEN_NOT_EXTENSION
            message = f"a definition of type {sd.get('type')} is not an extension: it cannot have a context invariant"
            yield issue("error", "invalid", message, item.child("contextInvariant", ci, i, "string"), "sd-context")


def _is_element(scope: Scope, expression: str) -> bool:
    """isElement: the expression is the path of an element of the core definition of its first segment."""
    hit = scope.entry(FHIR_SD + expression.split(".", 1)[0])
    if hit is None or hit[1].resource_type != "StructureDefinition":
        return False
    elements = hit[0].load(hit[1].filename).get("snapshot", {}).get("element", ())
    return any(isinstance(e, dict) and e.get("path") == expression for e in elements)


def _has_json_name(sd: dict[str, Any]) -> bool:
    for part in ("snapshot", "differential"):
        elements = sd.get(part, {}).get("element") if isinstance(sd.get(part), dict) else None
        if isinstance(elements, list) and elements and isinstance(elements[0], dict):
            exts = elements[0].get("extension")
            return any(isinstance(e, dict) and e.get("url") in _JSON_NAME for e in exts or ())
    return False


def _extension_url(sd: dict[str, Any], item: Item) -> Iterator[Issue]:
    """SD_EXTENSION_URL_MISSING / SD_EXTENSION_URL_MISMATCH: an extension fixes Extension.url
    (in its differential) to its own canonical."""
    url = sd.get("url")
    if sd.get("type") != "Extension" or sd.get("baseDefinition") != EXTENSION_URL or not isinstance(url, str):
        return
    diff = sd.get("differential")
    elements = diff.get("element") if isinstance(diff, dict) else None
    for i, ed in enumerate(elements if isinstance(elements, list) else ()):
        if isinstance(ed, dict) and ed.get("path") == "Extension.url":
            fixed = next((k for k in ed if k.startswith("fixed")), None)
            if fixed is None:
                break
            if ed[fixed] != url:
                at = item.child("differential", diff, None, None).child("element", ed, i, None)
                message = f"the extension's url is {url}, but Extension.url is fixed to {ed[fixed]}"
                yield issue("error", "invalid", message, at.child(fixed, ed[fixed], None, None), "sd-extension-url")
            return
    message = f"the extension {url} does not fix Extension.url in its differential"
    yield issue("error", "invalid", message, item, "sd-extension-url")
