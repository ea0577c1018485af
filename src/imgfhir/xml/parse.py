"""Safe XML parsing into a small node tree that keeps the line and column of every element and attribute.

The parser is the standard library's expat behind defusedxml's SAX reader with `forbid_dtd=True`: a
DOCTYPE (and so any entity declaration: billion laughs, external entities, XXE) is refused before
anything is expanded, external references are never resolved, and nothing touches the network. This
is what the reference validator configures too (`disallow-doctype-decl`, no external entities, in
org.hl7.fhir.r5.elementmodel.XmlParser.parse). Size is bounded before parsing (`max_bytes`) and depth
while parsing (`MAX_DEPTH`).

Positions are 1-based lines and columns counted in characters (expat counts code points of the text
it is fed); attribute positions come from scanning the start tag, which expat does not report.
"""

from __future__ import annotations

import re
import xml.sax
import xml.sax.handler
from dataclasses import dataclass, field
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.expatreader import DefusedExpatParser

from imgfhir.outcome import Issue

MAX_DEPTH = 256  # element nesting; FHIR resources rarely pass 20
XML_NS = "http://www.w3.org/XML/1998/namespace"
XMLNS_NS = "http://www.w3.org/2000/xmlns/"
XHTML_NS = "http://www.w3.org/1999/xhtml"

Position = tuple[int, int]


@dataclass(slots=True)
class XAttr:
    ns: str | None
    name: str  # local name
    qname: str  # as written (`xsi:type`)
    value: str
    at: Position


@dataclass(slots=True)
class XNode:
    """One element: namespace, local name, attributes, children (elements and text) in document order."""

    ns: str | None
    name: str
    at: Position
    attrs: list[XAttr] = field(default_factory=list)
    # element children and text runs, in order (text as str)
    content: list[XNode | str] = field(default_factory=list)
    cdata: Position | None = None  # where a CDATA section starts inside this element, if any
    source: str | None = None  # an XHTML `div` as written, start tag to end tag (see `_Builder.endElementNS`)
    prefixes: dict[str, str] = field(default_factory=dict)  # namespace declarations made on this element

    @property
    def elements(self) -> list[XNode]:
        return [c for c in self.content if isinstance(c, XNode)]

    def text(self) -> str:
        return "".join(c for c in self.content if isinstance(c, str))

    def attr(self, name: str, ns: str | None = None) -> XAttr | None:
        for a in self.attrs:
            if a.name == name and a.ns == ns:
                return a
        return None


@dataclass(slots=True)
class XDocument:
    root: XNode
    text: str
    instructions: list[Position] = field(default_factory=list)  # processing instructions (outside the root too)
    declared_encoding: str | None = None


class _TooDeep(Exception):
    pass


_ATTRIBUTE = re.compile(r"""([^\s=/>]+)\s*=\s*(?:"[^"]*"|'[^']*')""")
_DECLARATION = re.compile(r"""\A\s*<\?xml\s[^>]*?encoding\s*=\s*["']([^"']*)["']""")


