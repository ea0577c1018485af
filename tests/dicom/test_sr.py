"""TID 1500 measurement report → DICOM SR IG resources: the IG's own DICOM JSON example converts to
resources that validate (R5), carry the DICOM content (read here independently from the JSON), and
agree field by field with the IG's own FHIR examples except for the differences listed below."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pydicom")

from imgfhir.dicom import DicomError
from imgfhir.dicom.sr import (
    ALGORITHM_PROFILE,
    EQUIPMENT_PROFILE,
    FINDING_SITE_PROFILE,
    GROUP_PROFILE,
    MEASUREMENT_PROFILE,
    QUALITATIVE_PROFILE,
    SEGMENT_PROFILE,
    SrConversion,
    convert_sr,
)
from imgfhir.validation import Validator

FIXTURES = Path(__file__).parent.parent / "fixtures"
EXAMPLE = FIXTURES / "dicom" / "sr" / "Example-MeasurementReport.dicom.json"
IG = FIXTURES / "ig-examples" / "hl7.fhir.uv.dicom-sr"

TCIA = "http://cancerimagingarchive.net"

# Where the IG's FHIR examples do not follow the IG's own DICOM JSON example (so the converter,
# which maps the DICOM content, cannot agree): (IG example, field) -> (IG value, converted value).
KNOWN_DIFFERENCES: dict[tuple[str, str], tuple[Any, Any]] = {
    # the IG examples give 6705.54990898997 for both volume and diameter; the JSON has these values
    ("Observation-imaging-measurement-001", "valueQuantity.value"): (6705.54990898997, 31112.2),
    ("Observation-imaging-measurement-002", "valueQuantity.value"): (6705.54990898997, 49.94462),
    # body surface area carries the algorithm modifiers in the JSON too
    ("Observation-imaging-measurement-003", "device"): ("general-equipment", "algorithm"),
    # the JSON has no Coding Scheme Identification for 99LIDCQIICR: no system URI is known
    ("Observation-qualitative-evaluation-001", "valueCodeableConcept.system"): (TCIA, None),
    ("Observation-qualitative-evaluation-002", "valueCodeableConcept.system"): (TCIA, None),
    # the JSON's finding site is Lung, the example's Left lung structure
    ("BodyStructure-measurement-report-finding-site", "structure"): ("44029006", "39607008"),
    # urn:dicom:uid identifiers are urn:oid: values (FHIR ImagingStudy notes); the example has a bare UID
    ("Device-measurement-report-general-equipment", "identifier.value"): (
        "1.2.840.113747.20080222.83311413144566317081790268995.8888",
        "urn:oid:1.2.840.113747.20080222.83311413144566317081790268995.8888",
    ),
}


@pytest.fixture(scope="module")
def conversion() -> SrConversion:
    return convert_sr(EXAMPLE)


def ig(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((IG / f"{name}.json").read_text(encoding="utf-8"))
    return data


def by_code(resources: list[dict[str, Any]], code: str) -> dict[str, Any]:
    return next(r for r in resources if r["code"]["coding"][0]["code"] == code)


def differences(name: str, field: str, ig_value: Any, ours: Any, found: dict[tuple[str, str], tuple[Any, Any]]) -> None:
    if ig_value != ours:
        found[(name, field)] = (ig_value, ours)


def json_nums(path: Path) -> list[tuple[str, float, str]]:
    """(concept code, value, UCUM unit) of every NUM of every measurement group, read from the JSON."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if item["0040A040"]["Value"][0] == "NUM":
                concept = item["0040A043"]["Value"][0]["00080100"]["Value"][0]
                measured = item["0040A300"]["Value"][0]
                unit = measured["004008EA"]["Value"][0]["00080100"]["Value"][0]
                out.append((concept, float(measured["0040A30A"]["Value"][0]), unit))
            walk(item.get("0040A730", {}).get("Value", []))

    walk(data["0040A730"]["Value"])
    return out


def test_example_validates(conversion: SrConversion) -> None:
    outcome = Validator().validate(conversion.bundle, fhir_version="R5")
    assert [str(i) for i in outcome.issues if i.severity in ("error", "fatal")] == []


def test_measurements_carry_the_dicom_values(conversion: SrConversion) -> None:
    measurements = conversion.resources(MEASUREMENT_PROFILE)
    got = [(m["code"]["coding"][0]["code"], m["valueQuantity"]["value"], m["valueQuantity"]["code"])
           for m in measurements]
    assert got == json_nums(EXAMPLE)


