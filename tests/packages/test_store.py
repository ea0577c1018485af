"""PackageStore and Scope: release separation, dependency closure, diagnostics, canonical lookup."""

from __future__ import annotations

import pytest

from imgfhir.packages import Package, PackageError, PackageStore, UnknownCanonical, load_store
from tests.support import (
    BASE_FIXTURE,
    BUNDLED_IDS,
    DEVICE_CANONICAL,
    FIXTURE_CANONICAL,
    OBSERVATION,
    PROFILES_FIXTURE,
    RDS_CANONICAL,
    RDS_ID,
    lock_entry,
)

EU_IMAGING_ID = "hl7.fhir.eu.imaging"
EU_IMAGING_STUDY = "http://hl7.eu/fhir/imaging/StructureDefinition/ImagingStudyEuImaging"
XVER = "hl7.fhir.uv.xver-r5.r4#0.0.1-snapshot-2"


def _messages(store: PackageStore, needle: str) -> list[str]:
    return [i.message for i in store.diagnostics if needle in i.message]


def test_bundled_store_loads_all_21_packages(bundled_store: PackageStore) -> None:
    assert sorted(p.id for p in bundled_store.packages) == BUNDLED_IDS
    assert {p.origin for p in bundled_store.packages} == {"bundled"}
    for pkg in bundled_store.packages:
        assert pkg.sha256 == lock_entry(pkg.id).sha256
        assert pkg.version == lock_entry(pkg.id).version
    assert bundled_store.releases() == ["R4", "R5"]


def test_bundled_counts_match_the_shipped_packages(bundled_store: PackageStore) -> None:
    counts = {p.id: p.counts() for p in bundled_store.packages}
    assert counts["hl7.fhir.r4.core"]["StructureDefinition"] == 658
    assert counts["hl7.fhir.r5.core"]["StructureDefinition"] == 307
    assert counts[RDS_ID]["StructureDefinition"] == 4
    assert counts["hl7.fhir.eu.imaging-r5"]["StructureDefinition"] == 41


@pytest.mark.parametrize(("release", "fhir_version"), [("R4", "4.0.1"), ("R5", "5.0.0")])
def test_releases_are_kept_apart(bundled_store: PackageStore, release: str, fhir_version: str) -> None:
    scope = bundled_store.scope(release=release)
    assert scope.release == release
    assert {p.release for p in scope.packages} == {release}
    assert scope.resolve(OBSERVATION)["fhirVersion"] == fhir_version
    assert scope.package_of(OBSERVATION) is bundled_store.get(f"hl7.fhir.{release.lower()}.core")


def test_package_scope_resolves_core_of_its_own_release(bundled_store: PackageStore) -> None:
    r5 = bundled_store.scope("hl7.fhir.eu.imaging-r5")
    r4 = bundled_store.scope("hl7.fhir.eu.imaging")
    assert r5.resolve(OBSERVATION)["fhirVersion"] == "5.0.0"
    assert r4.resolve(OBSERVATION)["fhirVersion"] == "4.0.1"
    assert all(p.release == "R5" for p in r5.packages)
    assert all(p.release == "R4" for p in r4.packages)


def test_scope_for_canonical_honours_release(bundled_store: PackageStore) -> None:
    assert bundled_store.scope_for_canonical(OBSERVATION, "R5").release == "R5"
    assert bundled_store.scope_for_canonical(OBSERVATION, "R4").release == "R4"
    assert bundled_store.scope_for_canonical(RDS_CANONICAL).root.id == RDS_ID
    with pytest.raises(UnknownCanonical):
        bundled_store.scope_for_canonical(RDS_CANONICAL, "R5")  # an R4-only IG


def test_dependency_closure_is_breadth_first(bundled_store: PackageStore) -> None:
    rds = bundled_store.get(RDS_ID)
    assert rds is not None
    assert [p.key for p in bundled_store.closure(rds)] == [
        "hl7.fhir.uv.radiation-dose-summary#1.0.0",
        "hl7.fhir.r4.core#4.0.1",  # direct dependencies, in manifest order
        "hl7.fhir.uv.ips#2.0.0",
        "fhir.dicom#0.0.0-pydicom.3.0.2",  # generated stand-in for 2025.2.20250411
        "hl7.terminology.r4#7.0.1",  # then those of ips (stand-ins for 6.5.0 / 5.2.0)
        "hl7.fhir.uv.extensions.r4#5.3.0-ballot-tc1",
        "hl7.fhir.uv.ipa#1.1.0",
        "hl7.fhir.uv.smart-app-launch#2.0.0",  # then that of ipa
    ]
    scope = bundled_store.scope(rds)
    closure = bundled_store.closure(rds)
    # for resolution, core goes last: IG-level packages redefine some of its canonicals with newer editions
    assert scope.packages[:8] == [p for p in closure if p.id != "hl7.fhir.r4.core"] + [closure[1]]
    assert {p.release for p in scope.packages} == {"R4"}  # the rest of R4 follows as a last resort


