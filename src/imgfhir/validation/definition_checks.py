"""Findings about a StructureDefinition itself, shared by the place that uses a definition (a
profile an instance claims: rule `profile-definition`) and the place that validates one (a
StructureDefinition resource: rules `sd-*`), so that each finding has one implementation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def release_of(sd: dict[str, Any]) -> str:
    """The FHIRPath dialect of a definition: R5 for fhirVersion 5.x, else R4."""
    return "R5" if str(sd.get("fhirVersion", "")).startswith("5") else "R4"


def unparsable_constraints(
    elements: Any, url: str, release: str, *, own_only: bool = True
) -> Iterator[tuple[int, int, str, str]]:
    """(element index, constraint index, key, why) of each constraint whose FHIRPath does not parse.

    With `own_only`, constraints another definition introduced (`source` elsewhere) are skipped: the
    reference re-checks only its own (StructureDefinitionValidator.validateElementDefinitionInvariant)."""
    from imgfhir.fhirpath import FhirPathError, compile

    for i, ed in enumerate(elements if isinstance(elements, list) else ()):
        constraints = ed.get("constraint") if isinstance(ed, dict) else None
        for j, c in enumerate(constraints if isinstance(constraints, list) else ()):
            expression = c.get("expression") if isinstance(c, dict) else None
            if not isinstance(expression, str) or (own_only and c.get("source") not in (None, url)):
                continue
            try:
                compile(expression, release)
            except (FhirPathError, ValueError) as exc:
                yield i, j, str(c.get("key")), f"{exc} [{expression}]"
