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
    """What the entries of one Bundle answer to: fullUrls and `Type/id`s, each mapped to its entry's
    index (the first such entry), with every entry sharing a fullUrl and each entry's meta.versionId."""

    full_urls: dict[str, int] = field(default_factory=dict)
    type_ids: dict[str, int] = field(default_factory=dict)
    sharing: dict[str, list[int]] = field(default_factory=dict)  # fullUrl → its entries, when several
    versions: dict[int, str] = field(default_factory=dict)
    url_of: dict[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, bundle: dict[str, Any]) -> BundleIndex:
        index = cls()
        for i, entry in enumerate(_entries(bundle)):
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str):
                index.url_of[i] = full_url
                first = index.full_urls.setdefault(full_url, i)
                if first != i:
                    index.sharing.setdefault(full_url, [first]).append(i)
            res = entry.get("resource")
            if isinstance(res, dict) and isinstance(res.get("resourceType"), str) and isinstance(res.get("id"), str):
                index.type_ids.setdefault(f"{res['resourceType']}/{res['id']}", i)
            meta = res.get("meta") if isinstance(res, dict) else None
            version = meta.get("versionId") if isinstance(meta, dict) else None
            if isinstance(version, str):
                index.versions[i] = version
        return index

    def target(self, ref: str, from_full_url: Any) -> int | None:
        """Bundle reference resolution: a fullUrl, or a relative `Type/id` against the entry's RESTful base.

        A version-specific reference (`…/_history/2`) names the entry with that fullUrl whose
        meta.versionId is 2 (BaseValidator.resolveInBundle indexes `fullUrl/_history/versionId`)."""
        ref, _, version = ref.partition(_HISTORY)
        at = self._unversioned(ref, from_full_url)
        if at is None or not version:
            return at
        key = self.url_of.get(at)
        candidates = self.sharing.get(key, [at]) if key is not None else [at]
        return next((i for i in candidates if self.versions.get(i) == version), None)

    def _unversioned(self, ref: str, from_full_url: Any) -> int | None:
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

    def ambiguous(self, ref: str, from_full_url: Any) -> list[int]:
        """The entries an unversioned reference could mean when several share its target's fullUrl."""
        if _HISTORY in ref:
            return []
        at = self._unversioned(ref, from_full_url)
        key = self.url_of.get(at) if at is not None else None
        return self.sharing.get(key, []) if key is not None else []

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
    index = _CACHE.get(ctx, bundle)
    malformed = _relative_format(ref, entry, kind)
    if malformed is not None:
        yield issue("error", "invalid", malformed, item, "bundle-reference-format")
        return
    shared = index.ambiguous(ref, entry.get("fullUrl"))
    if shared:
        which = ", ".join(map(str, shared))
        message = f"reference {ref} matches {len(shared)} entries of the Bundle (entries {which} share a fullUrl)"
        yield issue("error", "invalid", message, item, "bundle-reference-ambiguous")
    elif kind == "document":
        if not index.resolves(ref, entry.get("fullUrl")):
            yield from _document_unresolved(ctx, bundle, ref, item)
    elif kind in _TRANSACTIONS and ref.startswith("urn:") and not index.resolves(ref, None):
        message = f"reference {ref} names no entry of this {kind}: a urn: reference must be an entry's fullUrl"
        yield issue("error", "not-found", message, item, "bundle-transaction-reference")


def is_conditional(ref: str) -> bool:
    """`Type?query`: a conditional reference (a search a transaction resolves when it is processed)."""
    head, sep, _ = ref.partition("?")
    return bool(sep) and "/" not in head and head[:1].isupper()


def _relative_format(ref: str, entry: dict[str, Any], kind: Any) -> str | None:
    """BaseValidator.getFromBundle: inside a Bundle, a relative reference (from an entry with a fullUrl)
    is `Type/id` or `Type/id/_history/v` (one or three slashes); anything else is an error
    (REFERENCE_REF_FORMAT2), except that transactions and batches also take a search URL,
    `Type?name=value&...` (REFERENCE_REF_FORMAT1); InstanceValidator.checkReference then checks a
    conditional reference's query wherever it is (REFERENCE_REF_QUERY_INVALID)."""
    if ref.startswith(("http:", "urn:")) or _ABSOLUTE.match(ref) or not isinstance(entry.get("fullUrl"), str):
        return None
    if ref.count("/") in (1, 3):
        return None if not is_conditional(ref) or _QUERY.fullmatch(ref.partition("?")[2]) else _bad_query(ref)
    if kind in _TRANSACTIONS:
        if is_conditional(ref) and _SEARCH.fullmatch(ref.partition("?")[2]):
            return None
        return f"relative references in a {kind} are Type/id or a search URL (Type?name=value&...), not {ref}"
    if is_conditional(ref):
        return f"conditional reference {ref}: only a transaction or batch resolves a search; here it must be Type/id"
    return f"relative references are Type/id (or Type/id/_history/version), not {ref}"


