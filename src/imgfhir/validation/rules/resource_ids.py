"""Resource ids: contained resources (unique ids, reachable from their container) and a Bundle entry's
identity (fullUrl against the resource's type and id, and when an entry resource needs an id).

The id's syntax (RESOURCE_RES_ID_MALFORMED_CHARS/_LENGTH in the reference validator) is the primitive
rule's: `Resource.id` is typed `id`, 1-64 of [A-Za-z0-9-.].

Reference behaviour followed here (hapifhir org.hl7.fhir.validation):

- contained-orphan: InstanceValidator.checkContainedReferences / isReferencedFromBase. The reference
  validator never evaluates dom-3 (InstanceValidator.checkInvariant skips it) and reports
  CONTAINED_ORPHAN_DOM3 instead, as an error at each contained resource that is not referenced from
  the container itself (outside `contained`), does not refer to its container (`#`), and is not
  referenced by a contained resource that is itself so reachable. dom-3 (evaluated here, R4 and R5)
  accepts a reference from *any* contained resource, so two contained resources that refer only to
  each other pass dom-3; this rule reports exactly those, so nothing is reported twice.
- contained-duplicate-id: the reference validator keeps one id map per resource, contained
  resources included (NodeStack.ids; DUPLICATE_ID), so a second contained resource with an id already
  used is an error (a `#id` reference could not tell them apart).
- bundle-entry-fullurl: BundleValidator.validateBundle: a fullUrl must be absolute
  (BUNDLE_ENTRY_URL_ABSOLUTE); one that looks like a RESTful URL (Constants.URI_REGEX) needs a resource
  id (BUNDLE_ENTRY_URL_MATCHES_NO_ID) and must end with /type/id (BUNDLE_ENTRY_URL_MATCHES_TYPE_ID);
  every entry has a fullUrl except in transactions, batches and their responses
  (BUNDLE_BUNDLE_ENTRY_FULLURL_REQUIRED). `urn:uuid:`/`urn:oid:` fullUrls are absolute and are not
  compared with the id (their syntax is the primitive rule's).
- resource-id: InstanceValidator.idStatusForEntry: an entry resource needs an id unless the entry has a
  response, a POST (or other) request, a PUT with request.url, or a `urn:uuid:`/`urn:oid:` fullUrl
  (RESOURCE_RES_ID_MISSING).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule

# Constants.URI_REGEX (R5 tooling): an optional http(s) base, then Type/id, optionally /_history/version
_RESTFUL = re.compile(
    r"((http|https)://([A-Za-z0-9\\.:%$\-]*/)*?)?([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(/_history/[A-Za-z0-9\-.]{1,64})?"
)
# Utilities.isAbsoluteUrl: a lower-case scheme and something after it, no spaces
_ABSOLUTE = re.compile(r"^[a-z][a-z0-9+.\-]*:[^ ]+$")
_FULLURL_OPTIONAL = frozenset({"transaction", "transaction-response", "batch", "batch-response"})
_ID_OPTIONAL_PREFIXES = ("urn:uuid:", "urn:oid:")


def is_absolute_url(url: str) -> bool:
    return _ABSOLUTE.match(url) is not None


def looks_restful(ctx: Context, url: str) -> bool:
    """Does `url` match the reference validator's RESTful URL pattern (with a known resource type)?"""
    match = _RESTFUL.fullmatch(url)
    return match is not None and _is_resource_type(ctx, match.group(4))


def _is_resource_type(ctx: Context, name: str) -> bool:
    known: dict[str, bool] = ctx.scope.memo.setdefault("resource-type-names", {})
    hit = known.get(name)
    if hit is None:
        entry = ctx.scope.entry("http://hl7.org/fhir/StructureDefinition/" + name)
        hit = known[name] = entry is not None and entry[1].kind == "resource" and entry[1].type == name
    return hit


# -- contained resources ---------------------------------------------------------------------------


def _local_refs(value: Any, out: set[str], top: bool = True) -> None:
    """Every `#…` string in a resource outside its `contained` (references, canonicals, uris), as ids
    (`#` itself as ""): the internal references the reference validator collects while walking."""
    if isinstance(value, dict):
        for key, child in value.items():
            if top and key == "contained":
                continue
            if isinstance(child, str):
                if child.startswith("#"):
                    out.add(child[1:])
            elif isinstance(child, dict | list):
                _local_refs(child, out, False)
    elif isinstance(value, list):
        for child in value:
            if isinstance(child, str):
                if child.startswith("#"):
                    out.add(child[1:])
            else:
                _local_refs(child, out, False)


def unreachable_contained(resource: dict[str, Any]) -> list[int]:
    """Indexes of the contained resources not reachable from the container (isReferencedFromBase)."""
    contained = resource.get("contained")
    if not isinstance(contained, list) or not contained:
        return []
    base: set[str] = set()
    _local_refs(resource, base)
    refs: list[set[str]] = []
    for res in contained:
        found: set[str] = set()
        if isinstance(res, dict):
            _local_refs(res, found, False)
        refs.append(found)
    ids = [_id_of(res) for res in contained]
    reached = {i for i, rid in enumerate(ids) if rid in base or "" in refs[i]}
    todo = list(reached)
    while todo:
        at = todo.pop()
        for j, rid in enumerate(ids):
            if j not in reached and rid is not None and rid in refs[at]:
                reached.add(j)
                todo.append(j)
    return [i for i in range(len(contained)) if i not in reached and isinstance(contained[i], dict)]


