"""The element-by-element checks of a StructureDefinition validated as a resource.

Follows StructureDefinitionValidator.validateElementDefinition (hapifhir org.hl7.fhir.validation,
instance/type/StructureDefinitionValidator.java) for each element of the differential and of the
snapshot as written in the resource: paths within the type, slicing, type profiles and target
profiles, bindings, the types of fixed/pattern/default values, and invariants.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from imgfhir.outcome import Issue, Severity
from imgfhir.packages import Scope
from imgfhir.packages.package import ResourceEntry
from imgfhir.snapshot import SnapshotError, generator_for
from imgfhir.validation.definition_checks import unparsable_constraints
from imgfhir.validation.model import Item, issue
from imgfhir.validation.plan import FHIR_SD, type_code

_PRIMITIVES = frozenset(
    {
        *("boolean", "integer", "integer64", "string", "decimal", "uri", "url", "canonical", "base64Binary"),
        *("instant", "date", "dateTime", "time", "code", "oid", "id", "markdown", "unsignedInt", "positiveInt"),
        *("uuid", "xhtml"),
    }
)
_VALUE_PREFIXES = ("defaultValue", "fixed", "pattern")
# the types a targetProfile is about (validateTargetProfile); any other type has none
_TARGET_TYPES = frozenset({"Reference", "CodeableReference", "canonical"})


@dataclass
class Definition:
    """The StructureDefinition being validated, with what the checks look up about it."""

    scope: Scope
    release: str
    sd: dict[str, Any]
    base: dict[str, Any]
    generated: dict[str, Any] | None  # the snapshot generated from the differential (constraints)
    invariants: dict[str, str] = field(default_factory=dict)  # key → expression, per element list

    @property
    def url(self) -> str:
        return str(self.sd.get("url", ""))

    @property
    def type_name(self) -> str:
        """StructureDefinition.getTypeName: a logical model's type URL ends in its name."""
        return str(self.sd.get("type", "")).rsplit("/", 1)[-1]


def element_item(root: Item, part: str, element_id: str) -> Item | None:
    """The item of the element `element_id` in `part` (differential/snapshot), if it is there."""
    holder = root.value.get(part)
    elements = holder.get("element") if isinstance(holder, dict) else None
    for i, ed in enumerate(elements if isinstance(elements, list) else ()):
        if isinstance(ed, dict) and element_id in (ed.get("id"), ed.get("path")):
            return root.child(part, holder, None, None).child("element", ed, i, "ElementDefinition")
    return None


def check_elements(defn: Definition, root: Item) -> Iterator[Issue]:
    for part in ("differential", "snapshot"):
        holder = defn.sd.get(part)
        elements = holder.get("element") if isinstance(holder, dict) else None
        if not isinstance(elements, list):
            continue
        defn.invariants = {}
        list_item = root.child(part, holder, None, None)
        snapshot = part == "snapshot"
        for i, ed in enumerate(elements):
            if isinstance(ed, dict) and isinstance(ed.get("path"), str):
                at = list_item.child("element", ed, i, "ElementDefinition")
                yield from _element(defn, ed, at, snapshot)
        if snapshot:
            yield from _unparsable(defn, elements, list_item)


def _child(item: Item, key: str, index: int | None = None) -> Item:
    value = item.value.get(key)
    if index is not None and isinstance(value, list):
        value = value[index]
    return item.child(key, value, index, None)


def _element(defn: Definition, ed: dict[str, Any], at: Item, snapshot: bool) -> Iterator[Issue]:
    path: str = ed["path"]
    name = defn.type_name
    if name and path != name and not path.startswith(name + "."):  # SD_PATH_TYPE_MISMATCH
        message = f"the path {path} is not within the type {name}"
        yield issue("error", "not-found", message, _child(at, "path"), "sd-path")
    if isinstance(ed.get("slicing"), dict):
        yield from _slicing(defn, ed, at, snapshot)
    types = ed.get("type")
    for j, tr in enumerate(types if isinstance(types, list) else ()):
        if isinstance(tr, dict):
            yield from _type(defn, tr, _child(at, "type", j), path)
    if isinstance(ed.get("binding"), dict):
        yield from _binding(defn, ed["binding"], _child(at, "binding"), path, snapshot)
    if snapshot and "." in str(ed.get("id", path)):
        yield from _value_types(ed, at)
    if not snapshot and defn.generated is not None and ("min" in ed or "max" in ed):
        yield from _cardinality(defn, ed, at)
    constraints = ed.get("constraint")
    for j, c in enumerate(constraints if isinstance(constraints, list) else ()):
        if isinstance(c, dict):
            yield from _invariant(defn, c, _child(at, "constraint", j), snapshot)


