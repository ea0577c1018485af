"""Varied TID 1500 reports written with highdicom, whose content is known here: the FHIR side must
carry exactly that content (groups, measurements with units and algorithms, qualitative
evaluations, finding sites, tracking identifiers, 2D and 3D image regions) and validate (R5)."""

from __future__ import annotations

from typing import Any

import pytest

hd = pytest.importorskip("highdicom")
np = pytest.importorskip("numpy")

from pydicom.dataset import Dataset  # noqa: E402
from pydicom.sr.codedict import codes  # noqa: E402

from imgfhir.dicom import convert_file  # noqa: E402
from imgfhir.dicom.sr import (  # noqa: E402
    ALGORITHM_PROFILE,
    GROUP_PROFILE,
    MEASUREMENT_PROFILE,
    QUALITATIVE_PROFILE,
    SrConversion,
    convert_sr,
)
from imgfhir.validation import Validator  # noqa: E402

UID = "1.2.826.0.1.3680043.10.1234."
STUDY, SERIES, FRAME_OF_REFERENCE = UID + "1", UID + "2", UID + "3"
POLYLINE = [[10.0, 10.0], [20.0, 10.0], [20.0, 20.0], [10.0, 20.0], [10.0, 10.0]]


def source_image() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = UID + "10"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = STUDY, SERIES, FRAME_OF_REFERENCE
    ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = "P-1", "Doe^Jane", "19700101", "F"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240101", "101010", "S1", "A-42"
    ds.ReferringPhysicianName, ds.Modality, ds.Rows, ds.Columns = "Ref^Doc", "CT", 64, 64
    return ds


def report() -> Any:
    image = source_image()
    algorithm = hd.sr.AlgorithmIdentification(name="lesion-ai", version="2.1")
    planar = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=UID + "20", identifier="lesion 1"),
        referenced_region=hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
            graphic_data=np.array(POLYLINE),
            source_image=hd.sr.SourceImageForRegion.from_source_image(image),
        ),
        finding_type=codes.SCT.Lesion,
        finding_sites=[hd.sr.FindingSite(anatomic_location=codes.SCT.Lung)],
        measurements=[
            hd.sr.Measurement(name=codes.SCT.Area, value=100.0, unit=codes.UCUM.SquareMillimeter),
            hd.sr.Measurement(name=codes.SCT.Diameter, value=14.1, unit=codes.UCUM.Millimeter, algorithm_id=algorithm),
        ],
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(
                name=hd.sr.CodedConcept("C45992", "NCIt", "Subtlety score"),
                value=hd.sr.CodedConcept("105", "99TEST", "5 out of 5 (Obvious)"),
            )
        ],
    )
    volumetric = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=UID + "21", identifier="lesion 2"),
        referenced_region=hd.sr.ImageRegion3D(
            graphic_type=hd.sr.GraphicTypeValues3D.POLYGON,
            graphic_data=np.array([[1.0, 1.0, 5.0], [4.0, 1.0, 5.0], [4.0, 4.0, 5.0], [1.0, 1.0, 5.0]]),
            frame_of_reference_uid=FRAME_OF_REFERENCE,
        ),
        finding_type=codes.SCT.Nodule,
        measurements=[hd.sr.Measurement(name=codes.SCT.Volume, value=33.5, unit=codes.UCUM.CubicMillimeter)],
    )
    content = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_person_context=hd.sr.ObserverContext(
                observer_type=codes.DCM.Person,
                observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name="Reader^One"),
            )
        ),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=[planar, volumetric],
    )
    return hd.sr.Comprehensive3DSR(
        evidence=[image], content=content, series_instance_uid=UID + "30", series_number=99,
        sop_instance_uid=UID + "31", instance_number=1, manufacturer="Test Maker",
    )


@pytest.fixture(scope="module")
def conversion() -> SrConversion:
    return convert_sr(report())


def resolve(conversion: SrConversion, url: str) -> dict[str, Any]:
    return next(e["resource"] for e in conversion.bundle["entry"] if e["fullUrl"] == url)


