"""Safe XML parsing into a small node tree that keeps the line and column of every element and attribute.

The parser is the standard library's expat, driven directly (no SAX layer: one Python call per element,
attributes as expat's ordered list) with defusedxml's guards installed as expat's handlers: a DOCTYPE
(and so any entity declaration: billion laughs, external entities, XXE) is refused before anything is
expanded, external references are never resolved, parameter entities are never parsed, and nothing
touches the network. This is what the reference validator configures too (`disallow-doctype-decl`, no
external entities, in org.hl7.fhir.r5.elementmodel.XmlParser.parse). Size is bounded before parsing
(`max_bytes`) and depth while parsing (`MAX_DEPTH`).

Positions are 1-based lines and columns counted in characters (expat counts code points, not bytes).
An element's position is expat's; an attribute's comes from scanning its start tag, which expat does not
report, and is worked out only when asked for (an issue or a test), never on the common path.
"""

from __future__ import annotations

import gc
import re
import xml.parsers.expat as expat
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType

from defusedxml import DefusedXmlException
from defusedxml.expatreader import DefusedExpatParser

from imgfhir.outcome import Issue

MAX_DEPTH = 256  # element nesting; FHIR resources rarely pass 20
XML_NS = "http://www.w3.org/XML/1998/namespace"
XMLNS_NS = "http://www.w3.org/2000/xmlns/"
XHTML_NS = "http://www.w3.org/1999/xhtml"

Position = tuple[int, int]

# defusedxml's handlers (they only raise): installed on each expat parser, as its SAX reader installs them
_GUARD = DefusedExpatParser(forbid_dtd=True, forbid_entities=True, forbid_external=True)
_NO_PREFIXES: Mapping[str, str] = MappingProxyType({})
_START_TAG = re.compile(rb"<[^\s/>]+")
_ATTRIBUTE = re.compile(rb"""\s+([^\s=/>]+)\s*=\s*(?:"[^"]*"|'[^']*')""")