# -- cardinality --------------------------------------------------------------------------------


def _cardinality(defn: Definition, ed: dict[str, Any], at: Item) -> Iterator[Issue]:
    """A differential narrows its base's cardinality: min not below the base's (except on a slice),
    max not above it (ProfileUtilities.updateFromDefinition: both errors, reported by the
    snapshot generation the StructureDefinitionValidator runs)."""
    base = _base_element(defn, str(ed.get("id", ed["path"])))
    if base is None:
        return
    path = ed["path"]
    low, base_low = ed.get("min"), base.get("min")
    if isinstance(low, int) and isinstance(base_low, int) and low < base_low and not ed.get("sliceName"):
        message = f"{path}: the min {low} is below the base's min {base_low}"
        yield issue("error", "business-rule", message, _child(at, "min"), "sd-cardinality")
    high, base_high = ed.get("max"), base.get("max")
    if isinstance(high, str) and isinstance(base_high, str) and _larger_max(high, base_high):
        message = f"{path}: the max {high} is above the base's max {base_high}"
        yield issue("error", "business-rule", message, _child(at, "max"), "sd-cardinality")


def _larger_max(derived: str, base: str) -> bool:
    if derived == base or base == "*":
        return False
    if derived == "*":
        return True
    return derived.isdigit() and base.isdigit() and int(derived) > int(base)


def _base_element(defn: Definition, element_id: str) -> dict[str, Any] | None:
    """The base's element a differential element constrains: by id, else (a new slice, or inside
    one) the element with the slice names taken out."""
    url = str(defn.base.get("url"))
    memo: dict[str, dict[str, dict[str, Any]]] = defn.scope.memo.setdefault("sd-base-elements", {})
    by_id = memo.get(url)
    if by_id is None:
        try:
            elements = generator_for(defn.scope).snapshot(url).get("snapshot", {}).get("element", [])
        except SnapshotError:
            elements = []
        by_id = memo[url] = {str(e.get("id")): e for e in elements if isinstance(e, dict)}
    found = by_id.get(element_id)
    if found is None and ":" in element_id:
        found = by_id.get(".".join(seg.split(":", 1)[0] for seg in element_id.split(".")))
    return found


# -- slicing ------------------------------------------------------------------------------------


def _slicing(defn: Definition, ed: dict[str, Any], at: Item, snapshot: bool) -> Iterator[Issue]:
    path: str = ed["path"]
    slicing = _child(at, "slicing")
    if not snapshot and "." not in path:  # SD_NO_SLICING_ON_ROOT
        yield issue("error", "invalid", f"the root element {path} cannot be sliced", slicing, "sd-slicing")
        return
    base_max = _core_max(defn.scope, path)
    if base_max == "1" and "[x]" not in path:  # SD_PATH_NO_SLICING
        message = f"{path} occurs at most once in its base definition: it cannot be sliced"
        yield issue("error", "not-found", message, slicing, "sd-slicing")
    discriminators = slicing.value.get("discriminator")
    for k, d in enumerate(discriminators if isinstance(discriminators, list) else ()):
        if not isinstance(d, dict):
            continue
        d_item = _child(slicing, "discriminator", k)
        if d.get("type") == "pattern":  # SD_PATH_SLICING_DEPRECATED(_R5): a hint in R4, a warning in R5
            level: Severity = "warning" if defn.release == "R5" else "information"
            message = "the discriminator type pattern is deprecated: use value"
            yield issue(level, "business-rule", message, _child(d_item, "type"), "sd-slicing")
        expression = d.get("path")
        if isinstance(expression, str) and base_max is not None:  # as the reference: only where found
            yield from _discriminator_path(defn, expression, path, d_item)


def _discriminator_path(defn: Definition, expression: str, path: str, at: Item) -> Iterator[Issue]:
    """SD_PATH_ERROR: a discriminator path that is not FHIRPath."""
    from imgfhir.fhirpath import FhirPathError, compile

    try:
        compile(expression, defn.release)
    except (FhirPathError, ValueError) as exc:
        message = f"the discriminator path {expression} of {path} is not valid: {exc}"
        yield issue("error", "invalid", message, _child(at, "path"), "sd-slicing")