def test_closure_of_folder_packages() -> None:
    store = load_store([PROFILES_FIXTURE, BASE_FIXTURE], env=False, entry_points=False)
    root = store.get("example.imaging.profiles")
    assert root is not None
    assert [p.key for p in store.closure(root)] == [
        "example.imaging.profiles#0.2.0",
        "hl7.fhir.r4.core#4.0.1",
        "example.imaging.base#0.1.0",
    ]
    scope = store.scope("example.imaging.profiles")
    assert scope.resolve(DEVICE_CANONICAL)["type"] == "Device"
    assert scope.resolve(FIXTURE_CANONICAL)["baseDefinition"] == OBSERVATION
    [missing] = _messages(store, "example.imaging.missing")
    assert "unresolved dependency example.imaging.missing#1.0.0 of example.imaging.profiles#0.2.0" in missing


def test_unresolved_dependency_is_reported_once_and_store_stays_usable(fresh_store: PackageStore) -> None:
    # hl7.fhir.uv.xver-r5.r4 is genuinely missing (fhir.dicom used to be, until codegen/dicom_package.py)
    imaging = fresh_store.get(EU_IMAGING_ID)
    assert imaging is not None
    fresh_store.closure(imaging)
    fresh_store.closure(imaging)
    scope = fresh_store.scope(imaging)
    fresh_store.scope(imaging)
    [issue] = [i for i in fresh_store.diagnostics if XVER in i.message]
    assert issue.severity == "warning"
    assert issue.code == "not-found"
    assert f"unresolved dependency {XVER} of {EU_IMAGING_ID}#1.0.0-ballot" in issue.message
    assert "\n" not in issue.message
    # still usable: the IG's own profiles and everything its available dependencies define resolve
    assert scope.resolve(EU_IMAGING_STUDY)["name"] == "ImagingStudyEuImaging"
    assert scope.resolve(OBSERVATION)["fhirVersion"] == "4.0.1"
    assert scope.resolve("http://dicom.nema.org/resources/ontology/DCM")["resourceType"] == "CodeSystem"


def test_stand_in_versions_are_reported(fresh_store: PackageStore) -> None:
    fresh_store.scope("hl7.fhir.uv.ips")
    [stand_in] = _messages(fresh_store, "hl7.terminology.r4#6.5.0")
    assert "using hl7.terminology.r4#7.0.1 in its place" in stand_in


def test_generated_fhir_dicom_stands_in_for_the_published_one(fresh_store: PackageStore) -> None:
    fresh_store.scope("hl7.fhir.uv.dicom-sr")  # R5: the fhir.dicom.r5 archive, which provides fhir.dicom
    [stand_in] = _messages(fresh_store, "fhir.dicom#2025.3.20250714 of hl7.fhir.uv.dicom-sr#1.0.0")
    assert "using fhir.dicom.r5#0.0.0-pydicom.3.0.2 in its place" in stand_in
    scope = fresh_store.scope(RDS_ID)  # R4
    assert [p.key for p in scope.packages if p.id.startswith("fhir.dicom")] == ["fhir.dicom#0.0.0-pydicom.3.0.2"]


def test_provides_satisfies_a_renamed_dependency(fresh_store: PackageStore) -> None:
    base_r5 = fresh_store.get("hl7.fhir.eu.base-r5")
    assert base_r5 is not None
    keys = [p.key for p in fresh_store.closure(base_r5)]
    assert "hl7.fhir.eu.extensions#1.2.0" in keys  # asked for as hl7.fhir.eu.extensions.r5#1.2.0
    assert not _messages(fresh_store, "hl7.fhir.eu.extensions.r5")


