"""Offline terminology: value set expansion and code validation from the loaded packages.

`Terminology(scope)` expands ValueSets from their `compose` over the CodeSystems of the scope and
answers membership three-valued: True, False, or None when it cannot be decided offline (codes of
SNOMED CT, LOINC and other terminologies no package carries, value sets that are not there).
Expansions and compiled CodeSystems are built once per Terminology, i.e. once per scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from imgfhir.packages import Package, ResourceEntry, Scope
from imgfhir.terminology.codesystems import (
    EXTERNAL_NAMES,
    UCUM,
    CodeSystemIndex,
    best_code_system,
    code_system_candidates,
    normalize_display,
    plausible_code,
    system_name,
)
from imgfhir.terminology.expansion import Composer, Expansion

__all__ = ["CodeCheck", "CodeFinding", "CodeSystemIndex", "Expansion", "Terminology"]

FindingSeverity = Literal["error", "warning", "information"]


@dataclass(frozen=True, slots=True)
class CodeFinding:
    """What the code's own CodeSystem says of it, whatever the value set: `key` is the reference
    validator's message key (Messages.properties), `code` the OperationOutcome issue type."""

    key: str
    severity: FindingSeverity
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class CodeCheck:
    """The answer to "is this code in that value set?".

    `valid` is None when it cannot be decided offline, with `reason` saying why. `display_ok` is
    False only when the code's CodeSystem is known and the display is none of its designations
    (nor a display the value set gives); None when no display was given or it cannot be checked.
    """

    valid: bool | None
    message: str
    display_ok: bool | None = None
    reason: str | None = None
    expected_display: str | None = None