def _core_max(scope: Scope, path: str) -> str | None:
    """The max of `path` in the core definition of its first segment (as the reference: the
    element must be found by path in that snapshot, not through datatypes)."""
    memo: dict[str, str | None] = scope.memo.setdefault("sd-core-max", {})
    if path not in memo:
        found = None
        type_sd = scope.entry(FHIR_SD + path.split(".", 1)[0])
        if type_sd is not None:
            sd = type_sd[0].load(type_sd[1].filename)
            for ed in sd.get("snapshot", {}).get("element", ()):
                if ed.get("path") == path:
                    found = str(ed.get("max"))
                    break
        memo[path] = found
    return memo[path]


# -- types ---------------------------------------------------------------------------------------


def _type(defn: Definition, tr: dict[str, Any], at: Item, path: str) -> Iterator[Issue]:
    if "code" in tr and not tr.get("code") and defn.release in ("R4", "R5"):  # SD_NO_TYPE_CODE_ON_CODE
        message = f"a type of {path} in {defn.sd.get('id')} has an empty code"
        yield issue("error", "invalid", message, _child(at, "code"), "sd-type")
        return
    if not tr.get("code"):
        return
    code = type_code(tr)
    profiles = tr.get("profile")
    for k, p in enumerate(profiles if isinstance(profiles, list) else ()):
        if isinstance(p, str):
            yield from _type_profile(defn, p, code, _child(at, "profile", k), path)
    targets = tr.get("targetProfile")
    for k, p in enumerate(targets if isinstance(targets, list) else ()):
        if isinstance(p, str):
            yield from _target_profile(defn, p, code, _child(at, "targetProfile", k), path)


def _entry(scope: Scope, url: str) -> ResourceEntry | None:
    hit = scope.entry(url)
    return hit[1] if hit is not None and hit[1].resource_type == "StructureDefinition" else None


def _base_type(scope: Scope, entry: ResourceEntry) -> ResourceEntry | None:
    """determineBaseType: the first definition up the chain that is not a constraint."""
    seen: set[str] = set()
    at: ResourceEntry | None = entry
    while at is not None and at.derivation == "constraint" and at.base_definition and at.url not in seen:
        seen.add(str(at.url))
        at = _entry(scope, at.base_definition)
    return at


def _is_instance_of(scope: Scope, entry: ResourceEntry, code: str) -> bool:
    """isInstanceOf: the type or one of its abstract (or logical) ancestors is `code`."""
    at: ResourceEntry | None = entry
    seen: set[str] = set()
    while at is not None and str(at.url) not in seen:
        if code in (at.type, at.url):
            return True
        seen.add(str(at.url))
        at = _entry(scope, at.base_definition) if at.base_definition else None
        if at is not None and not at.abstract and at.kind != "logical":
            at = None
    return False


def _unknown(p: str, at: Item) -> Issue:
    """SD_ED_TYPE_PROFILE_UNKNOWN: a warning, as in the reference."""
    return issue("warning", "exception", f"the profile {p} cannot be found", at, "sd-type-profile")


def _type_profile(defn: Definition, p: str, code: str, at: Item, path: str) -> Iterator[Issue]:
    entry = _entry(defn.scope, p)
    if entry is None:
        yield _unknown(p, at)
        return
    base = _base_type(defn.scope, entry)
    if base is None:  # SD_ED_TYPE_PROFILE_NOTYPE
        yield issue("error", "exception", f"the type of the profile {p} cannot be found", at, "sd-type-profile")
        return
    if not _is_instance_of(defn.scope, base, code):  # SD_ED_TYPE_PROFILE_WRONG
        message = f"the profile {p} is a profile of {base.type}, not of the type {code} of {path}"
        yield issue("error", "exception", message, at, "sd-type-profile")
        return
    if base.type == "Extension":
        modifier = _is_modifier_extension(defn.scope, p)
        in_modifier = path.endswith(".modifierExtension")
        if modifier is True and not in_modifier:  # SD_ED_TYPE_PROFILE_NOT_MODIFIER
            message = f"the extension {p} is a modifier extension: it can only be used as a modifierExtension"
            yield issue("error", "exception", message, at, "sd-type-profile")
        elif modifier is False and in_modifier:  # SD_ED_TYPE_PROFILE_IS_MODIFIER
            message = f"the extension {p} is not a modifier extension: it cannot be used as a modifierExtension"
            yield issue("error", "exception", message, at, "sd-type-profile")


