"""Narrative XHTML: a well-formed `<div>` in the XHTML namespace, limited to the FHIR-allowed subset.

The FHIR narrative rules (Narrative.div, xhtml datatype): the content is an XHTML fragment rooted in
`<div xmlns="http://www.w3.org/1999/xhtml">`, containing only the basic HTML formatting elements and
attributes of HTML 4.0 chapters 7-11 (except 9.4) and 15, `<a>`, images and style attributes; no
head, body, external stylesheets, scripts, forms, base/link/xlink, frames, iframes, objects or event
attributes (txt-1); and some non-whitespace content (txt-2). The element and attribute lists are
those the HL7 reference validator enforces. Findings name the element or attribute at fault, so the
FHIRPath `htmlChecks()` invariants need not be the only word on them.

The XHTML is parsed with the standard library's expat parser; DOCTYPE and ENTITY declarations are
refused before parsing, so no entity is ever expanded.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule

XHTML_NS = "http://www.w3.org/1999/xhtml"
XML_NS = "http://www.w3.org/XML/1998/namespace"
XLINK_NS = "http://www.w3.org/1999/xlink"

ALLOWED_ELEMENTS = frozenset(
    {"p", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "a", "span", "b", "em", "i", "strong", "small", "big"}
    | {"tt", "dfn", "q", "var", "abbr", "acronym", "cite", "blockquote", "hr", "address", "bdo", "kbd", "sub", "sup"}
    | {"ul", "ol", "li", "dl", "dt", "dd", "pre", "table", "caption", "colgroup", "col", "thead", "tr", "tfoot"}
    | {"tbody", "th", "td", "code", "samp", "img", "map", "area"}
)
# named by the specification ("SHALL NOT contain ..."): reported as such, not just as unknown
FORBIDDEN_ELEMENTS = {
    "html": "a document (html/head/body)",
    "head": "a document (html/head/body)",
    "body": "a document (html/head/body)",
    "script": "scripts",
    "noscript": "scripts",
    "form": "forms",
    "input": "forms",
    "button": "forms",
    "select": "forms",
    "textarea": "forms",
    "base": "base/link/xlink",
    "link": "base/link/xlink (external stylesheets)",
    "xlink": "base/link/xlink",
    "style": "stylesheets",
    "meta": "document metadata",
    "frame": "frames",
    "frameset": "frames",
    "iframe": "iframes",
    "object": "objects",
    "applet": "objects",
    "embed": "objects",
    "param": "objects",
}
ALLOWED_ATTRIBUTES = frozenset(
    {"title", "style", "class", "id", "lang", "xml:lang", "xml:space", "dir", "accesskey", "tabindex"}
    | {"span", "width", "align", "valign", "char", "charoff", "abbr", "axis", "headers", "scope", "rowspan", "colspan"}
)
ALLOWED_ELEMENT_ATTRIBUTES = frozenset(
    {"a.href", "a.name", "a.charset", "a.type", "a.hreflang", "a.rel", "a.rev", "a.shape", "a.coords"}
    | {"img.src", "img.alt", "img.border", "img.longdesc", "img.height", "img.width", "img.usemap", "img.ismap"}
    | {"map.name", "area.shape", "area.coords", "area.href", "area.nohref", "area.alt", "blockquote.cite", "q.cite"}
    | {"table.summary", "table.width", "table.border", "table.frame", "table.rules", "table.cellspacing"}
    | {"table.cellpadding", "pre.space", "td.nowrap", "ol.start", "ol.type", "ul.type"}
)
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)
_SCRIPT_URL = re.compile(r"(java|vb)script:|data:text/html", re.IGNORECASE)
_INVISIBLE = re.compile(r"[\x00-\x20]+")


def _is_narrative(element: ElementPlan) -> bool:
    return "Narrative" in element.type_codes


def _split(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return None, tag


def _attribute_name(key: str) -> str:
    ns, local = _split(key)
    if ns == XML_NS:
        return f"xml:{local}"
    if ns == XLINK_NS:
        return f"xlink:{local}"
    return local if ns is None else key


class _Findings:
    """The issues of one narrative, each problem reported once however often it occurs."""

    def __init__(self, at: Item) -> None:
        self.at = at
        self.issues: list[Issue] = []
        self._seen: set[str] = set()

    def add(self, key: str, message: str, rule_name: str = "txt-1") -> None:
        if key not in self._seen:
            self._seen.add(key)
            self.issues.append(issue("error", "invalid", message, self.at, rule_name))


def xhtml_issues(text: str, at: Item) -> list[Issue]:
    """Everything wrong with one Narrative.div value, located at `at`."""
    found = _Findings(at)
    if _DECLARATION.search(text):
        found.add("decl", "narrative XHTML SHALL NOT contain DOCTYPE or entity declarations", "narrative")
        return found.issues
    try:
        root = ET.fromstring(text)  # no declarations, so only the five XML entities and character references
    except ET.ParseError as exc:
        found.add("parse", f"narrative is not well-formed XHTML: {exc}", "narrative")
        return found.issues
    ns, name = _split(root.tag)
    if name != "div":
        found.add("root", f"narrative XHTML must be a <div> element, not <{name}>", "narrative")
    elif ns != XHTML_NS:
        where = f"namespace {ns!r}" if ns else "no namespace"
        found.add(
            "root",
            f'the narrative <div> must be in the XHTML namespace (xmlns="{XHTML_NS}"), found {where}',
            "narrative",
        )
    for element in root.iter():
        ens, ename = _split(element.tag)
        if element is not root and ens is not None and ens != XHTML_NS:
            found.add(f"ns:{ens}", f"element <{ename}> is in namespace {ens!r}; narrative is XHTML only")
        elif ename in FORBIDDEN_ELEMENTS:
            found.add(f"el:{ename}", f"narrative SHALL NOT contain {FORBIDDEN_ELEMENTS[ename]}: <{ename}> found")
        elif ename not in ALLOWED_ELEMENTS:
            found.add(
                f"el:{ename}",
                f"element <{ename}> is not one of the basic HTML formatting elements allowed in narrative",
            )
        known = ename in ALLOWED_ELEMENTS  # a disallowed element is reported once, not again per attribute
        for key, value in element.attrib.items():
            _check_attribute(found, ename, _attribute_name(key), value, known)
    if not "".join(root.itertext()).strip() and not any(_split(e.tag)[1] == "img" for e in root.iter()):
        found.add("empty", "the narrative SHALL have some non-whitespace content", "txt-2")
    return found.issues


def _check_attribute(found: _Findings, element: str, attribute: str, value: str, known: bool) -> None:
    lowered = attribute.lower()
    if lowered.startswith("on"):
        found.add(f"on:{lowered}", f"event attribute {attribute!r} on <{element}> is not allowed in narrative")
        return
    if lowered.startswith("xlink:"):
        found.add(f"at:{lowered}", f"xlink attribute {attribute!r} on <{element}> is not allowed in narrative")
        return
    if _SCRIPT_URL.search(_INVISIBLE.sub("", value)):
        found.add(f"url:{element}.{attribute}", f"script URL in {attribute!r} of <{element}>: {value[:60]!r}")
    if known and attribute not in ALLOWED_ATTRIBUTES and f"{element}.{attribute}" not in ALLOWED_ELEMENT_ATTRIBUTES:
        found.add(f"at:{element}.{attribute}", f"attribute {attribute!r} is not allowed on <{element}> in narrative")


@rule("narrative", applies=_is_narrative, reads=("type",))
def narrative(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    value = item.value
    if not isinstance(value, dict):
        return
    div = value.get("div")
    if isinstance(div, str):
        yield from xhtml_issues(div, Item(div, f"{item.expression}.div", (*item.pointer, "div"), "xhtml"))