def _bad_query(ref: str) -> str:
    return f"the query of the conditional reference {ref} is not a valid query string (name=value&...)"


# the reference validator's patterns: BaseValidator.isSearchUrl (SEARCH_URL_PARAMS) and the query check
# of InstanceValidator.checkReference (which lets a value be empty)
_SEARCH = re.compile(r"([_a-zA-Z][_a-zA-Z0-9]*=[^=&]+)(&([_a-zA-Z][_a-zA-Z0-9]*=[^=&]+))*")
_QUERY = re.compile(r"([_a-zA-Z][_a-zA-Z0-9]*=[^=&]*)(&([_a-zA-Z][_a-zA-Z0-9]*=[^=&]*))*")
_ABSOLUTE = re.compile(r"^[a-z][a-z0-9+.\-]*:[^ ]+$")

# BundleValidator.validateDocument: the Composition's references that must resolve in the document
_COMPOSITION_PATHS = frozenset({"subject", "author", "encounter", "custodian", "attester.party", "event.detail"})
_SECTION_PATHS = frozenset({"author", "focus", "entry"})


def _in_composition(bundle: dict[str, Any], steps: tuple[str | int, ...]) -> bool:
    """Is the reference at `steps` (inside `bundle`: entry, i, resource, ...) one the reference validator
    requires to resolve in the document (the first entry's Composition: subject, author, ..., and every
    section's author/focus/entry)?"""
    if len(steps) < 4 or steps[:3] != ("entry", 0, "resource"):
        return False
    first = _entries(bundle)[0].get("resource")
    if not isinstance(first, dict) or first.get("resourceType") != "Composition":
        return False
    names = [step for step in steps[3:] if isinstance(step, str)]
    if ".".join(names) in _COMPOSITION_PATHS:
        return True
    depth = 0
    while names[depth : depth + 1] == ["section"]:
        depth += 1
    return depth > 0 and len(names) == depth + 1 and names[-1] in _SECTION_PATHS