def _is_modifier_extension(scope: Scope, url: str) -> bool | None:
    try:
        elements = generator_for(scope).snapshot(url).get("snapshot", {}).get("element", [])
    except SnapshotError:
        return None
    return bool(elements and elements[0].get("isModifier") is True)


def _target_profile(defn: Definition, p: str, code: str, at: Item, path: str) -> Iterator[Issue]:
    if code not in _TARGET_TYPES:  # SD_ED_TYPE_NO_TARGET_PROFILE
        message = f"the type {code} of {path} cannot have a target profile"
        yield issue("error", "exception", message, at, "sd-type-profile")
        return
    entry = _entry(defn.scope, p)
    if entry is None:
        yield _unknown(p, at)
        return
    base = _base_type(defn.scope, entry)
    if base is None:  # SD_ED_TYPE_PROFILE_NOTYPE
        yield issue("error", "exception", f"the type of the profile {p} cannot be found", at, "sd-type-profile")
        return
    if code == "canonical":
        from imgfhir.validation.rules.extension_context import _CANONICAL

        r5_abstract = defn.release == "R5" and base.type == "CanonicalResource"
        ok = base.type in _CANONICAL or base.type == "Resource" or r5_abstract
        what = "a canonical resource"
    else:
        ok = entry.kind == "resource" or (defn.sd.get("kind") == "logical" and _referenceable(defn.scope, p))
        what = "a resource"
    if not ok:  # SD_ED_TYPE_PROFILE_WRONG_TARGET
        message = f"the target profile {p} of {path} ({code}) is a profile of {base.type}, not of {what}"
        yield issue("error", "exception", message, at, "sd-type-profile")


def _referenceable(scope: Scope, url: str) -> bool:
    """isReferenceableTarget: a logical model marked as a possible reference target."""
    sd = scope.find(url) or {}
    for ext in sd.get("extension", ()):
        url_ = ext.get("url", "") if isinstance(ext, dict) else ""
        if url_.endswith("type-characteristics") and ext.get("valueCode") == "can-be-target":
            return True
        if url_.endswith("logical-target") and ext.get("valueBoolean") is True:
            return True
    return False


# -- bindings and values -------------------------------------------------------------------------


def _binding(defn: Definition, binding: dict[str, Any], at: Item, path: str, snapshot: bool) -> Iterator[Issue]:
    vs = binding.get("valueSet")
    if isinstance(vs, dict):  # R3 spelling: valueSetReference
        vs = vs.get("reference")
    if not isinstance(vs, str):
        if snapshot:  # SD_ED_SHOULD_BIND_WITH_VS
            yield issue("warning", "business-rule", f"the binding of {path} has no value set", at, "sd-binding")
        return
    hit = defn.scope.entry(vs)
    vs_at = _child(at, "valueSet")
    if hit is None:  # SD_ED_BIND_UNKNOWN_VS: a warning (a terminology server might know it)
        yield issue("warning", "business-rule", f"the value set {vs} of {path} cannot be found", vs_at, "sd-binding")
    elif hit[1].resource_type != "ValueSet":  # SD_ED_BIND_NOT_VS
        message = f"the binding of {path} names {vs}, which is a {hit[1].resource_type}, not a ValueSet"
        yield issue("error", "business-rule", message, vs_at, "sd-binding")


def _value_type(key: str, prefix: str) -> str:
    suffix = key[len(prefix) :]
    lower = suffix[:1].lower() + suffix[1:]
    return lower if lower in _PRIMITIVES else suffix


