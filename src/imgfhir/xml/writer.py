"""JSON → FHIR XML, by the same definitions the reader uses: element order from the snapshot, a primitive's
value and id as attributes and its `_name` extensions as child elements, `id` and `Extension.url` as
attributes, wrapped resources, the narrative `div` written as the XHTML it is.

What the definitions do not know (a key no element defines, `fhir_comments`) cannot be written in XML:
it is left out and named in `Written.skipped`, so a converter can say what it lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from imgfhir.packages import Scope
from imgfhir.validation.model import ElementPlan
from imgfhir.xml.schema import FHIR_NS, Child, layout, resource_root
from imgfhir.xml.xhtml import escape_attribute

INDENT = "  "


class XmlWriteError(ValueError):
    """The resource cannot be written as XML at all (no resourceType, or not a resource of this release)."""


@dataclass
class Written:
    text: str
    skipped: list[str] = field(default_factory=list)  # FHIRPath-like locations of values left out


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return orjson.dumps(value).decode()  # the JSON spelling of the number
    return str(value)


class _Writer:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.out: list[str] = []
        self.skipped: list[str] = []

    def resource(self, res: dict[str, Any], level: int, expr: str, top: bool = False) -> None:
        rtype = res.get("resourceType")
        element = resource_root(self.scope, rtype) if isinstance(rtype, str) else None
        if element is None:
            if top:
                raise XmlWriteError(f"not a FHIR {self.scope.release} resource: resourceType {rtype!r}")
            self.skipped.append(expr)
            return
        xmlns = f' xmlns="{FHIR_NS}"' if top else ""
        self.complex(str(rtype), res, element, None, level, expr, xmlns, skip={"resourceType"})

    def complex(
        self,
        name: str,
        obj: dict[str, Any],
        element: ElementPlan,
        type_code: str | None,
        level: int,
        expr: str,
        extra: str = "",
        skip: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        plan = layout(self.scope, element, type_code)
        pad = INDENT * level
        attrs = "".join(
            f' {key}="{escape_attribute(_text(obj[key]))}"' for key in plan.attributes if key in obj and key != "value"
        )
        known = set(plan.attributes) | {c.key for c in plan.ordered} | {"_" + c.key for c in plan.ordered} | skip
        for key in obj:
            if key not in known and key != "fhir_comments":
                self.skipped.append(f"{expr}.{key}")
        body = len(self.out)
        for spec in plan.ordered:
            if spec.key in obj or "_" + spec.key in obj:
                self.child(spec, obj, level + 1, expr)
        if len(self.out) == body:
            self.out.append(f"{pad}<{name}{extra}{attrs}/>\n")
        else:
            self.out.insert(body, f"{pad}<{name}{extra}{attrs}>\n")
            self.out.append(f"{pad}</{name}>\n")

    def child(self, spec: Child, obj: dict[str, Any], level: int, expr: str) -> None:
        key = spec.key
        value = obj.get(key)
        if spec.primitive and not spec.xhtml:
            extras = obj.get("_" + key)
            if isinstance(value, list) or isinstance(extras, list):
                values = value if isinstance(value, list) else []
                ext_list = extras if isinstance(extras, list) else []
                for i in range(max(len(values), len(ext_list))):
                    v = values[i] if i < len(values) else None
                    e = ext_list[i] if i < len(ext_list) else None
                    self.primitive(spec, v, e, level, f"{expr}.{key}[{i}]")
            else:
                self.primitive(spec, value, extras, level, f"{expr}.{key}")
            return
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            where = f"{expr}.{key}[{i}]" if isinstance(value, list) else f"{expr}.{key}"
            if spec.xhtml and isinstance(item, str):
                self.out.append(INDENT * level + item.strip() + "\n")
            elif spec.resource and isinstance(item, dict):
                self.out.append(f"{INDENT * level}<{key}>\n")
                self.resource(item, level + 1, where)
                self.out.append(f"{INDENT * level}</{key}>\n")
            elif isinstance(item, dict):
                self.complex(key, item, spec.element, spec.type, level, where)
            elif item is not None:
                self.skipped.append(where)

    def primitive(self, spec: Child, value: Any, extras: Any, level: int, expr: str) -> None:
        if value is None and not isinstance(extras, dict):
            return
        if isinstance(value, dict | list):
            self.skipped.append(expr)
            value = None
        obj: dict[str, Any] = dict(extras) if isinstance(extras, dict) else {}
        pad = INDENT * level
        attrs = f' value="{escape_attribute(_text(value))}"' if value is not None else ""
        plan = layout(self.scope, spec.element, spec.type)
        attrs = "".join(f' {k}="{escape_attribute(_text(obj[k]))}"' for k in plan.attributes if k in obj) + attrs
        children = [c for c in plan.ordered if c.key in obj]
        for k in obj:
            if k not in plan.attributes and k not in {c.key for c in plan.ordered} and k != "fhir_comments":
                self.skipped.append(f"{expr}.{k}")
        if not children:
            self.out.append(f"{pad}<{spec.key}{attrs}/>\n")
            return
        self.out.append(f"{pad}<{spec.key}{attrs}>\n")
        for c in children:
            self.child(c, obj, level + 1, expr)
        self.out.append(f"{pad}</{spec.key}>\n")


def write_xml(resource: dict[str, Any], scope: Scope) -> Written:
    """`resource` (FHIR JSON as a dict) as an XML document, by the definitions of `scope`."""
    writer = _Writer(scope)
    rtype = resource.get("resourceType")
    writer.out.append('<?xml version="1.0" encoding="UTF-8"?>\n')
    writer.resource(resource, 0, str(rtype), top=True)
    return Written("".join(writer.out), writer.skipped)
