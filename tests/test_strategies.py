"""Properties from profiles: generated instances are valid, every mutant is caught where expected.

Deterministic by default (derandomized, no example database, few examples per profile);
`IMGFHIR_HYPOTHESIS=nightly` runs many more examples with fresh randomness.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from imgfhir.packages import PackageStore, load_store
from imgfhir.strategies import MUTATION_KINDS, ExpectedIssue, builder_for, from_profile, mutations
from imgfhir.validation import Validator

NIGHTLY = os.environ.get("IMGFHIR_HYPOTHESIS") == "nightly"
_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
}
VALID = settings(max_examples=300 if NIGHTLY else 6, derandomize=not NIGHTLY, **_COMMON)
MUTANTS = settings(max_examples=400 if NIGHTLY else 10, derandomize=not NIGHTLY, **_COMMON)

RDS = "http://hl7.org/fhir/uv/radiation-dose-summary/StructureDefinition/"
SR = "http://hl7.org/fhir/uv/dicom-sr/StructureDefinition/"
PROFILES = [
    RDS + name
    for name in ("indication-observation", "modality-device", "radiation-dose-summary", "radiation-summary-report")
] + [
    SR + name
    for name in (
        "algorithm-identification",
        "derived-imaging-measurement",
        "dicom-general-equipment",
        "dicom-participant-device",
        "dicom-participant-person",
        "dicom-sr-finding-site",
        "illustration-of-roi",
        "image-region-2d",
        "image-region-3d",
        "imaging-measurement",
        "imaging-measurement-group",
        "imaging-observation",
        "imaging-qualitative-evaluation",
        "observation-imaging-selection",
        "real-world-value-map",
        "referenced-segment",
        "referenced-segmentation-frame",
        "region-in-space",
        "source-image-for-segmentation",
        "source-sr-content-item",
        "visual-explanation",
        "volume-surface",
    )
]


@pytest.fixture(scope="module")
def store() -> PackageStore:
    return load_store(env=False, entry_points=False)


@pytest.fixture(scope="module")
def validator(store: PackageStore) -> Validator:
    return Validator(store)


def _errors(validator: Validator, instance: dict[str, Any], url: str | None, release: str) -> list[str]:
    outcome = validator.validate(instance, url, fhir_version=release)
    return [f"{i.rule} at {i.expression}: {i.message}" for i in outcome.issues if i.severity in ("error", "fatal")]


def _short(url: str) -> str:
    return url.rsplit("/", 1)[-1]


@pytest.mark.parametrize("url", PROFILES, ids=_short)
def test_generated_instances_are_valid(url: str, store: PackageStore, validator: Validator) -> None:
    release = builder_for(url, store=store).release

    @VALID
    @given(from_profile(url, store=store))
    def check(instance: dict[str, Any]) -> None:
        assert instance["resourceType"] == builder_for(url, store=store).plan.type
        assert _errors(validator, instance, url, release) == []

    check()


@pytest.mark.parametrize("url", PROFILES, ids=_short)
def test_every_mutant_is_caught_at_its_location(url: str, store: PackageStore, validator: Validator) -> None:
    release = builder_for(url, store=store).release
    kinds: Counter[str] = Counter()

    @MUTANTS
    @given(mutations(url, store=store))
    def check(pair: tuple[dict[str, Any], ExpectedIssue]) -> None:
        mutant, expected = pair
        kinds[expected.kind] += 1
        outcome = validator.validate(mutant, url, fhir_version=release)
        found = [(i.rule, i.expression) for i in outcome.issues if i.severity in ("error", "fatal")]
        assert (expected.rule, expected.expression) in found, (expected, found)

    check()
    assert kinds, "no mutant could be made"


def test_every_mutation_kind_has_its_places_and_its_mutator() -> None:
    from imgfhir.strategies.mutants import MUTATORS
    from imgfhir.strategies.places import FINDERS

    assert set(FINDERS) == set(MUTATORS) == set(MUTATION_KINDS)


@pytest.mark.parametrize("kind", [k for k in MUTATION_KINDS if k != "fixed-value"])
def test_each_mutation_kind_is_exercised_somewhere(kind: str, store: PackageStore, validator: Validator) -> None:
    """Every kind of mutant is produced for at least one of the imaging profiles, and caught."""
    urls = {
        "exceed-max": [RDS + "radiation-dose-summary", SR + "dicom-general-equipment"],
        "pattern-value": [RDS + "radiation-dose-summary", SR + "imaging-qualitative-evaluation"],
        "closed-slice": [RDS + "radiation-dose-summary"],  # performer: closed, type discriminator on resolve()
        "invariant": [SR + "imaging-measurement"],  # obs-6 (dataAbsentReason is 0..0 in radiation-dose-summary)
    }.get(kind, [RDS + "radiation-dose-summary", SR + "imaging-measurement", RDS + "modality-device"])
    made: list[ExpectedIssue] = []
    for url in urls:
        with contextlib.suppress(Unsatisfiable):  # no place for this kind of mutant in this profile
            _mutants_of_kind(validator, store, url, kind, made)
        if made:
            break
    assert made, f"no {kind} mutant for {urls}"
    rules = {
        "closed-slice": {"slice"},
        "choice-type": {"type"},
        "invariant": {"obs-6", "obs-8"},
        "unknown-element": {"unknown-element"},
    }
    assert {e.rule for e in made} <= rules.get(kind, {e.rule for e in made}), made


LOCAL = Path(__file__).resolve().parent / "fixtures" / "snapshot" / "local-profiles"
FIXED = "http://example.org/fhir/StructureDefinition/fixed-values-observation"
SLICED = "http://example.org/fhir/StructureDefinition/vital-extension-slices"
RANGED = "http://example.org/fhir/StructureDefinition/body-weight-range-observation"


def test_fixed_value_mutants_on_a_fixture_profile() -> None:
    """The imaging profiles fix primitives only on slice discriminators (extension urls, codes): a fixture does."""
    local = load_store([LOCAL], env=False, entry_points=False)
    made: list[ExpectedIssue] = []
    _mutants_of_kind(Validator(local), local, FIXED, "fixed-value", made)
    assert made and all(e.rule == "fixed" for e in made)


@pytest.mark.parametrize("url", [FIXED, SLICED, RANGED], ids=_short)
def test_fixture_profiles_generate_valid_instances(url: str) -> None:
    local = load_store([LOCAL], env=False, entry_points=False)
    validator = Validator(local)

    @VALID
    @given(from_profile(url, store=local))
    def check(instance: dict[str, Any]) -> None:
        assert _errors(validator, instance, url, "R4") == []

    check()


def _mutants_of_kind(validator: Validator, store: PackageStore, url: str, kind: str, made: list[ExpectedIssue]) -> None:
    release = builder_for(url, store=store).release

    @settings(max_examples=5, phases=[Phase.generate], derandomize=True, **_COMMON)
    @given(mutations(url, store=store, kinds=(kind,)))
    def check(pair: tuple[dict[str, Any], ExpectedIssue]) -> None:
        mutant, expected = pair
        made.append(expected)
        issues = validator.validate(mutant, url, fhir_version=release).issues
        assert any((i.rule, i.expression) == (expected.rule, expected.expression) for i in issues), expected

    check()


def test_cli_example_writes_valid_instances(store: PackageStore, validator: Validator) -> None:
    import orjson
    from typer.testing import CliRunner

    from imgfhir.cli import app

    url = RDS + "modality-device"
    result = CliRunner().invoke(app, ["example", url, "-n", "2", "--seed", "7"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for n, line in enumerate(lines):
        instance = orjson.loads(line)
        assert _errors(validator, instance, url, "R4") == []
        # validate without --profile checks it against its profile: it names it, and has an id
        assert instance["meta"]["profile"][0] == url and instance["id"] == f"example-7-{n}"
        assert _errors(validator, instance, None, "R4") == []


def test_cli_example_without_hypothesis_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from typer.testing import CliRunner

    from imgfhir.cli import app

    monkeypatch.setitem(sys.modules, "hypothesis", None)  # as on a plain install
    for name in [m for m in sys.modules if m == "imgfhir.strategies" or m.startswith("imgfhir.strategies.")]:
        monkeypatch.delitem(sys.modules, name)
    for command in (["example", RDS + "modality-device"], ["fuzz", RDS + "modality-device"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 1
        assert len(result.stderr.splitlines()) == 1
        assert "pip install 'imgfhir[strategies]'" in result.stderr
        assert "Traceback" not in result.output


def test_generated_values_respect_min_and_max_value() -> None:
    """The bounds of the local body-weight profile (0.3-700 kg, effective from 2000-01-01): a drawn
    value outside them is moved onto them, in the bound's unit (the validator does not convert)."""
    from imgfhir.strategies.primitives import within_bounds
    from imgfhir.validation.plan import compile_profile

    local = load_store([LOCAL], env=False, entry_points=False)
    root = compile_profile(local.scope_for_canonical(RANGED), RANGED).root
    value, effective = root.children["value[x]"], root.children["effective[x]"]
    pounds = {"value": 2000, "unit": "lb", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}
    assert within_bounds(value, pounds) == {
        "value": 700,
        "unit": "kg",
        "system": "http://unitsofmeasure.org",
        "code": "kg",
    }
    assert within_bounds(value, {"value": 0.1, "code": "kg", "system": "http://unitsofmeasure.org"})["value"] == 0.3
    assert within_bounds(value, {"value": 80, "code": "kg", "system": "http://unitsofmeasure.org"})["value"] == 80
    assert within_bounds(effective, "1956-06-18T10:00:00Z") == "2000-01-01"
    assert within_bounds(effective, "2023-06-01") == "2023-06-01"


def test_contained_only_references_get_contained_targets(store: PackageStore) -> None:
    """IHE MHD's Comprehensive DocumentReference allows only contained authors, authenticators and
    source patients (type.aggregation): the generator builds them as contained resources."""
    url = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Comprehensive.DocumentReference"
    validator = Validator(store)

    @VALID
    @given(from_profile(url, store=store))
    def check(instance: dict[str, Any]) -> None:
        assert _errors(validator, instance, url, "R4") == []
        for author in instance.get("author", ()):
            assert author["reference"].startswith("#")

    check()