class Terminology:
    """Value sets and code systems of one scope, compiled on first use and kept."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._candidates: dict[str, list[tuple[Package, ResourceEntry]]] | None = None
        self._code_systems: dict[str, CodeSystemIndex | None] = {}
        self._expansions: dict[str, Expansion | None] = {}
        self._composer = Composer(self.code_system, self._expansion)
        self._building: set[str] = set()
        self._findings: dict[tuple[str, str], tuple[CodeFinding, ...]] = {}

    # -- code systems -------------------------------------------------------------------

    def code_system(self, url: str) -> CodeSystemIndex | None:
        """The compiled CodeSystem for `url` (version suffix ignored), or None when no package has it."""
        url = url.split("|", 1)[0]
        if url not in self._code_systems:
            if self._candidates is None:
                self._candidates = code_system_candidates(self.scope)
            resource = best_code_system(self._candidates.get(url, []))
            self._code_systems[url] = CodeSystemIndex(resource) if resource else None
        return self._code_systems[url]

    def supplement_only(self, url: str) -> bool:
        """True when every CodeSystem of the scope with this URL is a supplement."""
        if self._candidates is None:
            self._candidates = code_system_candidates(self.scope)
        found = self._candidates.get(url.split("|", 1)[0], [])
        return bool(found) and all(pkg.load(entry.filename).get("content") == "supplement" for pkg, entry in found)

    def code_findings(self, system: str, code: str) -> tuple[CodeFinding, ...]:
        """The code system's verdict on one code (unknown, inactive, ...); computed once per code."""
        key = (system, code)
        found = self._findings.get(key)
        if found is None:
            found = self._findings[key] = tuple(self._find(system, code))
        return found

    def _find(self, system: str, code: str) -> Iterator[CodeFinding]:
        # ValueSetValidator.validateCode(path, Coding) and validateCode(path, Coding, CodeSystem, ...)
        cs = self.code_system(system)
        if cs is None:
            if self.supplement_only(system):
                message = f"CodeSystem {system} is a supplement, so can't be used as a value in Coding.system"
                yield CodeFinding("CODESYSTEM_CS_NO_SUPPLEMENT", "error", "invalid", message)
            return
        if system in EXTERNAL_NAMES and not cs.complete:
            return  # a stub of SNOMED CT, LOINC...: the binding rule says what is not checked
        version = f" version '{cs.version}'" if cs.version else ""
        if not cs.enumerable:
            content = "only has example content" if cs.content == "example" else "doesn't include any codes"
            message = f"Resolved system {system}{version}, but the definition {content}"
            message += ", so the code has not been validated"
            yield CodeFinding("TX_CS_CONTENT_NOT_CHECKED", "information", "informational", message)
            return
        concept = cs.get(code)
        if concept is None:
            if cs.complete:
                message = f"Unknown code '{code}' in the CodeSystem '{system}'{version}"
                yield CodeFinding("Unknown_Code_in_Version", "error", "code-invalid", message)
            else:
                message = (
                    f"Unknown Code '{code}' in the system '{system}'{version} - note that the code system is"
                    " labeled as a fragment, so the code may be valid in some other fragment"
                )
                yield CodeFinding("UNKNOWN_CODE_IN_FRAGMENT", "warning", "code-invalid", message)
            return
        if concept.inactive:
            status = concept.status or "inactive"
            message = f"The concept '{concept.code}' has a status of {status} and its use should be reviewed"
            yield CodeFinding("INACTIVE_CONCEPT_FOUND", "warning", "business-rule", message)
        elif (concept.status or "").lower() == "deprecated":
            message = f"The concept '{concept.code}' is deprecated and its use should be reviewed"
            yield CodeFinding("DEPRECATED_CONCEPT_FOUND", "warning", "business-rule", message)

    def code_in_system(self, system: str, code: str) -> bool | None:
        """Whether `code` is defined by `system`; None when that cannot be told offline."""
        cs = self.code_system(system)
        if cs is not None:
            found = cs.contains(code)
            if found is not None or system != UCUM:
                return found
        plausible = plausible_code(system, code)
        return True if plausible else None

    # -- value sets ---------------------------------------------------------------------

    def value_set(self, url: str) -> dict[str, Any] | None:
        hit = self.scope.entry(url)
        if hit is None or hit[1].resource_type != "ValueSet":
            return None
        return hit[0].load(hit[1].filename)

    def _expansion(self, url: str) -> Expansion | None:
        if url in self._expansions:
            return self._expansions[url]
        if url in self._building:  # an import cycle: treat the inner reference as undecidable
            cyclic = Expansion()
            cyclic.open["*"] = f"value set {url} imports itself: not checked offline"
            return cyclic
        resource = self.value_set(url)
        if resource is None:
            self._expansions[url] = None
            return None
        self._building.add(url)
        try:
            result = self._composer.compose(resource)
        finally:
            self._building.discard(url)
        self._expansions[url] = result
        return result

    def expansion(self, value_set: str) -> Expansion | None:
        """The (possibly partial) expansion of a value set; None when the value set is not found."""
        return self._expansion(value_set)

    def expand(self, value_set: str) -> list[tuple[str, str, str | None]] | None:
        """All (system, code, display) of the value set; None unless it can be enumerated completely offline."""
        exp = self._expansion(value_set)
        if exp is None or not exp.closed:
            return None
        return [(system, code, display) for (system, code), display in exp.codes.items()]

    def validate_code(self, value_set: str, system: str | None, code: str, display: str | None = None) -> CodeCheck:
        """Whether (system, code) is in `value_set`, and whether `display` suits the code."""
        exp = self._expansion(value_set)
        shown = f"{system}#{code}" if system else f"'{code}'"
        display_ok, expected = self._check_display(exp, system, code, display)
        if exp is None:
            reason = f"value set {value_set} not found"
            return CodeCheck(None, f"{shown}: {reason}: not checked offline", display_ok, reason, expected)
        inside, why = exp.member(system, code)
        if inside is None:
            why = why or "not checked offline"
            return CodeCheck(None, f"{shown} in {value_set}: {why}", display_ok, why, expected)
        if inside:
            return CodeCheck(True, f"{shown} is in {value_set}", display_ok, None, expected)
        detail = ""
        if system is not None:
            known = self.code_in_system(system, code)
            if known is False:
                detail = f" (it is not a code of {system_name(system)})"
            elif system not in {s for s, _ in exp.codes} and system not in exp.open and not exp.ucum_dims:
                detail = f" (the value set has no codes from {system_name(system)})"
        return CodeCheck(False, f"{shown} is not in value set {value_set}{detail}", display_ok, None, expected)

    def check_display(self, system: str, code: str, display: str) -> bool | None:
        """False when the CodeSystem is known, has the code, and `display` is none of its designations."""
        return self._check_display(None, system, code, display)[0]

    def _check_display(
        self, exp: Expansion | None, system: str | None, code: str, display: str | None
    ) -> tuple[bool | None, str | None]:
        if display is None or system is None or system in EXTERNAL_NAMES:
            return None, None
        cs = self.code_system(system)
        if cs is None:
            return None, None
        concept = cs.get(code)
        if concept is None:
            return None, None
        if cs.display_matches(code, display):
            return True, concept.display
        if exp is not None:
            wanted = normalize_display(display)
            if any(normalize_display(d) == wanted for d in exp.displays.get((system, concept.code), ())):
                return True, concept.display
        if concept.display is None and not concept.designations:
            return None, None
        return False, concept.display