class _Source:
    """The document's bytes, for positions worked out late (attributes) and text as written (narrative)."""

    __slots__ = ("_attributes", "_lines", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._lines: list[int] | None = None
        self._attributes: dict[int, dict[str, Position]] = {}

    def position(self, offset: int) -> Position:
        if self._lines is None:
            self._lines = [0, *(m.end() for m in re.finditer(b"\n", self.data))]
        line = bisect_right(self._lines, offset)
        start = self._lines[line - 1]
        return line, len(self.data[start:offset].decode("utf-8", "replace")) + 1

    def attribute_positions(self, offset: int) -> dict[str, Position]:
        """qname → position of each attribute of the start tag at byte `offset`, in the order written."""
        known = self._attributes.get(offset)
        if known is not None:
            return known
        data = self.data
        tag = _START_TAG.match(data, offset)
        found: dict[str, Position] = {}
        pos = tag.end() if tag else offset
        while (m := _ATTRIBUTE.match(data, pos)) is not None:
            found.setdefault(m.group(1).decode("utf-8", "replace"), self.position(m.start(1)))
            pos = m.end()
        self._attributes[offset] = found
        return found


class XAttr:
    """One attribute: namespace, local name, name as written (`xsi:type`), value; `at` on demand. It
    knows its element's start tag, not the element: no reference cycle, so a tree is freed as soon as it
    is dropped."""

    __slots__ = ("name", "ns", "offset", "qname", "src", "tag_at", "value")

    def __init__(
        self, ns: str | None, name: str, qname: str, value: str, src: _Source, offset: int, tag_at: Position
    ) -> None:
        self.ns = ns
        self.name = name
        self.qname = qname
        self.value = value
        self.src = src
        self.offset = offset  # the start tag's
        self.tag_at = tag_at

    @property
    def at(self) -> Position:
        return self.src.attribute_positions(self.offset).get(self.qname, self.tag_at)

    def __repr__(self) -> str:
        return f"XAttr({self.qname}={self.value!r})"


class XNode:
    """One element: namespace, local name, attributes, and content (elements and text runs) in document
    order. Whitespace between elements is kept only in the narrative (XHTML, and any `div`): elsewhere it
    means nothing, and leaving it out spares an allocation per element."""

    __slots__ = (
        "at",
        "attrs",
        "cdata",
        "content",
        "has_text",
        "keep",
        "mixed",
        "name",
        "ns",
        "offset",
        "prefixes",
        "source",
    )

    def __init__(self, ns: str | None, name: str, at: Position, offset: int, keep: bool) -> None:
        self.ns = ns
        self.name = name
        self.at = at
        self.offset = offset  # byte offset of the start tag
        self.attrs: Sequence[XAttr] = ()
        self.content: list[XNode | str] = []
        self.cdata: Position | None = None  # where a CDATA section starts inside this element, if any
        self.source: str | None = None  # an XHTML `div` as written, start tag to end tag
        self.prefixes: Mapping[str, str] = _NO_PREFIXES  # namespace declarations made on this element
        self.has_text = False  # some text that is not whitespace
        self.mixed = False  # text in `content`
        self.keep = keep  # whitespace kept (the narrative)

    @property
    def elements(self) -> list[XNode]:
        if not self.mixed:
            return self.content  # type: ignore[return-value]  # elements only
        return [c for c in self.content if isinstance(c, XNode)]

    def text(self) -> str:
        return "".join(c for c in self.content if isinstance(c, str)) if self.mixed else ""

    def attr(self, name: str, ns: str | None = None) -> XAttr | None:
        for a in self.attrs:
            if a.name == name and a.ns == ns:
                return a
        return None

    def __repr__(self) -> str:
        return f"XNode(<{self.name}> at {self.at})"


@dataclass(slots=True)
class XDocument:
    root: XNode
    text: str
    instructions: list[Position] = field(default_factory=list)  # processing instructions (outside the root too)
    declared_encoding: str | None = None


class _TooDeep(Exception):
    pass


# expat's names, split once per process: FHIR's vocabulary is small (a hostile document's is bounded here)
_NAMES: dict[str, tuple[str | None, str, str]] = {}
_MAX_NAMES = 20_000


def _split(name: str) -> tuple[str | None, str, str]:
    """expat's `uri local prefix` → (namespace, local name, name as written)."""
    parts = name.split(" ")
    if len(parts) == 1:
        return None, name, name
    if len(parts) == 2:
        return parts[0], parts[1], parts[1]
    return parts[0], parts[1], f"{parts[2]}:{parts[1]}"


class _Builder:
    """expat's handlers: build the tree in one pass."""

    def __init__(self, parser: expat.XMLParserType, src: _Source, max_depth: int) -> None:
        self.parser = parser
        self.src = src
        self.max_depth = max_depth
        self.stack: list[XNode] = []
        self.root: XNode | None = None
        self.instructions: list[Position] = []
        self.encoding: str | None = None
        self.pending: dict[str, str] | None = None
        self.names = _NAMES if len(_NAMES) < _MAX_NAMES else {}

    def here(self) -> Position:
        return self.parser.CurrentLineNumber, self.parser.CurrentColumnNumber + 1

    def start(self, name: str, attrs: list[str]) -> None:
        stack = self.stack
        if len(stack) >= self.max_depth:
            raise _TooDeep
        parser = self.parser
        names = self.names
        parent = stack[-1] if stack else None
        ns, local, _ = names.get(name) or names.setdefault(name, _split(name))
        keep = parent.keep if parent is not None and parent.keep else (ns == XHTML_NS or local == "div")
        at = (parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)
        offset = parser.CurrentByteIndex
        node = XNode(ns, local, at, offset, keep)
        if self.pending is not None:
            node.prefixes = self.pending
            self.pending = None
        if attrs:
            out = []
            src = self.src
            for i in range(0, len(attrs), 2):
                key = attrs[i]
                a_ns, a_local, a_qname = names.get(key) or names.setdefault(key, _split(key))
                out.append(XAttr(a_ns, a_local, a_qname, attrs[i + 1], src, offset, at))
            node.attrs = out
        if parent is not None:
            parent.content.append(node)
        else:
            self.root = node
        stack.append(node)

    def end(self, name: str) -> None:
        node = self.stack.pop()
        if node.name == "div" and node.ns == XHTML_NS:
            node.source = self._source(node)

    def _source(self, node: XNode) -> str:
        """The element's text as written (the narrative is kept as its author wrote it)."""
        data = self.src.data
        at = self.parser.CurrentByteIndex
        if data.startswith(b"</", at):
            end = data.find(b">", at) + 1
        elif data[at - 2 : at] == b"/>":  # an empty element `<div/>`: expat reports its end after it
            end = at
        else:
            end = data.find(b">", node.offset) + 1
        return data[node.offset : end].decode("utf-8")

    def characters(self, content: str) -> None:
        if not self.stack:
            return
        node = self.stack[-1]
        if content.isspace():
            if not node.keep:
                return
        else:
            node.has_text = True
        parts = node.content
        if node.mixed and isinstance(parts[-1], str):
            parts[-1] += content
        else:
            parts.append(content)
            node.mixed = True

    def namespace(self, prefix: str | None, uri: str) -> None:
        if self.pending is None:
            self.pending = {}
        self.pending[prefix or ""] = uri

    def instruction(self, target: str, data: str) -> None:
        self.instructions.append(self.here())

    def cdata(self) -> None:
        if self.stack and self.stack[-1].cdata is None:
            self.stack[-1].cdata = self.here()

    def declaration(self, version: str | None, encoding: str | None, standalone: int) -> None:
        self.encoding = encoding


def _parser(builder_src: _Source, max_depth: int) -> tuple[expat.XMLParserType, _Builder]:
    # the encoding given here overrides the declared one: the text is UTF-8 (a declared other encoding is
    # the reader's xml-encoding error, as XmlParser.checkHeader reports it, not a different decoding)
    parser = expat.ParserCreate("utf-8", " ")
    parser.namespace_prefixes = True
    parser.ordered_attributes = True
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _GUARD.defused_start_doctype_decl
    parser.EntityDeclHandler = _GUARD.defused_entity_decl
    parser.UnparsedEntityDeclHandler = _GUARD.defused_unparsed_entity_decl
    parser.ExternalEntityRefHandler = _GUARD.defused_external_entity_ref_handler
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    builder = _Builder(parser, builder_src, max_depth)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.characters
    parser.StartNamespaceDeclHandler = builder.namespace
    parser.ProcessingInstructionHandler = builder.instruction
    parser.StartCdataSectionHandler = builder.cdata
    parser.XmlDeclHandler = builder.declaration
    return parser, builder


def _fatal(message: str, at: Position | None = None, code: str = "structure", rule: str = "xml-syntax") -> Issue:
    line, column = at if at is not None else (None, None)
    return Issue("fatal", code, message, rule=rule, line=line, column=column)


def _where(text: str, offset: int) -> Position:
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


def parse_xml(text: str, *, max_depth: int = MAX_DEPTH) -> XDocument | Issue:
    """The document, or one fatal issue: not well-formed, a DOCTYPE or entity, nested too deeply."""
    src = _Source(text.encode("utf-8", "surrogatepass"))  # a lone surrogate: not well-formed, below
    parser, builder = _parser(src, max_depth)
    try:
        parser.Parse(src.data, True)
    except DefusedXmlException as exc:
        at = _where(text, text.find("<!DOCTYPE")) if "<!DOCTYPE" in text else builder.here()
        kind = type(exc).__name__
        message = {
            "DTDForbidden": "a DOCTYPE declaration is not allowed in FHIR XML (no DTDs, no entities)",
            "EntitiesForbidden": "entity declarations are not allowed in FHIR XML",
            "ExternalReferenceForbidden": "external references are not allowed in FHIR XML",
        }.get(kind, f"refused XML construct: {exc}")
        return _fatal(message, at, "security", "xml-dtd")
    except _TooDeep:
        return _fatal(f"XML nested deeper than {max_depth} elements", builder.here(), "too-costly", "xml-depth")
    except expat.ExpatError as exc:
        at = (exc.lineno or 1, (exc.offset or 0) + 1)
        reason = expat.ErrorString(exc.code)
        return _fatal(f"XML is not well-formed at line {at[0]}, column {at[1]}: {reason}", at)
    finally:
        del builder.parser  # the parser holds the builder's handlers: no cycle left behind
    if builder.root is None:
        return _fatal("no root element in the XML")
    return XDocument(builder.root, text, builder.instructions, builder.encoding)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a tree is built and read. A tree has no cycles (it is freed
    by reference counting when dropped), yet its many objects would each count towards the collector's
    next pass, and each pass walks the whole heap's young and, now and then, every long-lived object (the
    loaded definitions): paused, reading costs what it allocates and no more."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