class _Builder(xml.sax.handler.ContentHandler):
    def __init__(self, text: str, max_depth: int) -> None:
        super().__init__()
        self.text = text
        self.max_depth = max_depth
        self.stack: list[XNode] = []
        self.root: XNode | None = None
        self.instructions: list[Position] = []
        self.pending: dict[str, str] = {}
        self.locator: Any = None
        self.line_starts = [0]
        self.line_starts.extend(m.end() for m in re.finditer("\n", text))

    def setDocumentLocator(self, locator: Any) -> None:
        self.locator = locator

    def _here(self) -> Position:
        return self.locator.getLineNumber(), self.locator.getColumnNumber() + 1

    def startPrefixMapping(self, prefix: str | None, uri: str) -> None:
        self.pending[prefix or ""] = uri

    def startElementNS(self, name: tuple[str | None, str], qname: str | None, attrs: Any) -> None:
        if len(self.stack) >= self.max_depth:
            raise _TooDeep
        at = self._here()
        node = XNode(name[0], name[1], at, prefixes=self.pending)
        self.pending = {}
        if attrs.getLength():
            node.attrs = self._attributes(at, attrs)
        if self.stack:
            self.stack[-1].content.append(node)
        else:
            self.root = node
        self.stack.append(node)

    def _attributes(self, at: Position, attrs: Any) -> list[XAttr]:
        """The attributes with their positions, in the order written (found by scanning the start tag)."""
        start = self._offset(at)
        end = self.text.find(">", start)
        written: dict[str, Position] = {}
        for m in _ATTRIBUTE.finditer(self.text, start, end if end > 0 else len(self.text)):
            offset = m.start(1)
            line = at[0] + self.text.count("\n", start, offset)
            column = offset - self.line_starts[line - 1] + 1
            written.setdefault(m.group(1), (line, column))
        out: list[XAttr] = []
        for key, value in attrs.items():
            qname = attrs.getQNameByName(key) if hasattr(attrs, "getQNameByName") else key[1]
            qname = qname or key[1]
            out.append(XAttr(key[0], key[1], qname, value, written.get(qname, at)))
        out.sort(key=lambda a: a.at)
        return out

    def endElementNS(self, name: tuple[str | None, str], qname: str | None) -> None:
        node = self.stack.pop()
        if name[1] == "div" and name[0] == XHTML_NS:
            node.source = self._source(node)

    def _source(self, node: XNode) -> str:
        """The element's text as written (the narrative is kept as its author wrote it)."""
        start = self._offset(node.at)
        end_at = self._offset(self._here())
        # an empty element `<div/>`: expat reports its end where it starts
        end = self.text.find(">", end_at if self.text.startswith("</", end_at) else start) + 1
        return self.text[start:end]

    def _offset(self, at: Position) -> int:
        return self.line_starts[at[0] - 1] + at[1] - 1

    def characters(self, content: str) -> None:
        if self.stack:
            node = self.stack[-1]
            if node.content and isinstance(node.content[-1], str):
                node.content[-1] += content
            else:
                node.content.append(content)

    def processingInstruction(self, target: str, data: str) -> None:
        self.instructions.append(self._here())


class _Lexical(xml.sax.handler.LexicalHandler if hasattr(xml.sax.handler, "LexicalHandler") else object):  # type: ignore[misc]
    """Notes where CDATA sections start (the FHIR XML rules forbid them); comments are ignored."""

    def __init__(self, builder: _Builder) -> None:
        self.builder = builder

    def startCDATA(self) -> None:
        b = self.builder
        if b.stack and b.stack[-1].cdata is None:
            b.stack[-1].cdata = b._here()

    def endCDATA(self) -> None:
        return None

    def comment(self, content: str) -> None:
        return None

    def startDTD(self, name: str, public_id: str | None, system_id: str | None) -> None:
        return None

    def endDTD(self) -> None:
        return None


def _fatal(message: str, at: Position | None = None, code: str = "structure", rule: str = "xml-syntax") -> Issue:
    line, column = at if at is not None else (None, None)
    return Issue("fatal", code, message, rule=rule, line=line, column=column)


def _where(text: str, offset: int) -> Position:
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


def parse_xml(text: str, *, max_depth: int = MAX_DEPTH) -> XDocument | Issue:
    """The document, or one fatal issue: not well-formed, a DOCTYPE or entity, nested too deeply."""
    builder = _Builder(text, max_depth)
    reader = DefusedExpatParser(forbid_dtd=True, forbid_entities=True, forbid_external=True)
    reader.setFeature(xml.sax.handler.feature_namespaces, True)
    reader.setContentHandler(builder)
    builder.locator = reader  # the reader is its own SAX Locator (feed() never hands one out)
    reader.setProperty(xml.sax.handler.property_lexical_handler, _Lexical(builder))
    try:
        reader.feed(text)
        reader.close()
    except DefusedXmlException as exc:
        at = _where(text, text.find("<!DOCTYPE")) if "<!DOCTYPE" in text else builder._here()
        kind = type(exc).__name__
        message = {
            "DTDForbidden": "a DOCTYPE declaration is not allowed in FHIR XML (no DTDs, no entities)",
            "EntitiesForbidden": "entity declarations are not allowed in FHIR XML",
            "ExternalReferenceForbidden": "external references are not allowed in FHIR XML",
        }.get(kind, f"refused XML construct: {exc}")
        return _fatal(message, at, "security", "xml-dtd")
    except _TooDeep:
        return _fatal(f"XML nested deeper than {max_depth} elements", builder._here(), "too-costly", "xml-depth")
    except xml.sax.SAXParseException as exc:
        at = (exc.getLineNumber() or 1, (exc.getColumnNumber() or 0) + 1)
        return _fatal(f"XML is not well-formed at line {at[0]}, column {at[1]}: {exc.getMessage()}", at)
    if builder.root is None:
        return _fatal("no root element in the XML")
    m = _DECLARATION.match(text)
    return XDocument(builder.root, text, builder.instructions, m.group(1) if m else None)
