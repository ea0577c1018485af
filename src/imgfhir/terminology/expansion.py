"""ValueSet expansion from `compose`, keeping track of what cannot be decided offline.

An `Expansion` is the set of codes a value set is known to contain, plus the parts that cannot be
enumerated here: whole systems or filters over terminologies no package carries (SNOMED CT,
LOINC, UCUM, ...), value sets we do not have, filters we cannot evaluate. Membership is then
three-valued: True, False, or None (not decidable offline) with a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from imgfhir.fhirpath.quantities import Dims
from imgfhir.fhirpath.quantities import canonical as ucum_canonical
from imgfhir.terminology.codesystems import (
    EXTERNAL_NAMES,
    GRAMMARS,
    LOINC,
    SNOMED,
    STANDARDS_STATUS,
    UCUM,
    CodeSystemIndex,
    plausible_code,
    system_name,
)

ANY_SYSTEM = "*"
VALUESET_DEPRECATED = "http://hl7.org/fhir/StructureDefinition/valueset-deprecated"
# why a code system's content leaves its codes unchecked
_CONTENT_NOTE = {
    "example": "only example content",
    "not-present": "no concepts (content not-present)",
    "supplement": "only supplement content",
}
Key = tuple[str, str]  # (system, code)


@dataclass(slots=True)
class Expansion:
    # codes known to be in the value set → display given by the value set or the code system
    codes: dict[Key, str | None] = field(default_factory=dict)
    # systems (or ANY_SYSTEM) with members we cannot enumerate → why; codes of such a system that
    # are not in `codes` are undecidable rather than absent
    open: dict[str, str] = field(default_factory=dict)
    # listed codes whose membership is uncertain (an exclude or intersection we could not evaluate)
    doubtful: dict[Key, str] = field(default_factory=dict)
    # extra displays the value set itself gives for its codes (include.concept.display/designation)
    displays: dict[Key, set[str]] = field(default_factory=dict)
    # grammar-based systems (UCUM, BCP 47, BCP 13) included whole: any well-formed code is a member
    whole: set[str] = field(default_factory=set)
    # UCUM units selected by dimension (`canonical = m`): a known unit of one of these dimensions is
    # a member, a known unit of another dimension is not
    ucum_dims: set[Dims] = field(default_factory=set)
    # compose.inactive = false: inactive codes left out → their status (ValueSetValidator.inComponent)
    inactive_excluded: dict[Key, str] = field(default_factory=dict)
    # include.concept entries marked deprecated/withdrawn in the value set → that status
    deprecated: dict[Key, str] = field(default_factory=dict)
    _by_code: dict[str, list[Key]] | None = field(default=None, repr=False, compare=False)

    @property
    def closed(self) -> bool:
        return not self.open and not self.doubtful and not self.ucum_dims

    def systems_for(self, code: str) -> set[str]:
        """The systems of the listed codes equal to `code` (to infer the system of a plain `code`)."""
        return {system for system, listed in self.codes if listed == code}

    def member(self, system: str | None, code: str) -> tuple[bool | None, str | None]:
        """Whether (system, code) is in the value set; None with a reason when it cannot be told."""
        if system is None:
            if self._by_code is None:
                self._by_code = {}
                for listed in self.codes:
                    self._by_code.setdefault(listed[1], []).append(listed)
            hits = self._by_code.get(code, [])
            sure = [key for key in hits if key not in self.doubtful]
            if sure:
                return True, None
            if hits:
                return None, self.doubtful[hits[0]]
            if any(plausible_code(whole, code) for whole in self.whole):
                return True, None  # a `code` element bound to all languages or all MIME types
            if self.open:
                return None, next(iter(self.open.values()))
            return False, None
        key = (system, code)
        if key in self.codes:
            if key in self.doubtful:
                return None, self.doubtful[key]
            return True, None
        if system == UCUM and self.ucum_dims:
            unit = ucum_canonical(f"'{code}'") if plausible_code(system, code) else None
            if unit is not None and unit.dims in self.ucum_dims:
                return True, None
            if unit is None and UCUM not in self.open:
                return None, f"UCUM unit {code} is not known offline: not checked"
        reason = self.open.get(system) or self.open.get(ANY_SYSTEM)
        if reason is None:
            return False, None
        if system in self.whole and plausible_code(system, code) is True:
            return True, None
        return None, reason

    def union(self, other: Expansion) -> None:
        self._by_code = None
        for key, display in other.codes.items():
            was_sure = key in self.codes and key not in self.doubtful
            if self.codes.get(key) is None:
                self.codes[key] = display
            if was_sure or key not in other.doubtful:
                self.doubtful.pop(key, None)
            else:
                self.doubtful.setdefault(key, other.doubtful[key])
        for system, reason in other.open.items():
            self.open.setdefault(system, reason)
        self.whole |= other.whole
        self.ucum_dims |= other.ucum_dims
        self.inactive_excluded.update(other.inactive_excluded)
        self.deprecated.update(other.deprecated)
        for key, names in other.displays.items():
            self.displays.setdefault(key, set()).update(names)

    def intersect(self, other: Expansion) -> Expansion:
        result = Expansion()
        for left, right in ((self, other), (other, self)):
            for key, display in left.codes.items():
                inside, reason = right.member(*key)
                if inside is False:
                    continue
                result.codes.setdefault(key, display)
                doubt = left.doubtful.get(key) or (reason if inside is None else None)
                if doubt:
                    result.doubtful.setdefault(key, doubt)
                result.displays.setdefault(key, set()).update(left.displays.get(key, ()))
        for side in (self, other):
            result.deprecated.update({k: v for k, v in side.deprecated.items() if k in result.codes})
        for key in list(result.doubtful):
            if self.member(*key)[0] is True and other.member(*key)[0] is True:
                del result.doubtful[key]
        result.whole = self.whole & other.whole
        if self.ucum_dims or other.ucum_dims:  # units by dimension, intersected: not enumerable
            result.open.setdefault(UCUM, "UCUM units by dimension, intersected: not checked offline")
        for system, reason in self.open.items():
            if system in other.open or ANY_SYSTEM in other.open:
                result.open.setdefault(system, reason)
            elif system == ANY_SYSTEM:
                for other_system in other.open:
                    result.open.setdefault(other_system, other.open[other_system])
        return result

    def subtract(self, other: Expansion) -> None:
        self._by_code = None
        for key in list(self.codes):
            inside, reason = other.member(*key)
            if inside is True:
                del self.codes[key]
                self.doubtful.pop(key, None)
                self.displays.pop(key, None)
            elif inside is None:
                self.doubtful.setdefault(key, f"exclusion not decidable offline ({reason})")
        # codes of an open system stay undecidable; an open exclude cannot make them decidable


def _deprecated_in_value_set(concept: dict[str, Any]) -> str | None:
    """A value set's own deprecation of one of its listed concepts (standards-status
    deprecated/withdrawn, or the valueset-deprecated extension), as ValueSetValidator.inComponent reads it."""
    for ext in concept.get("extension") or []:
        if not isinstance(ext, dict):
            continue
        if ext.get("url") == STANDARDS_STATUS and ext.get("valueCode") in ("deprecated", "withdrawn"):
            return str(ext["valueCode"])
        if ext.get("url") == VALUESET_DEPRECATED:
            return "deprecated"
    return None


CodeSystemLookup = Callable[[str], CodeSystemIndex | None]
ValueSetLookup = Callable[[str], Expansion | None]


def _external_reason(system: str, intensional: bool) -> str:
    name = system_name(system)
    if system in EXTERNAL_NAMES:
        kind = "intensional value set" if intensional else "whole code system"
        if system in (SNOMED, LOINC) and intensional:
            return f"{name} intensional value set: not checked offline"
        return f"{name} ({kind}): not checked offline"
    return f"code system {system} not available: not checked offline"


class Composer:
    """Evaluates `ValueSet.compose` with code systems and other value sets looked up by URL."""

    def __init__(self, code_system: CodeSystemLookup, value_set: ValueSetLookup) -> None:
        self.code_system = code_system
        self.value_set = value_set

    def compose(self, resource: dict[str, Any]) -> Expansion:
        compose = resource.get("compose")
        if not isinstance(compose, dict):
            return self._from_expansion(resource)
        result = Expansion()
        for inc in compose.get("include") or []:
            if isinstance(inc, dict):
                result.union(self._include(inc))
        for exc in compose.get("exclude") or []:
            if isinstance(exc, dict):
                result.subtract(self._include(exc))
        if compose.get("inactive") is False:
            self._drop_inactive(result)
        return result

    def _drop_inactive(self, result: Expansion) -> None:
        """compose.inactive = false: inactive concepts are not members (ValueSetValidator.inComponent)."""
        result._by_code = None
        for key in list(result.codes):
            cs = self.code_system(key[0])
            concept = cs.get(key[1]) if cs is not None and cs.enumerable else None
            if concept is not None and concept.inactive:
                del result.codes[key]
                result.doubtful.pop(key, None)
                result.inactive_excluded[key] = concept.status or "inactive"

    def _from_expansion(self, resource: dict[str, Any]) -> Expansion:
        """A value set with no compose but a published expansion (rare in packages)."""
        result = Expansion()
        expansion = resource.get("expansion")
        if not isinstance(expansion, dict):
            result.open[ANY_SYSTEM] = "value set has neither compose nor expansion: not checked offline"
            return result
        stack = list(expansion.get("contains") or [])
        while stack:
            c = stack.pop()
            if not isinstance(c, dict):
                continue
            stack.extend(c.get("contains") or [])
            if isinstance(c.get("system"), str) and isinstance(c.get("code"), str):
                result.codes[(c["system"], c["code"])] = c.get("display")
        total = expansion.get("total")
        if isinstance(total, int) and total > len(result.codes):
            result.open[ANY_SYSTEM] = "published expansion is partial: not checked offline"
        return result

    def _include(self, inc: dict[str, Any]) -> Expansion:
        parts: list[Expansion] = []
        system = inc.get("system")
        if isinstance(system, str):
            parts.append(self._system_part(system, inc))
        for url in inc.get("valueSet") or []:
            if not isinstance(url, str):
                continue
            imported = self.value_set(url)
            if imported is None:
                missing = Expansion()
                missing.open[system if isinstance(system, str) else ANY_SYSTEM] = (
                    f"value set {url} not found: not checked offline"
                )
                imported = missing
            parts.append(imported)
        if not parts:
            return Expansion()
        result = parts[0]
        for part in parts[1:]:
            result = result.intersect(part)
        return result

    def _system_part(self, system: str, inc: dict[str, Any]) -> Expansion:
        result = Expansion()
        cs = self.code_system(system)
        concepts = inc.get("concept")
        filters = [f for f in inc.get("filter") or [] if isinstance(f, dict)]
        if isinstance(concepts, list):
            for c in concepts:
                if not isinstance(c, dict) or not isinstance(c.get("code"), str):
                    continue
                code = c["code"]
                concept = cs.get(code) if cs else None
                real = concept.code if concept else code
                display = c.get("display") if isinstance(c.get("display"), str) else None
                result.codes[(system, real)] = display or (concept.display if concept else None)
                marked = _deprecated_in_value_set(c)
                if marked:
                    result.deprecated[(system, real)] = marked
                names = {display} if display else set()
                names.update(
                    d["value"]
                    for d in c.get("designation") or []
                    if isinstance(d, dict) and isinstance(d.get("value"), str)
                )
                if names:
                    result.displays.setdefault((system, real), set()).update(names)
            return result
        if system == UCUM and len(filters) == 1 and filters[0].get("property") == "canonical":
            dims = self._ucum_dims(filters[0])
            if dims is not None:
                result.ucum_dims.add(dims)
                return result
        if cs is not None and not cs.complete and system in EXTERNAL_NAMES:
            cs = None  # a content=not-present stub of SNOMED CT and the like
        if cs is None or not cs.enumerable:
            if system in GRAMMARS and not filters:
                result.open[system] = f"not a well-formed {GRAMMARS[system]}: not checked offline"
                result.whole.add(system)
            else:
                reason = (
                    _external_reason(system, bool(filters))
                    if cs is None
                    else f"code system {system} has {_CONTENT_NOTE.get(cs.content, cs.content)} in the packages:"
                    " not checked offline"
                )
                result.open[system] = reason
            if cs is not None and not filters:
                for concept in cs:
                    result.codes[(system, concept.code)] = concept.display
            return result
        selected: set[str] | None = None
        for flt in filters:
            hit = cs.select(flt)
            if hit is None:
                result.open[system] = (
                    f"filter {flt.get('property')} {flt.get('op')} {flt.get('value')} on {system}"
                    " is not supported offline: not checked"
                )
                return result
            selected = hit if selected is None else selected & hit
        for concept in cs:  # in the code system's order, so expansions are stable
            if selected is None or concept.code in selected:
                result.codes[(system, concept.code)] = concept.display
        return result

    @staticmethod
    def _ucum_dims(flt: dict[str, Any]) -> Dims | None:
        """The dimension a UCUM `canonical = unit` filter selects, when the unit is one we know."""
        value = flt.get("value")
        if flt.get("op") != "=" or not isinstance(value, str):
            return None
        unit = ucum_canonical(f"'{value}'")
        return unit.dims if unit is not None else None
