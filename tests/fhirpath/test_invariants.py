"""Every constraint expression of the bundled packages through imgfhir's FHIRPath layer.

Lenient compilation (the default) must accept all of them; strict compilation, with the element the
constraint sits on as context, must flag nothing in the core packages but the two invariants that are
wrong in the core specification itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from imgfhir.fhirpath import FhirPathError, compile
from imgfhir.packages import PackageStore

CORE = ("hl7.fhir.r4.core", "hl7.fhir.r5.core")
WRONG_IN_CORE = {
    ("hl7.fhir.r4.core", "cid-0", "ChargeItemDefinition"),  # R4 ChargeItemDefinition has no `name`
    ("hl7.fhir.r4.core", "inv-1", "Extension"),  # names an element its extension does not define
}


def _constraints(store: PackageStore) -> Iterator[tuple[str, str, str, str | None, str]]:
    """(package, release, key, context type or None, expression) for every constraint with an expression."""
    for pkg in store.packages:
        release = "R5" if pkg.release.upper().startswith(("R5", "5")) else "R4"
        for entry in pkg.entries:
            if entry.resource_type != "StructureDefinition":
                continue
            sd: dict[str, Any] = pkg.load(entry.filename)
            elements = (sd.get("snapshot") or sd.get("differential") or {}).get("element", [])
            for element in elements:
                path: str = element["path"]
                context = None if sd.get("kind") == "logical" else (path if "." in path else sd.get("type", path))
                for constraint in element.get("constraint", ()):
                    if constraint.get("expression"):
                        yield pkg.id, release, constraint.get("key", ""), context, constraint["expression"]


@pytest.fixture(scope="module")
def constraints(bundled_store: PackageStore) -> list[tuple[str, str, str, str | None, str]]:
    found = list(_constraints(bundled_store))
    assert len(found) > 10000, "the bundled packages' constraints did not load"
    return found


def test_every_bundled_invariant_compiles(constraints: list[tuple[str, str, str, str | None, str]]) -> None:
    failures = []
    for pkg, release, key, _, expression in {(p, r, k, None, e) for p, r, k, _, e in constraints}:
        try:
            compile(expression, release)
        except FhirPathError as exc:
            failures.append(f"{pkg} {key}: {exc}")
    assert not failures, "\n".join(sorted(failures))


def test_strict_mode_flags_only_the_core_errors(constraints: list[tuple[str, str, str, str | None, str]]) -> None:
    flagged = set()
    for pkg, release, key, context, expression in constraints:
        if pkg not in CORE or context is None:
            continue
        try:
            compile(expression, release, strict=True, context_type=context)
        except FhirPathError:
            flagged.add((pkg, key, context))
    assert flagged == WRONG_IN_CORE