def _id_of(res: Any) -> str | None:
    """A contained resource's id when it is a string (anything else is the primitive rule's error)."""
    rid = res.get("id") if isinstance(res, dict) else None
    return rid if isinstance(rid, str) else None


def _dom3_accepts(resource: dict[str, Any], index: int) -> bool:
    """Does the core dom-3 invariant accept contained[index]? (a `#id` anywhere, or a `#` inside it)"""
    contained = resource["contained"]
    rid = _id_of(contained[index])
    anywhere: set[str] = set()
    _local_refs(resource, anywhere)
    for res in contained:
        _local_refs(res, anywhere, False)
    own: set[str] = set()
    _local_refs(contained[index], own, False)
    return (rid is not None and rid in anywhere) or "" in own


def _is_resource_root(element: ElementPlan) -> bool:
    return "." not in element.path and element.path[:1].isupper()


@rule("contained-orphan", applies=_is_resource_root, reads=())
def contained_orphan(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    resource = item.value
    if not isinstance(resource, dict) or not resource.get("contained") or item.value is not ctx.resource:
        return
    for i in unreachable_contained(resource):
        if not _dom3_accepts(resource, i):
            continue  # dom-3 fails too and says so
        rid = resource["contained"][i].get("id")
        message = (
            f"the contained resource {rid!r} is referenced only from contained resources that nothing in the "
            "container refers to (dom-3: it must be referenced from the container or refer to it)"
        )
        at = item.child("contained", resource["contained"][i], i, None)
        yield issue("error", "invalid", message, at, "contained-orphan")


@rule("contained-duplicate-id", applies=_is_resource_root, reads=())
def contained_duplicate_id(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    resource = item.value
    contained = resource.get("contained") if isinstance(resource, dict) else None
    if not isinstance(contained, list) or len(contained) < 2 or item.value is not ctx.resource:
        return
    seen: set[str] = set()
    for i, res in enumerate(contained):
        rid = res.get("id") if isinstance(res, dict) else None
        if not isinstance(rid, str):
            continue
        if rid in seen:
            message = f"duplicate id {rid!r}: another contained resource of this resource has it already"
            yield issue("error", "invalid", message, item.child("contained", res, i, None), "contained-duplicate-id")
        seen.add(rid)


# -- Bundle entries: fullUrl and id ----------------------------------------------------------------


def _is_bundle_entry(element: ElementPlan) -> bool:
    return element.path == "Bundle.entry"


@rule("bundle-entry-fullurl", applies=_is_bundle_entry, reads=())
def bundle_entry_fullurl(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    entry, bundle = item.value, ctx.resource
    if not isinstance(entry, dict) or bundle.get("resourceType") != "Bundle":
        return
    full_url = entry.get("fullUrl")
    res = entry.get("resource")
    res = res if isinstance(res, dict) and isinstance(res.get("resourceType"), str) else None
    if isinstance(full_url, str) and full_url:
        if not is_absolute_url(full_url):
            message = f"the fullUrl must be an absolute URL (not {full_url!r})"
            yield issue("error", "invalid", message, item, "bundle-entry-fullurl")
        elif res is not None and looks_restful(ctx, full_url):
            rid, rt = res.get("id"), res["resourceType"]
            if not isinstance(rid, str):
                message = f"the fullUrl {full_url!r} looks like a RESTful server URL, but the resource has no id"
                yield issue("error", "invalid", message, item, "bundle-entry-fullurl")
            elif not full_url.endswith(f"/{rt}/{rid}"):
                message = (
                    f"the fullUrl {full_url!r} looks like a RESTful server URL, so it must end with the "
                    f"resource's type and id (/{rt}/{rid})"
                )
                yield issue("error", "invalid", message, item, "bundle-entry-fullurl")
    elif full_url is None and bundle.get("type") not in _FULLURL_OPTIONAL:
        message = (
            "except in transactions, batches and their responses, each entry must have a fullUrl, the identity "
            "of its resource"
        )
        yield issue("error", "invalid", message, item, "bundle-entry-fullurl")


def entry_needs_id(entry: dict[str, Any]) -> bool:
    """InstanceValidator.idStatusForEntry: REQUIRED, as opposed to OPTIONAL."""
    if entry.get("response") is not None:
        return False
    request = entry.get("request")
    method = request.get("method") if isinstance(request, dict) else None
    if method is None:
        full_url = entry.get("fullUrl")
        return not (isinstance(full_url, str) and full_url.startswith(_ID_OPTIONAL_PREFIXES))
    return method == "PUT" and not (isinstance(request, dict) and request.get("url") is not None)


@rule("resource-id", applies=_is_bundle_entry, reads=())
def resource_id(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    entry = item.value
    if not isinstance(entry, dict) or ctx.resource.get("resourceType") != "Bundle":
        return
    res = entry.get("resource")
    if isinstance(res, dict) and isinstance(res.get("resourceType"), str) and "id" not in res and entry_needs_id(entry):
        message = f"the {res['resourceType']} requires an id (its entry's fullUrl does not identify it), but has none"
        yield issue("error", "required", message, item.child("resource", res, None, None), "resource-id")
