"""Compile a StructureDefinition snapshot into a validation plan, once per scope and canonical."""

from __future__ import annotations

from typing import Any

from imgfhir.packages import Scope, UnknownCanonical
from imgfhir.snapshot import SnapshotError, generator_for
from imgfhir.snapshot.tree import Node, build
from imgfhir.validation.model import RULES, Binding, ElementPlan

# FHIRPath system types used for primitive values in snapshots, by the FHIR type they stand for
_SYSTEM_TYPES = {
    "http://hl7.org/fhirpath/System.String": "string",
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "decimal",
    "http://hl7.org/fhirpath/System.Date": "date",
    "http://hl7.org/fhirpath/System.DateTime": "dateTime",
    "http://hl7.org/fhirpath/System.Time": "time",
}
_FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"


class ProfilePlan:
    """A compiled StructureDefinition: its root element plan plus facts about the definition."""

    def __init__(self, sd: dict[str, Any], root: ElementPlan, release: str) -> None:
        self.sd = sd
        self.url = str(sd.get("url"))
        self.type = str(sd.get("type"))
        self.kind = str(sd.get("kind"))
        self.root = root
        self.release = release

    def __repr__(self) -> str:
        return f"<ProfilePlan {self.url}>"


def type_code(type_ref: dict[str, Any]) -> str:
    """The FHIR type of a type reference, mapping FHIRPath system types back to FHIR primitives."""
    code = str(type_ref.get("code", ""))
    if code in _SYSTEM_TYPES:
        for ext in type_ref.get("extension", ()):
            if ext.get("url") == _FHIR_TYPE_EXT:
                return str(ext.get("valueUrl") or ext.get("valueUri") or _SYSTEM_TYPES[code])
        return _SYSTEM_TYPES[code]
    if not code:  # pre-4.0.1 spelling: no code, only _code extensions
        return "string"
    return code


def _max(value: Any) -> int | None:
    if value == "*" or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _value_of(ed: dict[str, Any], prefix: str) -> tuple[str, Any] | None:
    for key, value in ed.items():
        if key.startswith(prefix) and len(key) > len(prefix) and key[len(prefix)].isupper():
            return key, value
    return None


def _type_codes(ed: dict[str, Any]) -> tuple[str, ...]:
    base = ed.get("base")
    if isinstance(base, dict) and base.get("path") == "Resource.id":
        return ("id",)  # R4 publishes Resource.id as a string; it has always been an id
    return tuple(type_code(t) for t in ed.get("type", ()))


def _element(node: Node, profile_url: str, release: str) -> ElementPlan:
    ed = node.el
    binding = ed.get("binding")
    plan = ElementPlan(
        id=str(ed.get("id")),
        path=str(ed.get("path")),
        name=node.name,
        ed=ed,
        min=int(ed.get("min", 0) or 0),
        max=_max(ed.get("max", "*")),
        type_codes=_type_codes(ed),
        profile_url=profile_url,
        fhir_release=release,
        slice_name=node.slice_name,
        binding=Binding(str(binding.get("strength")), binding.get("valueSet"), binding.get("description"))
        if isinstance(binding, dict) and binding.get("strength")
        else None,
        fixed=_value_of(ed, "fixed"),
        pattern=_value_of(ed, "pattern"),
    )
    plan.children = {c.name: _element(c, profile_url, release) for c in node.children}
    plan.slices = [_element(s, profile_url, release) for s in node.slices]
    plan.item_rules = [r for r in RULES if r.kind == "item" and r.applies(plan)]
    plan.group_rules = [r for r in RULES if r.kind == "group" and r.applies(plan)]
    return plan


def compile_profile(scope: Scope, canonical: str) -> ProfilePlan:
    """The plan for `canonical` in `scope`, compiled once (cached in the scope)."""
    import imgfhir.validation.rules  # noqa: F401 - plans take their rules from the table: fill it first

    plans: dict[str, ProfilePlan] = scope.memo.setdefault("plans", {})
    key = canonical.split("|", 1)[0]
    plan = plans.get(key)
    if plan is None:
        sd = generator_for(scope).snapshot(canonical)
        tree = build(sd["snapshot"]["element"])
        plan = ProfilePlan(sd, _element(tree, str(sd.get("url")), scope.release), scope.release)
        plans[key] = plan
    return plan


def compiled_or_none(scope: Scope, canonical: str) -> ProfilePlan | None:
    """The plan of `canonical`, or None when it is unknown or has no usable snapshot (callers fall back)."""
    if scope.entry(canonical) is None:
        return None
    try:
        return compile_profile(scope, canonical)
    except (SnapshotError, UnknownCanonical):
        return None