def _steps_inside(root: dict[str, Any], pointer: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The part of `pointer` inside the innermost Bundle holding it (from its `entry` on)."""
    node: Any = root
    start = 0
    for i, step in enumerate(pointer):
        if isinstance(node, dict) and node.get("resourceType") == "Bundle" and step == "entry":
            start = i
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            break
    return pointer[start:]


def _document_unresolved(ctx: Context, bundle: dict[str, Any], ref: str, item: Item) -> Iterator[Issue]:
    """BundleValidator: the Composition's references must resolve in the document (error,
    BUNDLE_BUNDLE_ENTRY_NOTFOUND); any other reference that does not is only a hint there
    (checkAllInterlinked resolves every entry's references as warnings, which BaseValidator.resolveInBundle
    reports as hints)."""
    if _in_composition(bundle, _steps_inside(ctx.root, item.pointer)):
        message = f"reference {ref} does not resolve to an entry of the document (documents are self-contained)"
        yield issue("error", "not-found", message, item, "bundle-document-reference")
    else:
        message = f"reference {ref} does not resolve to an entry of the document"
        yield issue("information", "not-found", message, item, "bundle-document-reference")


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


def _links(value: Any, out: list[str]) -> None:
    """Every `reference` string and Attachment-style `url` inside a resource (untyped JSON walk), not
    into a Bundle held in it (BundleValidator.findReferences: Reference, and url/uri values)."""
    if isinstance(value, dict):
        for key, child in value.items():
            if key in ("reference", "url") and isinstance(child, str):
                out.append(child)
            elif isinstance(child, dict) and child.get("resourceType") == "Bundle":
                continue
            elif isinstance(child, dict | list):
                _links(child, out)
    elif isinstance(value, list):
        for child in value:
            _links(child, out)


@dataclass
class DocumentGraph:
    """BundleValidator.checkAllInterlinked: which entries the Composition (entry 0) reaches by
    following references forwards (and the stylesheet link's entry), which only backwards (an entry
    that refers into the reached ones: reached too, but reported in R4), and which not at all."""

    forward: set[int] = field(default_factory=set)
    reverse: list[int] = field(default_factory=list)
    orphans: list[int] = field(default_factory=list)


def document_graph(bundle: dict[str, Any]) -> DocumentGraph:
    entries = _entries(bundle)
    index = BundleIndex.of(bundle)
    with_resource = [i for i, e in enumerate(entries) if isinstance(e.get("resource"), dict)]
    targets: dict[int, set[int]] = {i: set() for i in with_resource}
    for i in with_resource:
        found: list[str] = []
        _links(entries[i]["resource"], found)
        for ref in found:
            j = index.target(ref, entries[i].get("fullUrl"))
            if j is not None and j != i and j in targets:
                targets[i].add(j)
    graph = DocumentGraph()
    visited: set[int] = set()
    if with_resource:
        _visit(with_resource[0], targets, visited)
    graph.forward = set(visited)
    links: list[Any] = bundle["link"] if isinstance(bundle.get("link"), list) else []
    stylesheets = {link.get("url") for link in links if isinstance(link, dict) and link.get("relation") == "stylesheet"}
    for i in with_resource:
        res = entries[i]["resource"]
        if f"{res.get('resourceType')}/{res.get('id')}" in stylesheets:
            visited.add(i)
    grown = True
    while grown:
        grown = False
        for i in with_resource:
            if i not in visited and targets[i] & visited:
                graph.reverse.append(i)
                _visit(i, targets, visited)
                grown = True
    graph.orphans = [i for i in with_resource if i not in visited]
    return graph


def _visit(start: int, targets: dict[int, set[int]], visited: set[int]) -> None:
    todo = [start]
    while todo:
        at = todo.pop()
        if at not in visited:
            visited.add(at)
            todo.extend(targets[at] - visited)


def document_orphans(bundle: dict[str, Any]) -> list[int]:
    """Entries of a document not linked to the Composition (entry 0) by any chain of references,
    followed forwards or backwards (the R5 reading, adopted by the EU imaging IG; the reference
    validator reaches them the same way in R4 and warns about the backward ones)."""
    return document_graph(bundle).orphans


def _is_bundle_root(element: ElementPlan) -> bool:
    return element.path == "Bundle"


# reached only backwards, as expected: a Provenance refers to what it is about
# (BundleValidator.isExpectedToBeReverse)
_REVERSE_OK = frozenset({"Provenance"})
# not reported as orphans, unlike the reference validator (which exempts nothing but the stylesheet
# link's target): the instance generator (imgfhir.strategies) adds the EU report's Binary entries
# without linking them; kept until it links them, so valid generated documents stay valid
_ORPHAN_OK = frozenset({"Binary"})


@rule("bundle-document-orphan", applies=_is_bundle_root, reads=())
def bundle_document_orphan(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """BUNDLE_BUNDLE_ENTRY_ORPHAN_DOCUMENT (error) for the entries the Composition does not reach;
    BUNDLE_BUNDLE_ENTRY_REVERSE_R4 (warning) / _R5 (hint) for those reached only backwards."""
    bundle = item.value
    if not isinstance(bundle, dict) or bundle.get("type") != "document" or not _entries(bundle):
        return
    first = _entries(bundle)[0].get("resource")
    if not isinstance(first, dict) or first.get("resourceType") != "Composition":
        return  # bdl-11's to report
    graph = document_graph(bundle)
    for i in graph.reverse:
        res = _entries(bundle)[i]["resource"]
        if res.get("resourceType") in _REVERSE_OK:
            continue
        what = f"{res.get('resourceType')}/{res.get('id')}"
        at = Item(_entries(bundle)[i], f"{item.expression}.entry[{i}]", (*item.pointer, "entry", i))
        if element.fhir_release == "R4":
            message = (
                f"{what} is reached only by following references backwards from the Composition: in R4 only "
                "Provenance is meant to be linked that way (R4 documents, 3.3.1)"
            )
            yield issue("warning", "invalid", message, at, "bundle-document-reverse")
        else:
            message = (
                f"{what} is reached only by following references backwards from the Composition; check whether "
                "the Composition should link it directly"
            )
            yield issue("information", "informational", message, at, "bundle-document-reverse")
    for i in graph.orphans:
        res = _entries(bundle)[i]["resource"]
        if res.get("resourceType") in _ORPHAN_OK:
            continue
        what = f"{res.get('resourceType')}/{res.get('id')}"
        message = f"{what} is not linked to the Composition by any reference: a document includes only its content"
        at = Item(_entries(bundle)[i], f"{item.expression}.entry[{i}]", (*item.pointer, "entry", i))
        yield issue("error", "business-rule", message, at, "bundle-document-orphan")
