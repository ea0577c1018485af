"""Properties from the HL7 Europe imaging profiles (hl7.fhir.eu.imaging R4, hl7.fhir.eu.imaging-r5 R5).

Generated instances validate with 0 errors, and every mutant is reported with the expected rule at
the expected location. Few examples per profile by default; `IMGFHIR_HYPOTHESIS=nightly` runs many more.

The document Bundles (BundleReportEuImaging, and the collection BundleReportMinimalMetadataEuImaging)
always run, with fewer examples: each instance holds a dozen entries built from their slices' profiles.

Not generated (kept explicit in NOT_GENERATED, with the reason):
- ImagingSelectionEuImaging, SrInstanceImagingSelectionEuImaging, ImagingSelectionKeyImageEuImaging
  (R4 only): not in the R4 package (their cross-version extension package is missing, see README).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis.errors import NoSuchExample

from imgfhir.packages import PackageStore, load_store
from imgfhir.strategies import ExpectedIssue, builder_for, from_profile, fuzz, mutations
from imgfhir.validation import Validator
from tests.test_strategies import MUTANTS as _MUTANTS
from tests.test_strategies import VALID as _VALID
from tests.test_strategies import _errors, _short

# no shrinking: a failing instance of a large profile (nested contained targets) shrinks for minutes
VALID = settings(_VALID, phases=[Phase.explicit, Phase.generate])
MUTANTS = settings(_MUTANTS, phases=[Phase.explicit, Phase.generate])

EU4 = "http://hl7.eu/fhir/imaging/StructureDefinition/"
EU5 = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/"
COMMON = (
    "AccessionNumberIdentifierEuImaging",
    "AdverseEventEuImaging",
    "AnatomicalRegionExtension",
    "CompositionEuImaging",
    "DeviceAttesterExt",
    "DeviceEuImaging",
    "DiagnosticReportEuImaging",
    "DiagnosticReportEuImagingMinimalMetadata",
    "DocumentReferenceImagingReport",
    "DocumentReferenceKeyImageEuImaging",
    "HL7IDRCommunication",
    "HL7IDRComparisonStudy",
    "HL7IDRFinding",
    "HL7IDRImagingProcedure",
    "HL7IDRImpression",
    "HL7IDRPatientHistory",
    "HL7IDRRecommendation",
    "ImagingStudyEuImaging",
    "ImagingStudyEuImagingInstanceDescription",
    "NumberOfFrames",
    "ObservationFindingEuImaging",
    "ObservationGestationalAgeEuImaging",
    "ObservationRadiationDoseEuImaging",
    "ProcedureEuImaging",
    "ServiceRequestOrderEuImaging",
    "SopInstanceUidIdentifierEuImaging",
    "StudyInstanceUidIdentifierEuImaging",
    "care-plan-obligation-eu-imaging",
    "composition-obligation-eu-imaging",
    "diagnostic-report-obligation-eu-imaging",
    "imaging-study-obligation-eu-imaging",
    "observation-finding-obligation-eu-imaging",
    "observation-radiation-dose-obligation-eu-imaging",
    "procedure-obligation-eu-imaging",
    "service-request-order-obligation-eu-imaging",
)
R4_ONLY = ("im-documentreference-content-profile", "medication-administration-obligation-eu-imaging")
R5_ONLY = (
    "ImagingSelectionEuImaging",
    "ImagingSelectionKeyImageEuImaging",
    "SrInstanceImagingSelectionEuImaging",
    "patient-obligation-eu-imaging",
)
ALL = [EU4 + n for n in COMMON + R4_ONLY] + [EU5 + n for n in COMMON + R5_ONLY]
# by default a smoke set (the profiles with constructed invariants, contained targets and bound codes in
# profiled CodeableConcepts); IMGFHIR_EU_FUZZ=1 or IMGFHIR_HYPOTHESIS=nightly runs every profile
SMOKE = [
    EU4 + "CompositionEuImaging",
    EU5 + "CompositionEuImaging",
    EU5 + "ObservationRadiationDoseEuImaging",
    EU4 + "ServiceRequestOrderEuImaging",
    EU5 + "AnatomicalRegionExtension",
]
NIGHTLY = os.environ.get("IMGFHIR_HYPOTHESIS") == "nightly"
FULL = os.environ.get("IMGFHIR_EU_FUZZ") == "1" or NIGHTLY
PROFILES = ALL if FULL else SMOKE
BUNDLES = [
    base + name for base in (EU4, EU5) for name in ("BundleReportEuImaging", "BundleReportMinimalMetadataEuImaging")
]
# document Bundles: a dozen entries each, so fewer examples than the other profiles (the whole CI stays short)
BUNDLE_VALID = settings(VALID, max_examples=60 if NIGHTLY else 3)
BUNDLE_MUTANTS = settings(MUTANTS, max_examples=100 if NIGHTLY else 6)
NOT_GENERATED: dict[str, str] = {}


def _id(url: str) -> str:
    return ("r5-" if url.startswith(EU5) else "r4-") + _short(url)


@pytest.fixture(scope="module")
def store() -> PackageStore:
    return load_store(env=False, entry_points=False)


@pytest.fixture(scope="module")
def validator(store: PackageStore) -> Validator:
    return Validator(store)


def test_the_lists_cover_every_eu_imaging_profile(store: PackageStore) -> None:
    """Every StructureDefinition of both EU imaging packages is either tested here or listed as not generated."""
    known = set(ALL) | set(BUNDLES) | set(NOT_GENERATED)
    found: set[str] = set()
    for package_id in ("hl7.fhir.eu.imaging", "hl7.fhir.eu.imaging-r5"):
        package = store.get(package_id)
        assert package is not None
        found |= {e.url for e in package.entries if e.resource_type == "StructureDefinition" and e.url}
    assert found and found == known, (sorted(found - known), sorted(known - found))


@pytest.mark.parametrize("url", PROFILES + BUNDLES, ids=_id)
def test_generated_eu_instances_are_valid(url: str, store: PackageStore, validator: Validator) -> None:
    builder = builder_for(url, store=store)

    @BUNDLE_VALID if url in BUNDLES else VALID
    @given(from_profile(url, store=store))
    def check(instance: dict[str, Any]) -> None:
        assert _errors(validator, instance, url, builder.release) == []

    check()


@pytest.mark.parametrize("url", PROFILES + BUNDLES, ids=_id)
def test_every_eu_mutant_is_caught_at_its_location(url: str, store: PackageStore, validator: Validator) -> None:
    release = builder_for(url, store=store).release

    @BUNDLE_MUTANTS if url in BUNDLES else MUTANTS
    @given(mutations(url, store=store))
    def check(pair: tuple[dict[str, Any], ExpectedIssue]) -> None:
        mutant, expected = pair
        outcome = validator.validate(mutant, url, fhir_version=release)
        found = [(i.rule, i.expression) for i in outcome.issues if i.severity in ("error", "fatal")]
        assert (expected.rule, expected.expression) in found, (expected, found)

    check()


@pytest.mark.parametrize("url", BUNDLES, ids=_id)
def test_generated_eu_bundles_are_self_contained(url: str, store: PackageStore) -> None:
    """The Bundle's own shape, beyond what validation says: one entry per required slice, the
    Composition first in a document, unique urn:uuid fullUrls, every reference naming an entry."""

    @BUNDLE_VALID
    @given(from_profile(url, store=store))
    def check(bundle: dict[str, Any]) -> None:
        entries = bundle["entry"]
        urls = [e["fullUrl"] for e in entries]
        assert len(set(urls)) == len(urls) and all(u.startswith("urn:uuid:") for u in urls)
        types = [e["resource"]["resourceType"] for e in entries]
        if bundle["type"] == "document":
            assert types[0] == "Composition" and bundle["identifier"]["system"] and bundle["timestamp"]
            assert {"DiagnosticReport", "Patient", "ImagingStudy"} <= set(types)
        else:
            assert bundle["type"] == "collection" and "DiagnosticReport" in types
        refs = [r for e in entries for r in _references(e["resource"])]
        assert refs and set(refs) <= set(urls), set(refs) - set(urls)

    check()


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return own + [r for k, v in value.items() if k != "reference" for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []


def test_bundle_mutants_reach_into_the_entries(store: PackageStore, validator: Validator) -> None:
    """Dropped required values inside the entries are caught both ways the validator reports them: in
    place when the base resource requires the value too, as the entry's slice falling below its minimum
    when only the slice's profile does (the entry then matches no slice)."""
    made: list[ExpectedIssue] = []
    urls = (EU5 + "BundleReportEuImaging", EU4 + "BundleReportEuImaging")
    for url in urls:
        _dropped_values(validator, store, url, made)
    ways: dict[str, Callable[[ExpectedIssue], bool]] = {
        "in place": lambda e: e.expression.startswith("Bundle.entry["),
        "as the slice count": lambda e: e.expression == "Bundle" and "no longer conforms" in e.change,
    }
    for way, wanted in ways.items():
        if any(wanted(e) for e in made):
            continue
        # not among the sampled mutants (which ones are drawn varies with the Hypothesis version):
        # look for one reported this way on purpose, then check that it is caught there
        url = urls[0]
        try:
            mutant, expected = find(
                mutations(url, store=store, kinds=("drop-required",)),
                lambda pair, wanted=wanted: wanted(pair[1]),  # type: ignore[misc]
                settings=settings(max_examples=200, derandomize=True, database=None, phases=[Phase.generate]),
            )
        except NoSuchExample:
            pytest.fail(f"no drop-required mutant of {url} is reported {way}")
        found = validator.validate(mutant, url, fhir_version="5.0.0").issues
        assert (expected.rule, expected.expression) in [(i.rule, i.expression) for i in found], (expected, found)


def _dropped_values(validator: Validator, store: PackageStore, url: str, made: list[ExpectedIssue]) -> None:
    release = builder_for(url, store=store).release

    @settings(BUNDLE_MUTANTS, max_examples=15, derandomize=True)
    @given(mutations(url, store=store, kinds=("drop-required",)))
    def check(pair: tuple[dict[str, Any], ExpectedIssue]) -> None:
        mutant, expected = pair
        made.append(expected)
        outcome = validator.validate(mutant, url, fhir_version=release)
        found = [(i.rule, i.expression) for i in outcome.issues if i.severity in ("error", "fatal")]
        assert (expected.rule, expected.expression) in found, (expected, found)

    check()


def test_fuzz_reports_a_bundle_profile(store: PackageStore) -> None:
    """`imgfhir fuzz` on a Bundle profile: valid instances, mutants caught, kinds with no place skipped quickly."""
    report = fuzz(EU4 + "BundleReportMinimalMetadataEuImaging", max_examples=2, store=store)
    assert report.ok and report.examples == 2, (report.invalid, report.missed)
    assert {"drop-required", "binding", "dangling-reference"} <= set(report.caught)
    assert "closed-slice" not in report.caught  # the entry slicing is open: no such mutant
