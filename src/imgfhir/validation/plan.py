"""Compile a StructureDefinition snapshot into a validation plan, once per scope and canonical."""

from __future__ import annotations

from typing import Any

from imgfhir.packages import Package, Scope, UnknownCanonical
from imgfhir.packages.package import ResourceEntry
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
FHIR_SD = "http://hl7.org/fhir/StructureDefinition/"
RESOURCE_TYPES = frozenset({"Resource", "DomainResource"})


class ProfilePlan:
    """A compiled StructureDefinition: its root element plan plus facts about the definition."""

    def __init__(self, sd: dict[str, Any], root: ElementPlan, release: str) -> None:
        self.sd = sd
        self.url = str(sd.get("url"))
        self.type = str(sd.get("type"))
        self.kind = str(sd.get("kind"))
        self.root = root
        self.release = release
        # problems with the definition itself (a constraint that does not parse), reported as errors
        # wherever it is used, as the reference does (InstanceValidator.checkInvariant)
        self.problems: list[str] = []

    @property
    def versioned_url(self) -> str:
        version = self.sd.get("version")
        return f"{self.url}|{version}" if isinstance(version, str) else self.url

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
    plan.item_rules = plan.full_item_rules = [r for r in RULES if r.kind == "item" and r.applies(plan)]
    plan.group_rules = [r for r in RULES if r.kind == "group" and r.applies(plan)]
    return plan


def is_primitive(type_code: str | None) -> bool:
    return bool(type_code) and type_code[:1].islower()  # type: ignore[index]


def has_primitive_type(element: ElementPlan) -> bool:
    return any(is_primitive(t) for t in element.type_codes)


def type_profile(element: ElementPlan, type_code: str | None) -> str | None:
    for t in element.ed.get("type", ()):
        profiles = t.get("profile") or []
        if profiles and (type_code is None or len(element.type_codes) == 1 or t.get("code") == type_code):
            return str(profiles[0])
    return None


def type_children(scope: Scope, element: ElementPlan, type_code: str | None) -> dict[str, ElementPlan]:
    """The child definitions that apply below `element` for a value of `type_code` (cached): its own
    unfolded children, else those of its content reference, type profile or type."""
    if element.children:
        return element.children
    key = f"children:{type_code}"
    cached = element.memo.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    found: dict[str, ElementPlan] = {}
    ref = element.ed.get("contentReference")
    if isinstance(ref, str):
        found = _content_reference(scope, ref)
    elif type_code and type_code not in RESOURCE_TYPES:  # a primitive's: id, extension (its `_x` object)
        url = type_profile(element, type_code) or FHIR_SD + type_code
        plan = compiled_or_none(scope, url) or compiled_or_none(scope, FHIR_SD + type_code)
        if plan is not None:
            found = plan.root.children
    element.memo[key] = found
    return found


def _content_reference(scope: Scope, ref: str) -> dict[str, ElementPlan]:
    url, _, fragment = ref.partition("#")
    plan = compiled_or_none(scope, url or FHIR_SD + fragment.split(".")[0])
    if plan is None:
        return {}
    node = plan.root
    for name in fragment.split(".")[1:]:
        nxt = node.children.get(name)
        if nxt is None:
            return {}
        node = nxt
    return node.children


# ElementDefinition properties no rule reads: two definitions differing only in these validate alike
_DOCUMENTATION = frozenset(
    {
        "id",
        "path",
        "short",
        "definition",
        "comment",
        "requirements",
        "alias",
        "mapping",
        "mustSupport",
        "isSummary",
        "isModifierReason",
        "example",
        "meaningWhenMissing",
        "orderMeaning",
        "label",
        "code",
        "sliceName",
        "sliceIsConstraining",
        "condition",
        "extension",
        "slicing",
        "representation",
    }
)


