"""Bundle.link relations, as the reference validator checks them (BundleValidator.validateLink and
its per-type helpers, hapifhir org.hl7.fhir.validation):

- bundle-link (error, BUNDLE_LINK_SEARCH_PROHIBITED): the paging relations first, previous, next and
  last belong to searchsets and histories; any other Bundle type may not use them (unknown Bundle
  types are left to the binding rule).
- bundle-link (error, BUNDLE_LINK_SEARCH_NO_DUPLICATES): in a searchset or history, self, first,
  previous, next and last occur once each; in the other types, self occurs once. Reported at the
  second and later occurrences only (relationshipUnique looks above the link at hand).
- bundle-link-stylesheet (documents only, validateDocumentLink): a relative stylesheet URL must name
  an entry as `Type/id` (BUNDLE_LINK_STYELSHEET_NOT_FOUND, error); an absolute one other than
  https://hl7.org/fhir/fhir.css is a warning (BUNDLE_LINK_STYELSHEET_EXTERNAL), and one more if it is
  not https (BUNDLE_LINK_STYELSHEET_INSECURE).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.rules.resource_ids import is_absolute_url

_PAGING = frozenset({"first", "previous", "next", "last"})
_SEARCHES = frozenset({"searchset", "history"})
# the Bundle types BundleValidator.validateLink has a helper for; the paging relations are
# prohibited in all of them but searchset and history
_OTHERS = frozenset(
    {
        "document",
        "message",
        "collection",
        "subscription-notification",
        "transaction",
        "transaction-response",
        "batch",
        "batch-response",
    }
)
_FHIR_CSS = "https://hl7.org/fhir/fhir.css"


def _is_bundle_root(element: ElementPlan) -> bool:
    return element.path == "Bundle"


def _links(bundle: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    links = bundle.get("link")
    return [(i, link) for i, link in enumerate(links) if isinstance(link, dict)] if isinstance(links, list) else []


@rule("bundle-link", applies=_is_bundle_root, reads=())
def bundle_link(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    bundle = item.value
    if not isinstance(bundle, dict) or item.value is not ctx.resource:
        return
    kind = bundle.get("type")
    if kind not in _SEARCHES and kind not in _OTHERS:
        return
    unique = _PAGING | {"self"} if kind in _SEARCHES else frozenset({"self"})
    seen: set[str] = set()
    for i, link in _links(bundle):
        relation = link.get("relation")
        if not isinstance(relation, str):
            continue
        at = item.child("link", link, i, None)
        if kind in _OTHERS and relation in _PAGING:
            message = f"the link relation {relation!r} is for paging through search results; a {kind} may not use it"
            yield issue("error", "invalid", message, at.child("relation", relation, None, "uri"), "bundle-link")
        if relation in unique and relation in seen:
            message = f"the link relation {relation!r} can only occur once"
            yield issue("error", "invalid", message, at, "bundle-link")
        seen.add(relation)


@rule("bundle-link-stylesheet", applies=_is_bundle_root, reads=())
def bundle_link_stylesheet(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    bundle = item.value
    if not isinstance(bundle, dict) or bundle.get("type") != "document" or item.value is not ctx.resource:
        return
    for i, link in _links(bundle):
        url = link.get("url")
        if link.get("relation") != "stylesheet" or not isinstance(url, str) or url == _FHIR_CSS:
            continue
        at = item.child("link", link, i, None).child("url", url, None, "uri")
        if is_absolute_url(url):
            message = f"external stylesheets other than {_FHIR_CSS} should not be used ({url})"
            yield issue("warning", "business-rule", message, at, "bundle-link-stylesheet")
            if url.startswith("http://"):
                message = f"the stylesheet reference {url} is not secure"
                yield issue("warning", "business-rule", message, at, "bundle-link-stylesheet")
        elif not any(_type_id(e) == url for e in bundle.get("entry") or () if isinstance(e, dict)):
            message = f"the stylesheet {url} is not an entry of this document (a relative stylesheet is Type/id)"
            yield issue("error", "not-found", message, at, "bundle-link-stylesheet")


def _type_id(entry: dict[str, Any]) -> str | None:
    res = entry.get("resource")
    if isinstance(res, dict) and isinstance(res.get("resourceType"), str):
        return f"{res['resourceType']}/{res.get('id')}"
    return None
