"""Bundle rules the imaging IGs rely on that no core invariant states.

Already invariants of the core Bundle definition, and so left to the invariant rule: a document's
identifier (bdl-9) and timestamp (bdl-10), its Composition first (bdl-11), fullUrl unique per
resource version (bdl-7), request/response per Bundle type (R4 bdl-3/bdl-4, R5 bdl-3a..d) and no
version-specific fullUrl (bdl-8). Added here:

- bundle-document-reference: every literal reference inside a document resolves to an entry of that
  document (FHIR documents: the resources the Composition references SHALL be in the Bundle; a
  document is a self-contained, attested unit). Contained (`#id`) references are the reference
  rule's; logical references (identifier only) are not literal.
- bundle-transaction-reference: in a transaction or batch, a `urn:` reference names an entry of the
  same Bundle (a server can resolve it no other way).
- bundle-entry-request (R4): a transaction or batch entry carries a resource exactly when its
  request creates or changes one (POST, PUT, PATCH); R5 states this as bdl-3c, R4 has no invariant.

The innermost enclosing Bundle is found from the reference's JSON location, so a document carried
inside a transaction (as in IHE MHD) is checked against its own entries.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule

_RESTFUL = re.compile(r"^(https?://.+/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
_HISTORY = "/_history/"
_TRANSACTIONS = frozenset({"transaction", "batch"})
_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass
class BundleIndex:
    """What the entries of one Bundle answer to: fullUrls and `Type/id`s."""

    full_urls: set[str] = field(default_factory=set)
    type_ids: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, bundle: dict[str, Any]) -> BundleIndex:
        index = cls()
        entries = bundle.get("entry")
        for entry in entries if isinstance(entries, list) else ():
            if not isinstance(entry, dict):
                continue
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str):
                index.full_urls.add(full_url)
            res = entry.get("resource")
            if isinstance(res, dict) and isinstance(res.get("resourceType"), str) and isinstance(res.get("id"), str):
                index.type_ids.add(f"{res['resourceType']}/{res['id']}")
        return index

    def resolves(self, ref: str, from_full_url: Any) -> bool:
        """Bundle reference resolution: a fullUrl, or a relative `Type/id` against the entry's RESTful base."""
        ref = ref.split(_HISTORY, 1)[0]
        if ref in self.full_urls:
            return True
        if ref.startswith("urn:") or "://" in ref:
            return False
        if isinstance(from_full_url, str):
            base = _RESTFUL.match(from_full_url)
            if base is not None and base.group(1) and base.group(1) + ref in self.full_urls:
                return True
        # the reference validator's leniency: `Type/id` of an entry whose fullUrl is a urn or elsewhere
        return ref in self.type_ids


def enclosing_bundle(
    root: dict[str, Any], pointer: tuple[str | int, ...]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The innermost Bundle holding the value at `pointer`, with the entry it sits in."""
    found: tuple[dict[str, Any], dict[str, Any]] | None = None
    node: Any = root
    for i, step in enumerate(pointer):
        if (
            isinstance(node, dict)
            and node.get("resourceType") == "Bundle"
            and step == "entry"
            and i + 2 < len(pointer)
            and pointer[i + 2] == "resource"
        ):
            entries = node.get("entry")
            index = pointer[i + 1]
            if isinstance(entries, list) and isinstance(index, int) and 0 <= index < len(entries):
                entry = entries[index]
                if isinstance(entry, dict):
                    found = (node, entry)
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return found
    return found


class _IndexCache:
    """One Bundle index per Bundle per validation (the rule runs for every reference)."""

    def __init__(self) -> None:
        self._key: tuple[Context, dict[str, Any]] | None = None
        self._index = BundleIndex()

    def get(self, ctx: Context, bundle: dict[str, Any]) -> BundleIndex:
        if self._key is None or self._key[0] is not ctx or self._key[1] is not bundle:
            self._key, self._index = (ctx, bundle), BundleIndex.of(bundle)
        return self._index


_CACHE = _IndexCache()


def _is_reference(element: ElementPlan) -> bool:
    return "Reference" in element.type_codes


@rule("bundle-reference", applies=_is_reference)  # reports as bundle-document/transaction-reference
def bundle_reference(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    if ctx.root.get("resourceType") != "Bundle" or item.type not in (None, "Reference"):
        return
    ref = item.value.get("reference") if isinstance(item.value, dict) else None
    if not isinstance(ref, str) or not ref or ref.startswith("#"):
        return
    found = enclosing_bundle(ctx.root, item.pointer)
    if found is None:
        return
    bundle, entry = found
    kind = bundle.get("type")
    if kind == "document":
        if not _CACHE.get(ctx, bundle).resolves(ref, entry.get("fullUrl")):
            message = f"reference {ref} does not resolve to an entry of the document (documents are self-contained)"
            yield issue("error", "not-found", message, item, "bundle-document-reference")
    elif kind in _TRANSACTIONS and ref.startswith("urn:") and not _CACHE.get(ctx, bundle).resolves(ref, None):
        message = f"reference {ref} names no entry of this {kind}: a urn: reference must be an entry's fullUrl"
        yield issue("error", "not-found", message, item, "bundle-transaction-reference")


def _is_bundle_entry(element: ElementPlan) -> bool:
    return element.path == "Bundle.entry" and element.fhir_release == "R4"


@rule("bundle-entry-request", applies=_is_bundle_entry)
def bundle_entry_request(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    entry = item.value
    bundle = ctx.resource
    if not isinstance(entry, dict) or bundle.get("resourceType") != "Bundle" or bundle.get("type") not in _TRANSACTIONS:
        return
    request = entry.get("request")
    method = request.get("method") if isinstance(request, dict) else None
    if not isinstance(method, str):
        return  # no request at all is bdl-3's; no method is the cardinality rule's
    has_resource = isinstance(entry.get("resource"), dict)
    if method in _CHANGING_METHODS and not has_resource:
        message = f"a {bundle.get('type')} entry with request.method {method} must carry the resource it sends"
        yield issue("error", "required", message, item, "bundle-entry-request")
    elif method not in _CHANGING_METHODS and has_resource:
        message = f"a {bundle.get('type')} entry with request.method {method} must not carry a resource"
        yield issue("error", "invalid", message, item, "bundle-entry-request")