# ElementDefinition extensions that rules read (rules/definition_extensions.py): not documentation
RULE_EXTENSIONS = frozenset(
    "http://hl7.org/fhir/" + tail
    for tail in (
        "StructureDefinition/regex",
        "StructureDefinition/minLength",
        "StructureDefinition/maxDecimalPlaces",
        "StructureDefinition/maxSize",
        "tools/StructureDefinition/elementdefinition-date-rules",
        "5.0/StructureDefinition/extension-ElementDefinition.mustHaveValue",
        "5.0/StructureDefinition/extension-ElementDefinition.valueAlternatives",
    )
)


def _signature(ed: dict[str, Any]) -> dict[str, Any]:
    """What the rules see of an ElementDefinition (slicing aside: an element with slices never matches)."""
    out = {k: v for k, v in ed.items() if k not in _DOCUMENTATION and not k.startswith("_")}
    out["extension"] = [e for e in ed.get("extension", ()) if isinstance(e, dict) and e.get("url") in RULE_EXTENSIONS]
    out["type"] = [
        (
            t.get("code"),
            tuple(t.get("profile", ())),
            tuple(t.get("targetProfile", ())),
            tuple(t.get("aggregation", ())),
            t.get("versioning"),
        )
        for t in ed.get("type", ())
        if isinstance(t, dict)
    ]
    out["constraint"] = sorted(
        (str(c.get("key")), str(c.get("severity")), str(c.get("expression")))
        for c in ed.get("constraint", ())
        if isinstance(c, dict)
    )
    binding = ed.get("binding")
    out["binding"] = (binding.get("strength"), binding.get("valueSet")) if isinstance(binding, dict) else None
    base = ed.get("base")
    out["base"] = (base.get("path"), base.get("max")) if isinstance(base, dict) else None
    return out


def _children_signature(element: ElementPlan) -> tuple[Any, ...] | None:
    """What the JSON-level rules (unknown elements, shapes) see of an element's own unfolded children:
    their names, types and repetition (None: the children come from the type, compared as `type`)."""
    if not element.children:
        return None
    return tuple(
        (name, child.type_codes, (child.ed.get("base") or {}).get("max", child.ed.get("max")))
        for name, child in element.children.items()
    )


def mark_twins(scope: Scope, element: ElementPlan, twin: ElementPlan | None) -> bool:
    """Link `element` to its twin — the element that checks the same values in the same validation —
    flag what restates the twin (`covered`, with everything below it) and return that flag.

    Twins: in a resource profile, the base resource's element at the same place (the base definition
    is always validated along with its profiles, so the profile pass can skip what restates it: on a
    typical profile, most of the resource); for a slice, in any definition, the sliced element (its
    walk visits every occurrence the slice walk visits). Below an element, the twins of its children
    are the twin's own children, or its type's. Where an element differs from its twin, the item
    rules whose inputs (`Rule.reads`) it states alike are still left to the twin; the engine also
    leaves the walk below an element to its twin when both take their children from the same type."""
    mine = _signature(element.ed)
    mine["children"] = _children_signature(element)
    theirs = _signature(twin.ed) if twin is not None else None
    if twin is not None and theirs is not None:
        theirs["children"] = _children_signature(twin)
    same = theirs is not None and not element.slices and mine == theirs
    if twin is not None and theirs is not None and not same:
        element.twin = twin
        element.item_rules = [
            r
            for r in element.full_item_rules
            if r.reads is None or r not in twin.full_item_rules or any(mine.get(k) != theirs.get(k) for k in r.reads)
        ]
    if element.children:
        single = element.type_codes[0] if len(element.type_codes) == 1 else None
        twins = type_children(scope, twin, single) if twin is not None else {}
        for name, child in element.children.items():
            if not mark_twins(scope, child, twins.get(name)):
                same = False
    for sl in element.slices:
        mark_twins(scope, sl, element)
    element.covered = same
    return same