def test_field_by_field_against_the_ig_examples(conversion: SrConversion) -> None:
    found: dict[tuple[str, str], tuple[Any, Any]] = {}
    measurements = conversion.resources(MEASUREMENT_PROFILE)
    algorithm = conversion.resources(ALGORITHM_PROFILE)[0]
    equipment = conversion.resources(EQUIPMENT_PROFILE)[0]
    urls = {e["resource"]["resourceType"] + str(id(e["resource"])): e["fullUrl"] for e in conversion.bundle["entry"]}
    algorithm_url = urls["Device" + str(id(algorithm))]

    for name in ("Observation-imaging-measurement-001", "Observation-imaging-measurement-002",
                 "Observation-imaging-measurement-003"):
        theirs = ig(name)
        ours = by_code(measurements, theirs["code"]["coding"][0]["code"])
        assert ours["meta"]["profile"] == theirs["meta"]["profile"]
        assert ours["code"] == theirs["code"]
        for key in ("unit", "system", "code"):
            differences(name, f"valueQuantity.{key}", theirs["valueQuantity"][key], ours["valueQuantity"][key], found)
        differences(name, "valueQuantity.value", theirs["valueQuantity"]["value"], ours["valueQuantity"]["value"],
                    found)
        their_device = theirs["device"]["reference"].removeprefix("Device/measurement-report-")
        our_device = "algorithm" if ours["device"]["reference"] == algorithm_url else "general-equipment"
        differences(name, "device", their_device, our_device, found)
        assert ("bodyStructure" in ours) == ("bodyStructure" in theirs)

    group = conversion.resources(GROUP_PROFILE)[0]
    their_group = ig("Observation-imaging-measurement-group")
    for key in ("category", "code", "valueCodeableConcept"):
        assert group[key] == their_group[key], key
    assert len(group["hasMember"]) == len(their_group["hasMember"])

    qualitative = conversion.resources(QUALITATIVE_PROFILE)
    for name in ("Observation-qualitative-evaluation-001", "Observation-qualitative-evaluation-002"):
        theirs = ig(name)
        ours = by_code(qualitative, theirs["code"]["coding"][0]["code"])
        assert ours["category"] == theirs["category"]
        assert ours["code"]["coding"][0]["system"] == theirs["code"]["coding"][0]["system"]
        their_value, our_value = theirs["valueCodeableConcept"]["coding"][0], ours["valueCodeableConcept"]["coding"][0]
        assert (our_value["code"], our_value["display"]) == (their_value["code"], their_value["display"])
        differences(name, "valueCodeableConcept.system", their_value.get("system"), our_value.get("system"), found)

    site = conversion.resources(FINDING_SITE_PROFILE)[0]
    theirs = ig("BodyStructure-measurement-report-finding-site")
    assert site["identifier"] == theirs["identifier"]
    differences("BodyStructure-measurement-report-finding-site", "structure",
                theirs["includedStructure"][0]["structure"]["coding"][0]["code"],
                site["includedStructure"][0]["structure"]["coding"][0]["code"], found)

    theirs = ig("Device-measurement-report-algorithm")
    assert (algorithm["displayName"], algorithm["version"]) == (theirs["displayName"], theirs["version"])
    theirs = ig("Device-measurement-report-general-equipment")
    assert (equipment["manufacturer"], equipment["displayName"]) == (theirs["manufacturer"], theirs["displayName"])
    differences("Device-measurement-report-general-equipment", "identifier.value", theirs["identifier"][0]["value"],
                equipment["identifier"][0]["value"], found)

    segment = conversion.resources(SEGMENT_PROFILE)[0]
    theirs = ig("ImagingSelection-measurement-report-referenced-segment")
    assert segment["code"] == theirs["code"]
    assert segment["instance"][0]["sopClass"] == theirs["instance"][0]["sopClass"]
    assert segment["instance"][0]["subset"] == theirs["instance"][0]["subset"]

    assert found == KNOWN_DIFFERENCES


def test_repairs_and_gaps_are_reported(conversion: SrConversion) -> None:
    messages = [i.message for i in conversion.issues]
    assert any("00080050" in m and "not a list" in m for m in messages)  # the accession number in the JSON
    assert any("99LIDCQIICR" in m and "content item 1.4.1.12" in m for m in messages)
    assert any("issued is data-absent" in m for m in messages)


def _modified(tmp_path: Path, change: Any) -> Path:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "changed.dicom.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _first_num(data: dict[str, Any]) -> dict[str, Any]:
    group = data["0040A730"]["Value"][3]["0040A730"]["Value"][0]
    return next(i for i in group["0040A730"]["Value"] if i["0040A040"]["Value"][0] == "NUM")


def test_measurement_without_units(tmp_path: Path) -> None:
    path = _modified(tmp_path, lambda d: _first_num(d)["0040A300"]["Value"][0].pop("004008EA"))
    result = convert_sr(path)
    warning = next(i for i in result.issues if "without units" in i.message)
    assert "(118565006, SCT, 'Volume') at content item 1.4.1.9" in warning.message
    volume = by_code(result.resources(MEASUREMENT_PROFILE), "118565006")
    assert volume["valueQuantity"] == {"value": 31112.2}


