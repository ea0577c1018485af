"""The narrative `div` as XHTML text (the JSON form of an `xhtml` value), and back.

The element is written out again rather than cut from the source: the result is self-contained (the
XHTML namespace declared on the `div`, whatever prefix or inherited declaration the XML used) and
escaped the one canonical way (`&`, `<`, `>` in text; also `"` and line breaks in attributes).
"""

from __future__ import annotations

from imgfhir.xml.parse import XML_NS, XNode

XHTML_NS = "http://www.w3.org/1999/xhtml"


def escape_text(text: str) -> str:
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def escape_attribute(text: str) -> str:
    text = escape_text(text)
    if '"' in text or "\n" in text or "\r" in text or "\t" in text:
        text = text.replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#09;")
    return text


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
