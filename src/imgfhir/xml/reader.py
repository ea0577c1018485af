"""FHIR XML → the JSON-shaped tree the validator walks, with a position for every value, and the XML-only rules.

The conversion is driven by the definitions (`imgfhir.xml.schema`): arrays where the element repeats,
JSON numbers and booleans for those primitive types, `_name` objects for a primitive's id and
extensions, `{"resourceType": ...}` for wrapped resources, the narrative `div` as XHTML text. Comments
are dropped. Every value's JSON pointer is mapped to the line and column of the XML element (or
attribute) it came from, so every issue points into the XML file.

What only XML can get wrong is reported here, as the reference validator's XML parser does
(org.hl7.fhir.r5.elementmodel.XmlParser: checkElement, parseChildren, checkForProcessingInstruction;
ParserBase.getDefinition for the root); rule ids start with `xml-`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from imgfhir.outcome import Issue, Severity
from imgfhir.packages import Scope
from imgfhir.validation.model import ElementPlan
from imgfhir.validation.rules.primitives import PATTERNS
from imgfhir.xml.parse import Position, XAttr, XDocument, XNode
from imgfhir.xml.schema import FHIR_NS, XSI_NS, Child, Layout, layout, resource_root
from imgfhir.xml.xhtml import xhtml_text

Pointer = tuple[str | int, ...]
_INTEGERS = frozenset({"integer", "unsignedInt", "positiveInt"})
_WHITESPACE_TYPES = frozenset({"string", "markdown"})


class Positions(dict[Pointer, "Position | XAttr"]):
    """Pointer → position; an attribute's position is worked out when it is looked up (issues are few,
    values many)."""

    def __getitem__(self, key: Pointer) -> Position:
        value = super().__getitem__(key)
        return value.at if isinstance(value, XAttr) else value


@dataclass
class ReadResult:
    """The resource (None when the XML is not a FHIR resource), its issues, and where each value is."""

    resource: dict[str, Any] | None
    issues: list[Issue] = field(default_factory=list)
    positions: Positions = field(default_factory=Positions)

    def lookup(self) -> Callable[[Pointer], tuple[int, int] | None]:
        """Pointer → (line, column); a pointer not in the table falls back to its nearest ancestor."""
        table = self.positions

        def find(pointer: Pointer) -> tuple[int, int] | None:
            key = tuple(pointer)
            while key not in table:
                if not key:
                    return None
                key = key[:-1]
            return table[key]

        return find


def json_value(type_code: str | None, text: str, release: str) -> Any:
    """A primitive's XML `value` as the JSON value it stands for: numbers and booleans typed, the rest as
    text; a value that is not of its type's lexical form stays text, for the primitive rule to report."""
    if type_code == "boolean":
        return True if text == "true" else False if text == "false" else text
    if type_code in _INTEGERS or (type_code == "integer64" and release == "R4"):
        return int(text) if PATTERNS["integer"].match(text) else text
    if type_code == "decimal":
        if not PATTERNS["decimal"].match(text):
            return text
        return float(text) if any(c in text for c in ".eE") else int(text)
    return text


