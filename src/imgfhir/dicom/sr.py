"""DICOM SR measurement report (TID 1500) → the DICOM SR IG's resources (FHIR R5).

Reads a Part 10 file, a DICOM JSON file (PS3.18 F) or a pydicom Dataset and builds, following
the IG's mapping (`mapping.md`, `example.md`):

- an ImagingMeasurementGroup Observation per Measurement Group (125007, DCM): code from the Finding
  Category, value from the Finding, hasMember its measurements and qualitative evaluations;
- an ImagingMeasurement Observation per NUM of a group (UCUM units from the measurement units
  code), its device the Algorithm Identification (111001/111003) when the NUM has one;
- an ImagingQualitativeEvaluation Observation per CODE of a group that is not one of the group's
  own descriptors (finding, finding category, finding site, method...);
- a DerivedImagingMeasurement Observation per NUM of the Derived Imaging Measurements container,
  an ImagingQualitativeEvaluation per CODE of the document's Qualitative Evaluations container;
- a BodyStructure for each Finding Site (with the group's tracking identifiers), a Device for the
  general equipment and one per algorithm, ImagingSelections for referenced segments and, when
  the content item has an Observation UID, for the source SR content item.

Patient, ImagingStudy and ServiceRequest are referenced logically (by identifier), as the IG
assumes they exist on the destination server. What cannot be mapped is reported as an Issue.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from imgfhir.dicom.content import (
    READ_ERRORS,
    SRT_TO_SCT,
    Code,
    ContentItem,
    DicomError,
    content_tree,
    named_errors,
    pydicom_warnings,
    read_dataset,
)
from imgfhir.dicom.rdsr import SR_CLASSES, dicom_datetime
from imgfhir.outcome import Issue

IG = "http://hl7.org/fhir/uv/dicom-sr/StructureDefinition/"
GROUP_PROFILE = IG + "imaging-measurement-group"
MEASUREMENT_PROFILE = IG + "imaging-measurement"
QUALITATIVE_PROFILE = IG + "imaging-qualitative-evaluation"
DERIVED_PROFILE = IG + "derived-imaging-measurement"
FINDING_SITE_PROFILE = IG + "dicom-sr-finding-site"
SEGMENT_PROFILE = IG + "referenced-segment"
SOURCE_ITEM_PROFILE = IG + "source-sr-content-item"
ALGORITHM_PROFILE = IG + "algorithm-identification"
EQUIPMENT_PROFILE = IG + "dicom-general-equipment"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
SOP_CLASS_SYSTEM = "https://dicom.nema.org/medical/dicom/current/output/chtml/part04/sect_B.5"
OBSERVATION_UID_TYPE = "http://hl7.org/fhir/uv/dicom-sr/CodeSystem/dicom-identifier-type"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

# Coding scheme designators (PS3.16 Table 8-1) → FHIR code system URIs
SYSTEMS: dict[str, str] = {
    "DCM": DCM,
    "SCT": "http://snomed.info/sct",
    "SNM3": "http://snomed.info/sct",
    "LN": "http://loinc.org",
    "UCUM": "http://unitsofmeasure.org",
    "NCIT": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl",
    "RADLEX": "http://radlex.org",
    "UMLS": "http://terminology.hl7.org/CodeSystem/umls",
    "FMA": "http://purl.org/sig/ont/fma",
    "RFC5646": "urn:ietf:bcp:47",
}
SOP_CLASS_NAMES = {
    "1.2.840.10008.5.1.4.1.1.66.4": "Segmentation Storage",
    "1.2.840.10008.5.1.4.1.1.88.11": "Basic Text SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.34": "Comprehensive 3D SR Storage",
}
# group children that describe the group itself (mapped onto the group Observation or its references)
GROUP_DESCRIPTORS = {
    ("121071", "DCM"),  # Finding
    ("276214006", "SCT"),  # Finding category
    ("363698007", "SCT"),  # Finding site
    ("370129005", "SCT"),  # Measurement method
    ("112039", "DCM"),  # Tracking Identifier
    ("112040", "DCM"),  # Tracking Unique Identifier
    ("111001", "DCM"),  # Algorithm Name
    ("111003", "DCM"),  # Algorithm Version
    ("C67447", "NCIt"),  # Activity Session
    ("121232", "DCM"),  # Source series for segmentation
    ("121191", "DCM"),  # Referenced Segment
    ("111030", "DCM"),  # Image Region
    ("126100", "DCM"),  # Real World Value Map used for measurement
    ("121058", "DCM"),  # Procedure reported (group level)
    ("272741003", "SCT"),  # Laterality
}


@dataclass(slots=True)
class SrConversion:
    """The Bundle built from one measurement report and what was reported on the way."""

    bundle: dict[str, Any]
    issues: list[Issue] = field(default_factory=list)
    fhir_version: str = "R5"

    def resources(self, profile: str | None = None) -> list[dict[str, Any]]:
        out = [e["resource"] for e in self.bundle["entry"]]
        return [r for r in out if profile is None or profile in r.get("meta", {}).get("profile", [])]


def load_source(source: str | Path | Any) -> tuple[Any, str, list[Issue]]:
    """A Dataset from a Part 10 file, a DICOM JSON file (PS3.18 F) or a Dataset."""
    if isinstance(source, str | Path) and Path(source).suffix.lower() == ".json":
        path = Path(source)
        try:
            from pydicom.dataset import Dataset
        except ImportError as exc:  # pragma: no cover
            raise DicomError("reading DICOM needs pydicom: pip install 'imgfhir[dicom]'") from exc
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DicomError(f"{path.name}: not readable DICOM JSON ({exc})") from exc
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict):
            raise DicomError(f"{path.name}: DICOM JSON must be one dataset object")
        issues: list[Issue] = []
        _normalize_json(data, "", issues, path.name)
        try:
            return Dataset.from_json(data), path.name, issues
        except READ_ERRORS as exc:
            raise DicomError(f"{path.name}: invalid DICOM JSON ({type(exc).__name__}: {exc})") from exc
    dataset, name = read_dataset(source)
    return dataset, name, []


def _normalize_json(data: dict[str, Any], where: str, issues: list[Issue], name: str) -> None:
    """Repair what PS3.18 F forbids but examples do: a single `Value` not wrapped in a list."""
    for tag, element in data.items():
        if not isinstance(element, dict):
            continue
        value = element.get("Value")
        if value is not None and not isinstance(value, list):
            element["Value"] = [value]
            issues.append(_issue("warning", f"element {where}{tag} has a Value that is not a list"
                                            " (PS3.18 F.2.2); read as a one-value list"))
        for item in element.get("Value") or []:
            if isinstance(item, dict) and element.get("vr") == "SQ":
                _normalize_json(item, f"{where}{tag}/", issues, name)


BundleType = Literal["collection", "transaction"]


def convert_sr(source: str | Path | Any, bundle_type: BundleType = "collection") -> SrConversion:
    """Read a TID 1500 measurement report and build the DICOM SR IG Bundle (R5)."""
    with pydicom_warnings() as caught:
        conversion = _convert(source, bundle_type)
    conversion.issues.extend(caught)
    return conversion


def _convert(source: str | Path | Any, bundle_type: BundleType) -> SrConversion:
    dataset, name, issues = load_source(source)
    sop_class = str(dataset.get("SOPClassUID", "") or "")
    if sop_class not in SR_CLASSES:
        raise DicomError(f"{name}: not a DICOM Structured Report (SOP Class UID {sop_class or 'missing'});"
                         " a TID 1500 measurement report is expected")
    with named_errors(name):
        root = content_tree(dataset, name)
        if root.concept is None or not root.is_("126000"):
            raise DicomError(f"{name}: SR of another template: root container {root.concept or '(no concept name)'};"
                             " an Imaging Measurement Report (126000, DCM) is expected")
        builder = _Builder(dataset, name, issues)
        builder.build(root)
    return SrConversion(bundle=builder.bundle(bundle_type), issues=issues)


class _Builder:
    def __init__(self, dataset: Any, name: str, issues: list[Issue]) -> None:
        self.ds = dataset
        self.name = name
        self.issues = issues
        self.sop_uid = _s(dataset.get("SOPInstanceUID"))
        self.entries: list[tuple[str, dict[str, Any]]] = []
        self.schemes = self._private_schemes()
        self.observer = ""  # Person Observer Name: the performer of every Observation
        self.groups: dict[str, str] = {}  # content item position of each measurement group -> fullUrl
        self.equipment = ""  # fullUrls of the equipment Device and the ImagingStudy stub (set by build)
        self.study = ""

    # -- shared context -----------------------------------------------------------------------

    def url(self, key: str) -> str:
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_OID, f'{self.sop_uid}/{key}')}"

    def add(self, key: str, resource: dict[str, Any]) -> str:
        url = self.url(key)
        self.entries.append((url, resource))
        return url

    def bundle(self, bundle_type: str = "collection") -> dict[str, Any]:
        entries = []
        for url, res in self.entries:
            entry: dict[str, Any] = {"fullUrl": url, "resource": res}
            if bundle_type == "transaction":
                entry["request"] = {"method": "POST", "url": res["resourceType"]}
                ident = (res.get("identifier") or [{}])[0]
                if ident.get("value") and res["resourceType"] in ("ImagingStudy", "Device", "BodyStructure"):
                    system = f"{ident['system']}|" if ident.get("system") else ""
                    entry["request"]["ifNoneExist"] = f"identifier={system}{ident['value']}"
            entries.append(entry)
        return {"resourceType": "Bundle", "type": bundle_type, "entry": entries}

    def _private_schemes(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.ds.get("CodingSchemeIdentificationSequence") or ():
            designator = _s(item.get("CodingSchemeDesignator"))
            uri = _s(item.get("CodingSchemeURL")) or (
                f"urn:oid:{_s(item.get('CodingSchemeUID'))}" if item.get("CodingSchemeUID") else ""
            )
            if designator and uri:
                out[designator.upper()] = uri
        return out

    def coding(self, code: Code, where: str) -> dict[str, Any]:
        scheme = code.scheme.upper()
        value = code.value
        if scheme == "SRT" and value in SRT_TO_SCT:
            scheme, value = "SCT", SRT_TO_SCT[value]
        system = SYSTEMS.get(scheme) or self.schemes.get(scheme)
        coding: dict[str, Any] = {}
        if system:
            coding["system"] = system
        else:
            self.issues.append(_issue("warning", f"{where}: coding scheme {code.scheme!r} has no known code system"
                                                 " URI (and no Coding Scheme Identification in the dataset): the"
                                                 " coding has no system"))
        coding["code"] = value
        if code.meaning:
            coding["display"] = code.meaning
        return coding

    def concept(self, code: Code, where: str) -> dict[str, Any]:
        return {"coding": [self.coding(code, where)]}

    def common(self) -> dict[str, Any]:
        """subject, basedOn, partOf, status, effective/issued: the same for every Observation."""
        ds = self.ds
        out: dict[str, Any] = {}
        preliminary = _s(ds.get("PreliminaryFlag")).upper() == "PRELIMINARY"
        out["status"] = "preliminary" if preliminary else "final"
        out["subject"] = self.patient_ref()
        if self.observer:
            out["performer"] = [{"type": "Practitioner", "display": self.observer}]
        accession = _s(ds.get("AccessionNumber"))
        if accession:
            ident: dict[str, Any] = {
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]},
                "value": accession,
            }
            issuer = (ds.get("IssuerOfAccessionNumberSequence") or [None])[0]
            if issuer is not None:
                system = issuer_system(issuer)
                if system:
                    ident["system"] = system
                if issuer.get("LocalNamespaceEntityID"):
                    ident["assigner"] = {"display": _s(issuer.get("LocalNamespaceEntityID"))}
            out["basedOn"] = [{"type": "ServiceRequest", "identifier": ident}]
        study = _s(ds.get("StudyInstanceUID"))
        out["partOf"] = [{"reference": self.study, "type": "ImagingStudy"}]
        if study:
            out["partOf"][0]["identifier"] = {
                "type": {"coding": [{"system": DCM, "code": "110180", "display": "Study Instance UID"}]},
                "system": "urn:dicom:uid",
                "value": f"urn:oid:{study}",
            }
        raw = _s(ds.get("ContentDate")) + _s(ds.get("ContentTime"))
        value, dropped = dicom_datetime(raw, _s(ds.get("TimezoneOffsetFromUTC")) or None) if raw else (None, False)
        if value and not dropped:
            out["effectiveDateTime"] = value
            out["issued"] = value
        else:
            if value:
                out["effectiveDateTime"] = value
            out["_issued"] = {"extension": [{"url": DATA_ABSENT, "valueCode": "unknown"}]}
        return out

    def patient_ref(self) -> dict[str, Any]:
        ds = self.ds
        ident: dict[str, Any] = {"value": _s(ds.get("PatientID"))}
        qualifiers = (ds.get("IssuerOfPatientIDQualifiersSequence") or [None])[0]
        system = issuer_system(qualifiers) if qualifiers is not None else None
        if system:
            ident["system"] = system
        if ds.get("IssuerOfPatientID"):
            ident["assigner"] = {"display": _s(ds.get("IssuerOfPatientID"))}
        return {"type": "Patient", "identifier": ident}

    # -- content ------------------------------------------------------------------------------

    def build(self, root: ContentItem) -> None:
        observer = root.find("121008")  # Person Observer Name (TID 1003)
        if observer is not None and observer.person:
            self.observer = observer.person.replace("^", " ").strip()
        raw = _s(self.ds.get("ContentDate")) + _s(self.ds.get("ContentTime"))
        if raw and dicom_datetime(raw, _s(self.ds.get("TimezoneOffsetFromUTC")) or None)[1]:
            self.issues.append(_issue("warning", f"Content Date/Time {raw} has no UTC offset: issued is data-absent"
                                                 " and effectiveDateTime gives the date only"))
        if not _s(self.ds.get("PatientID")):
            self.issues.append(_issue("warning", "no Patient ID (0010,0020): the subject reference has no value"))
        self.equipment = self.add("equipment", self.equipment_device())
        # the partOf slices discriminate on the referenced resource's type: a stub the destination
        # server can match by identifier (conditional create), as the IG's ImagingStudy example
        study = _s(self.ds.get("StudyInstanceUID"))
        stub: dict[str, Any] = {"resourceType": "ImagingStudy", "status": "available", "subject": self.patient_ref()}
        if study:
            stub["identifier"] = [{"system": "urn:dicom:uid", "value": f"urn:oid:{study}"}]
        else:
            self.issues.append(_issue("warning", "no Study Instance UID (0020,000D): the ImagingStudy has no"
                                                 " identifier"))
        self.study = self.add("study", stub)
        containers = [c for c in root.children if c.is_("126010") or c.is_("126011") or c.is_("C0034375", "UMLS")]
        if not any(c.is_("126010") for c in containers):
            self.issues.append(_issue("warning", "no Imaging Measurements (126010, DCM) container"))
        for container in containers:
            for child in container.children:
                if child.is_("125007"):
                    self.group(child)
                elif container.is_("126011") and child.value_type == "NUM":
                    self.derived(child)
                elif container.is_("C0034375", "UMLS") and child.value_type == "CODE":
                    self.qualitative(child, [])
                elif not (child.is_("111001") or child.is_("111003")):
                    self.issues.append(_issue("information", f"{child.label}: not mapped"))

    def equipment_device(self) -> dict[str, Any]:
        ds = self.ds
        device: dict[str, Any] = {"resourceType": "Device", "meta": {"profile": [EQUIPMENT_PROFILE]}}
        uid = _s(ds.get("DeviceUID"))
        if uid:
            device["identifier"] = [{"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}]
        if ds.get("ManufacturerModelName"):
            device["displayName"] = _s(ds.get("ManufacturerModelName"))
        if ds.get("Manufacturer"):
            device["manufacturer"] = _s(ds.get("Manufacturer"))
        if ds.get("DeviceSerialNumber"):
            device["serialNumber"] = _s(ds.get("DeviceSerialNumber"))
        if ds.get("SoftwareVersions"):
            device["version"] = [{"value": v} for v in _list(ds.get("SoftwareVersions"))]
        return device

    def algorithm(self, item: ContentItem) -> str | None:
        name = item.find("111001")
        if name is None or not name.string_value():
            return None
        version = item.find("111003")
        key = f"algorithm/{name.string_value()}/{version.string_value() if version else ''}"
        url = self.url(key)
        if all(u != url for u, _ in self.entries):
            device: dict[str, Any] = {"resourceType": "Device", "meta": {"profile": [ALGORITHM_PROFILE]},
                                      "displayName": name.string_value()}
            if version is not None and version.string_value():
                device["version"] = [{"value": version.string_value()}]
            device["parent"] = {"reference": self.equipment}
            self.add(key, device)
        return url

    def group(self, group: ContentItem) -> None:
        where = group.label
        tracking = group.find("112039")
        tracking_uid = group.find("112040")
        site_url = None
        for site in group.find_all("363698007", "SCT"):
            if site.code is None:
                continue
            body: dict[str, Any] = {"resourceType": "BodyStructure", "meta": {"profile": [FINDING_SITE_PROFILE]}}
            identifiers = []
            if tracking is not None and tracking.string_value():
                identifiers.append({"type": {"coding": [{"system": DCM, "code": "112039",
                                                         "display": "Tracking Identifier"}]},
                                    "value": tracking.string_value()})
            if tracking_uid is not None and tracking_uid.string_value():
                identifiers.append({"type": {"coding": [{"system": DCM, "code": "112040",
                                                         "display": "Tracking Unique Identifier"}]},
                                    "system": "urn:dicom:uid", "value": f"urn:oid:{tracking_uid.string_value()}"})
            if identifiers:
                body["identifier"] = identifiers
            structure: dict[str, Any] = {"structure": self.concept(site.code, site.label)}
            laterality = site.find("272741003", "SCT")
            if laterality is not None and laterality.code is not None:
                structure["laterality"] = self.concept(laterality.code, laterality.label)
            body["includedStructure"] = [structure]
            body["patient"] = self.patient_ref()
            site_url = self.add(f"site/{site.position}", body)
            break
        derived: list[str] = []
        for segment in group.find_all("121191"):
            url = self.segment(segment, site_url)
            if url:
                derived.append(url)
        for child in group.children:
            if child.value_type in ("SCOORD", "SCOORD3D"):
                url = self.region(child)
                if url:
                    derived.append(url)
            elif child.value_type == "IMAGE" and not child.is_("121191"):
                self.issues.append(_issue("warning", f"{child.label}: image references of this kind are not"
                                                     " mapped yet"))
        group_derived = list(derived)
        source = self.source_item(group)
        if source:
            group_derived.append(source)
        members: list[str] = []
        for child in group.children:
            if child.value_type == "NUM":
                url = self.measurement(child, site_url, group, derived, MEASUREMENT_PROFILE)
                if url:
                    members.append(url)
            elif child.value_type == "CODE" and child.concept is not None and not _descriptor(child.concept):
                members.append(self.qualitative(child, derived))
            elif child.value_type not in ("CODE", "TEXT", "UIDREF", "IMAGE", "SCOORD", "SCOORD3D") or (
                child.concept is not None and not _descriptor(child.concept)
            ):
                self.issues.append(_issue("information", f"{child.label}: not mapped"))
        obs: dict[str, Any] = {"resourceType": "Observation", "meta": {"profile": [GROUP_PROFILE]}}
        if group.observation_uid:
            obs["identifier"] = [_observation_uid(group.observation_uid)]
        obs.update(self.common())
        obs["category"] = [{"coding": [{"system": DCM, "code": "125007", "display": "Measurement Group"}]}]
        category = group.find("276214006", "SCT")
        finding = group.find("121071")
        if category is not None and category.code is not None:
            obs["code"] = self.concept(category.code, category.label)
        else:
            obs["code"] = {"coding": [{"system": DCM, "code": "125007", "display": "Measurement Group"}]}
            self.issues.append(_issue("information", f"{where}: no Finding Category (276214006, SCT): the group's"
                                                     " code is Measurement Group (125007, DCM)"))
        if finding is not None and finding.code is not None:
            obs["valueCodeableConcept"] = self.concept(finding.code, finding.label)
        if site_url:
            obs["bodyStructure"] = {"reference": site_url}
        obs["device"] = {"reference": self.algorithm(group) or self.equipment}
        if group_derived:
            obs["derivedFrom"] = [{"reference": u} for u in group_derived]
        if members:
            obs["hasMember"] = [{"reference": u} for u in members]
        self.groups[group.position] = self.add(f"group/{group.position}", obs)

    def derived(self, item: ContentItem) -> None:
        """A derived measurement: derived from the measurement groups it references (INFERRED FROM)."""
        sources = [self.groups[c.referenced_position] for c in item.children
                   if c.referenced_position and c.referenced_position in self.groups]
        if not sources:
            self.issues.append(_issue("warning", f"{item.label}: references no measurement group (by-reference"
                                                 " INFERRED FROM); a DerivedImagingMeasurement needs one: left out"))
            return
        self.measurement(item, None, None, sources, DERIVED_PROFILE)

    def measurement(self, item: ContentItem, site_url: str | None, group: ContentItem | None,
                    derived: list[str], profile: str) -> str | None:
        if item.concept is None:
            self.issues.append(_issue("warning", f"{item.label}: no concept name; left out"))
            return None
        if item.number is None:
            state = f"value {item.number_text!r} is not a number" if item.number_text else "no measured value"
            self.issues.append(_issue("warning", f"{item.label}: {state}; left out"))
            return None
        quantity: dict[str, Any] = {"value": _number(item.number)}
        if item.unit is None:
            self.issues.append(_issue("warning", f"{item.label}: measurement without units; the value is kept"
                                                 " without a unit"))
        elif item.unit.scheme.upper() == "UCUM":
            quantity.update({"unit": item.unit.meaning or item.unit.value, "system": "http://unitsofmeasure.org",
                             "code": item.unit.value})
        else:
            quantity["unit"] = item.unit.meaning or item.unit.value
            self.issues.append(_issue("warning", f"{item.label}: unit {item.unit} is not UCUM; kept as text"))
        obs: dict[str, Any] = {"resourceType": "Observation", "meta": {"profile": [profile]}}
        if item.observation_uid:
            obs["identifier"] = [_observation_uid(item.observation_uid)]
        obs.update(self.common())
        obs["code"] = self.concept(item.concept, item.label)
        if site_url:
            obs["bodyStructure"] = {"reference": site_url}
        obs["device"] = {"reference": self.algorithm(item) or (self.algorithm(group) if group else None)
                         or self.equipment}
        if derived:
            obs["derivedFrom"] = [{"reference": u} for u in derived]
        obs["valueQuantity"] = quantity
        return self.add(f"measurement/{item.position}", obs)

    def qualitative(self, item: ContentItem, derived: list[str]) -> str:
        assert item.concept is not None
        obs: dict[str, Any] = {"resourceType": "Observation", "meta": {"profile": [QUALITATIVE_PROFILE]}}
        if item.observation_uid:
            obs["identifier"] = [_observation_uid(item.observation_uid)]
        obs.update(self.common())
        obs["category"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/umls", "code": "C0034375",
                                        "display": "Qualitative Evaluations"}]}]
        obs["code"] = self.concept(item.concept, item.label)
        obs["device"] = {"reference": self.algorithm(item) or self.equipment}
        if derived:
            obs["derivedFrom"] = [{"reference": u} for u in derived]
        if item.code is not None:
            obs["valueCodeableConcept"] = self.concept(item.code, item.label)
        else:
            obs["valueCodeableConcept"] = {"extension": [{"url": DATA_ABSENT, "valueCode": "unknown"}]}
            self.issues.append(_issue("warning", f"{item.label}: CODE item without a value code"))
        return self.add(f"qualitative/{item.position}", obs)

    def segment(self, item: ContentItem, site_url: str | None) -> str | None:
        if item.reference is None or not item.reference[1]:
            self.issues.append(_issue("warning", f"{item.label}: no referenced SOP instance; left out"))
            return None
        sop_class, sop_uid, _, segments = item.reference
        if not segments:
            self.issues.append(_issue("warning", f"{item.label}: no Referenced Segment Number; left out"))
            return None
        selection: dict[str, Any] = {
            "resourceType": "ImagingSelection",
            "meta": {"profile": [SEGMENT_PROFILE]},
            "status": "available",
            "subject": self.patient_ref(),
            "code": {"coding": [{"system": DCM, "code": "121191", "display": "Referenced Segment"}]},
            "instance": [{
                "uid": sop_uid,
                "sopClass": {"system": SOP_CLASS_SYSTEM, "code": sop_class,
                             "display": SOP_CLASS_NAMES.get(sop_class, sop_class)},
                "subset": segments,
            }],
        }
        selection["derivedFrom"] = [{"reference": self.study}]
        if site_url:
            selection["bodySite"] = {"reference": {"reference": site_url}}
        self.issues.append(_issue("information", f"{item.label}: the segmentation's series UID is not in the SR;"
                                                 " ImagingSelection.seriesUid is left out"))
        return self.add(f"segment/{item.position}", selection)

    def region(self, item: ContentItem) -> str | None:
        """An Image Region (SCOORD on a referenced image, or SCOORD3D in a frame of reference)."""
        if item.graphic is None or not item.graphic[1]:
            self.issues.append(_issue("warning", f"{item.label}: no graphic data; left out"))
            return None
        graphic_type, data, frame_of_reference = item.graphic
        selection: dict[str, Any] = {
            "resourceType": "ImagingSelection",
            "status": "available",
            "subject": self.patient_ref(),
            "code": {"coding": [{"system": DCM, "code": "111030", "display": "Image Region"}]},
            "derivedFrom": [{"reference": self.study}],
        }
        if item.value_type == "SCOORD":
            kinds_2d = {"POINT": "point", "POLYLINE": "polyline", "CIRCLE": "circle", "ELLIPSE": "ellipse"}
            image = next((c for c in item.children if c.value_type == "IMAGE" and c.reference), None)
            if graphic_type not in kinds_2d or image is None or image.reference is None:
                why = f"graphic type {graphic_type}" if graphic_type not in kinds_2d else "no selected-from image"
                self.issues.append(_issue("warning", f"{item.label}: {why} cannot be an ImagingSelection 2D region;"
                                                     " left out"))
                return None
            sop_class, sop_uid, frames, _ = image.reference
            instance: dict[str, Any] = {
                "uid": sop_uid,
                "sopClass": {"system": SOP_CLASS_SYSTEM, "code": sop_class,
                             "display": SOP_CLASS_NAMES.get(sop_class, sop_class)},
            }
            if frames:
                instance["subset"] = frames
            instance["imageRegion2D"] = [{"regionType": kinds_2d[graphic_type], "coordinate": data}]
            selection["meta"] = {"profile": [IG + "image-region-2d"]}
            selection["instance"] = [instance]
        else:
            kinds_3d = {"POINT": "point", "MULTIPOINT": "multipoint", "POLYLINE": "polyline",
                        "POLYGON": "polygon", "ELLIPSE": "ellipse", "ELLIPSOID": "ellipsoid"}
            if graphic_type not in kinds_3d:
                self.issues.append(_issue("warning", f"{item.label}: graphic type {graphic_type} cannot be an"
                                                     " ImagingSelection 3D region; left out"))
                return None
            if not frame_of_reference:
                self.issues.append(_issue("warning", f"{item.label}: no Referenced Frame of Reference UID; left out"))
                return None
            selection["meta"] = {"profile": [IG + "image-region-3d"]}
            selection["frameOfReferenceUid"] = frame_of_reference
            # R5 keeps 3D coordinates under an instance; a region in a frame of reference has none
            self.issues.append(_issue("warning", f"{item.label}: {kinds_3d[graphic_type]} coordinates in the frame of"
                                                 " reference have no place in ImagingSelection without an instance"
                                                 " (imageRegion3D is per instance in R5); only the frame of reference"
                                                 " UID is kept"))
        self.issues.append(_issue("information", f"{item.label}: the series UID is not in the SR;"
                                                 " ImagingSelection.seriesUid is left out"))
        return self.add(f"region/{item.position}", selection)

    def source_item(self, item: ContentItem) -> str | None:
        if not item.observation_uid:
            self.issues.append(_issue("information", f"{item.label}: no Observation UID: no source SR content item"
                                                     " ImagingSelection"))
            return None
        sop_class = _s(self.ds.get("SOPClassUID"))
        selection = {
            "resourceType": "ImagingSelection",
            "meta": {"profile": [SOURCE_ITEM_PROFILE]},
            "status": "available",
            "subject": self.patient_ref(),
            "seriesUid": _s(self.ds.get("SeriesInstanceUID")),
            "code": {"coding": [{"system": DCM, "code": "111040", "display": "Original Source"}]},
            "instance": [{
                "uid": self.sop_uid,
                "sopClass": {"system": SOP_CLASS_SYSTEM, "code": sop_class,
                             "display": SOP_CLASS_NAMES.get(sop_class, sop_class)},
                "subset": [item.observation_uid],
            }],
            "derivedFrom": [{"reference": self.study}],
        }
        return self.add(f"source/{item.position}", selection)


def _descriptor(code: Code) -> bool:
    return any(code.is_(value, scheme) for value, scheme in GROUP_DESCRIPTORS)


def _observation_uid(uid: str) -> dict[str, Any]:
    return {"type": {"coding": [{"system": OBSERVATION_UID_TYPE, "code": "observation-uid",
                                 "display": "Observation UID"}]},
            "system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}


def _s(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _issue(severity: Literal["warning", "information"], message: str) -> Issue:
    return Issue(severity, "incomplete" if severity == "warning" else "informational", message, rule="dicom-sr")


def issuer_system(issuer: Any) -> str | None:
    """An Identifier.system from a DICOM issuer's Universal Entity ID: an ISO OID as urn:oid:, a UUID as
    urn:uuid:, a URI only when absolute (http:, https:, urn:). Anything else (`test-hospital.org`) is no
    system: FHIR requires an absolute one (the reference's TYPE_SPECIFIC_CHECKS_DT_IDENTIFIER_SYSTEM)."""
    value = _s(issuer.get("UniversalEntityID"))
    kind = _s(issuer.get("UniversalEntityIDType")).upper()
    if not value:
        return None
    if kind == "ISO" and not value.startswith("urn:"):
        return f"urn:oid:{value}"
    if kind == "UUID" and not value.startswith("urn:"):
        return f"urn:uuid:{value.lower()}"
    return value if value.startswith(("http:", "https:", "urn:")) else None
