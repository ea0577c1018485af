"""XML inputs for the validator: bytes or text → `Loaded` (the JSON-shaped resource, its XML issues, positions).

Reading XML needs the definitions of one FHIR release; `XmlScopes` picks the scope the way the
validator picks where to validate (the profiles asked for, else a declared `meta.profile` the store
knows, else the release asked for, else R4), so the XML is read by the definitions it is validated by.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imgfhir.outcome import Issue
from imgfhir.packages import PackageError, PackageStore, Scope, UnknownCanonical, fhir_release, load_store
from imgfhir.validation.source import Loaded, ndjson_line
from imgfhir.xml.parse import XDocument, collector_paused, parse_xml
from imgfhir.xml.reader import read_document
from imgfhir.xml.schema import FHIR_NS

_RELEASES = {"R4": "R4", "R5": "R5", "4.0.1": "R4", "4.0": "R4", "5.0.0": "R5", "5.0": "R5"}


@dataclass
class XmlScopes:
    """Chooses the scope an XML document is read in. `store` None: the default store, loaded on first use."""

    store: PackageStore | None = None
    fhir_version: str | None = None
    profiles: list[str] = field(default_factory=list)

    def scope_for(self, declared: list[str]) -> Scope | Issue:
        try:
            store = self.store if self.store is not None else _default_store()
        except PackageError as exc:
            return Issue("fatal", "not-found", str(exc), rule="package")
        version = self.fhir_version
        release = _RELEASES.get(version or "", fhir_release(version) if version else None)
        for url in [*self.profiles, *declared]:
            try:
                return store.scope_for_canonical(url, release)
            except UnknownCanonical:
                continue
        if release is None:
            release = "R4" if "R4" in store.releases() else store.releases()[0]
        if release not in store.releases():
            return Issue("fatal", "not-supported", f"no packages for FHIR {release} are loaded: cannot read the XML")
        return store.scope(release=release)


_STORE: list[PackageStore] = []


def _default_store() -> PackageStore:
    if not _STORE:
        _STORE.append(load_store())
    return _STORE[0]


def declared_profiles(doc: XDocument) -> list[str]:
    """The root's `meta/profile/@value`s: they may decide the release (as `meta.profile` does in JSON)."""
    found: list[str] = []
    for meta in doc.root.elements:
        if meta.name == "meta" and meta.ns == FHIR_NS:
            for profile in meta.elements:
                value = profile.attr("value") if profile.name == "profile" else None
                if value is not None and value.value:
                    found.append(value.value)
    return found


def _fatal(name: str, message: str, rule: str, code: str = "structure", **where: int) -> Loaded:
    return Loaded(None, None, [Issue("fatal", code, message, rule=rule, **where)], name, format="xml")  # type: ignore[arg-type]


def load_xml(
    data: str | bytes | bytearray | memoryview, name: str, *, max_bytes: int, scopes: XmlScopes | None = None
) -> Loaded:
    """Read one XML resource; fatal issues (never an exception) when it cannot be read."""
    if ndjson_line(name) is not None:
        # NDJSON is JSON, one resource a line: a line that is XML is not a record of it
        message = "this NDJSON line is XML: NDJSON holds one JSON resource per line, and XML has no place in it"
        return _fatal(name, message, "xml-ndjson", line=1, column=1)  # the line's start (made the file's line)
    if len(data) > max_bytes:
        unit = "characters" if isinstance(data, str) else "bytes"
        return _fatal(
            name,
            f"input is {len(data)} {unit}, over the limit of {max_bytes} bytes (max_bytes)",
            "xml-size",
            "too-costly",
        )
    if isinstance(data, str):
        text = data
    else:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            # XmlParser.checkHeader: XML_ENCODING_INVALID (FHIR XML is UTF-8)
            return _fatal(
                name, f"the XML encoding is invalid (must be UTF-8): byte {exc.start}: {exc.reason}", "xml-encoding"
            )
    text = text.removeprefix("\ufeff")
    with collector_paused():
        doc = parse_xml(text)
    if isinstance(doc, Issue):
        return Loaded(None, text, [doc], name, format="xml")
    scope = (scopes or XmlScopes()).scope_for(declared_profiles(doc))
    if isinstance(scope, Issue):
        return Loaded(None, text, [scope], name, format="xml")
    with collector_paused():
        result = read_document(scope, doc)
    return Loaded(result.resource, text, result.issues, name, positions=result.lookup(), format="xml")


def without_xml_duplicates(xml_issues: list[Issue], issues: list[Issue]) -> list[Issue]:
    """The validator's issues less what the XML reader has already said of the same element: an empty
    element is the reader's `xml-empty` (XmlParser.checkElement: ELEMENT_MUST_HAVE_SOME_CONTENT), so the
    empty-object check that stands for the JSON parser's OBJECT_MUST_HAVE_SOME_CONTENT is not repeated;
    whitespace around a string is the reader's `xml-whitespace`, not also `string-whitespace`."""
    said = {(i.rule, i.expression) for i in xml_issues if i.rule in ("xml-empty", "xml-whitespace")}
    if not said:
        return issues
    twin = {"json-shape": "xml-empty", "string-whitespace": "xml-whitespace"}
    return [i for i in issues if (twin.get(i.rule or ""), i.expression) not in said]

