"""What the XML format needs to know of a definition: child names, types, order, repetition, attributes.

Built from the validator's compiled plans (`imgfhir.validation.plan`), so a definition is read once for
both validation and XML, and cached per element plan and type (`ElementPlan.memo`). The element's type
from the snapshot decides everything JSON-shaped: a repeating element (base max other than 1) is an
array, a primitive type has a `value` attribute and a `_name` sibling in JSON, a choice `value[x]` is
spelled `valueQuantity`, a Resource-typed element wraps a resource, `xhtml` is a narrative `div`.
"""

from __future__ import annotations

from dataclasses import dataclass

from imgfhir.packages import Scope
from imgfhir.validation.model import ElementPlan
from imgfhir.validation.plan import FHIR_SD, RESOURCE_TYPES, compiled_or_none, is_primitive, type_children

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def upper_first(code: str) -> str:
    return code[:1].upper() + code[1:]


@dataclass(frozen=True, slots=True)
class Child:
    """One child of a complex value as XML spells it (a choice has one Child per type)."""

    element: ElementPlan
    key: str  # the XML element name, which is also the JSON key (`valueQuantity`)
    type: str | None  # None: a backbone element or a content reference (complex, defined in place)
    order: int  # position of the definition among its siblings
    array: bool
    primitive: bool
    resource: bool  # the value is a resource wrapped in an element named after its type
    xhtml: bool


@dataclass(frozen=True, slots=True)
class Layout:
    """The children of a value of one type: elements by XML name, attributes by name, in definition order."""

    elements: dict[str, Child]
    attributes: dict[str, Child]
    ordered: list[Child]  # element children (attributes aside), in definition order
    choices: dict[str, ElementPlan]  # choice stem (`value`) → the choice element, to explain a wrong type


def is_resource_type(scope: Scope, code: str | None) -> bool:
    if code is None:
        return False
    if code in RESOURCE_TYPES:
        return True
    hit = scope.entry(FHIR_SD + code)
    return hit is not None and hit[1].kind == "resource" and code[:1].isupper()


def _is_array(element: ElementPlan) -> bool:
    base = element.ed.get("base")
    max_value = base.get("max") if isinstance(base, dict) else element.ed.get("max")
    return max_value not in ("0", "1")


def layout(scope: Scope, element: ElementPlan, type_code: str | None) -> Layout:
    """The XML layout of a value of `type_code` defined by `element` (cached on the element)."""
    key = ("xml-layout", type_code)
    cached = element.memo.get(key)
    if isinstance(cached, Layout):
        return cached
    elements: dict[str, Child] = {}
    attributes: dict[str, Child] = {}
    ordered: list[Child] = []
    choices: dict[str, ElementPlan] = {}
    for order, child in enumerate(type_children(scope, element, type_code).values()):
        representation = child.ed.get("representation") or ()
        array = _is_array(child)
        if child.is_choice:
            choices[child.name[:-3]] = child
            codes: list[tuple[str, str | None]] = [(child.name[:-3] + upper_first(c), c) for c in child.type_codes]
        else:
            codes = [(child.name, child.type_codes[0] if len(child.type_codes) == 1 else None)]
        for name, code in codes:
            spec = Child(
                element=child,
                key=name,
                type=code,
                order=order,
                array=array,
                primitive=is_primitive(code),
                resource=is_resource_type(scope, code),
                xhtml=code == "xhtml" or "xhtml" in representation,
            )
            if "xmlAttr" in representation:
                attributes[name] = spec
            else:
                elements[name] = spec
                ordered.append(spec)
    found = Layout(elements, attributes, ordered, choices)
    element.memo[key] = found
    return found


def resource_root(scope: Scope, resource_type: str) -> ElementPlan | None:
    """The root element plan of a resource type's base definition, or None when it is not a resource."""
    if not resource_type[:1].isupper():
        return None
    plan = compiled_or_none(scope, FHIR_SD + resource_type)
    if plan is None or plan.kind != "resource" or plan.type != resource_type:
        return None
    return plan.root