def test_measurement_without_value_is_left_out(tmp_path: Path) -> None:
    path = _modified(tmp_path, lambda d: _first_num(d).pop("0040A300"))
    result = convert_sr(path)
    assert any("no measured value; left out" in i.message and "1.4.1.9" in i.message for i in result.issues)
    assert len(result.resources(MEASUREMENT_PROFILE)) == 2


def test_other_template_and_non_sr_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DicomError, match=r"SR of another template.*113701.*126000"):
        convert_sr(FIXTURES / "dicom" / "rdsr" / "CT-RDSR-Siemens-Multi-1.dcm")

    def not_sr(data: dict[str, Any]) -> None:
        data["00080016"]["Value"] = ["1.2.840.10008.5.1.4.1.1.2"]

    with pytest.raises(DicomError, match="not a DICOM Structured Report"):
        convert_sr(_modified(tmp_path, not_sr))
    broken = tmp_path / "broken.dicom.json"
    broken.write_text('{"00080016": ', encoding="utf-8")
    with pytest.raises(DicomError, match=r"broken\.dicom\.json"):
        convert_sr(broken)


def test_document_level_derived_measurements_and_qualitative_evaluations(tmp_path: Path) -> None:
    def add(data: dict[str, Any]) -> None:
        def concept(value: str, scheme: str, meaning: str) -> dict[str, Any]:
            return {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": [value]},
                                           "00080102": {"vr": "SH", "Value": [scheme]},
                                           "00080104": {"vr": "LO", "Value": [meaning]}}]}

        num = {"0040A010": {"vr": "CS", "Value": ["CONTAINS"]}, "0040A040": {"vr": "CS", "Value": ["NUM"]},
               "0040A043": concept("118565006", "SCT", "Volume"),
               "0040A300": {"vr": "SQ", "Value": [{"0040A30A": {"vr": "DS", "Value": [12.5]},
                                                   "004008EA": concept("mm3", "UCUM", "cubic millimeter")}]},
               "0040A730": {"vr": "SQ", "Value": [{"0040A010": {"vr": "CS", "Value": ["INFERRED FROM"]},
                                                   "0040DB73": {"vr": "UL", "Value": [1, 4, 1]}}]}}
        code = {"0040A010": {"vr": "CS", "Value": ["CONTAINS"]}, "0040A040": {"vr": "CS", "Value": ["CODE"]},
                "0040A043": concept("RID36042", "RADLEX", "Malignancy"),
                "0040A168": concept("RID36043", "RADLEX", "benign")}
        for name, item in ((concept("126011", "DCM", "Derived Imaging Measurements"), num),
                           (concept("C0034375", "UMLS", "Qualitative Evaluations"), code)):
            data["0040A730"]["Value"].append({
                "0040A010": {"vr": "CS", "Value": ["CONTAINS"]}, "0040A040": {"vr": "CS", "Value": ["CONTAINER"]},
                "0040A050": {"vr": "CS", "Value": ["SEPARATE"]}, "0040A043": name,
                "0040A730": {"vr": "SQ", "Value": [item]},
            })

    result = convert_sr(_modified(tmp_path, add))
    derived = result.resources("http://hl7.org/fhir/uv/dicom-sr/StructureDefinition/derived-imaging-measurement")
    assert [(d["code"]["coding"][0]["code"], d["valueQuantity"]["value"]) for d in derived] == [("118565006", 12.5)]
    group_url = next(e["fullUrl"] for e in result.bundle["entry"]
                     if GROUP_PROFILE in e["resource"].get("meta", {}).get("profile", []))
    assert derived[0]["derivedFrom"] == [{"reference": group_url}]
    qualitative = result.resources(QUALITATIVE_PROFILE)
    assert [q["valueCodeableConcept"]["coding"][0]["code"] for q in qualitative][-1] == "RID36043"
    outcome = Validator().validate(result.bundle, fhir_version="R5")
    assert [str(i) for i in outcome.issues if i.severity == "error"] == []


@pytest.mark.parametrize(
    ("uid", "kind", "system"),
    [
        ("test-hospital.org", "URI", None),  # not absolute: FHIR wants an absolute Identifier.system
        ("http://test-hospital.org/acsn", "URI", "http://test-hospital.org/acsn"),
        ("1.2.840.113619", "ISO", "urn:oid:1.2.840.113619"),
        ("5B4B8B1C-3D3A-4A5E-9F6E-2C1D0E9A8B7C", "UUID", "urn:uuid:5b4b8b1c-3d3a-4a5e-9f6e-2c1d0e9a8b7c"),
    ],
)
def test_issuer_system_is_absolute_or_absent(uid: str, kind: str, system: str | None) -> None:
    from imgfhir.dicom.sr import issuer_system

    assert issuer_system({"UniversalEntityID": uid, "UniversalEntityIDType": kind}) == system
