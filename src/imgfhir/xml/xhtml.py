"""The narrative `div` as XHTML text (the JSON form of an `xhtml` value).

The div is kept as written when its text stands on its own (so JSON → XML → JSON gives the same
string back); otherwise (an `h:div` whose prefix is declared higher up, say) it is written out again,
self-contained (the XHTML namespace declared on the `div`) and
escaped the one way the HL7 tools do (`&`, `<`, `>`, `"`; line breaks too in attributes), so that
JSON → XML → JSON gives the published JSON back.
"""

from __future__ import annotations

import re

from imgfhir.xml.parse import XHTML_NS, XML_NS, XNode


def escape_text(text: str) -> str:
    """Text content as the HL7 tools write it (the published JSON examples): `&`, `<`, `>` and `"`."""
    if "&" in text or "<" in text or ">" in text or '"' in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return text


def escape_attribute(text: str) -> str:
    """An attribute value; line breaks and tabs as character references, which XML keeps as they are."""
    text = escape_text(text)
    if "\n" in text or "\r" in text or "\t" in text:
        text = text.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    return text


_PREFIXED = re.compile(r"""<([A-Za-z_][\w.-]*):|\s([A-Za-z_][\w.-]*):[\w.-]+\s*=""")
_DECLARED = re.compile(r"""xmlns:([A-Za-z_][\w.-]*)\s*=""")


def xhtml_text(node: XNode) -> str:
    """The narrative's JSON value: the div as its author wrote it when that text stands on its own (it
    declares the XHTML namespace and every prefix it uses), else written out again."""
    raw = node.source
    if raw is not None and node.prefixes.get("") == XHTML_NS:
        used = {a or b for a, b in _PREFIXED.findall(raw)} - {"xml", "xmlns"}
        if used <= set(_DECLARED.findall(raw)):
            return raw
    return serialize_xhtml(node)


def serialize_xhtml(node: XNode) -> str:
    out: list[str] = []
    _write(node, out, None, {})
    return "".join(out)


def _write(node: XNode, out: list[str], default_ns: str | None, prefixes: dict[str, str]) -> None:
    out.append("<" + node.name)
    if node.ns != default_ns:
        out.append(f' xmlns="{escape_attribute(node.ns or "")}"')
    scope = dict(prefixes)
    for attr in node.attrs:
        if attr.ns is None:
            name = attr.name
        elif attr.ns == XML_NS:
            name = "xml:" + attr.name
        else:
            prefix = scope.get(attr.ns)
            if prefix is None:
                prefix = attr.qname.partition(":")[0] if ":" in attr.qname else f"ns{len(scope)}"
                scope[attr.ns] = prefix
                out.append(f' xmlns:{prefix}="{escape_attribute(attr.ns)}"')
            name = f"{prefix}:{attr.name}"
        out.append(f' {name}="{escape_attribute(attr.value)}"')
    if not node.content:
        out.append("/>")
        return
    out.append(">")
    for part in node.content:
        if isinstance(part, str):
            out.append(escape_text(part))
        else:
            _write(part, out, node.ns, scope)
    out.append(f"</{node.name}>")
