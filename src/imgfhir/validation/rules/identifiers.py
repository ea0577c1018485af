"""uri, url, canonical, oid and uuid values, and Identifier: the per-type checks the reference makes
beyond each type's regex (InstanceValidator.checkPrimitive, its uri branch; checkIdentifier;
validateReference for canonicals).

The rule ids are ours (`uri-value`, `canonical-resolve`, `identifier`); the message keys the reference's
(Messages.properties), named in each docstring. Severities are the reference's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.plan import loaded_entry
from imgfhir.validation.rules.primitives import PATTERNS

_URI_TYPES = frozenset({"uri", "url", "canonical", "oid", "uuid"})
_NONE: tuple[Issue, ...] = ()
# OIDUtilities.OID_REGEX and UUIDUtilities (lowercase hex only)
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_\[\]]*")  # Utilities.isToken
_ISO_URNS = ("urn:iso:", "urn:iso-iec:", "urn:iso-cie:", "urn:iso-astm:", "urn:iso-ieee:", "urn:iec:")
# the canonical resource types whose `url` defines a canonical (VersionUtilities.getCanonicalResourceNames)
_CANONICAL_RESOURCES = frozenset(
    {
        "ActivityDefinition", "ActorDefinition", "CapabilityStatement", "ChargeItemDefinition", "Citation",
        "CodeSystem", "CompartmentDefinition", "ConceptMap", "ConditionDefinition", "EffectEvidenceSynthesis",
        "EventDefinition", "Evidence", "EvidenceReport", "EvidenceVariable", "ExampleScenario",
        "GraphDefinition", "ImplementationGuide", "Library", "Measure", "MessageDefinition", "NamingSystem",
        "ObservationDefinition", "OperationDefinition", "PlanDefinition", "Questionnaire", "Requirements",
        "ResearchDefinition", "ResearchElementDefinition", "RiskEvidenceSynthesis", "SearchParameter",
        "SpecimenDefinition", "StructureDefinition", "StructureMap", "SubscriptionTopic", "TerminologyCapabilities",
        "TestPlan", "TestScript", "ValueSet", "CanonicalResource", "MetadataResource",
    }
)  # fmt: skip


def is_absolute_url(url: str) -> bool:
    """Utilities.isAbsoluteUrl: a scheme (http, https, urn, or a lowercase token) and something after
    it without a space."""
    scheme, colon, details = url.partition(":")
    if not colon:
        return False
    known = scheme in ("http", "https", "urn") or (_TOKEN.fullmatch(scheme) is not None and scheme == scheme.lower())
    return (known or url.startswith(_ISO_URNS)) and details != "" and " " not in details


def is_absolute(uri: str) -> bool:
    """InstanceValidator.isAbsolute: a token before the first colon (`file:` needs a path after it)."""
    protocol, colon, tail = uri.partition(":")
    if not colon or _TOKEN.fullmatch(protocol) is None:
        return False
    return protocol != "file" or tail.startswith("/") or ":" in tail


def _uri_element(element: ElementPlan) -> bool:
    return not _URI_TYPES.isdisjoint(element.type_codes)


def _defines_canonical(element: ElementPlan) -> bool:
    """InstanceValidator.isCanonicalURLElement: `X.url` of a canonical resource (by the base path)."""
    found: bool | None = element.memo.get("defines-canonical")
    if found is None:
        base = element.ed.get("base")
        path = base.get("path") if isinstance(base, dict) else element.path
        parts = str(path).split(".")
        found = len(parts) == 2 and parts[1] == "url" and parts[0] in _CANONICAL_RESOURCES
        element.memo["defines-canonical"] = found
    return found


@rule("uri-value", applies=_uri_element, reads=("type", "base"))
def uri_value(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """InstanceValidator.checkPrimitive, uri-like types: no `oid:` / `uuid:` without urn
    (TYPE_SPECIFIC_CHECKS_DT_URI_OID, _URI_UUID), an oid starts `urn:oid:` and a uuid `urn:uuid:`
    (_OID_START, _UUID_STRAT), a `urn:uuid:` names a lowercase UUID (_UUID_VALID), a `urn:oid:` a valid
    OID with a root of 4 characters or more, or 1.3 (_OID_VALID), a canonical is absolute or `#id`
    (TYPE_SPECIFIC_CHECKS_CANONICAL_ABSOLUTE), and a canonical resource's own url is absolute
    (_CANONICAL_ABSOLUTE, or _CANONICAL_CONTAINED in a contained resource). All errors."""
    value, t = item.value, item.type
    if type(value) is not str or t not in _URI_TYPES:
        return iter(_NONE)
    if value.startswith(("http:", "https:")) and t != "oid" and t != "uuid":
        return iter(_NONE)  # the common case: nothing below can fire
    return _uri_issues(ctx, element, item, value, t)


def _uri_issues(ctx: Context, element: ElementPlan, item: Item, value: str, t: str) -> Iterator[Issue]:
    if value.strip() == "":
        return  # blank: the primitive rule's (the reference checks nothing else then)
    if value.startswith("oid:"):
        yield _error(item, f"{value!r}: an OID is written urn:oid:..., not oid:...")
    if value.startswith("uuid:"):
        yield _error(item, f"{value!r}: a UUID is written urn:uuid:..., not uuid:...")
    if t == "oid" and not value.startswith("urn:oid:"):
        yield _error(item, f"{value!r}: an oid must start with urn:oid:")
    if t == "uuid" and not value.startswith("urn:uuid:"):
        yield _error(item, f"{value!r}: a uuid must start with urn:uuid:")
    if t == "canonical" and not value.startswith("#") and not is_absolute_url(value):
        yield _error(item, f"canonical {value!r} must be an absolute URL (or #id for a contained resource)")
    if value.startswith("urn:uuid:"):
        body = value.split("#", 1)[0]
        if t == "canonical" and "|" in body:
            body = body[: body.rindex("|")]
        if _UUID.fullmatch(body[9:]) is None:
            yield _error(item, f"{body[9:]!r} is not a valid UUID (lowercase hex digits, 8-4-4-4-12)")
    if value.startswith("urn:oid:"):
        oid = value[8:]
        if _OID.fullmatch(oid) is None or (oid.rfind(".") < 4 and not oid.startswith("1.3")):
            yield _error(item, f"{oid!r} is not a valid OID (or its root is too short to be a namespace)")
    uuid_said = _UUID.fullmatch(value[9:].split("#", 1)[0]) is None  # a bad UUID is reported above
    if t == "uuid" and value.startswith("urn:uuid:") and not uuid_said and not PATTERNS[t].match(value):
        yield _error(item, f"{value!r} is not a valid uuid (no fragment after the UUID)")
    if _defines_canonical(element) and not is_absolute_url(value):
        where = " in a contained resource" if _contained(ctx) else ""
        yield _error(item, f"the canonical URL {value!r} of a resource{where} must be an absolute URL")


def _contained(ctx: Context) -> bool:
    pointer = ctx.resource_item.pointer
    return len(pointer) >= 2 and pointer[-2] == "contained"


def _error(item: Item, message: str) -> Issue:
    return issue("error", "invalid", message, item, "uri-value")


# -- canonical resolution ----------------------------------------------------------------------------

# resolve without a package: FHIRPath system types (isDefinitionURL), cross-version extensions
# (isXverUrl), telecom schemes (isCommunicationsUrl)
_XVER = re.compile(r"http://hl7\.org/fhir/[0-9]\.[0-9]/StructureDefinition/extension-")


def _is_canonical(element: ElementPlan) -> bool:
    if "canonical" not in element.type_codes or _defines_canonical(element):
        return False
    base = element.ed.get("base")
    return not (isinstance(base, dict) and base.get("path") == "Bundle.entry.fullUrl")


@rule("canonical-resolve", applies=_is_canonical, reads=("type", "base"))
def canonical_resolve(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """InstanceValidator.validateReference for a canonical: resolved against the loaded packages (the
    reference's context; its fetcher would also try the package registry). A `#id` that names no
    contained resource is a warning, any other unresolved canonical a hint
    (TYPE_SPECIFIC_CHECKS_DT_CANONICAL_RESOLVE: the command line's reference policy is IGNORE, so a
    canonical in a known space is not an error either, and a resolved one's type is not checked)."""
    value = item.value
    if item.type != "canonical" or type(value) is not str or value.strip() == "":
        return iter(_NONE)
    if value.startswith("#"):
        if _contains(ctx, value[1:]):
            return iter(_NONE)
        message = f"canonical {value} names no contained resource"
        return iter((issue("warning", "invalid", message, item, "canonical-resolve"),))
    known: dict[str, bool] = ctx.scope.memo.setdefault("canonical-resolves", {})
    found = known.get(value)
    if found is None:
        found = known[value] = _resolves(ctx, value)
    if found:
        return iter(_NONE)
    message = f"canonical {value} cannot be resolved in the loaded packages"
    return iter((issue("information", "invalid", message, item, "canonical-resolve"),))


def _resolves(ctx: Context, url: str) -> bool:
    if url.startswith(("http://hl7.org/fhirpath/System.", "tel:", "mailto:")) or _XVER.match(url):
        return True
    return loaded_entry(ctx.scope, url.split("#", 1)[0]) is not None


def _contains(ctx: Context, fragment: str) -> bool:
    """Does the resource (or the one containing it) hold a contained resource or element with this id?"""
    holders: list[Any] = [ctx.resource, ctx.root]
    for holder in holders:
        contained = holder.get("contained") if isinstance(holder, dict) else None
        for res in contained if isinstance(contained, list) else ():
            if isinstance(res, dict) and res.get("id") == fragment:
                return True
    return fragment == "" or ctx.resource.get("id") == fragment


# -- Identifier --------------------------------------------------------------------------------------


def _is_identifier(element: ElementPlan) -> bool:
    return "Identifier" in element.type_codes


@rule("identifier", applies=_is_identifier, reads=("type",))
def identifier(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """InstanceValidator.checkIdentifier: a system starts http:, https:, urn: or ldap:
    (TYPE_SPECIFIC_CHECKS_DT_IDENTIFIER_SYSTEM); with system urn:ietf:rfc:3986 the value is an absolute
    URI (_IDENTIFIER_IETF_SYSTEM_VALUE); with system https://tools.ietf.org/html/rfc4122 the value is a
    bare UUID (_IETF_SYSTEM_WRONG_1, an error; _WRONG_2 and _WRONG_3 warnings). Reported at the
    Identifier."""
    value = item.value
    if item.type not in (None, "Identifier") or type(value) is not dict:
        return iter(_NONE)
    system = value.get("system")
    if type(system) is not str or (system.startswith(("http:", "https:")) and system != _RFC4122):
        return iter(_NONE)
    return _identifier_issues(item, system, value.get("value"))


_RFC4122 = "https://tools.ietf.org/html/rfc4122"


def _identifier_issues(item: Item, system: str, value: Any) -> Iterator[Issue]:
    if not system.startswith(("http:", "https:", "urn:", "ldap:")):
        message = f"Identifier.system {system!r} must be an absolute reference (http:, https:, urn: or ldap:)"
        yield issue("error", "code-invalid", message, item, "identifier")
    if type(value) is not str:
        return
    if system == "urn:ietf:rfc:3986" and not is_absolute(value):
        message = f"with system urn:ietf:rfc:3986 the value must be an absolute URI, found {value!r}"
        yield issue("error", "code-invalid", message, item, "identifier")
    if system == _RFC4122:
        if value.startswith("urn:uuid:"):
            message = f"with system {_RFC4122} the value is the bare UUID, without urn:uuid: ({value!r})"
            yield issue("warning", "code-invalid", message, item, "identifier")
        elif _UUID.fullmatch(value):
            message = f"a UUID such as {value!r} is better given as system urn:ietf:rfc:3986, value urn:uuid:..."
            yield issue("warning", "code-invalid", message, item, "identifier")
        else:
            message = f"with system {_RFC4122} the value must be a UUID, found {value!r}"
            yield issue("error", "code-invalid", message, item, "identifier")
