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
- bundle-document-orphan (warning): an entry of a document that no chain of references links to the
  Composition (documents SHALL include only the Composition's content; a stylesheet Binary and
  Provenance are allowed as such).
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
    """What the entries of one Bundle answer to: fullUrls and `Type/id`s, each mapped to its entry's index."""

    full_urls: dict[str, int] = field(default_factory=dict)
    type_ids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, bundle: dict[str, Any]) -> BundleIndex:
        index = cls()
        for i, entry in enumerate(_entries(bundle)):
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str):
                index.full_urls.setdefault(full_url, i)
            res = entry.get("resource")
            if isinstance(res, dict) and isinstance(res.get("resourceType"), str) and isinstance(res.get("id"), str):
                index.type_ids.setdefault(f"{res['resourceType']}/{res['id']}", i)
        return index

    def target(self, ref: str, from_full_url: Any) -> int | None:
        """Bundle reference resolution: a fullUrl, or a relative `Type/id` against the entry's RESTful base."""
        ref = ref.split(_HISTORY, 1)[0]
        if ref in self.full_urls:
            return self.full_urls[ref]
        if ref.startswith("urn:") or "://" in ref:
            return None
        if isinstance(from_full_url, str):
            base = _RESTFUL.match(from_full_url)
            if base is not None and base.group(1) and base.group(1) + ref in self.full_urls:
                return self.full_urls[base.group(1) + ref]
        # the reference validator's leniency: `Type/id` of an entry whose fullUrl is a urn or elsewhere
        return self.type_ids.get(ref)

    def resolves(self, ref: str, from_full_url: Any) -> bool:
        return self.target(ref, from_full_url) is not None


def _entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries of a Bundle; a malformed entry is kept as {} so indexes stay those of the JSON."""
    entries = bundle.get("entry")
    return [e if isinstance(e, dict) else {} for e in entries] if isinstance(entries, list) else []


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
    """One Bundle index per Bundle per validation (the rule runs for every reference); one slot, swapped whole."""

    def __init__(self) -> None:
        self._slot: tuple[Context, dict[str, Any], BundleIndex] | None = None

    def get(self, ctx: Context, bundle: dict[str, Any]) -> BundleIndex:
        slot = self._slot
        if slot is not None and slot[0] is ctx and slot[1] is bundle:
            return slot[2]
        index = BundleIndex.of(bundle)
        self._slot = (ctx, bundle, index)
        return index


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


# -- documents: nothing but the Composition's graph ------------------------------------------------

# allowed in a document without being referenced: the stylesheet Binary (R4 and R5 documents pages)
# and the Provenance of the content; a Binary is often reached only through an Attachment.url
_UNREFERENCED_OK = frozenset({"Binary", "Provenance"})


def _links(value: Any, out: list[str]) -> None:
    """Every `reference` string and Attachment-style `url` inside a resource (untyped JSON walk)."""
    if isinstance(value, dict):
        for key, child in value.items():
            if key in ("reference", "url") and isinstance(child, str):
                out.append(child)
            elif isinstance(child, dict | list):
                _links(child, out)
    elif isinstance(value, list):
        for child in value:
            _links(child, out)


def document_orphans(bundle: dict[str, Any]) -> list[int]:
    """Entries of a document not linked to the Composition (entry 0) by any chain of references.

    Links count in both directions, the R5 reading adopted by the EU imaging IG (a DiagnosticReport
    referencing the Composition belongs to the document); R4 reads them from the Composition only.
    """
    entries = _entries(bundle)
    index = BundleIndex.of(bundle)
    neighbours: list[set[int]] = [set() for _ in entries]
    for i, entry in enumerate(entries):
        found: list[str] = []
        _links(entry.get("resource"), found)
        for ref in found:
            j = index.target(ref, entry.get("fullUrl"))
            if j is not None and j != i:
                neighbours[i].add(j)
                neighbours[j].add(i)
    reached, todo = {0}, [0]
    while todo:
        for j in neighbours[todo.pop()] - reached:
            reached.add(j)
            todo.append(j)
    return [
        i
        for i, entry in enumerate(entries)
        if i not in reached and (entry.get("resource") or {}).get("resourceType") not in _UNREFERENCED_OK
    ]


def _is_bundle_root(element: ElementPlan) -> bool:
    return element.path == "Bundle"


@rule("bundle-document-orphan", applies=_is_bundle_root)
def bundle_document_orphan(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    bundle = item.value
    if not isinstance(bundle, dict) or bundle.get("type") != "document" or not _entries(bundle):
        return
    first = _entries(bundle)[0].get("resource")
    if not isinstance(first, dict) or first.get("resourceType") != "Composition":
        return  # bdl-11's to report
    for i in document_orphans(bundle):
        res = _entries(bundle)[i].get("resource")
        what = f"{res.get('resourceType')}/{res.get('id')}" if isinstance(res, dict) else "an entry without a resource"
        message = f"{what} is not linked to the Composition by any reference: a document includes only its content"
        at = Item(_entries(bundle)[i], f"{item.expression}.entry[{i}]", (*item.pointer, "entry", i))
        yield issue("warning", "business-rule", message, at, "bundle-document-orphan")