def _value_types(ed: dict[str, Any], at: Item) -> Iterator[Issue]:
    """In a snapshot, a value stated for an element is of one of its types (SD_VALUE_TYPE_IILEGAL),
    and an element has types or a contentReference (SD_NO_TYPES_OR_CONTENTREF)."""
    codes = {type_code(t) for t in ed.get("type") or () if isinstance(t, dict) and t.get("code")}
    element_id = str(ed.get("id", ed.get("path")))
    if not codes and "contentReference" not in ed:
        yield issue("error", "exception", f"{element_id} has no types and no contentReference", at, "sd-value-type")
        return
    repeating = str(ed.get("max")) not in ("0", "1")
    for key in list(ed):
        prefix = next((p for p in _VALUE_PREFIXES if key.startswith(p) and key[len(p) : len(p) + 1].isupper()), None)
        if prefix is None:
            continue
        value_type = _value_type(key, prefix)
        v_at = _child(at, key)
        if value_type not in codes:
            message = f"{element_id}: the {prefix} value is a {value_type}, not one of {', '.join(sorted(codes))}"
            yield issue("error", "exception", message, v_at, "sd-value-type")
        if prefix == "defaultValue":
            continue
        if repeating:  # SD_VALUE_TYPE_REPEAT_HINT / _WARNING_DOTNET
            message = f"{element_id} repeats: its {prefix} value applies to every repetition"
            yield issue("information", "exception", message, v_at, "sd-value-type")
            if value_type in _PRIMITIVES:
                message = f"{element_id} repeats: some implementations cannot hold its {prefix} primitive value"
                yield issue("warning", "exception", message, v_at, "sd-value-type")
        if prefix == "fixed" and value_type not in _PRIMITIVES:  # SD_VALUE_COMPLEX_FIXED
            message = f"a fixed value of the complex type {value_type}: consider a pattern"
            yield issue("warning", "exception", message, v_at, "sd-value-type")


# -- invariants ----------------------------------------------------------------------------------


def _invariant(defn: Definition, c: dict[str, Any], at: Item, snapshot: bool) -> Iterator[Issue]:
    key, expression, source = c.get("key"), c.get("expression"), c.get("source")
    if not isinstance(key, str) or not key:  # ED_INVARIANT_NO_KEY
        yield issue("warning", "informational", "an invariant has no key", at, "sd-invariant")
        return
    if not isinstance(expression, str) or not expression:
        if defn.release != "R5":  # ED_INVARIANT_NO_EXPRESSION (R5 invariants may be prose only)
            yield issue("information", "informational", f"the invariant {key} has no expression", at, "sd-invariant")
        return
    known = defn.invariants.get(key)
    if snapshot:
        if known is not None and known != expression and key != "ele-1":  # ED_INVARIANT_EXPRESSION_CONFLICT
            message = f"the invariant {key} is {expression} here and {known} elsewhere in the snapshot"
            yield issue("error", "invalid", message, at, "sd-invariant")
        defn.invariants.setdefault(key, expression)
        return
    version = defn.sd.get("version")
    if source is not None and source not in (defn.url, f"{defn.url}|{version}"):  # ED_INVARIANT_DIFF_NO_SOURCE
        message = f"the invariant {key} of the differential has the source {source}, not {defn.url}"
        yield issue("error", "invalid", message, _child(at, "source"), "sd-invariant")
        return
    inherited = _base_invariant(defn, key)
    if known is None and inherited is not None and inherited != expression:  # ED_INVARIANT_KEY_ALREADY_USED
        message = f"the key {key} is already used by the base for {inherited}"
        yield issue("error", "invalid", message, at, "sd-invariant")
    elif known is not None and known != expression:
        message = f"the key {key} is already used in this differential for {known}"
        yield issue("error", "invalid", message, at, "sd-invariant")
    defn.invariants.setdefault(key, expression)


def _base_invariant(defn: Definition, key: str) -> str | None:
    """findInvariantInBase, in the base's snapshot (the reference also searches every core structure)."""
    try:
        base = generator_for(defn.scope).snapshot(str(defn.base.get("url")))
    except SnapshotError:
        return None
    for ed in base.get("snapshot", {}).get("element", ()):
        for c in ed.get("constraint", ()):
            if c.get("key") == key:
                return str(c.get("expression"))
    return None


def _unparsable(defn: Definition, elements: list[Any], list_item: Item) -> Iterator[Issue]:
    """ED_INVARIANT_EXPRESSION_ERROR: an invariant of this definition whose FHIRPath does not parse
    (the same finding as `profile-definition` where a profile is used)."""
    for i, j, key, why in unparsable_constraints(elements, defn.url, defn.release):
        at = list_item.child("element", elements[i], i, None).child("constraint", elements[i]["constraint"][j], j, None)
        yield issue("error", "invalid", f"the invariant {key} does not parse: {why}", at, "sd-invariant")
