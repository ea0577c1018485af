"""Checks on a CodeSystem resource itself, beyond its definition: what the reference validator's
CodeSystemValidator (org.hl7.fhir.validation instance/type/CodeSystemValidator.java) reports.

Rules (one per concern; the reference's message key is named in each message's comment):

- codesystem-content: `content` against `supplements` and the concepts present (metaChecks)
- codesystem-metadata: caseSensitive / hierarchyMeaning left out (metaChecks)
- codesystem-count: `count` against the concepts present (metaChecks)
- codesystem-duplicate-code: a code defined twice (checkConcept)
- codesystem-concept-text: an HL7 code system's concept without display or definition (checkConcept)
- codesystem-supplement: a supplement against the code system it supplements
- codesystem-valueset: CodeSystem.valueSet against the value set it names
- codesystem-property: property declarations (checkPropertyDefinition)
- codesystem-concept-property: concept property values (checkPropertyValue / checkCodeProperty)
- codesystem-designation: designations that contradict the display (checkDesignation)

Offline, a supplemented code system or value set that no loaded package has is reported as the
reference does when its terminology server does not know it either (a warning), and never as
valid; SNOMED CT, LOINC and the other external terminologies are "not checked" (information).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from imgfhir.outcome import Issue, Severity
from imgfhir.terminology.codesystems import EXTERNAL_NAMES
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.rules.terminology_common import (
    at,
    canonical_url,
    is_hl7,
    is_resource_root,
    loaded_code_system,
    value_type,
)

CONCEPT_PROPERTIES = "http://hl7.org/fhir/concept-properties#"
# CodeSystemValidator.KnownProperty: code → type
KNOWN_PROPERTIES: dict[str, str] = {
    "status": "code",
    "inactive": "boolean",
    "effectiveDate": "dateTime",
    "deprecationDate": "dateTime",
    "retirementDate": "dateTime",
    "notSelectable": "boolean",
    "parent": "code",
    "child": "code",
    "partOf": "code",
    "synonym": "code",
    "comment": "string",
    "itemWeight": "decimal",
}
# properties whose code values name concepts of this code system (CodeValidationRule.INTERNAL_CODE)
_INTERNAL = frozenset({"parent", "child", "partOf", "synonym"})
_PROPERTY_VALUESET = (
    "http://hl7.org/fhir/StructureDefinition/codesystem-property-valueset",
    "http://hl7.org/fhir/6.0/StructureDefinition/extension-CodeSystem.property.valueSet",
)


def _applies(element: ElementPlan) -> bool:
    return is_resource_root(element, "CodeSystem")


def _code_system(item: Item) -> dict[str, Any] | None:
    value = item.value
    return value if isinstance(value, dict) and value.get("resourceType") == "CodeSystem" else None


def _concepts(value: Any) -> list[dict[str, Any]]:
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []


def walk_concepts(item: Item) -> Iterator[Item]:
    """Every concept of a CodeSystem (nested ones too), as items, in document order."""
    return _nested(item)


def _nested(item: Item) -> Iterator[Item]:
    raw = item.value.get("concept")
    if isinstance(raw, list):
        for i, c in enumerate(raw):
            if isinstance(c, dict):
                child = item.child("concept", c, i, "BackboneElement")
                yield child
                yield from _nested(child)


def count_concepts(resource: dict[str, Any]) -> int:
    count, stack = 0, list(_concepts(resource.get("concept")))
    while stack:
        concept = stack.pop()
        count += 1
        stack.extend(_concepts(concept.get("concept")))
    return count


def _flag(severity: Severity, message: str, where: Item, name: str, code: str = "business-rule") -> Issue:
    return issue(severity, code, message, where, name)


# -- content, metadata, count ------------------------------------------------------------------


@rule("codesystem-content", applies=_applies, reads=())
def content_rule(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    cs = _code_system(item)
    if cs is None:
        return
    content, supp = cs.get("content"), cs.get("supplements")
    name = "codesystem-content"
    if isinstance(supp, str) and supp:
        if content != "supplement":  # CODESYSTEM_CS_HL7_PRESENT_ELEMENT_SUPPL_WRONG
            message = "a CodeSystem that supplements another must have content = supplement"
            yield _flag("error", message, at(item, "content"), name)
        if "caseSensitive" in cs:  # CODESYSTEM_CS_HL7_PRESENT_ELEMENT_SUPPL
            message = "a supplement must not state caseSensitive: that is the supplemented code system's to say"
            yield _flag("error", message, at(item, "caseSensitive"), name)
    elif content == "supplement":
        # CODESYSTEM_CS_HL7_PRESENT_ELEMENT_SUPPL_MISSING (metaChecks) and CODESYSTEM_CS_SUPP_NO_SUPP
        message = "content = supplement, but the CodeSystem does not say what it supplements (supplements)"
        yield _flag("error", message, at(item, "content"), name)
    concepts = _concepts(cs.get("concept"))
    if content == "not-present" and concepts:  # CODESYSTEM_CS_COUNT_NO_CONTENT_ALLOWED
        message = "content = not-present, so the CodeSystem must not list concepts"
        yield _flag("error", message, item.child("concept", concepts[0], 0, None), name, "invalid")
    if content == "complete" and not concepts:  # CODESYSTEM_CS_COMPLETE_AND_EMPTY
        message = "content = complete, but the CodeSystem has no concepts"
        yield _flag("warning", message, item, name)


@rule("codesystem-metadata", applies=_applies, reads=())
def metadata_rule(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """metaChecks: caseSensitive always, hierarchyMeaning when concepts nest (warning for HL7 code
    systems, whose url contains hl7.org or fhir.org; information for others)."""
    cs = _code_system(item)
    if cs is None or cs.get("supplements") or cs.get("content") == "supplement":
        return
    url = cs.get("url")
    hl7 = isinstance(url, str) and ("hl7.org" in url or "fhir.org" in url)
    severity: Severity = "warning" if hl7 else "information"
    wanted = ["caseSensitive"]
    if any(_concepts(c.get("concept")) for c in _concepts(cs.get("concept"))):
        wanted.append("hierarchyMeaning")
    for key in wanted:
        if not isinstance(cs.get(key), bool | str):  # CODESYSTEM_CS_HL7_MISSING_ELEMENT_SHOULD / _NONHL7_
            message = f"the CodeSystem should say {key}"
            yield _flag(severity, message, item, "codesystem-metadata")


@rule("codesystem-count", applies=_applies, reads=())
def count_rule(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    cs = _code_system(item)
    stated = cs.get("count") if cs is not None else None
    if cs is None or not isinstance(stated, int) or isinstance(stated, bool) or stated < 0:
        return
    content, present, where = cs.get("content"), count_concepts(cs), at(item, "count")
    name = "codesystem-count"
    if content == "complete" and present != stated:  # CODESYSTEM_CS_COUNT_COMPLETE_WRONG
        message = f"the CodeSystem has {present} concepts, but its count says {stated} (content complete)"
        yield _flag("error", message, where, name, "invalid")
    elif content in ("example", "fragment") and not present < stated:  # CODESYSTEM_CS_COUNT_FRAGMENT_WRONG
        message = (
            f"the CodeSystem has {present} concepts and its count says {stated}: count is the size of the whole "
            f"code system, so content {content} should list fewer concepts than that"
        )
        yield _flag("warning", message, where, name, "invalid")
    elif content == "not-present" and stated == 0 and cs.get("concept"):  # CODESYSTEM_CS_COUNT_NOTPRESENT_ZERO
        message = "count = 0 with content not-present says the code system has no concepts at all"
        yield _flag("information", message, at(item, "concept", 0), name, "invalid")
    elif content == "supplement" and isinstance(cs.get("supplements"), str):
        base = loaded_code_system(ctx, cs["supplements"])
        if base is not None:  # CODESYSTEM_CS_COUNT_SUPPLEMENT_WRONG: compares with the base's count (0 if none)
            base_count = base.get("count") if isinstance(base.get("count"), int) else 0
            if present != base_count:
                message = (
                    f"the supplemented code system's count is {base_count}, but this supplement's count says {stated}"
                )
                yield _flag("error", message, where, name, "invalid")


@rule("codesystem-duplicate-code", applies=_applies, reads=())
def duplicate_code(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """CODESYSTEM_DUPLICATE_CODE: codes compare exactly, whatever caseSensitive says (checkConcept)."""
    if _code_system(item) is None:
        return
    seen: set[str] = set()
    for concept in walk_concepts(item):
        code = concept.value.get("code")
        if not isinstance(code, str):
            continue
        if code in seen:
            message = f"the code {code!r} is defined more than once in this CodeSystem"
            yield _flag("error", message, concept, "codesystem-duplicate-code")
        seen.add(code)


@rule("codesystem-concept-text", applies=_applies, reads=())
def concept_text(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """CODESYSTEM_CONCEPT_NO_DISPLAY / CODESYSTEM_CONCEPT_NO_DEFINITION (checkConcept): in an HL7 code
    system (its url contains `hl7`, BaseValidator.isHL7) every concept should have a display and a
    definition; the reference says so once per code system, at the first concept without one."""
    cs = _code_system(item)
    if cs is None or not is_hl7(cs.get("url")):
        return
    missing = {"display": True, "definition": True}
    for concept in walk_concepts(item):
        for key, pending in missing.items():
            if pending and key not in concept.value:
                missing[key] = False
                message = (
                    f"the concept {concept.value.get('code')!r} has no {key} (HL7 code systems give every concept one)"
                )
                yield _flag("warning", message, concept, "codesystem-concept-text")
        if not any(missing.values()):
            return


# -- supplements and the CodeSystem's value set ----------------------------------------------------


@rule("codesystem-supplement", applies=_applies, reads=())
def supplement_rule(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    cs = _code_system(item)
    supp = cs.get("supplements") if cs is not None else None
    if cs is None or not isinstance(supp, str) or not supp:
        return
    name = "codesystem-supplement"
    base_url = canonical_url(supp)
    base = loaded_code_system(ctx, supp)
    concepts = _concepts(cs.get("concept"))
    if base is None:
        if not concepts:
            return
        if base_url in EXTERNAL_NAMES:
            message = f"the codes of this supplement of {EXTERNAL_NAMES[base_url]} are not checked offline"
            yield _flag("information", message, item, name, "informational")
        else:  # CODESYSTEM_CS_SUPP_CANT_CHECK
            message = f"the supplemented code system {supp} is not loaded, so the supplement's codes cannot be checked"
            yield _flag("warning", message, at(item, "supplements"), name)
        return
    hm = cs.get("hierarchyMeaning")
    if isinstance(hm, str) and isinstance(base.get("hierarchyMeaning"), str) and hm != base["hierarchyMeaning"]:
        message = f"hierarchyMeaning {hm!r} differs from the supplemented code system's ({base['hierarchyMeaning']!r})"
        yield _flag("error", message, at(item, "hierarchyMeaning"), name)  # CODESYSTEM_CS_SUPP_HIERARCHY_MEANING
    index = ctx.terminology.code_system(base_url)
    if index is None or not index.complete:
        return
    for i, raw in enumerate(cs.get("concept") or []):
        code = raw.get("code") if isinstance(raw, dict) else None
        if isinstance(code, str) and code and index.get(code) is None:  # CODESYSTEM_CS_SUPP_INVALID_CODE
            message = f"the supplement defines {code!r}, which is not a code of {supp}"
            yield _flag("error", message, item.child("concept", raw, i, None), name)


@rule("codesystem-valueset", applies=_applies, reads=())
def valueset_rule(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    cs = _code_system(item)
    vsu = cs.get("valueSet") if cs is not None else None
    if cs is None or not isinstance(vsu, str) or not vsu:
        return
    name, where, content, url = "codesystem-valueset", at(item, "valueSet"), cs.get("content"), cs.get("url")
    if content == "supplement":
        base = loaded_code_system(ctx, cs.get("supplements") or "")
        if base is not None and not base.get("valueSet"):  # CODESYSTEM_CS_NO_VS_SUPPLEMENT1
            message = "a supplement should not name a value set: the supplemented code system names none"
            yield _flag("warning", message, where, name)
        elif base is None:  # CODESYSTEM_CS_NO_VS_NOTCOMPLETE (a warning for supplements)
            yield _flag("warning", "only a complete code system should name its all-codes value set", where, name)
    elif content != "complete":  # CODESYSTEM_CS_NO_VS_NOTCOMPLETE
        yield _flag("information", "only a complete code system should name its all-codes value set", where, name)
    vs = ctx.terminology.value_set(canonical_url(vsu))
    if vs is None:
        return
    compose = vs.get("compose")
    includes = compose.get("include") if isinstance(compose, dict) else None
    if not isinstance(includes, list) or len(includes) != 1 or not isinstance(includes[0], dict):
        # CODESYSTEM_CS_VS_INVALID
        message = f"the value set {vsu} must include exactly this whole code system ({url}), and nothing else"
        yield _flag("error", message, where, name)
        return
    inc = includes[0]
    if inc.get("system") != url:  # CODESYSTEM_CS_VS_WRONGSYSTEM
        message = f"the value set {vsu} includes {inc.get('system')}, not this code system ({url})"
        yield _flag("error", message, where, name)
    elif any(key in inc for key in ("valueSet", "concept", "filter")):  # CODESYSTEM_CS_VS_INCLUDEDETAILS
        message = f"the value set {vsu} must include all of {url}: no concepts, filters or value sets"
        yield _flag("error", message, where, name)
    elif isinstance(vs.get("expansion"), dict):  # CODESYSTEM_CS_VS_EXP_MISMATCH
        contains = vs["expansion"].get("contains")
        size, count = len(contains) if isinstance(contains, list) else 0, count_concepts(cs)
        if size != count:
            message = f"the expansion of {vsu} has {size} codes, but the code system has {count}"
            yield _flag("error", message, where, name)


# -- properties ------------------------------------------------------------------------------


def _is_base_spec(url: Any) -> bool:
    return isinstance(url, str) and url.startswith("http://hl7.org/fhir/") and "/" not in url[20:]


@rule("codesystem-property", applies=_applies, reads=())
def property_rule(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """checkPropertyDefinition: uris and codes unique, the concept-properties uris used as defined."""
    cs = _code_system(item)
    props = cs.get("property") if cs is not None else None
    if cs is None or not isinstance(props, list):
        return
    seen: set[str] = set()  # the reference keeps uris and codes in one map
    name = "codesystem-property"
    for i, prop in enumerate(props):
        if not isinstance(prop, dict):
            continue
        here = item.child("property", prop, i, None)
        yield from _property_definition(cs, prop, here, seen, name)


def _property_definition(
    cs: dict[str, Any], prop: dict[str, Any], here: Item, seen: set[str], name: str
) -> Iterator[Issue]:
    uri, code, ptype = prop.get("uri"), prop.get("code"), prop.get("type")
    uri_known: str | None = None
    if isinstance(uri, str):
        if ":" not in uri or " " in uri:  # CODESYSTEM_PROPERTY_ABSOLUTE_URI
            yield _flag("error", f"the property uri {uri!r} must be an absolute URI", here, name)
        elif uri in seen:  # CODESYSTEM_PROPERTY_DUPLICATE_URI
            yield _flag("error", f"the property uri {uri} is declared more than once", here, name)
        else:
            seen.add(uri)
        if "://hl7.org/fhir" in uri:
            known = uri[len(CONCEPT_PROPERTIES) :] if uri.startswith(CONCEPT_PROPERTIES) else None
            if known in KNOWN_PROPERTIES:
                uri_known = known
            elif not (_is_base_spec(cs.get("url")) or uri.startswith(str(cs.get("url")))):
                # CODESYSTEM_PROPERTY_BAD_HL7_URI
                message = f"the property uri {uri} is in HL7's space, but is not one HL7 defines"
                yield _flag("error", message, here, name)
    code_known = code if isinstance(code, str) and code in KNOWN_PROPERTIES else None
    if isinstance(code, str):
        if code in seen:  # CODESYSTEM_PROPERTY_DUPLICATE_CODE
            yield _flag("error", f"the property code {code!r} is declared more than once", here, name)
        seen.add(code)
    if uri_known is not None:
        if code_known is not None and code_known != uri_known:  # CODESYSTEM_PROPERTY_URI_CODE_MISMATCH
            message = f"the property uri {uri} is the {uri_known!r} property, but its code is {code!r}"
            yield _flag("error", message, here, name)
        if isinstance(ptype, str) and ptype != KNOWN_PROPERTIES[uri_known]:  # CODESYSTEM_PROPERTY_URI_TYPE_MISMATCH
            message = f"the property {uri} has type {KNOWN_PROPERTIES[uri_known]}, not {ptype}"
            yield _flag("error", message, here, name)
    if uri is None and isinstance(code, str):
        if code_known is None:  # CODESYSTEM_PROPERTY_UNKNOWN_CODE
            message = f"the property {code!r} has no uri: its meaning is known only to this code system"
            yield _flag("information", message, here, name)
        else:  # CODESYSTEM_PROPERTY_KNOWN_CODE_SUGGESTIVE / CODESYSTEM_PROPERTY_CODE_TYPE_MISMATCH
            message = f"the property {code!r} has no uri: if it is the standard one, say {CONCEPT_PROPERTIES}{code}"
            yield _flag("warning", message, here, name)
            if isinstance(ptype, str) and ptype != KNOWN_PROPERTIES[code]:
                message = f"the standard property {code!r} has type {KNOWN_PROPERTIES[code]}, not {ptype}"
                yield _flag("warning", message, here, name)


def _declared(cs: dict[str, Any]) -> dict[str, tuple[str | None, Severity | None]]:
    """uri and code → (type, how its code values are checked as codes of this code system): error for
    parent, child, partOf and synonym by their concept-properties uri (INTERNAL_CODE), nothing for the
    other concept-properties uris (status: a value set the reference does not have, VS_PROP_STATUS) and
    for a property bound to a value set (VS_ERROR: not checked here), else warning (INTERNAL_CODE_WARNING)."""
    out: dict[str, tuple[str | None, Severity | None]] = {}
    for prop in cs.get("property") or []:
        if not isinstance(prop, dict):
            continue
        uri, code, ptype = prop.get("uri"), prop.get("code"), prop.get("type")
        ptype = ptype if isinstance(ptype, str) else None
        known = uri[len(CONCEPT_PROPERTIES) :] if isinstance(uri, str) and uri.startswith(CONCEPT_PROPERTIES) else None
        check: Severity | None = "warning"
        if known in KNOWN_PROPERTIES:
            check = "error" if known in _INTERNAL else None
        elif any(isinstance(e, dict) and e.get("url") in _PROPERTY_VALUESET for e in prop.get("extension") or []):
            check = None
        for key in (uri, code):
            if isinstance(key, str) and key not in out:
                out[key] = (ptype, check)
    return out


@rule("codesystem-concept-property", applies=_applies, reads=())
def concept_property_rule(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    cs = _code_system(item)
    if cs is None or not cs.get("concept"):
        return
    declared = _declared(cs)
    concepts = list(walk_concepts(item))
    codes = {c.value["code"] for c in concepts if isinstance(c.value.get("code"), str)}
    supp = cs.get("supplements") if isinstance(cs.get("supplements"), str) else None
    base = ctx.terminology.code_system(canonical_url(supp)) if supp else None
    checked: set[str] = set()  # isSeenPropertyCode: each code value is checked once
    for concept in concepts:
        for i, prop in enumerate(concept.value.get("property") or []):
            if isinstance(prop, dict) and isinstance(prop.get("code"), str):
                here = concept.child("property", prop, i, None)
                yield from _property_value(prop, here, declared, codes, checked, supp, base)


def _property_value(
    prop: dict[str, Any],
    here: Item,
    declared: dict[str, tuple[str | None, Severity | None]],
    codes: set[str],
    checked: set[str],
    supp: str | None,
    base: Any,
) -> Iterator[Issue]:
    name, code = "codesystem-concept-property", prop["code"]
    found = value_type(prop)
    defn = declared.get(code)
    if defn is None:  # CODESYSTEM_PROPERTY_UNDEFINED
        yield _flag("warning", f"the property {code!r} is not declared in CodeSystem.property", here, name)
    elif found is not None and defn[0] is not None and found[0] != defn[0]:  # CODESYSTEM_PROPERTY_WRONG_TYPE
        message = f"the property {code!r} is declared with type {defn[0]}, but this value is a {found[0]}"
        yield _flag("error", message, here, name)
    elif found is not None and found[0] == "code" and isinstance(found[1], str) and found[1] not in checked:
        check = defn[1]
        if check is not None:
            value = found[1]
            checked.add(value)
            known: bool | None = value in codes
            if supp is not None:  # a supplement's code values are codes of the supplemented code system
                known = None if base is None or not base.complete else base.get(value) is not None
            if known is False:  # CODESYSTEM_PROPERTY_BAD_INTERNAL_REFERENCE (always an error in a supplement)
                severity: Severity = "error" if supp is not None else check
                message = f"the property {code!r} names the code {value!r}, which this code system does not define"
                yield _flag(severity, message, here, name, "invalid")
    if code == "synonym" and found is not None and found[1] not in codes:  # CODESYSTEM_PROPERTY_SYNONYM_CHECK
        yield _flag("warning", f"the synonym {found[1]!r} is not a code of this code system", here, name)


@rule("codesystem-designation", applies=_applies, reads=())
def designation_rule(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """checkDesignation: a designation with no use (nor additionalUse) in the code system's own
    language (or with no language on either) stands for the display, so it should equal it."""
    cs = _code_system(item)
    if cs is None:
        return
    rlang = cs.get("language") if isinstance(cs.get("language"), str) else None
    for concept in walk_concepts(item):
        display = concept.value.get("display")
        designations = concept.value.get("designation")
        if not isinstance(display, str) or not isinstance(designations, list):
            continue
        for i, des in enumerate(designations):
            if not isinstance(des, dict) or des.get("use") or des.get("additionalUse"):
                continue
            lang, value = des.get("language"), des.get("value")
            same_language = (rlang is None and lang is None) or (rlang is not None and lang in (None, rlang))
            if same_language and value != display:
                # CODESYSTEM_DESIGNATION_DISP_CLASH_NO_LANG / _LANG
                message = (
                    f"the designation {value!r} has no use, so it stands for the display, "
                    f"but the display is {display!r}" + (f" (language {rlang})" if rlang else "")
                )
                yield _flag("warning", message, concept.child("designation", des, i, None), "codesystem-designation")


@rule("codesystem-contained", applies=_applies, reads=())
def contained_rule(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """CODESYSTEM_NOT_CONTAINED: a contained CodeSystem is approved of only in a Questionnaire or a
    CodeSystem (a supplement's properties); elsewhere it is probably a mistake (information)."""
    pointer = item.pointer
    if _code_system(item) is None or len(pointer) < 2 or pointer[-2] != "contained":
        return
    if ctx.root.get("resourceType") in ("Questionnaire", "CodeSystem") and len(pointer) == 2:
        return
    message = "a CodeSystem contained in another resource cannot be used by anything else: is that intended?"
    yield _flag("information", message, item, "codesystem-contained")


__all__ = ["count_concepts", "walk_concepts"]
