"""CodeSystems as lookup tables: concepts, displays, properties and the is-a hierarchy.

A CodeSystem is compiled once per scope into a `CodeSystemIndex`. When several packages of a
scope carry a CodeSystem with the same URL (R4 core's old DICOM DCM next to the `fhir.dicom`
stand-in, R4 core's v3/v2 systems next to `hl7.terminology`), the most useful one is taken: full
content first, then the most concepts, then the newest version.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from imgfhir.packages import Package, ResourceEntry, Scope

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"

# large terminologies no FHIR package carries: their codes are never judged offline
EXTERNAL_NAMES: dict[str, str] = {
    SNOMED: "SNOMED CT",
    LOINC: "LOINC",
    UCUM: "UCUM",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-9-cm": "ICD-9-CM",
    "http://www.ama-assn.org/go/cpt": "CPT",
    "http://radlex.org": "RadLex",
    "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl": "NCI Thesaurus",
    "http://standardterms.edqm.eu": "EDQM Standard Terms",
    "urn:ietf:bcp:47": "BCP 47 language tags",
    "urn:ietf:bcp:13": "MIME types (BCP 13)",
    "urn:iso:std:iso:3166": "ISO 3166",
    "urn:iso:std:iso:3166:-2": "ISO 3166-2",
    "urn:iso:std:iso:4217": "ISO 4217",
    "http://hl7.org/fhir/sid/ndc": "NDC",
    "http://hl7.org/fhir/sid/cvx": "CVX",
}

# UCUM: a unit term is atoms (with an optional prefix and exponent), annotations `{...}`,
# numbers, `/` and `.` and brackets. Good enough to tell a plausible unit from free text.
_UCUM_ANNOTATION = r"\{[^{}]*\}"
_UCUM_ATOM = r"(?:\[[!-Z\\^-z|~]+\]|[!#-'*,0-9:-Z\\^-z|~]+?)(?:[+-]?[0-9]+)?"
_UCUM_COMPONENT = rf"(?:{_UCUM_ATOM}(?:{_UCUM_ANNOTATION})?|{_UCUM_ANNOTATION}|[0-9]+)"
_UCUM_TERM = re.compile(rf"/?(?:{_UCUM_COMPONENT}|\((?:.+)\))(?:[./](?:{_UCUM_COMPONENT}|\((?:.+)\)))*")
_BCP47 = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")
# ISO 3166-1 alpha-2, alpha-3 or numeric; ISO 3166-2 subdivisions (`DE-BY`, `GB-ENG`)
_ISO3166 = re.compile(r"[A-Z]{2}|[A-Z]{3}|[0-9]{3}")
_ISO3166_2 = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}")
_MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(?:\s*;.*)?")


# systems whose codes follow a grammar: a syntax check stands in for the code system we do not have
GRAMMARS: dict[str, str] = {
    UCUM: "UCUM unit",
    "urn:ietf:bcp:47": "BCP 47 language tag",
    "urn:ietf:bcp:13": "MIME type",
    "urn:iso:std:iso:3166": "ISO 3166 country code",
    "urn:iso:std:iso:3166:-2": "ISO 3166-2 subdivision code",
}


def plausible_code(system: str, code: str) -> bool | None:
    """A syntax check for grammar-based systems (UCUM, BCP 47, BCP 13, ISO 3166); None for other systems."""
    if not code or code != code.strip():
        return False if system in GRAMMARS else None
    if system == UCUM:
        return " " not in code and _UCUM_TERM.fullmatch(code) is not None
    if system == "urn:ietf:bcp:47":
        return _BCP47.fullmatch(code) is not None
    if system == "urn:ietf:bcp:13":
        return _MIME.fullmatch(code) is not None
    if system == "urn:iso:std:iso:3166":
        return _ISO3166.fullmatch(code) is not None
    if system == "urn:iso:std:iso:3166:-2":
        return _ISO3166_2.fullmatch(code) is not None
    return None


def system_name(system: str) -> str:
    return EXTERNAL_NAMES.get(system, system)


STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"
# concept `status` values the reference takes as inactive (CodeSystemUtilities.isInactive)
INACTIVE_STATUSES = frozenset({"inactive", "retired", "deprecated"})


@dataclass(slots=True)
class Concept:
    code: str
    display: str | None
    designations: tuple[str, ...] = ()
    # property code -> values as strings (valueCode/valueString/valueCoding.code, booleans as "true"/"false")
    properties: dict[str, list[str]] = field(default_factory=dict)
    parents: set[str] = field(default_factory=set)
    children: set[str] = field(default_factory=set)
    # as the reference reads them (CodeSystemUtilities.isInactive / getStatus), see concept_status
    inactive: bool = False
    status: str | None = None


def concept_status(raw: dict[str, Any]) -> tuple[bool, str | None]:
    """(inactive, status) of a concept, as org.hl7.fhir.r5 CodeSystemUtilities reads them.

    isInactive: a standards-status extension `deprecated`/`withdrawn` makes the concept inactive;
    otherwise the first `status` (string or code) or `inactive` (boolean, or code "true") property
    decides: status inactive/retired/deprecated, inactive true. getStatus: that standards status,
    else the first `status` property's value.
    """
    standards = next(
        (
            ext.get("valueCode")
            for ext in raw.get("extension") or []
            if isinstance(ext, dict) and ext.get("url") == STANDARDS_STATUS
        ),
        None,
    )
    if standards in ("deprecated", "withdrawn"):
        return True, str(standards)
    props = [p for p in raw.get("property") or [] if isinstance(p, dict)]
    status = next((_property_value(p) for p in props if p.get("code") == "status"), None)
    for prop in props:
        if prop.get("code") == "status" and isinstance(prop.get("valueCode", prop.get("valueString")), str):
            return str(prop.get("valueCode", prop.get("valueString"))) in INACTIVE_STATUSES, status
        if prop.get("code") == "inactive" and isinstance(prop.get("valueBoolean"), bool):
            return bool(prop["valueBoolean"]), status
        if prop.get("code") == "inactive" and isinstance(prop.get("valueCode"), str):
            return prop["valueCode"] == "true", status
    return False, status


def _property_value(prop: dict[str, Any]) -> str | None:
    for key, value in prop.items():
        if not key.startswith("value"):
            continue
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, dict) and isinstance(value.get("code"), str):
            return str(value["code"])
    return None


class CodeSystemIndex:
    """One CodeSystem, flattened: code → Concept, with the hierarchy in both directions."""

    def __init__(self, resource: dict[str, Any]) -> None:
        self.url: str = str(resource.get("url", ""))
        self.version: str | None = resource.get("version")
        self.content: str = str(resource.get("content", "complete"))
        self.case_sensitive: bool = resource.get("caseSensitive") is not False
        self.concepts: dict[str, Concept] = {}
        self._lower: dict[str, str] | None = None
        self._walk(resource.get("concept") or [], None)
        for concept in list(self.concepts.values()):
            for key in ("parent", "subsumedBy"):
                for parent in concept.properties.get(key, []):
                    self._link(parent, concept.code)
            for child in concept.properties.get("child", []):
                self._link(concept.code, child)

    def _walk(self, concepts: list[Any], parent: str | None) -> None:
        for raw in concepts:
            if not isinstance(raw, dict) or not isinstance(raw.get("code"), str):
                continue
            code = raw["code"]
            concept = self.concepts.get(code)
            if concept is None:
                designations = tuple(
                    d["value"]
                    for d in raw.get("designation") or []
                    if isinstance(d, dict) and isinstance(d.get("value"), str)
                )
                inactive, status = concept_status(raw)
                display = raw.get("display") if isinstance(raw.get("display"), str) else None
                concept = Concept(code, display, designations, inactive=inactive, status=status)
                for prop in raw.get("property") or []:
                    if isinstance(prop, dict) and isinstance(prop.get("code"), str):
                        value = _property_value(prop)
                        if value is not None:
                            concept.properties.setdefault(prop["code"], []).append(value)
                self.concepts[code] = concept
            if parent is not None:
                self._link(parent, code)
            self._walk(raw.get("concept") or [], code)

    def _link(self, parent: str, child: str) -> None:
        if parent == child or parent not in self.concepts or child not in self.concepts:
            return
        self.concepts[parent].children.add(child)
        self.concepts[child].parents.add(parent)

    @property
    def complete(self) -> bool:
        return self.content == "complete"

    @property
    def enumerable(self) -> bool:
        """Membership is decided from the concepts listed: complete content, or a fragment (as the
        reference's ValueSetValidator.inComponent does; an unlisted code of a fragment is not a member)."""
        return self.content in ("complete", "fragment")

    def get(self, code: str) -> Concept | None:
        concept = self.concepts.get(code)
        if concept is None and not self.case_sensitive:
            if self._lower is None:
                self._lower = {c.lower(): c for c in self.concepts}
            real = self._lower.get(code.lower())
            concept = self.concepts.get(real) if real else None
        return concept

    def contains(self, code: str) -> bool | None:
        """True/False when the content is complete; a fragment only ever says True or None."""
        if self.get(code) is not None:
            return True
        return False if self.complete else None

    def descendants(self, code: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.concepts[code].children) if code in self.concepts else []
        while stack:
            c = stack.pop()
            if c not in seen:
                seen.add(c)
                stack.extend(self.concepts[c].children)
        return seen

    def ancestors(self, code: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.concepts[code].parents) if code in self.concepts else []
        while stack:
            c = stack.pop()
            if c not in seen:
                seen.add(c)
                stack.extend(self.concepts[c].parents)
        return seen

    def values_of(self, concept: Concept, prop: str) -> list[str]:
        if prop in ("concept", "code"):
            return [concept.code]
        if prop == "display":
            return [concept.display] if concept.display else []
        if prop == "parent":
            return sorted(concept.parents) + concept.properties.get("parent", [])
        if prop == "child":
            return sorted(concept.children)
        return concept.properties.get(prop, [])

    def display_matches(self, code: str, display: str) -> bool | None:
        concept = self.get(code)
        if concept is None:
            return None
        wanted = normalize_display(display)
        return any(normalize_display(d) == wanted for d in (concept.display, *concept.designations) if d is not None)

    def select(self, flt: dict[str, Any]) -> set[str] | None:
        """The codes one compose filter selects, or None when the operator/property is not supported."""
        op = flt.get("op")
        prop = str(flt.get("property", ""))
        value = flt.get("value")
        if not isinstance(value, str):
            return None
        hierarchical = prop in ("concept", "code")
        if (
            op in ("is-a", "descendent-of", "is-not-a", "generalizes", "child-of", "descendent-leaf")
            and not hierarchical
        ):
            return None
        if op == "is-a":
            return ({value} | self.descendants(value)) if value in self.concepts else set()
        if op == "descendent-of":
            return self.descendants(value)
        if op == "is-not-a":
            return set(self.concepts) - {value} - self.descendants(value)
        if op == "generalizes":
            return ({value} | self.ancestors(value)) if value in self.concepts else set()
        if op == "child-of":
            return set(self.concepts[value].children) if value in self.concepts else set()
        if op == "descendent-leaf":
            return {c for c in self.descendants(value) if not self.concepts[c].children}
        if op == "=":
            return {c.code for c in self.concepts.values() if value in self.values_of(c, prop)}
        if op in ("in", "not-in"):
            wanted = {v.strip() for v in value.split(",")}
            hit = {c.code for c in self.concepts.values() if wanted.intersection(self.values_of(c, prop))}
            return hit if op == "in" else set(self.concepts) - hit
        if op == "regex":
            try:
                pattern = re.compile(value)
            except re.error:
                return None
            return {
                c.code for c in self.concepts.values() if any(pattern.fullmatch(v) for v in self.values_of(c, prop))
            }
        if op == "exists":
            want = value.strip().lower() == "true"
            return {c.code for c in self.concepts.values() if bool(self.values_of(c, prop)) == want}
        return None

    def __iter__(self) -> Iterator[Concept]:
        return iter(self.concepts.values())


def normalize_display(text: str) -> str:
    return " ".join(text.split()).casefold()


def _version_key(version: str | None) -> tuple[Any, ...]:
    parts = re.split(r"[.\-]", version or "")
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def _concept_count(resource: dict[str, Any]) -> int:
    count = 0
    stack = list(resource.get("concept") or [])
    while stack:
        c = stack.pop()
        if isinstance(c, dict):
            count += 1
            stack.extend(c.get("concept") or [])
    return count


def code_system_candidates(scope: Scope) -> dict[str, list[tuple[Package, ResourceEntry]]]:
    """Every CodeSystem of the scope by URL (not only the first hit, unlike Scope.entry)."""
    found: dict[str, list[tuple[Package, ResourceEntry]]] = {}
    for pkg in scope.packages:
        for entry in pkg.entries:
            if entry.resource_type == "CodeSystem" and entry.url:
                found.setdefault(entry.url, []).append((pkg, entry))
    return found


def best_code_system(candidates: list[tuple[Package, ResourceEntry]]) -> dict[str, Any] | None:
    """The most useful of several CodeSystems sharing a URL: complete content, then most concepts, then newest."""
    best: tuple[tuple[Any, ...], dict[str, Any]] | None = None
    for pkg, entry in candidates:
        res = pkg.load(entry.filename)
        if res.get("content") == "supplement":
            continue
        key = (res.get("content") == "complete", _concept_count(res), _version_key(entry.version))
        if best is None or key > best[0]:
            best = (key, res)
    return best[1] if best else None