class Reader:
    """One document's conversion; `read()` returns the result."""

    def __init__(self, scope: Scope, doc: XDocument) -> None:
        self.scope = scope
        self.doc = doc
        self.release = scope.release
        self.result = ReadResult(None)
        self.positions = self.result.positions
        self.none_values = False  # a repeating primitive without a value was read (see `fill`)

    # -- issues -------------------------------------------------------------------------------------------------

    def report(
        self, severity: Severity, code: str, message: str, at: Position, rule: str, expression: str | None = None
    ) -> None:
        self.result.issues.append(
            Issue(severity, code, message, expression=expression, rule=rule, line=at[0], column=at[1])
        )

    # -- the document -------------------------------------------------------------------------------------------

    def read(self) -> ReadResult:
        root = self.doc.root
        if root.ns != FHIR_NS:
            # ParserBase.getDefinition: no namespace, or no definition for this namespace and name: fatal
            if root.ns is None:
                message = f"this '{root.name}' cannot be parsed as a FHIR object (no namespace)"
            else:
                message = (
                    f"this does not appear to be a FHIR resource (unknown namespace/name '{root.ns}::{root.name}')"
                )
            self.report("fatal", "structure", message, root.at, "xml-root")
            return self.result
        element = resource_root(self.scope, root.name)
        if element is None:
            message = f"this does not appear to be a FHIR resource (unknown name '{root.name}')"
            self.report("fatal", "structure", message, root.at, "xml-root")
            return self.result
        for at in self.doc.instructions:
            # XmlParser.checkForProcessingInstruction (and NODE_TYPE__IS_NOT_ALLOWED inside elements)
            self.report("error", "invalid", "no processing instructions allowed in resources", at, "xml-pi")
        encoding = self.doc.declared_encoding
        if encoding is not None and encoding.upper() not in ("UTF-8", "UTF8"):
            message = (
                f"the XML encoding stated in the header is invalid (must be 'UTF-8' if stated, found {encoding!r})"
            )
            self.report("error", "invalid", message, (1, 1), "xml-encoding")
        self.result.resource = self.resource(root, element, (), root.name, top=True)
        return self.result

    def resource(
        self, node: XNode, element: ElementPlan, pointer: Pointer, expr: str, top: bool = False
    ) -> dict[str, Any]:
        obj: dict[str, Any] = {"resourceType": node.name}
        self.positions[pointer] = node.at
        self.positions[(*pointer, "resourceType")] = node.at
        self.check_element(node, expr)
        self.fill(node, element, None, obj, pointer, expr, top=top)
        return obj

    # -- one complex value --------------------------------------------------------------------------------------

    def check_element(self, node: XNode, expr: str) -> None:
        """XmlParser.checkElement: FHIR elements are never empty, and are in the FHIR namespace."""
        if node.ns != FHIR_NS:
            where = f"'{node.ns}'" if node.ns else "no namespace"
            message = f"wrong namespace - expected '{FHIR_NS}', found {where} on <{node.name}>"
            self.report("error", "invalid", message, node.at, "xml-namespace", expr)
        elif not node.attrs and not node.elements and not node.has_text:
            self.report("error", "invalid", f"element <{node.name}> must have some content", node.at, "xml-empty", expr)

    def fill(
        self,
        node: XNode,
        element: ElementPlan,
        type_code: str | None,
        obj: dict[str, Any],
        pointer: Pointer,
        expr: str,
        top: bool = False,
    ) -> None:
        plan = layout(self.scope, element, type_code)
        self.attributes(node, plan, obj, pointer, expr, type_code or element.path, top)
        self.text(node, expr)
        last: Child | None = None
        counts: dict[str, int] = {}
        for child in node.elements:
            spec = plan.elements.get(child.name)
            where = f"{expr}.{child.name}"
            if spec is None:
                self.unknown(child, plan, where, type_code or element.path)
                continue
            if last is not None and spec.order < last.order:
                # InstanceValidator: VALIDATION_VAL_PROFILE_OUTOFORDER (element order matters in XML only)
                message = f"element '{child.name}' is out of order (found after '{last.key}')"
                self.report("error", "invalid", message, child.at, "xml-order", where)
            if last is None or spec.order >= last.order:
                last = spec
            index = counts.get(spec.key, 0)
            counts[spec.key] = index + 1
            if not spec.array and index:
                message = f"element '{child.name}' does not repeat, but is found {index + 1} times"
                self.report("error", "structure", message, child.at, "xml-repeat", where)
                continue
            self.child(
                child, spec, obj, pointer, f"{where}[{index}]" if spec.array else where, index if spec.array else None
            )
        if self.none_values:
            for key in list(obj):
                if isinstance(obj[key], list) and all(v is None for v in obj[key]):
                    del obj[key]  # a repeating primitive with extensions only: no value array

    def attributes(
        self, node: XNode, plan: Layout, obj: dict[str, Any], pointer: Pointer, expr: str, type_name: str, top: bool
    ) -> None:
        for attr in node.attrs:
            spec = plan.attributes.get(attr.name) if attr.ns is None else None
            if spec is not None:
                if attr.value == "":
                    self.report("error", "value", f"@{attr.name} cannot be empty", attr.at, "xml-empty-value", expr)
                    continue
                # a primitive's own `value` is typed by the primitive (positiveInt, not its System.String)
                obj[spec.key] = attr.value if spec.key == "value" else json_value(spec.type, attr.value, self.release)
                self.positions[(*pointer, spec.key)] = attr  # its position is worked out if asked for
                continue
            if attr.ns == XSI_NS and attr.name == "schemaLocation" and top:
                continue  # allowed on the root, as the IG publisher and validator hosts allow it (allowXsiLocation)
            allowed = ", ".join(plan.attributes) or "none"
            message = (
                f"undefined attribute '@{attr.qname}' on <{node.name}> for type {type_name} (attributes: {allowed})"
            )
            self.report("error", "structure", message, attr.at, "xml-attribute", expr)

    def text(self, node: XNode, expr: str) -> None:
        if node.cdata is not None:
            self.report("error", "structure", "CDATA is not allowed", node.cdata, "xml-cdata", expr)
        if node.has_text:
            text = node.text().strip()
            shown = " ".join(text.split())
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            self.report("error", "structure", f"text should not be present ('{shown}')", node.at, "xml-text", expr)

    def unknown(self, child: XNode, plan: Layout, where: str, type_name: str) -> None:
        for stem, choice in plan.choices.items():
            suffix = child.name[len(stem) :]
            if child.name.startswith(stem) and suffix[:1].isupper():
                allowed = ", ".join(choice.type_codes)
                message = f"type {suffix} is not allowed for {choice.name} (allowed: {allowed})"
                self.report("error", "structure", message, child.at, "xml-element", where)
                return
        message = f"undefined element '{child.name}' in {type_name}"
        self.report("error", "structure", message, child.at, "xml-element", where)

    # -- one child ----------------------------------------------------------------------------------------------

    def child(
        self, node: XNode, spec: Child, obj: dict[str, Any], pointer: Pointer, expr: str, index: int | None
    ) -> None:
        key = spec.key
        here: Pointer = (*pointer, key) if index is None else (*pointer, key, index)
        if spec.xhtml:
            self.positions[here] = node.at
            # its namespace and content are the narrative rule's (XHTML_XHTML_NS_InValid and the rest)
            self.put(obj, key, index, xhtml_text(node))
            return
        if spec.primitive and len(node.attrs) == 1 and not node.content and node.ns == FHIR_NS:
            attr = node.attrs[0]
            if attr.name == "value" and attr.ns is None and attr.value and node.cdata is None:
                self.simple(node, attr, spec, obj, pointer, expr, index)
                return
        self.check_element(node, expr)
        if spec.resource:
            self.positions[here] = node.at
            self.put(obj, key, index, self.wrapped(node, here, expr))
            return
        if spec.primitive:
            self.primitive(node, spec, obj, pointer, expr, index)
            return
        self.positions[here] = node.at
        value: dict[str, Any] = {}
        self.fill(node, spec.element, spec.type, value, here, expr)
        self.put(obj, key, index, value)

    def wrapped(self, node: XNode, here: Pointer, expr: str) -> dict[str, Any] | None:
        """`<contained><Patient>...</Patient></contained>`: the one resource inside the wrapper."""
        for attr in node.attrs:
            message = f"undefined attribute '@{attr.qname}' on <{node.name}> (a resource wrapper has none)"
            self.report("error", "structure", message, attr.at, "xml-attribute", expr)
        self.text(node, expr)
        inner = node.elements
        if len(inner) != 1:
            message = f"<{node.name}> must hold exactly one resource, found {len(inner)} elements"
            self.report("error", "structure", message, node.at, "xml-element", expr)
            if not inner:
                return None
        element = resource_root(self.scope, inner[0].name) if inner[0].ns == FHIR_NS else None
        if element is None:
            message = f"contained resource does not appear to be a FHIR resource (unknown name '{inner[0].name}')"
            self.report("error", "structure", message, inner[0].at, "xml-element", expr)
            return None
        return self.resource(inner[0], element, here, expr)

    def simple(
        self, node: XNode, attr: XAttr, spec: Child, obj: dict[str, Any], pointer: Pointer, expr: str, index: int | None
    ) -> None:
        """The common case, `<status value="final"/>`, in one step: what `primitive` would do with it."""
        raw = attr.value
        key = spec.key
        if index is None:
            self.positions[(*pointer, key)] = node.at
            if spec.type not in _WHITESPACE_TYPES or raw == raw.strip():
                obj[key] = json_value(spec.type, raw, self.release)
                return
        else:
            self.positions[(*pointer, key, index)] = node.at
            if "_" + key in obj:  # a sibling has an id or extensions: keep the arrays in step
                self.positions[(*pointer, "_" + key, index)] = node.at
                self.put(obj, "_" + key, index, None)
        if spec.type in _WHITESPACE_TYPES and raw != raw.strip():
            self.whitespace(raw, attr.at, expr)
        self.put(obj, key, index, json_value(spec.type, raw, self.release))

    def whitespace(self, raw: str, at: Position, expr: str) -> None:
        # the string datatype: leading and trailing whitespace SHOULD be removed in the XML format
        message = "value should not start or finish with whitespace" if raw.strip() else "value is only whitespace"
        self.report("warning", "value", message, at, "xml-whitespace", expr)

    def primitive(
        self, node: XNode, spec: Child, obj: dict[str, Any], pointer: Pointer, expr: str, index: int | None
    ) -> None:
        key = spec.key
        extras: dict[str, Any] = {}
        extras_at: Pointer = (*pointer, "_" + key) if index is None else (*pointer, "_" + key, index)
        self.fill(node, spec.element, spec.type, extras, extras_at, expr)
        raw = extras.pop("value", None)
        value = json_value(spec.type, raw, self.release) if isinstance(raw, str) else None
        here: Pointer = (*pointer, key) if index is None else (*pointer, key, index)
        value_at = self.positions.pop((*extras_at, "value"), node.at)
        self.positions[here] = node.at
        self.positions[extras_at] = node.at
        if isinstance(raw, str) and spec.type in _WHITESPACE_TYPES and raw != raw.strip():
            self.whitespace(raw, value_at.at if isinstance(value_at, XAttr) else value_at, expr)
        self.put(obj, key, index, value)
        if value is None and index is not None:
            self.none_values = True
        if extras:
            self.put(obj, "_" + key, index, extras)  # padded with nulls for the siblings before it
        elif index is not None and "_" + key in obj:
            self.put(obj, "_" + key, index, None)

    @staticmethod
    def put(obj: dict[str, Any], key: str, index: int | None, value: Any) -> None:
        if index is None:
            if value is not None:
                obj[key] = value
            return
        values = obj.setdefault(key, [])
        while len(values) < index:
            values.append(None)
        values.append(value)


def read_document(scope: Scope, doc: XDocument) -> ReadResult:
    return Reader(scope, doc).read()
