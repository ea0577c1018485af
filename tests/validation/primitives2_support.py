"""Shared by the primitives2 tests: validate a fixture of tests/fixtures/validation/primitives2 and keep
the issues of the rules under test (see that folder's README.md for how each fixture was derived)."""

from __future__ import annotations

from pathlib import Path

from imgfhir.packages import load_store
from imgfhir.validation import Validator

PRIMITIVES2 = Path(__file__).resolve().parents[1] / "fixtures" / "validation" / "primitives2"
EXAMPLE = "http://example.org/fhir/StructureDefinition/"
Found = tuple[str, str, str, int | None, int | None, str]
Expected = tuple[str, str, str, int, int, str]


def validators() -> dict[str, Validator]:
    """R4 and R5 validators with the fixtures' profiles loaded."""
    return {
        "R4": Validator(load_store([PRIMITIVES2 / "profiles"], env=False, entry_points=False)),
        "R5": Validator(load_store([PRIMITIVES2 / "profiles-r5"], env=False, entry_points=False)),
    }


def found(validator: dict[str, Validator], name: str, rules: set[str], profile: str | None = None) -> list[Found]:
    release = "R5" if name.startswith("r5/") else "R4"
    url = EXAMPLE + profile if profile else None
    outcome = validator[release].validate(PRIMITIVES2 / name, url, fhir_version=release)
    return [
        (i.rule or "", i.severity, i.expression or "", i.line, i.column, i.message)
        for i in outcome.issues
        if i.rule in rules
    ]


def check(got: list[Found], expected: list[Expected]) -> None:
    assert [g[:5] for g in got] == [e[:5] for e in expected]
    for (*_, message), (*_, part) in zip(got, expected, strict=True):
        assert part in message
