"""Profiles named with a version, and user-supplied definitions that cannot be used.

tests/fixtures/validation/profiles/README.md says what each fixture was derived from and what changed;
the definitions are in the test package tests/fixtures/packages/example.imaging.definitions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imgfhir.validation import Validator

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PROFILES = FIXTURES / "validation" / "profiles"
RDS = "http://hl7.org/fhir/uv/radiation-dose-summary/StructureDefinition/radiation-dose-summary"
VERSIONED = "http://example.org/fhir/imaging-fixture/StructureDefinition/versioned-dose-observation"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(packages=[str(FIXTURES / "packages" / "example.imaging.definitions")])


def _found(validator: Validator, name: str, rule: str, profile: str | None = None) -> list[tuple[object, ...]]:
    outcome = validator.validate(PROFILES / name, profile, fhir_version="R4")
    return [(i.severity, i.expression, i.line, i.column) for i in outcome.issues if i.rule == rule]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # meta.profile pins a version that is not loaded: not checked (VALIDATION_VAL_PROFILE_UNKNOWN, a warning
        # at the entry), and not validated against the version that is loaded
        ("rds-unknown-version.json", [("warning", "Observation.meta.profile[0]", 6, 7)]),
        ("device-unknown-version.json", [("warning", "Device.meta.profile[0]", 6, 7)]),
        ("dose-versioned-1.0.0.json", []),  # the near miss: a version that is loaded
    ],
)
def test_a_declared_profile_version_that_is_not_loaded_is_a_warning(
    validator: Validator, name: str, expected: list[tuple[object, ...]]
) -> None:
    assert _found(validator, name, "profile") == expected


def test_the_warning_names_the_versions_that_are_loaded(validator: Validator) -> None:
    outcome = validator.validate(PROFILES / "rds-unknown-version.json", fhir_version="R4")
    (warning,) = [i for i in outcome.issues if i.rule == "profile"]
    assert f"{RDS}|9.9" in warning.message and "loaded versions: 1.0.0" in warning.message
    # before, the resource was validated against 1.0.0: its errors (none here) and warnings came from it
    assert not [i for i in outcome.issues if i.rule == "cardinality"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # versioned-dose-observation 2.0.0 forbids focus (1.0.0 does not); Observation-545 has one
        ("dose-versioned-2.0.0.json", [("error", "Observation", 1, 1)]),
        ("dose-versioned-2.0.json", [("error", "Observation", 1, 1)]),  # major.minor names 2.0.0
        ("dose-versioned-1.0.0.json", []),
        # radiation-dose-summary|1.0.0 requires a subject: the pinned version is applied
        ("rds-pinned-version-no-subject.json", [("error", "Observation", 1, 1)]),
    ],
)
def test_a_pinned_version_that_is_loaded_is_the_one_applied(
    validator: Validator, name: str, expected: list[tuple[object, ...]]
) -> None:
    assert _found(validator, name, "cardinality") == expected


@pytest.mark.parametrize(
    ("profile", "severity"),
    [(f"{RDS}|9.9", "error"), (f"{VERSIONED}|3.0.0", "error"), (f"{VERSIONED}|1.0.0", None), (f"{RDS}|1.0", None)],
)
def test_an_explicit_profile_version_that_is_not_loaded_is_an_error(
    validator: Validator, profile: str, severity: str | None
) -> None:
    """The reference validator cannot resolve the profile and stops (ValidationEngine.validate)."""
    outcome = validator.validate(FIXTURES / "validation" / "Observation-545.json", profile, fhir_version="R4")
    found = [i for i in outcome.issues if i.rule == "profile"]
    assert [i.severity for i in found] == ([severity] if severity else [])
    if severity:
        assert "loaded versions" in found[0].message


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("dose-bad-path-profile.json", ("bad-path-observation|0.1.0", "valueBla")),
        ("dose-bad-constraint-profile.json", ("bad-constraint-observation|0.1.0", "fix-1")),
    ],
)
def test_a_definition_that_cannot_be_used_is_an_error_where_used(
    validator: Validator, name: str, words: tuple[str, str]
) -> None:
    outcome = validator.validate(PROFILES / name, fhir_version="R4")
    found = [i for i in outcome.issues if i.rule == "profile-definition"]
    assert [(i.severity, i.expression, i.line, i.column) for i in found] == [("error", "Observation", 1, 1)]
    assert all(w in found[0].message for w in words)
    # the near miss: a user-supplied definition that is fine
    assert not _found(validator, "dose-versioned-1.0.0.json", "profile-definition")


def test_a_definition_is_reported_when_named_explicitly(validator: Validator) -> None:
    bad = "http://example.org/fhir/imaging-fixture/StructureDefinition/bad-path-observation"
    outcome = validator.validate(FIXTURES / "validation" / "Observation-545.json", bad, fhir_version="R4")
    assert [i.severity for i in outcome.issues if i.rule == "profile-definition"] == ["error"]