def test_dependency_of_the_other_release_is_not_used(fresh_store: PackageStore) -> None:
    imaging_r5 = fresh_store.get("hl7.fhir.eu.imaging-r5")
    assert imaging_r5 is not None
    assert "ihe.iti.mhd#4.2.3" not in [p.key for p in fresh_store.closure(imaging_r5)]
    [issue] = _messages(fresh_store, "ihe.iti.mhd#5.0.0")
    assert "(only for FHIR R4)" in issue


def test_unknown_canonical_suggests_close_matches(bundled_store: PackageStore) -> None:
    scope = bundled_store.scope(release="R4")
    with pytest.raises(UnknownCanonical) as info:
        scope.resolve("http://hl7.org/fhir/StructureDefinition/Observaton")
    assert OBSERVATION in info.value.suggestions
    message = str(info.value)
    assert message.startswith("unknown canonical http://hl7.org/fhir/StructureDefinition/Observaton in FHIR R4")
    assert f"(did you mean {OBSERVATION}" in message
    assert "\n" not in message

    with pytest.raises(UnknownCanonical) as info:
        bundled_store.scope_for_canonical(RDS_CANONICAL.replace("summary", "sumary"))
    assert info.value.suggestions[0] == RDS_CANONICAL


def test_unknown_canonical_without_close_matches(bundled_store: PackageStore) -> None:
    with pytest.raises(UnknownCanonical) as info:
        bundled_store.scope(release="R5").resolve("urn:example:nothing-like-it")
    assert info.value.suggestions == []
    assert "did you mean" not in str(info.value)


def test_find_warns_once_instead_of_raising() -> None:
    store = load_store(env=False, entry_points=False)
    scope = store.scope(release="R4")
    assert scope.find("http://example.org/missing", context="a test") is None
    assert scope.find("http://example.org/missing") is None
    [message] = _messages(store, "http://example.org/missing")
    assert message == "cannot resolve http://example.org/missing in FHIR R4 (referenced from a test)"


def test_url_version_lookup(bundled_store: PackageStore) -> None:
    scope = bundled_store.scope(release="R4")
    url = "http://terminology.hl7.org/CodeSystem/action-type"  # in R4 core (4.0.1) and THO (1.0.1)
    core = scope.package_of(f"{url}|4.0.1")
    tho = scope.package_of(f"{url}|1.0.1")
    assert core is not None and core.id == "hl7.fhir.r4.core"
    assert tho is not None and tho.id == "hl7.terminology.r4"
    assert scope.resolve(f"{url}|1.0.1")["version"] == "1.0.1"
    assert scope.package_of(url) is tho  # unversioned: THO's edition; core is searched last
    assert scope.resolve(f"{OBSERVATION}|4.0.1")["fhirVersion"] == "4.0.1"
    assert bundled_store.scope_for_canonical(f"{RDS_CANONICAL}|1.0.0").root.id == RDS_ID


def test_entries_lists_each_canonical_once(bundled_store: PackageStore) -> None:
    scope = bundled_store.scope(RDS_ID)
    urls = [e.url for _, e in scope.entries("StructureDefinition")]
    assert len(urls) == len(set(urls))
    assert RDS_CANONICAL in urls
    assert scope.structure_definition_for_type("Quantity") is not None


def test_package_lookup(bundled_store: PackageStore) -> None:
    assert bundled_store.get(RDS_ID) is bundled_store.get(f"{RDS_ID}#1.0.0")
    assert bundled_store.get(RDS_ID, "1.0.0") is not None
    assert bundled_store.get(RDS_ID, "9.9.9") is None
    with pytest.raises(PackageError, match="unknown package nope"):
        bundled_store.scope("nope")
    with pytest.raises(ValueError):
        bundled_store.scope()


def test_duplicate_package_is_kept_once_with_a_warning() -> None:
    first = Package.open(BASE_FIXTURE, "option")
    second = Package.open(BASE_FIXTURE, "env:IMGFHIR_PACKAGES")
    store = PackageStore([first, second])
    assert store.packages == [first]
    [message] = _messages(store, "loaded twice")
    assert "example.imaging.base#0.1.0" in message


def test_user_packages_come_before_bundled_ones() -> None:
    store = load_store([BASE_FIXTURE], env=False, entry_points=False)
    assert store.packages[0].id == "example.imaging.base"
    assert store.packages[0].origin == "option"
    assert len(store.packages) == len(BUNDLED_IDS) + 1