def loaded_entry(scope: Scope, canonical: str) -> tuple[Package, ResourceEntry] | None:
    """The definition `canonical` names in `scope`; with `|version`, that version only, or the one whose
    major.minor it names (as the reference's CanonicalResourceManager): never another version."""
    url, _, version = canonical.partition("|")
    hit = scope.entry(canonical)
    if hit is None or not version or hit[1].version == version:
        return hit
    for pkg in scope.packages:
        for entry in pkg.entries:
            if entry.url == url and entry.version and _major_minor(entry.version) == version:
                return pkg, entry
    return None


def loaded_versions(scope: Scope, url: str) -> list[str]:
    """The versions of `url` loaded in `scope` (for messages)."""
    url = url.split("|", 1)[0]
    return sorted({e.version for p in scope.packages for e in p.entries if e.url == url and e.version})


def versioned_canonical(scope: Scope, canonical: str) -> str:
    """`url|version` of the definition `canonical` names (for messages about it)."""
    hit = loaded_entry(scope, canonical)
    return f"{hit[1].url}|{hit[1].version}" if hit is not None and hit[1].version else canonical


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def compile_profile(scope: Scope, canonical: str) -> ProfilePlan:
    """The plan for `canonical` in `scope` (a `|version` names that version), compiled once (cached in the scope)."""
    import imgfhir.validation.rules  # noqa: F401 - plans take their rules from the table: fill it first

    plans: dict[str, ProfilePlan] = scope.memo.setdefault("plans", {})
    plan = plans.get(canonical)
    if plan is None:
        hit = loaded_entry(scope, canonical)
        if hit is None:
            raise UnknownCanonical(canonical, [], scope.label)
        key = f"{hit[1].url}|{hit[1].version}"
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = _compile(scope, canonical, hit)
        plans[canonical] = plan
    return plan


def _compile(scope: Scope, canonical: str, hit: tuple[Package, ResourceEntry]) -> ProfilePlan:
    sd = _snapshot(scope, canonical, hit)
    tree = build(sd["snapshot"]["element"])
    plan = ProfilePlan(sd, _element(tree, str(sd.get("url")), scope.release), scope.release)
    plans: dict[str, ProfilePlan] = scope.memo["plans"]
    plans[f"{hit[1].url}|{hit[1].version}"] = plan  # before the twins: a definition may refer to itself
    if hit[0].origin != "bundled":
        plan.problems = _constraint_problems(sd)
    base_url = FHIR_SD + plan.type
    base = None
    if plan.kind == "resource" and plan.url != base_url and sd.get("derivation") == "constraint":
        base = compiled_or_none(scope, base_url)
    mark_twins(scope, plan.root, base.root if base is not None else None)
    return plan


def _snapshot(scope: Scope, canonical: str, hit: tuple[Package, ResourceEntry]) -> dict[str, Any]:
    """The definition with its snapshot; a version other than the one the URL alone resolves to is
    generated on its own (the generator caches one snapshot per URL)."""
    url = canonical.split("|", 1)[0]
    if scope.entry(url) == hit:
        return generator_for(scope).snapshot(url)
    sd = hit[0].load(hit[1].filename)
    return sd if sd.get("snapshot", {}).get("element") else generator_for(scope).generate(sd)


def _constraint_problems(sd: dict[str, Any]) -> list[str]:
    """Constraints the definition introduces whose FHIRPath does not parse (checked for definitions
    from user-supplied packages; the shipped ones are known to parse)."""
    from imgfhir.validation.definition_checks import release_of, unparsable_constraints

    elements = sd.get("snapshot", {}).get("element", ())
    found = unparsable_constraints(elements, str(sd.get("url")), release_of(sd))
    return [f"constraint {key} on {elements[i].get('path')} does not parse: {why}" for i, _, key, why in found]


def compiled_or_none(scope: Scope, canonical: str) -> ProfilePlan | None:
    """The plan of `canonical`, or None when it is unknown or has no usable snapshot (callers fall back)."""
    if scope.entry(canonical) is None:
        return None
    try:
        return compile_profile(scope, canonical)
    except (SnapshotError, UnknownCanonical):
        return None
