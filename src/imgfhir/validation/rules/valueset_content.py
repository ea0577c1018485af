"""Checks on a ValueSet resource itself, beyond its definition: what the reference validator's
ValueSetValidator (org.hl7.fhir.validation instance/type/ValueSetValidator.java,
validateValueSetInclude / validateValueSetIncludeFilter / checkFilterValue) reports about
`compose.include` and `compose.exclude`.

- valueset-include-system: the system itself (absolute, a version in it, a contained `#` one,
  a ValueSet URL given as a system, the content of the code system it names)
- valueset-import: `valueSet` imports that do not resolve
- valueset-include-code: listed concepts against the code system, when a package has it whole
- valueset-filter: filter properties and operators the code system defines, and filter values

What needs a terminology server is "not checked" (information), never valid: SNOMED CT, LOINC and
the other external terminologies, code systems no package carries, versions not loaded. A system
with an example domain is an error, as the reference reports it without -allow-example-urls.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from imgfhir.outcome import Issue, Severity
from imgfhir.terminology import CodeSystemIndex
from imgfhir.terminology.codesystems import EXTERNAL_NAMES, best_code_system, code_system_candidates
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.rules.terminology_common import at, canonical_url, is_resource_root, loaded_resource

TOO_MANY_CODES = 1000  # ValueSetValidator.TOO_MANY_CODES_TO_VALIDATE
_EXAMPLE_IN = ("example.org/", "acme.com/", "acme.org/", "example.com/", "example.net/")
_EXAMPLE_END = ("example.org", "acme.com", "acme.org", "example.com", "example.net")
_ABSOLUTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:[^\s]+$")
_COMPARATORS = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_DATETIME = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))?)?)?)?"
)
_HIERARCHY_OPS_R4 = frozenset({"=", "in", "is-a", "descendent-of", "is-not-a", "generalizes", "not-in"})
_HIERARCHY_OPS_R5 = _HIERARCHY_OPS_R4 | {"descendent-leaf", "child-of"}
# CodeSystemChecker.rulesForFilter: property → (value type, code validation); None: not checked
_BASE_RULES: dict[str, tuple[str, str | None] | None] = {
    "concept": ("code", "error"),
    "code": ("code", "error"),
    "status": ("code", None),
    "inactive": ("boolean", None),
    "effectiveDate": ("dateTime", None),
    "deprecationDate": ("dateTime", None),
    "retirementDate": ("dateTime", None),
    "notSelectable": ("boolean", None),
    "parent": ("code", "error"),
    "child": ("code", "error"),
    "partOf": ("code", "error"),
    "synonym": ("code", None),
    "comment": None,
    "itemWeight": ("decimal", None),
}
_GENERAL_NAMES = (
    "concept",
    "code",
    "status",
    "inactive",
    "effectiveDate",
    "deprecationDate",
    "retirementDate",
    "notSelectable",
    "synonym",
    "comment",
    "itemWeight",
)  # CodeSystemChecker.listPropertyNames


def _applies(element: ElementPlan) -> bool:
    return is_resource_root(element, "ValueSet")


def is_example_url(url: str) -> bool:
    """BaseValidator.isExampleUrl."""
    return (
        any(part in url for part in _EXAMPLE_IN)
        or url.endswith(_EXAMPLE_END)
        or url.startswith(("urn:oid:1.3.6.1.4.1.32473.", "urn:oid:2.999."))
    )


def _components(item: Item) -> Iterator[Item]:
    """compose.include[i] and compose.exclude[i] of a ValueSet, as items."""
    vs = item.value
    if not isinstance(vs, dict) or vs.get("resourceType") != "ValueSet" or not isinstance(vs.get("compose"), dict):
        return
    compose = item.child("compose", vs["compose"], None, "BackboneElement")
    for key in ("include", "exclude"):
        for i, inc in enumerate(compose.value.get(key) or []):
            if isinstance(inc, dict):
                yield compose.child(key, inc, i, "BackboneElement")


def _raw_code_system(ctx: Context, url: str) -> dict[str, Any] | None:
    """The CodeSystem resource the terminology layer uses for `url` (its filters and properties)."""
    memo: dict[str, Any] = ctx.scope.memo.setdefault("valueset-content-code-systems", {})
    if "*" not in memo:
        memo["*"] = code_system_candidates(ctx.scope)
    if url not in memo:
        memo[url] = best_code_system(memo["*"].get(url, []))
    found: dict[str, Any] | None = memo[url]
    return found


class _Target:
    """What one include's system resolves to, offline: the compiled code system (None when its
    codes cannot be judged here), and why not when they cannot."""

    def __init__(self, ctx: Context, inc: dict[str, Any]) -> None:
        system, version = inc.get("system"), inc.get("version")
        self.system: str = system.split("|", 1)[0] if isinstance(system, str) else ""
        self.version: str | None = version if isinstance(version, str) else None
        self.index: CodeSystemIndex | None = None
        self.resource: dict[str, Any] | None = None
        self.unchecked: str | None = None
        if not self.system or self.system.startswith("#"):
            return
        index = ctx.terminology.code_system(self.system)
        name = EXTERNAL_NAMES.get(self.system)
        if index is None and ctx.terminology.supplement_only(self.system):
            return  # VALUESET_INCLUDE_CS_SUPPLEMENT (valueset-include-system); its concepts are not checked
        if index is None or (name is not None and not index.complete):
            self.unchecked = f"{name or self.system} is not loaded: its codes are not checked offline"
        elif self.version is not None and index.version != self.version:
            loaded = f"the one loaded is {index.version}" if index.version else "the one loaded has no version"
            self.unchecked = f"version {self.version} of {self.system} is not loaded ({loaded}): not checked offline"
        elif not index.enumerable:
            self.unchecked = f"{self.system} has content {index.content}: its codes are not checked offline"
            self.resource = _raw_code_system(ctx, self.system)
        else:
            self.index, self.resource = index, _raw_code_system(ctx, self.system)


def _shown(target: _Target) -> str:
    return target.system + (f" version {target.version}" if target.version else "")


# -- the system ------------------------------------------------------------------------------


@rule("valueset-include-system", applies=_applies, reads=())
def include_system(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    for inc in _components(item):
        yield from _system_checks(ctx, item, inc)


def _system_checks(ctx: Context, vs: Item, inc: Item) -> Iterator[Issue]:
    name, raw = "valueset-include-system", inc.value
    system, version = raw.get("system"), raw.get("version")
    if not isinstance(system, str):
        if raw.get("concept") or raw.get("filter"):  # VALUESET_NO_SYSTEM_WARNING
            message = "concepts and filters need a system: without one they select nothing"
            yield issue("warning", "business-rule", message, inc, name)
        return
    where = at(inc, "system")
    if "|" in system:  # VALUESET_REFERENCE_INVALID_TYPE_NO_VERSION_0.._3
        stated = system.split("|", 1)[1]
        if not stated:
            message = "the system ends with '|' but gives no version"
            yield issue("warning", "business-rule", message, where, name)
        else:
            message = f"the system must not carry a version ('|{stated}'): say it in include.version"
            if isinstance(version, str) and version != stated:
                message += f" (which says {version})"
            yield issue("error", "business-rule", message, where, name)
        system = system.split("|", 1)[0]
    if not _ABSOLUTE.match(system):  # VALUESET_INCLUDE_SYSTEM_ABSOLUTE / _FRAG
        detail = " (a reference to a contained CodeSystem is not a code system's URL)" if system.startswith("#") else ""
        yield issue("error", "invalid", f"the system {system!r} must be an absolute URI{detail}", where, name)
    if system.startswith("#"):
        yield from _contained_system(vs, where, system, version if isinstance(version, str) else None)
        return
    yield from _content_checks(ctx, where, system, version if isinstance(version, str) else None)


def _contained_system(vs: Item, where: Item, system: str, version: str | None) -> Iterator[Issue]:
    name, found = "valueset-include-system", 0
    for res in vs.value.get("contained") or []:
        if not isinstance(res, dict) or f"#{res.get('id')}" != system:
            continue
        if res.get("resourceType") != "CodeSystem":  # VALUESET_INCLUDE_CS_NOT_CS
            message = f"{system} is a contained {res.get('resourceType')}, not a CodeSystem"
            yield issue("error", "invalid", message, where, name)
        elif version is None or version == res.get("version"):
            found += 1
    if found == 0:  # VALUESET_INCLUDE_CS_NOT_FOUND / _CSVER_NOT_FOUND
        shown = f" version {version}" if version else ""
        yield issue("error", "invalid", f"no contained CodeSystem {system}{shown}", where, name)
    elif found > 1:  # VALUESET_INCLUDE_CS_MULTI_FOUND
        yield issue("error", "invalid", f"more than one contained CodeSystem is {system}", where, name)


def _content_checks(ctx: Context, where: Item, system: str, version: str | None) -> Iterator[Issue]:
    name = "valueset-include-system"
    shown = system + (f" version {version}" if version else "")
    index = ctx.terminology.code_system(system)
    if index is None:
        if ctx.terminology.supplement_only(system):  # VALUESET_INCLUDE_CS_SUPPLEMENT
            message = f"{system} is a supplement: a value set includes the code system it supplements, not it"
            yield issue("error", "invalid", message, where, name)
            return
        vs = loaded_resource(ctx, system, "ValueSet")
        if vs is not None:  # VALUESET_INCLUDE_WRONG_VS / _HINT / _MANY
            systems = sorted(
                {
                    inc["system"]
                    for inc in (vs.get("compose") or {}).get("include") or []
                    if isinstance(inc, dict) and isinstance(inc.get("system"), str)
                }
            )
            hint = f" (it includes {', '.join(systems)})" if systems else ""
            message = f"{system} is a ValueSet, not a code system: import it with include.valueSet{hint}"
            yield issue("error", "invalid", message, where, name)
        return
    if version is not None and index.version != version:
        return
    content = index.content
    if content == "example":  # VALUESET_INCLUDE_CS_CONTENT
        message = f"the code system {shown} has content example: its codes may not all be listed"
        yield issue("warning", "invalid", message, where, name)
    elif content == "fragment":
        message = f"the code system {shown} has content fragment: codes not listed there are not checked"
        yield issue("information", "invalid", message, where, name)


# -- imports ---------------------------------------------------------------------------------


@rule("valueset-import", applies=_applies, reads=())
def valueset_import(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    name = "valueset-import"
    for inc in _components(item):
        imports = inc.value.get("valueSet")
        if not isinstance(imports, list):
            continue
        for i, url in enumerate(imports):
            if not isinstance(url, str) or not url:
                continue
            where = inc.child("valueSet", url, i, "canonical")
            if ctx.terminology.value_set(canonical_url(url)) is not None:
                continue
            other = ctx.scope.entry(canonical_url(url))
            if other is not None:  # VALUESET_REFERENCE_INVALID_TYPE
                message = f"the imported value set {url} is a {other[1].resource_type}, not a ValueSet"
                yield issue("warning", "business-rule", message, where, name)
            elif "?fhir_vs" in url or canonical_url(url).split("?")[0] in EXTERNAL_NAMES:
                message = f"the implicit value set {url} is not checked offline"
                yield issue("information", "informational", message, where, name)
            else:  # VALUESET_REFERENCE_UNKNOWN
                message = f"the imported value set {url} is not loaded, so what it contains cannot be told"
                yield issue("warning", "business-rule", message, where, name)
        if len(imports) > 1:  # VALUESET_IMPORT_UNION_INTERSECTION
            message = "several value sets in one include are intersected (only codes in all of them), not joined"
            yield issue("warning", "informational", message, inc, name)


# -- concepts --------------------------------------------------------------------------------


@rule("valueset-include-code", applies=_applies, reads=())
def include_code(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    for inc in _components(item):
        concepts = inc.value.get("concept")
        system = inc.value.get("system")
        if not isinstance(concepts, list) or not concepts or not isinstance(system, str) or "|" in system:
            continue
        if system.startswith("#"):
            continue
        yield from _concept_checks(ctx, inc, concepts, _Target(ctx, inc.value))


def _concept_checks(ctx: Context, inc: Item, concepts: list[Any], target: _Target) -> Iterator[Issue]:
    name = "valueset-include-code"
    displays = [isinstance(c, dict) and isinstance(c.get("display"), str) and c["display"] != "" for c in concepts]
    if any(displays) and not all(displays):  # VALUESET_CONCEPT_DISPLAY_PRESENCE_MIXED
        message = "some concepts give a display and some do not"
        yield issue("information", "business-rule", message, inc, name)
    if len(concepts) > TOO_MANY_CODES:  # VALUESET_INC_TOO_MANY_CODES
        message = f"{len(concepts)} concepts: too many to check one by one"
        yield issue("information", "business-rule", message, inc, name)
        return
    if target.index is None:
        if is_example_url(target.system) and target.unchecked is not None:  # VALUESET_EXAMPLE_SYSTEM_ERROR
            message = f"the system {target.system} is an example URL: no code system is there to take codes from"
            yield issue("error", "business-rule", message, inc, name)
        elif target.unchecked is not None:  # VALUESET_UNC_SYSTEM_WARNING, as far as can be told offline
            yield issue("information", "informational", target.unchecked, inc, name)
        return
    index = target.index
    for i, concept in enumerate(concepts):
        code = concept.get("code") if isinstance(concept, dict) else None
        if not isinstance(code, str):
            continue
        where = inc.child("concept", concept, i, "BackboneElement")
        found = index.get(code)
        if found is None:  # VALUESET_INCLUDE_INVALID_CONCEPT_CODE / _VER; a fragment: UNKNOWN_CODE_IN_FRAGMENT
            severity: Severity = "error" if index.complete else "warning"
            message = f"{code!r} is not a code of {_shown(target)}"
            if not index.complete:
                message += " (the code system is a fragment: the code may be in another fragment)"
            yield issue(severity, "code-invalid", message, where, name)
            continue
        display = concept.get("display")
        if isinstance(display, str) and index.display_matches(code, display) is False:  # VALUESET_CODE_CONCEPT_HINT
            expected = f" (the code system says {found.display!r})" if found.display else ""
            message = f"the display {display!r} of {code!r} is not one {target.system} gives{expected}"
            yield issue("information", "business-rule", message, where, name)


# -- filters ---------------------------------------------------------------------------------


@rule("valueset-filter", applies=_applies, reads=())
def include_filter(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    for inc in _components(item):
        filters = inc.value.get("filter")
        if not isinstance(filters, list) or not filters:
            continue
        target = _Target(ctx, inc.value)
        if target.resource is None or (target.index is None and target.unchecked and "version" in target.unchecked):
            continue  # no code system to judge the filters by (VALUESET_UNKNOWN_FILTER_PROPERTY_NO_CS: not here)
        for i, flt in enumerate(filters):
            if isinstance(flt, dict) and isinstance(flt.get("property"), str):
                yield from _filter_checks(ctx, inc.child("filter", flt, i, "BackboneElement"), target)


def _known_names(cs: dict[str, Any]) -> list[str]:
    """CodeSystemBasedChecker.listPropertyNames."""
    names = list(_GENERAL_NAMES)
    if cs.get("hierarchyMeaning"):
        names += ["parent", "child", "partOf"]
    for key in ("filter", "property"):
        for entry in cs.get(key) or []:
            code = entry.get("code") if isinstance(entry, dict) else None
            if isinstance(code, str) and code not in names:
                names.append(code)
    return names


def _rules_for(ctx: Context, cs: dict[str, Any], prop: str) -> tuple[str, str | None, set[str]] | None:
    """CodeSystemBasedChecker.rulesForFilter: (value type, code validation, operators allowed) or None."""
    ops: set[str] = set()
    for flt in cs.get("filter") or []:
        if isinstance(flt, dict) and flt.get("code") == prop:
            ops.update(op for op in flt.get("operator") or [] if isinstance(op, str))
    for decl in cs.get("property") or []:
        if isinstance(decl, dict) and decl.get("code") == prop and isinstance(decl.get("type"), str):
            ptype = decl["type"]
            if ptype == "string":
                return None
            return ptype, ("warning" if ptype == "code" else None), ops
    if prop not in _BASE_RULES or _BASE_RULES[prop] is None:
        return None
    ptype, validation = _BASE_RULES[prop] or ("", None)
    if prop in ("concept", "code"):
        ops |= _HIERARCHY_OPS_R4 if ctx.release == "R4" else _HIERARCHY_OPS_R5
        if prop == "code":
            ops.add("regex")
    return ptype, validation, ops


def _filter_checks(ctx: Context, here: Item, target: _Target) -> Iterator[Issue]:
    name, flt = "valueset-filter", here.value
    prop, op, value = flt["property"], flt.get("op"), flt.get("value")
    assert target.resource is not None
    known = _known_names(target.resource)
    if prop not in known:  # VALUESET_UNKNOWN_FILTER_PROPERTY
        message = f"{target.system} defines no property or filter {prop!r} (known: {', '.join(known)})"
        yield issue("warning", "invalid", message, at(here, "property"), name)
        return
    rules = _rules_for(ctx, target.resource, prop)
    if rules is None:
        return
    ptype, validation, ops = rules
    if ops and isinstance(op, str) and op not in ops:  # VALUESET_BAD_FILTER_OP
        allowed = ", ".join(sorted(ops))
        message = (
            f"the operator {op!r} is not defined for the property {prop!r} of {target.system} (allowed: {allowed})"
        )
        yield issue("error", "invalid", message, at(here, "op"), name)
    if not isinstance(value, str):
        return
    where = at(here, "value")
    if op == "exists":
        yield from _check_value(target, where, prop, op, value, "boolean", None)
    elif op == "regex":
        try:
            re.compile(value)
        except re.error as exc:  # VALUESET_BAD_FILTER_VALUE_VALID_REGEX
            yield issue(
                "error", "invalid", f"the value {value!r} of {prop!r} is not a regular expression: {exc}", where, name
            )
        if prop == "concept":  # VALUESET_BAD_PROPERTY_NO_REGEX
            yield issue(
                "error", "invalid", "the regex operator cannot be used with the property 'concept'", where, name
            )
    elif op in ("in", "not-in"):
        for part in value.split(","):
            yield from _check_value(target, where, prop, op, part, ptype, validation)
    else:
        yield from _check_value(target, where, prop, op, value, ptype, validation)


def _check_value(
    target: _Target, where: Item, prop: str, op: Any, value: str, ptype: str, validation: str | None
) -> Iterator[Issue]:
    """checkFilterValue."""
    name = "valueset-filter"
    if op not in ("in", "not-in") and "," in value:  # VALUESET_BAD_FILTER_VALUE_HAS_COMMA
        message = f"the value has a comma, but the operator {op!r} takes a single {ptype}"
        yield issue("information", "invalid", message, where, name)
    bare = value[2:] if value.startswith(_COMPARATORS) else value
    bad: str | None = None
    if ptype == "boolean" and value not in ("true", "false"):  # VALUESET_BAD_FILTER_VALUE_BOOLEAN
        bad = "true or false"
    elif ptype == "dateTime" and not _DATETIME.fullmatch(bare):  # VALUESET_BAD_FILTER_VALUE_DATETIME
        bad = "a dateTime"
    elif ptype == "decimal" and not _is_decimal(bare):  # VALUESET_BAD_FILTER_VALUE_DECIMAL
        bad = "a decimal"
    elif ptype == "integer" and not re.fullmatch(r"[+-]?[0-9]+", bare):  # VALUESET_BAD_FILTER_VALUE_INTEGER
        bad = "an integer"
    elif ptype == "code" and value.strip() != value:  # VALUESET_BAD_FILTER_VALUE_CODE
        bad = "a code (no leading or trailing spaces)"
    if bad is not None:
        yield issue("error", "invalid", f"the value {value!r} of the filter on {prop!r} must be {bad}", where, name)
        return
    if ptype == "code" and validation is not None and target.index is not None and target.index.complete:
        concept = target.index.get(value)
        if concept is None:  # VALUESET_BAD_FILTER_VALUE_VALID_CODE
            severity: Severity = "error" if validation == "error" else "warning"
            message = f"the value {value!r} of the filter on {prop!r} is not a code of {_shown(target)}"
            yield issue(severity, "invalid", message, where, name)
        elif concept.inactive:  # VALUESET_BAD_FILTER_VALUE_VALID_CODE_INACTIVE
            message = f"the value {value!r} of the filter on {prop!r} is an inactive code of {target.system}"
            yield issue("warning", "invalid", message, where, name)


def _is_decimal(text: str) -> bool:
    if not re.fullmatch(r"[+-]?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", text):
        return False
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True
