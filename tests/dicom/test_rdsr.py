"""RDSR → Radiation Dose Summary: real vendor RDSRs convert to Bundles that validate with 0 errors,
and the dose figures match the accumulated dose data read here independently with pydicom."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pydicom = pytest.importorskip("pydicom")

from imgfhir.dicom import DicomError, convert_rdsr  # noqa: E402
from imgfhir.dicom.rdsr import RDS_PROFILE, dicom_datetime  # noqa: E402
from imgfhir.validation import Validator  # noqa: E402

RDSR_DIR = Path(__file__).parent.parent / "fixtures" / "dicom" / "rdsr"
FILES = sorted(RDSR_DIR.glob("*.dcm"))

# The test's own reading of the accumulated dose data: concept → factor to the IG's unit.
PROJECTION = {"113722", "113725", "113726", "113727", "113730", "113731", "111637"}
CT = {"113813", "113812"}
TO_IG_UNIT = {
    "Gy": Decimal(1000), "mGy": Decimal(1),
    "Gy.m2": Decimal(10) ** 7, "Gym2": Decimal(10) ** 7, "dGy.cm2": Decimal(100), "mGy.cm2": Decimal(1),
    "mGy.cm": Decimal(1), "mGycm": Decimal(1),
    "s": Decimal(1), "1": Decimal(1), "{events}": Decimal(1),
}


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


def _code(item: Any) -> tuple[str, str]:
    seq = item.get("ConceptNameCodeSequence")
    return (str(seq[0].CodeValue), str(seq[0].CodingSchemeDesignator)) if seq else ("", "")


def accumulated_figures(path: Path) -> list[tuple[str, Decimal]]:
    """(concept, value in the IG's unit) of every stated NUM in the accumulated dose containers."""
    ds = pydicom.dcmread(path)
    out = []
    for container in ds.ContentSequence:
        if _code(container) not in (("113811", "DCM"), ("113702", "DCM")):
            continue
        for item in container.get("ContentSequence", []):
            code, scheme = _code(item)
            if item.ValueType != "NUM" or scheme != "DCM" or code not in PROJECTION | CT:
                continue
            measured = item.get("MeasuredValueSequence")
            if not measured:
                continue
            unit = str(measured[0].MeasurementUnitsCodeSequence[0].CodeValue)
            value = Decimal(str(measured[0].NumericValue.original_string or measured[0].NumericValue))
            out.append((code, value * TO_IG_UNIT[unit]))
    return out


def component_figures(observation: dict[str, Any], codes: set[str]) -> list[tuple[str, Decimal]]:
    out = []
    for component in observation.get("component", []):
        code = component["code"]["coding"][0]["code"]
        if code not in codes:
            continue
        if "valueInteger" in component:
            out.append((code, Decimal(component["valueInteger"])))
        else:
            quantity = component["valueQuantity"]
            out.append((code, Decimal(str(quantity["value"]))))
    return out


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_vendor_rdsr_converts_and_validates(path: Path, validator: Validator) -> None:
    conversion = convert_rdsr(path)
    outcome = validator.validate(conversion.bundle, fhir_version="R4")
    errors = [str(i) for i in outcome.issues if i.severity in ("error", "fatal")]
    assert errors == []

    obs = conversion.observation
    assert obs["meta"]["profile"] == [RDS_PROFILE]
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert obs["identifier"][0]["value"] == f"urn:oid:{ds.SOPInstanceUID}"
    assert obs["partOf"][0]["identifier"]["value"] == f"urn:oid:{ds.StudyInstanceUID}"
    if ds.get("AccessionNumber"):
        assert obs["basedOn"][0]["identifier"]["value"] == ds.AccessionNumber
    else:
        assert "basedOn" not in obs
        assert any("Accession Number" in i.message for i in conversion.issues)

    # the dose figures, exactly as the accumulated dose data states them
    expected = accumulated_figures(path)
    got = component_figures(obs, PROJECTION | CT)
    assert [c for c, _ in got] == [c for c, _ in expected]
    for (_, mine), (_, theirs) in zip(got, expected, strict=True):
        assert math.isclose(mine, theirs, rel_tol=1e-12), (mine, theirs)
    # every figure is in the summary text too
    for component in obs["component"][1:]:
        if "valueQuantity" in component:
            assert component["code"]["coding"][0]["display"] in obs["valueString"]


def test_ct_events_carry_ctdivol_and_dlp() -> None:
    path = RDSR_DIR / "CT-RDSR-Siemens_Flash-QA-DS.dcm"
    obs = convert_rdsr(path).observation
    ds = pydicom.dcmread(path)
    events = [item for item in ds.ContentSequence if _code(item) == ("113819", "DCM")]
    ctdi = [c for c in obs["component"] if c["code"]["coding"][0]["code"] == "113830"]
    dlp = [c for c in obs["component"] if c["code"]["coding"][0]["code"] == "113838"]
    assert len(ctdi) == len(dlp) == len(events) == 9
    # the events' DLPs are given per event, never summed into the total
    total = next(c for c in obs["component"] if c["code"]["coding"][0]["code"] == "113813")
    assert total["valueQuantity"]["value"] == 1590
    assert all("irradiation event" in c["code"]["text"] for c in ctdi + dlp)


def test_mammography_keeps_laterality_apart() -> None:
    obs = convert_rdsr(RDSR_DIR / "MG-RDSR-Hologic_2D.dcm").observation
    agd = [c for c in obs["component"] if c["code"]["coding"][0]["code"] == "111637"]
    assert [(c["code"]["text"], c["valueQuantity"]["value"]) for c in agd] == [
        ("Accumulated Average Glandular Dose (Left breast)", 1.3),
        ("Accumulated Average Glandular Dose (Right breast)", 1.28),
    ]


def test_missing_measured_value_is_reported_not_invented() -> None:
    conversion = convert_rdsr(RDSR_DIR / "DX-RDSR-Canon_CXDI.dcm")
    codes = [c["code"]["coding"][0]["code"] for c in conversion.observation["component"]]
    assert "113725" not in codes  # Dose (RP) Total has no measured value in this RDSR
    warning = next(i for i in conversion.issues if "113725" in i.message)
    assert warning.severity == "warning"
    assert "no measured value" in warning.message and "content item" in warning.message
    assert any("113725" in note["text"] for note in conversion.observation["note"])


def test_transaction_bundle_with_given_modality(validator: Validator) -> None:
    conversion = convert_rdsr(RDSR_DIR / "RF-RDSR-Siemens-Zee.dcm", "transaction", modality="RF")
    bundle = conversion.bundle
    assert bundle["type"] == "transaction"
    assert all(entry["request"]["method"] == "POST" for entry in bundle["entry"])
    device = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Device")
    assert device["type"]["coding"][0]["code"] == "RF"
    assert device["meta"]["profile"]
    assert validator.validate(bundle, fhir_version="R4").ok
    # without it the Device does not claim the profile, and says why
    plain = convert_rdsr(RDSR_DIR / "RF-RDSR-Siemens-Zee.dcm")
    assert any("modality" in i.message and i.severity == "warning" for i in plain.issues)


def test_authorizing_person_becomes_practitioner() -> None:
    conversion = convert_rdsr(RDSR_DIR / "CT-RDSR-GEPixelMed.dcm")
    practitioner = next(e["resource"] for e in conversion.bundle["entry"]
                        if e["resource"]["resourceType"] == "Practitioner")
    assert practitioner["name"] == [{"family": "Nobody"}]
    assert conversion.observation["performer"][0]["display"] == "Nobody"


def test_effective_time_without_utc_offset_keeps_the_date_only() -> None:
    assert dicom_datetime("20130313085900.432051") == ("2013-03-13", True)
    assert dicom_datetime("20130313085900.432051+0100") == ("2013-03-13T08:59:00.432051+01:00", False)
    assert dicom_datetime("20130313085900", "-0500") == ("2013-03-13T08:59:00-05:00", False)
    assert dicom_datetime("2013") == ("2013", False)
    assert dicom_datetime("garbage") == (None, False)


# bad input -----------------------------------------------------------------------------------


def test_non_sr_dicom_is_refused(tmp_path: Path) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
    ds.SOPInstanceUID = "1.2.3.4"
    ds.Modality = "CT"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = tmp_path / "ct.dcm"
    ds.save_as(path, enforce_file_format=True)
    ct_image = r"1\.2\.840\.10008\.5\.1\.4\.1\.1\.2\b"
    with pytest.raises(DicomError, match=r"ct\.dcm: not a DICOM Structured Report .*" + ct_image):
        convert_rdsr(path)


def test_not_dicom_and_truncated_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(DicomError, match=r"notes\.txt"):
        convert_rdsr(text)
    data = (RDSR_DIR / "RF-RDSR-Siemens-Zee.dcm").read_bytes()
    for cut in [*range(0, len(data), 997), len(data) - 40]:  # header, content tree, events, last item
        truncated = tmp_path / f"cut{cut}.dcm"
        truncated.write_bytes(data[:cut])
        try:
            conversion = convert_rdsr(truncated)
        except DicomError as exc:
            assert f"cut{cut}.dcm" in str(exc)
        else:  # pydicom may stop cleanly at an item boundary: then what is missing is reported
            assert conversion.issues


def test_other_template_is_refused() -> None:
    ds = pydicom.dcmread(RDSR_DIR / "CT-RDSR-Siemens-Multi-1.dcm")
    ds.ConceptNameCodeSequence[0].CodeValue = "126000"
    ds.ConceptNameCodeSequence[0].CodeMeaning = "Imaging Measurement Report"
    with pytest.raises(DicomError, match=r"SR of another template.*126000.*113701"):
        convert_rdsr(ds)


@pytest.mark.parametrize(("name", "container"), [
    ("CT-RDSR-Siemens-Multi-2.dcm", "113811"),
    ("RF-RDSR-Siemens-Zee.dcm", "113702"),
])
def test_rdsr_without_accumulated_dose(name: str, container: str, validator: Validator) -> None:
    ds = pydicom.dcmread(RDSR_DIR / name)
    ds.ContentSequence = [item for item in ds.ContentSequence if _code(item) != (container, "DCM")]
    conversion = convert_rdsr(ds)
    warning = next(i for i in conversion.issues if container in i.message)
    assert warning.severity == "warning" and "none is summed" in warning.message
    codes = {c["code"]["coding"][0]["code"] for c in conversion.observation.get("component", [])}
    assert not codes & (PROJECTION | CT)  # no total made up from the events
    assert validator.validate(conversion.bundle, fhir_version="R4").ok


def test_utc_offset_keeps_the_time() -> None:
    ds = pydicom.dcmread(RDSR_DIR / "CT-RDSR-Siemens-Multi-1.dcm")
    ds.TimezoneOffsetFromUTC = "+0100"
    obs = convert_rdsr(ds).observation
    assert obs["effectiveDateTime"] == "2018-01-05T17:21:03.083003+01:00"
    assert "note" not in obs or not any("UTC offset" in n["text"] for n in obs["note"])


def test_biplane_totals_stay_per_plane(validator: Validator) -> None:
    import copy

    ds = pydicom.dcmread(RDSR_DIR / "RF-RDSR-Siemens-Zee.dcm")
    index = next(i for i, item in enumerate(ds.ContentSequence) if _code(item) == ("113702", "DCM"))
    plane_b = copy.deepcopy(ds.ContentSequence[index])
    planes = ((ds.ContentSequence[index], ("113620", "Plane A")), (plane_b, ("113621", "Plane B")))
    for container, (code, meaning) in planes:
        plane = next(i for i in container.ContentSequence if _code(i) == ("113764", "DCM"))
        plane.ConceptCodeSequence[0].CodeValue = code
        plane.ConceptCodeSequence[0].CodeMeaning = meaning
    ds.ContentSequence.insert(index + 1, plane_b)
    conversion = convert_rdsr(ds, modality="XA")
    dap = [c for c in conversion.observation["component"] if c["code"]["coding"][0]["code"] == "113722"]
    assert [c["code"]["text"] for c in dap] == [
        "Dose Area Product Total (Plane A)",
        "Dose Area Product Total (Plane B)",
    ]
    assert [c["valueQuantity"]["value"] for c in dap] == [160, 160]  # 1.6e-5 Gy.m2 each, never summed
    assert validator.validate(conversion.bundle, fhir_version="R4").ok


# radiopharmaceutical dose reports (TID 10021): no vendor sample, so one is written here -----------


def _item(relationship: str, value_type: str, concept: tuple[str, str, str], **value: Any) -> Any:
    from pydicom.dataset import Dataset

    def coded(c: tuple[str, str, str]) -> Any:
        ds = Dataset()
        ds.CodeValue, ds.CodingSchemeDesignator, ds.CodeMeaning = c
        return ds

    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = [coded(concept)]
    if "code" in value:
        item.ConceptCodeSequence = [coded(value["code"])]
    if "number" in value:
        measured = Dataset()
        measured.NumericValue = value["number"]
        measured.MeasurementUnitsCodeSequence = [coded((value["unit"], "UCUM", value["unit"]))]
        item.MeasuredValueSequence = [measured]
    if "datetime" in value:
        item.DateTime = value["datetime"]
    if "children" in value:
        item.ContentSequence = value["children"]
    return item


def rrdsr() -> Any:
    ds = pydicom.dcmread(RDSR_DIR / "CT-RDSR-GEPixelMed.dcm")  # header: patient, study, equipment
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.68"
    ds.ContentTemplateSequence[0].TemplateIdentifier = "10021"
    ds.ConceptNameCodeSequence[0].CodeValue = "113500"
    ds.ConceptNameCodeSequence[0].CodeMeaning = "Radiopharmaceutical Radiation Dose Report"
    ds.TimezoneOffsetFromUTC = "+0000"
    administration = _item("CONTAINS", "CONTAINER", ("113502", "DCM", "Radiopharmaceutical Administration"), children=[
        _item("CONTAINS", "CODE", ("349358000", "SCT", "Radiopharmaceutical agent"),
              code=("429296007", "SCT", "Ioflupane (123-I)")),
        _item("HAS PROPERTIES", "CODE", ("89457008", "SCT", "Radionuclide"), code=("C-114B0", "SRT", "^123^Iodine")),
        _item("CONTAINS", "DATETIME", ("123003", "DCM", "Radiopharmaceutical Start DateTime"),
              datetime="20190123120030"),
        _item("CONTAINS", "NUM", ("113507", "DCM", "Administered activity"), number="4.16", unit="mCi"),
        _item("CONTAINS", "NUM", ("123005", "DCM", "Radiopharmaceutical Volume"), number="2.5", unit="ml"),
    ])
    ds.ContentSequence = [
        _item("HAS CONCEPT MOD", "CODE", ("121058", "DCM", "Procedure reported"),
              code=("113502", "DCM", "Radiopharmaceutical Administration")),
        administration,
    ]
    return ds


def test_radiopharmaceutical_administration(validator: Validator) -> None:
    conversion = convert_rdsr(rrdsr(), modality="NM")
    obs = conversion.observation
    assert obs["effectiveDateTime"] == "2019-01-23T12:00:30+00:00"
    components = {c["code"]["coding"][0]["code"]: c for c in obs["component"]}
    assert components["121058"]["valueCodeableConcept"]["coding"][0]["code"] == "113502"
    # 4.16 mCi = 4.16 * 37 MBq, exactly
    assert components["113507"]["valueQuantity"] == {
        "value": 153.92, "unit": "MBq", "system": "http://unitsofmeasure.org", "code": "MBq"
    }
    assert components["123005"]["valueQuantity"]["value"] == 2.5
    assert components["123005"]["valueQuantity"]["code"] == "cm3"
    agent = components["349358000"]
    assert agent["code"]["coding"][0]["system"] == "http://snomed.info/sct"
    assert agent["valueCodeableConcept"]["coding"][0]["code"] == "429296007"
    # SRT radionuclide code without a known SNOMED CT equivalent: left out and said so
    assert "89457008" not in components
    assert any("C-114B0" in i.message and "left out" in i.message for i in conversion.issues)
    assert any("Route of administration" in i.message for i in conversion.issues)  # not stated
    # root content items the summary does not use are named, not dropped silently
    toshiba = convert_rdsr(RDSR_DIR / "CT-RDSR-Toshiba_DoseCheck.dcm")
    assert any("'Patient Body Parameters') at content item 1.11: not part of" in i.message for i in toshiba.issues)
    assert validator.validate(conversion.bundle, fhir_version="R4").ok


@pytest.mark.parametrize(("name", "example"), [
    ("CT-RDSR-GEPixelMed.dcm", "Observation-139.json"),
    ("RF-RDSR-Siemens-Zee.dcm", "Observation-545.json"),
])
def test_components_shaped_like_the_ig_examples(name: str, example: str) -> None:
    """Every component of the IG's own CT / projection X-ray example is there with the same code,
    display and unit (the IG pins the DICOM code system version, which the converter leaves out)."""
    import json

    ig = json.loads((RDSR_DIR.parents[1] / "ig-examples" / "hl7.fhir.uv.radiation-dose-summary" / example).read_text())
    obs = convert_rdsr(RDSR_DIR / name).observation
    assert obs["code"] == ig["code"]
    assert obs["partOf"][0]["identifier"]["type"] == ig["partOf"][0]["identifier"]["type"]
    ours = {c["code"]["coding"][0]["code"]: c for c in obs["component"]}
    for theirs in ig["component"]:
        coding = {k: v for k, v in theirs["code"]["coding"][0].items() if k != "version"}
        mine = ours[coding["code"]]
        assert mine["code"]["coding"][0] == coding
        if "valueQuantity" in theirs:
            assert mine["valueQuantity"]["unit"] == theirs["valueQuantity"]["unit"]
        else:
            value = {k: v for k, v in theirs["valueCodeableConcept"]["coding"][0].items() if k != "version"}
            assert mine["valueCodeableConcept"]["coding"][0] == value
