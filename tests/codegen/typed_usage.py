"""Typed use of the generated models: tests/codegen/test_models.py checks this file with `mypy --strict`."""

from __future__ import annotations

from imgfhir.models.dicom_sr import CodeableConcept as CodeableConcept5
from imgfhir.models.dicom_sr import Coding as Coding5
from imgfhir.models.dicom_sr import ImagingMeasurement
from imgfhir.models.dicom_sr import Quantity as Quantity5
from imgfhir.models.dicom_sr import Reference as Reference5
from imgfhir.models.rds import CodeableConcept, Coding, Identifier, RadiationDoseSummary, Reference

RDS_DISPLAY = "Radiation exposure and protection information [Description] Document Diagnostic imaging"


def dose_summary() -> RadiationDoseSummary:
    study_uid = Identifier(
        type=CodeableConcept(
            coding=[
                Coding(
                    system="http://hl7.org/fhir/uv/radiation-dose-summary/CodeSystem/dicom-identifier-type",
                    code="study-instance-uid",
                    display="Study Instance UID",
                )
            ]
        ),
        system="urn:dicom:uid",
        value="urn:oid:1.2.840.121.3.32.0.1.32",
    )
    summary = RadiationDoseSummary(
        status="final",
        code=CodeableConcept(coding=[Coding(system="http://loinc.org", code="73569-6", display=RDS_DISPLAY)]),
        subject=Reference(reference="Patient/56"),
        partOf=[Reference(reference="ImagingStudy/22", identifier=study_uid)],
        focus=[Reference(reference="ImagingStudy/22")],
        performer=[Reference(reference="Practitioner/33")],
        effectiveDateTime="2019-11-23T12:00:30Z",
        valueString="Activity = 154 MBq (123-I)",
    )
    status: str = summary.status
    assert status == "final"
    kind: str = summary.resourceType
    assert kind == "Observation"
    studies: list[Reference] = summary.slice_imagingStudyRef()
    assert len(studies) == 1
    return summary


def measurement() -> ImagingMeasurement:
    value = Quantity5(value=12.5, unit="mm", system="http://unitsofmeasure.org", code="mm")
    result = ImagingMeasurement(
        status="final",
        code=CodeableConcept5(coding=[Coding5(system="http://snomed.info/sct", code="410668003", display="Length")]),
        subject=Reference5(reference="Patient/measurement-report-patient"),
        partOf=[Reference5(reference="ImagingStudy/measurement-report-imaging-study")],
        issued="2024-03-01T10:00:00Z",
        device=Reference5(reference="Device/measurement-report-algorithm"),
        valueQuantity=value,
    )
    quantity: Quantity5 | None = result.valueQuantity
    assert quantity is not None and quantity.value == 12.5
    return result
