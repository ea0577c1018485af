""""Did you mean" for names a scope does not know: resource types and profile canonicals.

The lists are built once per scope (in its memo) from the package indexes, so a misspelt name costs
one difflib lookup, and a correct one nothing.
"""

from __future__ import annotations

import difflib

from imgfhir.packages import Scope

FHIR_SD = "http://hl7.org/fhir/StructureDefinition/"


def _known(scope: Scope, key: str) -> list[str]:
    found: list[str] | None = scope.memo.get(key)
    if found is None:
        entries = [e for _, e in scope.entries("StructureDefinition")]
        if key == "suggest:resource-types":
            found = sorted(
                {e.type for e in entries if e.kind == "resource" and e.derivation != "constraint" and e.type}
                - {"Resource", "DomainResource"}
            )
        else:
            found = sorted({e.url for e in entries if e.url})
        scope.memo[key] = found
    return found


def _hint(close: list[str]) -> str:
    return f" (did you mean {', '.join(close)}?)" if close else ""


def resource_type_hint(scope: Scope, name: str) -> str:
    """` (did you mean Observation?)` for `Observaton`, else ""."""
    return _hint(difflib.get_close_matches(name, _known(scope, "suggest:resource-types"), n=3, cutoff=0.75))


def canonical_hint(scope: Scope, url: str) -> str:
    """Close StructureDefinition canonicals for an unknown profile URL (its version left aside)."""
    bare = url.split("|", 1)[0]
    return _hint(difflib.get_close_matches(bare, _known(scope, "suggest:canonicals"), n=3, cutoff=0.85))