def test_validates(conversion: SrConversion) -> None:
    outcome = Validator().validate(conversion.bundle, fhir_version="R5")
    assert [str(i) for i in outcome.issues if i.severity in ("error", "fatal")] == []
    # the Person Observer Name of the observation context is the performer of every Observation
    assert conversion.resources(GROUP_PROFILE)[0]["performer"] == [{"type": "Practitioner", "display": "Reader One"}]


def test_groups_carry_exactly_the_written_content(conversion: SrConversion) -> None:
    groups = conversion.resources(GROUP_PROFILE)
    assert [g["valueCodeableConcept"]["coding"][0]["code"] for g in groups] == [
        codes.SCT.Lesion.value, codes.SCT.Nodule.value,
    ]
    first, second = groups
    members = [resolve(conversion, m["reference"]) for m in first["hasMember"]]
    measured = [(m["code"]["coding"][0]["code"], m["valueQuantity"]["value"], m["valueQuantity"]["code"])
                for m in members if MEASUREMENT_PROFILE in m["meta"]["profile"]]
    assert measured == [(codes.SCT.Area.value, 100, "mm2"), (codes.SCT.Diameter.value, 14.1, "mm")]
    qualitative = [m for m in members if QUALITATIVE_PROFILE in m["meta"]["profile"]]
    assert [(q["code"]["coding"][0]["code"], q["valueCodeableConcept"]["coding"][0]["code"]) for q in qualitative] == [
        ("C45992", "105")
    ]
    diameter = next(m for m in members if m["code"]["coding"][0]["code"] == codes.SCT.Diameter.value)
    algorithm = resolve(conversion, diameter["device"]["reference"])
    assert ALGORITHM_PROFILE in algorithm["meta"]["profile"]
    assert (algorithm["displayName"], algorithm["version"]) == ("lesion-ai", [{"value": "2.1"}])
    area = next(m for m in members if m["code"]["coding"][0]["code"] == codes.SCT.Area.value)
    assert "algorithm" not in str(resolve(conversion, area["device"]["reference"])["meta"])

    site = resolve(conversion, first["bodyStructure"]["reference"])
    assert site["includedStructure"][0]["structure"]["coding"][0]["code"] == codes.SCT.Lung.value
    assert [i["value"] for i in site["identifier"]] == ["lesion 1", f"urn:oid:{UID}20"]
    assert "bodyStructure" not in second  # no finding site written for the second group

    second_members = [resolve(conversion, m["reference"]) for m in second["hasMember"]]
    assert [(m["code"]["coding"][0]["code"], m["valueQuantity"]["value"]) for m in second_members] == [
        (codes.SCT.Volume.value, 33.5)
    ]


def test_image_regions(conversion: SrConversion) -> None:
    first, second = conversion.resources(GROUP_PROFILE)
    region_2d = next(r for r in (resolve(conversion, d["reference"]) for d in first["derivedFrom"])
                     if r["resourceType"] == "ImagingSelection")
    instance = region_2d["instance"][0]
    assert instance["uid"] == UID + "10"
    assert instance["imageRegion2D"] == [{"regionType": "polyline", "coordinate": [x for p in POLYLINE for x in p]}]
    region_3d = resolve(conversion, second["derivedFrom"][0]["reference"])
    assert region_3d["frameOfReferenceUid"] == FRAME_OF_REFERENCE
    # the 3D coordinates cannot be carried: said, not dropped silently
    assert any("SCOORD3D" in i.message and "coordinates" in i.message for i in conversion.issues)


def test_coding_scheme_identification_gives_the_system(tmp_path: Any) -> None:
    sr = report()
    scheme = Dataset()
    scheme.CodingSchemeDesignator = "99TEST"
    scheme.CodingSchemeURL = "http://example.org/test-scheme"
    sr.CodingSchemeIdentificationSequence = [scheme]
    path = tmp_path / "report.dcm"
    sr.save_as(path)
    result = convert_file(path)
    qualitative = result.resources(QUALITATIVE_PROFILE)[0]
    assert qualitative["valueCodeableConcept"]["coding"][0]["system"] == "http://example.org/test-scheme"
    assert not any("99TEST" in i.message for i in result.issues)
