"""Radiation dose SRs (RDSR, RRDSR) → Radiation Dose Summary Observation and the resources it references.

Reads CT dose reports (TID 10011), projection X-ray dose reports (TID 10001: DX, RF/XA, MG) and
radiopharmaceutical dose reports (TID 10021: administered activity, agent, radionuclide, volume,
route) with pydicom and builds, as the Radiation Dose Summary IG (R4) specifies:

- the RDS Observation: SR SOP Instance UID identifier, partOf/focus ImagingStudy (Study Instance
  UID), basedOn accession number, subject, effective time, modality device, irradiation
  authorizing person, a valueString summary, and one component per dose figure;
- stubs of the Patient, ImagingStudy, Device (modality-device profile) and Practitioner it
  references, in a collection or transaction Bundle.

Dose figures are taken from the accumulated dose data containers exactly as the RDSR states them
(never summed from the irradiation events); CT irradiation events add their Mean CTDIvol and DLP.
Values are converted to the units of the IG's minimal radiation information tables (mGy,
mGy.cm2, mGy.cm, s) by exact decimal scaling. Nothing is invented: what the RDSR lacks stays
missing (a data-absent-reason where FHIR requires an element, a note on the Observation) and
every content item that is not carried over is reported as an Issue.
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from imgfhir.dicom.content import (
    SRT_TO_SCT,
    ContentItem,
    DicomError,
    content_tree,
    named_errors,
    pydicom_warnings,
    read_dataset,
)
from imgfhir.outcome import Issue

RDS_PROFILE = "http://hl7.org/fhir/uv/radiation-dose-summary/StructureDefinition/radiation-dose-summary"
DEVICE_PROFILE = "http://hl7.org/fhir/uv/radiation-dose-summary/StructureDefinition/modality-device"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ID_TYPE = "http://hl7.org/fhir/uv/radiation-dose-summary/CodeSystem/dicom-identifier-type"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

XRAY_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.67"
RADIOPHARMACEUTICAL_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.68"
SR_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.88.11": "Basic Text SR",
    "1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR",
    "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR",
    "1.2.840.10008.5.1.4.1.1.88.34": "Comprehensive 3D SR",
    "1.2.840.10008.5.1.4.1.1.88.35": "Extensible SR",
    XRAY_DOSE_SR: "X-Ray Radiation Dose SR",
    RADIOPHARMACEUTICAL_DOSE_SR: "Radiopharmaceutical Radiation Dose SR",
}

BundleType = Literal["collection", "transaction"]
Kind = Literal["dose", "dap", "dlp", "time", "count", "activity", "volume", "code"]

# Target unit of each kind (the IG's minimal radiation information tables) and the units RDSRs
# give, with their factor to the kind's SI-based reference unit (Gy, Gy.m2, Gy.m, s).
TARGET_UNIT: dict[str, str] = {
    "dose": "mGy", "dap": "mGy.cm2", "dlp": "mGy.cm", "time": "s", "activity": "MBq", "volume": "cm3",
}
UNITS: dict[str, dict[str, Decimal]] = {
    "dose": {"Gy": Decimal(1), "dGy": Decimal("1e-1"), "cGy": Decimal("1e-2"), "mGy": Decimal("1e-3"),
             "uGy": Decimal("1e-6")},
    "dap": {"Gy.m2": Decimal(1), "Gy.cm2": Decimal("1e-4"), "dGy.cm2": Decimal("1e-5"),
            "cGy.cm2": Decimal("1e-6"), "mGy.cm2": Decimal("1e-7"), "uGy.m2": Decimal("1e-6"),
            "mGy.m2": Decimal("1e-3"), "uGy.cm2": Decimal("1e-10")},
    "dlp": {"Gy.m": Decimal(1), "Gy.cm": Decimal("1e-2"), "mGy.cm": Decimal("1e-5"), "mGy.m": Decimal("1e-3")},
    "time": {"s": Decimal(1), "ms": Decimal("1e-3"), "min": Decimal(60)},
    "activity": {"Bq": Decimal(1), "kBq": Decimal("1e3"), "MBq": Decimal("1e6"), "GBq": Decimal("1e9"),
                 "uCi": Decimal("3.7e4"), "mCi": Decimal("3.7e7"), "Ci": Decimal("3.7e10")},
    "volume": {"cm3": Decimal(1), "ml": Decimal(1), "mL": Decimal(1), "l": Decimal(1000), "L": Decimal(1000),
               "ul": Decimal("1e-3"), "uL": Decimal("1e-3")},
}

# Procedure-level figures of the accumulated dose data (TID 10002/10004/10005/10007, TID 10012).
PROJECTION_TOTALS: dict[str, tuple[str, Kind]] = {
    "113722": ("Dose Area Product Total", "dap"),
    "113725": ("Dose (RP) Total", "dose"),
    "113726": ("Fluoro Dose Area Product Total", "dap"),
    "113727": ("Acquisition Dose Area Product Total", "dap"),
    "113730": ("Total Fluoro Time", "time"),
    "113731": ("Total Number of Radiographic Frames", "count"),
    "111637": ("Accumulated Average Glandular Dose", "dose"),
}
CT_TOTALS: dict[str, tuple[str, Kind]] = {
    "113813": ("CT Dose Length Product Total", "dlp"),
    "113812": ("Total Number of Irradiation Events", "count"),
}
# Radiopharmaceutical administration (TID 10022): concept -> (system, display, kind)
NM_FIGURES: dict[tuple[str, str], tuple[str, Kind]] = {
    ("113507", "DCM"): ("Administered activity", "activity"),
    ("123005", "DCM"): ("Radiopharmaceutical Volume", "volume"),
    ("349358000", "SCT"): ("Radiopharmaceuticals", "code"),
    ("89457008", "SCT"): ("Radioisotope", "code"),
    ("410675002", "SCT"): ("Route of administration", "code"),
}
SYSTEM_OF = {"DCM": DCM, "SCT": SCT, "SNM3": SCT, "LN": LOINC, "UCUM": UCUM}

# Irradiation-event figures of CT acquisitions (TID 10013/10014).
CT_EVENT_FIGURES: dict[str, tuple[str, Kind]] = {
    "113830": ("Mean CTDIvol", "dose"),
    "113838": ("DLP", "dlp"),
}

PROCEDURE_CT = ("77477000", SCT, "Computerized tomography")
PROCEDURE_MG = ("71651007", SCT, "Mammography")
PROCEDURE_PROJECTION = ("113704", DCM, "Projection X-Ray")
PROCEDURE_NM = ("113502", DCM, "Radiopharmaceutical Administration")
# CID 33 modalities that produce X-ray radiation dose SRs
MODALITY_DISPLAY = {
    "CT": "Computed Tomography",
    "MG": "Mammography",
    "DX": "Digital Radiography",
    "CR": "Computed Radiography",
    "RF": "Radio Fluoroscopy",
    "XA": "X-Ray Angiography",
    "PX": "Panoramic X-Ray",
    "IO": "Intra-Oral Radiography",
    "NM": "Nuclear Medicine",
    "PT": "Positron emission tomography",
}


@dataclass(slots=True)
class DoseFigure:
    """One dose figure as the RDSR states it, converted to the IG's unit."""

    code: str
    display: str
    kind: Kind
    value: Decimal
    unit: str  # UCUM, or the RDSR's own unit text when it is not a known unit
    ucum: bool
    source: ContentItem
    qualifier: str = ""  # plane, laterality, irradiation event
    system: str = DCM
    coded: dict[str, Any] | None = None  # a coded value (FHIR Coding) instead of a quantity

    def text(self) -> str:
        name = f"{self.display} ({self.qualifier})" if self.qualifier else self.display
        if self.coded is not None:
            return f"{name} = {self.coded.get('display') or self.coded['code']}"
        value = _plain(self.value)
        return f"{name} = {value} {self.unit}" if self.kind != "count" else f"{name} = {value}"


@dataclass(slots=True)
class Person:
    name: str | None
    identifier: str | None
    issuer: str | None
    organization: str | None


@dataclass(slots=True)
class Rdsr:
    """What the converter read from one RDSR."""

    source: str
    template: str  # "10011" or "10001"
    sop_instance_uid: str
    study_instance_uid: str | None
    accession_number: str | None
    patient: dict[str, str]
    procedure: tuple[str, str, str] | None
    modality: str | None
    effective: str | None
    effective_note: str | None
    device: dict[str, str]
    authorizing: Person | None
    figures: list[DoseFigure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)


@dataclass(slots=True)
class Conversion:
    """The Bundle built from one RDSR, its Observation and what was reported on the way."""

    rdsr: Rdsr
    bundle: dict[str, Any]
    issues: list[Issue]
    fhir_version: str = "R4"

    @property
    def observation(self) -> dict[str, Any]:
        return next(
            e["resource"] for e in self.bundle["entry"] if e["resource"]["resourceType"] == "Observation"
        )


# ---------------------------------------------------------------------------------------------
# reading


def read_rdsr(source: str | Path | Any, modality: str | None = None) -> Rdsr:
    """Read an RDSR (path or pydicom Dataset); raises DicomError when it is not a usable RDSR.

    `modality` (a CID 33 code such as DX, RF, XA) states the irradiating modality when the caller
    knows it: a projection X-ray RDSR does not say which one it is.
    """
    dataset, name = read_dataset(source)
    with named_errors(name):
        return _read(dataset, name, modality)


def _read(dataset: Any, name: str, modality: str | None) -> Rdsr:
    sop_class = str(dataset.get("SOPClassUID", "") or "")
    if sop_class not in SR_CLASSES:
        modality = dataset.get("Modality", "?")
        raise DicomError(
            f"{name}: not a DICOM Structured Report (SOP Class UID {sop_class or 'missing'}, modality {modality});"
            " an X-Ray Radiation Dose SR is expected"
        )
    if "ContentSequence" not in dataset or "ConceptNameCodeSequence" not in dataset:
        raise DicomError(f"{name}: SR document without a content tree (ContentSequence/ConceptNameCodeSequence)")
    root = content_tree(dataset, name)
    if root.concept is None or not (root.is_("113701") or root.is_("113500")):
        raise DicomError(
            f"{name}: SR of another template: root container {root.concept or '(no concept name)'};"
            " an X-Ray Radiation Dose Report (113701, DCM) or a Radiopharmaceutical Radiation Dose Report"
            " (113500, DCM) is expected"
        )
    issues: list[Issue] = []
    template = _template(dataset, root)
    sop_uid = str(dataset.get("SOPInstanceUID", "") or "")
    if not sop_uid:
        raise DicomError(f"{name}: no SOP Instance UID (0008,0018)")

    procedure_item = root.find("121058")
    procedure = _procedure(procedure_item, template, issues)
    study_uid = _study_uid(dataset, root, issues)
    rdsr = Rdsr(
        source=name,
        template=template,
        sop_instance_uid=sop_uid,
        study_instance_uid=study_uid,
        accession_number=_s(dataset.get("AccessionNumber")) or None,
        patient=_patient(dataset),
        procedure=procedure,
        modality=None,
        effective=None,
        effective_note=None,
        device=_device(dataset, root),
        authorizing=_authorizing_person(root, issues),
        issues=issues,
    )
    rdsr.modality = _modality(rdsr, root, modality)
    _effective(rdsr, dataset, root)
    if template == "10011":
        _ct_figures(rdsr, root)
    elif template == "10021":
        _nm_figures(rdsr, root)
    else:
        _projection_figures(rdsr, root)
    if not rdsr.accession_number:
        _note(rdsr, "warning", "no Accession Number (0008,0050): basedOn is left out")
    for item in root.children:
        if item.concept is not None and item.concept.scheme.upper() == "DCM" and item.concept.value in ROOT_READ:
            continue
        rdsr.issues.append(_issue("information", f"{item.label}: not part of the Radiation Dose Summary; not mapped"))
    return rdsr


# root content items the reader uses (or that only describe the report itself)
ROOT_READ = frozenset({
    "121058", "121049", "121005", "121012", "121013", "121014", "121015", "121016", "121017", "113809",
    "113810", "113705", "113811", "113819", "113702", "113706", "113870", "113876", "122142", "113502",
})


def _template(dataset: Any, root: ContentItem) -> str:
    if root.is_("113500"):
        return "10021"
    for item in dataset.get("ContentTemplateSequence") or ():
        ident = _s(item.get("TemplateIdentifier"))
        if ident in ("10001", "10011"):
            return ident
    if root.find("113811") is not None or root.find("113819") is not None:
        return "10011"
    procedure = root.find("121058")
    if procedure is not None and procedure.code is not None and procedure.code.is_("77477000", "SCT"):
        return "10011"
    return "10001"


def _procedure(item: ContentItem | None, template: str, issues: list[Issue]) -> tuple[str, str, str] | None:
    if item is None or item.code is None:
        issues.append(_issue("warning", "no Procedure reported (121058, DCM) code: the procedure component is"
                                        " left out"))
        return None
    code = item.code
    if code.is_("77477000", "SCT"):
        return PROCEDURE_CT
    if code.is_("71651007", "SCT"):
        return PROCEDURE_MG
    if code.is_("113704"):
        return PROCEDURE_PROJECTION
    if code.is_("113502"):
        return PROCEDURE_NM
    issues.append(
        _issue(
            "warning",
            f"Procedure reported {code} at content item {item.position} is not in the IG's procedure reported"
            " value set: the procedure component is left out",
        )
    )
    return None


def _study_uid(dataset: Any, root: ContentItem, issues: list[Issue]) -> str | None:
    header = _s(dataset.get("StudyInstanceUID")) or None
    scope = root.find("113705")
    content_uid = None
    if scope is not None:
        item = scope.find("110180")
        content_uid = item.string_value() if item is not None else None
    if header and content_uid and header != content_uid:
        issues.append(
            _issue(
                "warning",
                f"Study Instance UID (110180, DCM) of the Scope of Accumulation ({content_uid}) differs from"
                f" the header's (0020,000D) ({header}); the header's is used",
            )
        )
    return header or content_uid


def _patient(dataset: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, tag in (("id", "PatientID"), ("issuer", "IssuerOfPatientID"), ("birth", "PatientBirthDate"),
                     ("sex", "PatientSex")):
        value = _s(dataset.get(tag))
        if value:
            out[key] = value
    name = dataset.get("PatientName")
    if name is not None and str(name).strip():
        out["family"] = _s(getattr(name, "family_name", "")) or ""
        given = " ".join(x for x in (_s(getattr(name, "given_name", "")), _s(getattr(name, "middle_name", ""))) if x)
        out["given"] = given
        out["name"] = str(name).strip()
    return out


def _device(dataset: Any, root: ContentItem) -> dict[str, str]:
    device: dict[str, str] = {}
    for key, code in (("uid", "121012"), ("name", "121013"), ("manufacturer", "121014"), ("model", "121015"),
                      ("serial", "121016"), ("location", "121017")):
        item = root.find(code)
        value = item.string_value() if item is not None else None
        if value:
            device[key] = value
    for key, tag in (("manufacturer", "Manufacturer"), ("model", "ManufacturerModelName"),
                     ("serial", "DeviceSerialNumber"), ("uid", "DeviceUID"), ("device_id", "DeviceID")):
        value = _s(dataset.get(tag))
        if value and key not in device:
            device[key] = value
    return device


def _authorizing_person(root: ContentItem, issues: list[Issue]) -> Person | None:
    found: Person | None = None
    for item in root.find_all("113870"):
        role = item.find("113875")
        if role is not None and role.code is not None and role.code.is_("113850"):
            if found is not None:
                issues.append(_issue("warning", f"a further Irradiation Authorizing person at content item"
                                                f" {item.position} is left out (the IG allows one performer)"))
                continue
            ident = item.find("113871")
            issuer = item.find("113872")
            org = item.find("113873")
            found = Person(
                name=item.person,
                identifier=ident.string_value() if ident is not None else None,
                issuer=issuer.string_value() if issuer is not None else None,
                organization=org.string_value() if org is not None else None,
            )
        else:
            role_text = str(role.code) if role is not None and role.code is not None else "no role"
            issues.append(_issue("information", f"Person Participant at content item {item.position} ({role_text})"
                                                " is not the irradiation authorizing person; not mapped"))
    if found is None:
        issues.append(_issue("warning", "no Person Participant (113870, DCM) with role Irradiation Authorizing"
                                        " (113850, DCM): the performer is an empty Practitioner stub"))
    return found


def _modality(rdsr: Rdsr, root: ContentItem, given: str | None) -> str | None:
    stated = None
    if rdsr.template == "10011":
        stated = "CT"
    elif rdsr.procedure == PROCEDURE_MG or any(
        item.is_("111637") for container in root.find_all("113702") for item in container.children
    ):
        stated = "MG"
    if given is not None:
        given = given.upper()
        if given not in MODALITY_DISPLAY:
            raise DicomError(f"unknown modality {given!r}: one of {', '.join(sorted(MODALITY_DISPLAY))} expected")
        if stated is not None and given != stated:
            rdsr.issues.append(_issue("warning", f"modality {given} given, but the RDSR reports a {stated} procedure;"
                                                 f" {given} is used as given"))
        return given
    return stated


_DT = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?$")


def dicom_datetime(value: str, offset: str | None = None) -> tuple[str | None, bool]:
    """A DICOM DT as a FHIR dateTime, and whether the time of day had to be left out (no UTC offset)."""
    match = _DT.match(value.strip())
    if not match:
        return None, False
    year, month, day, hour, minute, second, fraction, tz = match.groups()
    date = "-".join(x for x in (year, month, day) if x)
    if not hour:
        return date, False
    tz = tz or offset
    if not tz or not re.fullmatch(r"[+-]\d{4}", tz) or not (month and day):
        return date, True
    time = f"{hour}:{minute or '00'}:{second or '00'}{fraction or ''}"
    return f"{date}T{time}{tz[:3]}:{tz[3:]}", False


def _effective(rdsr: Rdsr, dataset: Any, root: ContentItem) -> None:
    offset = _s(dataset.get("TimezoneOffsetFromUTC")) or None
    candidates: list[tuple[str, str]] = []
    start = root.find("113809")
    administrations = [c for c in root.children if c.is_("113502")]
    nm_start = next((i for c in administrations for i in c.children if i.is_("123003") and i.datetime), None)
    if nm_start is not None:
        start = nm_start
    if start is not None and start.datetime:
        where = (f"Radiopharmaceutical Start DateTime (123003, DCM) at content item {start.position}"
                 if start is nm_start else f"Start of X-Ray Irradiation (113809, DCM) at content item {start.position}")
        candidates.append((start.datetime, where))
    series = _s(dataset.get("SeriesDate"))
    if series:
        candidates.append((series + _s(dataset.get("SeriesTime")), "Series Date/Time (0008,0021/0031)"))
    if not candidates:  # reading every irradiation event is slow on large reports: only when needed
        starts = sorted(
            (dt.datetime, dt.position)
            for event in root.children
            if event.is_("113706") or event.is_("113819")
            for dt in event.find_all("111526")
            if dt.datetime
        )
        if starts:
            candidates.append((starts[0][0], f"the first irradiation event's DateTime Started (111526, DCM) at"
                                             f" content item {starts[0][1]}"))
    study = _s(dataset.get("StudyDate"))
    if study:
        candidates.append((study + _s(dataset.get("StudyTime")), "Study Date/Time (0008,0020/0030)"))
    for raw, where in candidates:
        value, dropped_time = dicom_datetime(raw, offset)
        if value is None:
            _note(rdsr, "warning", f"{where}: {raw!r} is not a DICOM date-time; not used")
            continue
        rdsr.effective = value
        if not where.startswith(("Start of X-Ray Irradiation", "Radiopharmaceutical Start")):
            rdsr.issues.append(_issue("information", f"no Start of X-Ray Irradiation (113809, DCM): effective time"
                                                     f" taken from {where}"))
        if dropped_time:
            rdsr.effective_note = f"irradiation time {raw} (local time; the RDSR gives no UTC offset)"
            _note(rdsr, "warning", f"{where} {raw} has no UTC offset: the effective time gives its date only")
        return
    _note(rdsr, "warning", "no irradiation date or time in the RDSR: effectiveDateTime is absent (data-absent-reason)")


def _ct_figures(rdsr: Rdsr, root: ContentItem) -> None:
    accumulated = list(root.find_all("113811"))
    if not accumulated:
        _note(rdsr, "warning", "no CT Accumulated Dose Data (113811, DCM) container: the RDSR states no procedure"
                               " totals; only the irradiation events' figures are given, none is summed")
    for container in accumulated:
        _container_figures(rdsr, container, CT_TOTALS, "")
    for number, event in enumerate(root.find_all("113819"), start=1):
        protocol = event.find("125203")
        qualifier = f"irradiation event {number}"
        if protocol is not None and protocol.string_value():
            qualifier += f", {protocol.string_value()}"
        dose = event.find("113829")
        if dose is None:
            _note(rdsr, "warning", f"CT Acquisition at content item {event.position} has no CT Dose (113829, DCM)"
                                   " container: no CTDIvol or DLP for this irradiation event")
            continue
        for code, (display, kind) in CT_EVENT_FIGURES.items():
            item = dose.find(code)
            if item is None:
                _note(rdsr, "warning", f"no {display} ({code}, DCM) in CT Dose at content item {dose.position}")
                continue
            _figure(rdsr, item, code, display, kind, qualifier)


def _nm_figures(rdsr: Rdsr, root: ContentItem) -> None:
    """Radiopharmaceutical administrations (TID 10022): activity, agent, radionuclide, volume, route."""
    administrations = [c for c in root.children if c.is_("113502")]
    if not administrations:
        _note(rdsr, "warning", "no Radiopharmaceutical Administration (113502, DCM) container: no administered"
                               " activity is stated")
    for number, container in enumerate(administrations, start=1):
        qualifier = f"administration {number}" if len(administrations) > 1 else ""
        found: set[tuple[str, str]] = set()
        for item in container.children:
            concept = item.concept
            key = next((k for k in NM_FIGURES if concept is not None and concept.is_(*k)), None)
            if key is None:
                if item.value_type == "NUM":
                    rdsr.issues.append(_issue("information", f"{item.label}: not part of the RDS minimal radiation"
                                                             " information; not mapped"))
                continue
            found.add(key)
            display, kind = NM_FIGURES[key]
            if kind != "code":
                fig_count = len(rdsr.figures)
                _figure(rdsr, item, key[0], display, kind, qualifier)
                if len(rdsr.figures) > fig_count:
                    rdsr.figures[-1].system = SYSTEM_OF[key[1]]
                continue
            if item.code is None:
                _note(rdsr, "warning", f"{item.label}: no value code; left out")
                continue
            value = item.code
            scheme, code = value.scheme.upper(), value.value
            if scheme == "SRT" and code in SRT_TO_SCT:
                scheme, code = "SCT", SRT_TO_SCT[code]
            if scheme not in SYSTEM_OF:
                _note(rdsr, "warning", f"{item.label}: value {value} is in coding scheme {value.scheme}, which has no"
                                       " known FHIR system; left out")
                continue
            coded = _coding(SYSTEM_OF[scheme], code, value.meaning) if value.meaning else {
                "system": SYSTEM_OF[scheme], "code": code}
            rdsr.figures.append(DoseFigure(key[0], display, kind, Decimal(0), "", False, item, qualifier,
                                           system=SYSTEM_OF[key[1]], coded=coded))
        missing = [f"{NM_FIGURES[k][0]} ({k[0]}, {k[1]})" for k in NM_FIGURES if k not in found]
        if missing:
            _note(rdsr, "information", f"not stated in {container.label}: {', '.join(missing)}")


def _projection_figures(rdsr: Rdsr, root: ContentItem) -> None:
    accumulated = list(root.find_all("113702"))
    if not accumulated:
        _note(rdsr, "warning", "no Accumulated X-Ray Dose Data (113702, DCM) container: the RDSR states no"
                               " procedure totals; none is summed from the irradiation events")
    for container in accumulated:
        plane = container.find("113764")
        qualifier = ""
        if len(accumulated) > 1 and plane is not None and plane.code is not None:
            qualifier = plane.code.meaning or plane.code.value
        _container_figures(rdsr, container, PROJECTION_TOTALS, qualifier)
    events = list(root.find_all("113706"))
    if events:
        rdsr.issues.append(
            _issue("information", f"{len(events)} Irradiation Event X-Ray Data (113706, DCM) containers: summarized by"
                                  " the accumulated dose data; event-level figures are not part of the Radiation"
                                  " Dose Summary for projection X-ray")
        )


def _container_figures(rdsr: Rdsr, container: ContentItem, wanted: dict[str, tuple[str, Kind]], qualifier: str) -> None:
    found: set[str] = set()
    for item in container.children:
        concept = item.concept
        if item.value_type == "NUM" and concept is not None and concept.scheme.upper() == "DCM" \
                and concept.value in wanted:
            display, kind = wanted[concept.value]
            found.add(concept.value)
            extra = qualifier
            laterality = next((m for m in item.children if m.is_("272741003", "SCT")), None)
            if laterality is not None and laterality.code is not None:
                extra = ", ".join(x for x in (qualifier, laterality.code.meaning or laterality.code.value) if x)
            _figure(rdsr, item, concept.value, display, kind, extra)
        elif item.value_type == "NUM":
            rdsr.issues.append(_issue("information", f"{item.label}: not part of the RDS minimal radiation"
                                                     " information; not mapped"))
    def expected(code: str) -> bool:  # mammography reports AGD only (TID 10005), the others no AGD
        return wanted is CT_TOTALS or (code == "111637") == (rdsr.modality == "MG")

    missing = [f"{display} ({code}, DCM)" for code, (display, _) in wanted.items()
               if code not in found and expected(code)]
    if missing:
        _note(rdsr, "information", f"not stated in {container.label}: {', '.join(missing)}")


def _figure(rdsr: Rdsr, item: ContentItem, code: str, display: str, kind: Kind, qualifier: str) -> None:
    if item.number is None:
        state = f"value {item.number_text!r} is not a number" if item.number_text else "no measured value"
        _note(rdsr, "warning", f"{item.label}: {state}; left out")
        return
    unit_code = item.unit.value if item.unit is not None else ""
    if kind == "count":
        rdsr.figures.append(DoseFigure(code, display, kind, item.number, "1", True, item, qualifier))
        return
    factor = _unit_factor(kind, unit_code)
    target = TARGET_UNIT[kind]
    if factor is None:
        _note(rdsr, "warning", f"{item.label}: unit {unit_code or '(none)'!r} is not a unit of {kind};"
                               " the value is kept with that unit, not converted")
        rdsr.figures.append(DoseFigure(code, display, kind, item.number, unit_code or "?", False, item, qualifier))
        return
    value = (item.number * factor / UNITS[kind][target]).normalize()
    rdsr.figures.append(DoseFigure(code, display, kind, value, target, True, item, qualifier))


def _unit_factor(kind: str, unit: str) -> Decimal | None:
    table = UNITS[kind]
    if unit in table:
        return table[unit]
    compact = unit.replace("*", ".").replace("·", ".").replace(" ", "").replace("^", "")
    if compact in table:
        return table[compact]
    undotted = {key.replace(".", ""): factor for key, factor in table.items()}
    return undotted.get(compact.replace(".", ""))


# ---------------------------------------------------------------------------------------------
# building


def convert_rdsr(
    source: str | Path | Any, bundle_type: BundleType = "collection", modality: str | None = None
) -> Conversion:
    """Read an RDSR and build the Radiation Dose Summary Bundle; raises DicomError on unusable input."""
    with pydicom_warnings() as caught:
        rdsr = read_rdsr(source, modality)
        bundle = build_bundle(rdsr, bundle_type)  # building adds issues of its own
    return Conversion(rdsr=rdsr, bundle=bundle, issues=[*rdsr.issues, *caught])


def build_bundle(rdsr: Rdsr, bundle_type: BundleType = "collection") -> dict[str, Any]:
    urls = {role: f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_OID, f'{rdsr.sop_instance_uid}/{role}')}"
            for role in ("Observation", "Patient", "ImagingStudy", "Device", "Practitioner")}
    resources: list[tuple[str, dict[str, Any], str | None]] = [
        ("Observation", observation(rdsr, urls), f"identifier=urn:dicom:uid|urn:oid:{rdsr.sop_instance_uid}"),
        ("Patient", patient(rdsr), f"identifier={rdsr.patient['id']}" if rdsr.patient.get("id") else None),
        ("ImagingStudy", imaging_study(rdsr, urls),
         f"identifier=urn:dicom:uid|urn:oid:{rdsr.study_instance_uid}" if rdsr.study_instance_uid else None),
        ("Device", device(rdsr), None),
    ]
    person = rdsr.authorizing
    resources.append(("Practitioner", practitioner(rdsr),
                      f"identifier={person.identifier}" if person is not None and person.identifier else None))
    entries = []
    for role, resource, condition in resources:
        entry: dict[str, Any] = {"fullUrl": urls[role], "resource": resource}
        if bundle_type == "transaction":
            request: dict[str, Any] = {"method": "POST", "url": role}
            if condition:
                request["ifNoneExist"] = condition
            entry["request"] = request
        entries.append(entry)
    return {"resourceType": "Bundle", "type": bundle_type, "entry": entries}


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"system": system, "code": code, "display": display}


def _absent(reason: str = "unknown") -> list[dict[str, Any]]:
    return [{"url": DATA_ABSENT, "valueCode": reason}]


def observation(rdsr: Rdsr, urls: dict[str, str]) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "meta": {"profile": [RDS_PROFILE]},
        "identifier": [{
            "type": {"coding": [_coding(ID_TYPE, "sop-instance-uid", "SOP Instance UID")]},
            "system": "urn:dicom:uid",
            "value": f"urn:oid:{rdsr.sop_instance_uid}",
        }],
    }
    if rdsr.accession_number:
        obs["basedOn"] = [{
            "type": "ServiceRequest",
            "identifier": {
                "type": {"coding": [_coding(V2_0203, "ACSN", "Accession ID")]},
                "value": rdsr.accession_number,
            },
        }]
    study_ref: dict[str, Any] = {"reference": urls["ImagingStudy"], "type": "ImagingStudy"}
    if rdsr.study_instance_uid:
        study_ref["identifier"] = {
            "type": {"coding": [_coding(ID_TYPE, "study-instance-uid", "Study Instance UID")]},
            "system": "urn:dicom:uid",
            "value": f"urn:oid:{rdsr.study_instance_uid}",
        }
    obs["partOf"] = [study_ref]
    obs["status"] = "final"
    obs["code"] = {"coding": [_coding(LOINC, "73569-6", "Radiation exposure and protection information [Description]"
                                                         " Document Diagnostic imaging")]}
    obs["subject"] = {"reference": urls["Patient"], "type": "Patient"}
    obs["focus"] = [{"reference": urls["ImagingStudy"], "type": "ImagingStudy"}]
    if rdsr.effective:
        obs["effectiveDateTime"] = rdsr.effective
    else:
        obs["_effectiveDateTime"] = {"extension": _absent()}
    performer: dict[str, Any] = {"reference": urls["Practitioner"], "type": "Practitioner"}
    if rdsr.authorizing is not None and rdsr.authorizing.name:
        performer["display"] = rdsr.authorizing.name.replace("^", " ").strip()
    obs["performer"] = [performer]
    obs["valueString"] = summary(rdsr)
    obs["text"] = _narrative(f"Radiation dose summary: {obs['valueString']}")
    if rdsr.modality:
        obs["device"] = {"reference": urls["Device"], "type": "Device"}
    # else: Observation.device must be a modality-device, which needs the modality the RDSR does not
    # state: the Device stays in the Bundle, unreferenced (see device())
    if rdsr.notes:
        obs["note"] = [{"text": note} for note in rdsr.notes]
    components = []
    if rdsr.procedure is not None:
        code, system, display = rdsr.procedure
        components.append({
            "code": {"coding": [_coding(DCM, "121058", "Procedure reported")]},
            "valueCodeableConcept": {"coding": [_coding(system, code, display)]},
        })
    for fig in rdsr.figures:
        concept: dict[str, Any] = {"coding": [_coding(fig.system, fig.code, fig.display)]}
        if fig.qualifier:
            concept["text"] = f"{fig.display} ({fig.qualifier})"
        component: dict[str, Any] = {"code": concept}
        if fig.coded is not None:
            component["valueCodeableConcept"] = {"coding": [fig.coded]}
        elif fig.kind == "count" and fig.value == fig.value.to_integral_value():
            component["valueInteger"] = int(fig.value)
        else:
            quantity: dict[str, Any] = {"value": _json_number(fig.value), "unit": fig.unit}
            if fig.ucum:
                quantity["system"] = UCUM
                quantity["code"] = fig.unit
            component["valueQuantity"] = quantity
        components.append(component)
    if components:
        obs["component"] = components
    return obs


def summary(rdsr: Rdsr) -> str:
    parts = []
    if rdsr.procedure is not None:
        parts.append(rdsr.procedure[2])
    parts.extend(fig.text() for fig in rdsr.figures)
    if rdsr.effective_note:
        parts.append(rdsr.effective_note)
    if not rdsr.figures:
        parts.append("no dose figures stated")
    return "; ".join(parts)


def patient(rdsr: Rdsr) -> dict[str, Any]:
    info = rdsr.patient
    resource: dict[str, Any] = {"resourceType": "Patient"}
    if info.get("id"):
        ident: dict[str, Any] = {"value": info["id"]}
        if info.get("issuer"):
            ident["assigner"] = {"display": info["issuer"]}
        resource["identifier"] = [ident]
    else:
        rdsr.issues.append(_issue("warning", "no Patient ID (0010,0020): the Patient has no identifier"))
    if info.get("name"):
        name: dict[str, Any] = {}
        if info.get("family"):
            name["family"] = info["family"]
        if info.get("given"):
            name["given"] = info["given"].split()
        if not name:
            name["text"] = info["name"]
        resource["name"] = [name]
    resource["text"] = _narrative(f"Patient {info.get('name', '').replace('^', ' ')} ({info.get('id', 'no id')})")
    gender = {"M": "male", "F": "female", "O": "other"}.get(info.get("sex", ""))
    if gender:
        resource["gender"] = gender
    if info.get("birth"):
        birth, _ = dicom_datetime(info["birth"])
        if birth:
            resource["birthDate"] = birth
    return resource


def imaging_study(rdsr: Rdsr, urls: dict[str, str]) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "ImagingStudy"}
    identifiers: list[dict[str, Any]] = []
    if rdsr.study_instance_uid:
        identifiers.append({"system": "urn:dicom:uid", "value": f"urn:oid:{rdsr.study_instance_uid}"})
    else:
        rdsr.issues.append(_issue("warning", "no Study Instance UID (0020,000D or 110180, DCM): the ImagingStudy has"
                                             " no identifier"))
    if rdsr.accession_number:
        identifiers.append({"type": {"coding": [_coding(V2_0203, "ACSN", "Accession ID")]},
                            "value": rdsr.accession_number})
    if identifiers:
        resource["identifier"] = identifiers
    resource["status"] = "unknown"
    resource["text"] = _narrative(f"Imaging study {rdsr.study_instance_uid or '(no Study Instance UID)'}")
    resource["subject"] = {"reference": urls["Patient"], "type": "Patient"}
    return resource


def device(rdsr: Rdsr) -> dict[str, Any]:
    info = rdsr.device
    identifiers: list[dict[str, Any]] = []
    if info.get("serial"):
        identifiers.append({"type": {"coding": [_coding(V2_0203, "SNO", "Serial Number")]}, "value": info["serial"]})
    identifiers.append({
        "type": {"coding": [_coding(ID_TYPE, "application-entity", "Application Entity")]},
        "_value": {"extension": _absent()},
    })
    uid = info.get("uid")
    if uid and re.fullmatch(r"[0-2](\.(0|[1-9][0-9]*))+", uid):
        identifiers.append({"type": {"coding": [_coding(ID_TYPE, "device-uid", "Device UID")]},
                            "system": "urn:dicom:uid", "value": f"urn:oid:{uid}"})
    elif uid:
        rdsr.issues.append(_issue("warning", f"Device Observer UID {uid!r} is not a valid UID; not mapped"))
    if info.get("device_id"):
        identifiers.append({"type": {"coding": [_coding(ID_TYPE, "device-id", "Device ID")]},
                            "value": info["device_id"]})
    resource: dict[str, Any] = {
        "resourceType": "Device", "meta": {"profile": [DEVICE_PROFILE]}, "identifier": identifiers
    }
    if info.get("manufacturer"):
        resource["manufacturer"] = info["manufacturer"]
    if info.get("serial"):
        resource["serialNumber"] = info["serial"]
    names = []
    if info.get("manufacturer"):
        names.append({"name": info["manufacturer"], "type": "manufacturer-name"})
    if info.get("model"):
        names.append({"name": info["model"], "type": "model-name"})
    if info.get("name"):
        names.append({"name": info["name"], "type": "user-friendly-name"})
    if names:
        resource["deviceName"] = names
    if rdsr.modality:
        resource["type"] = {"coding": [_coding(DCM, rdsr.modality, MODALITY_DISPLAY[rdsr.modality])]}
    else:
        # Device.type is required by the modality-device profile and the RDSR does not hold it:
        # the Device does not claim the profile rather than carry a guessed modality
        del resource["meta"]
        rdsr.issues.append(_issue("warning", "the RDSR does not state the modality (DX, RF, XA, NM...): the Device"
                                             " has no type, does not claim the modality-device profile and is not"
                                             " the Observation's device (give the modality to convert_rdsr /"
                                             " --modality)"))
    rdsr.issues.append(_issue("information", "the RDSR holds no Application Entity title: Device identifier"
                                             " aeTitle is data-absent"))
    parts = [info.get("manufacturer"), info.get("model"), info.get("name"), rdsr.modality]
    resource["text"] = _narrative("Irradiating device: " + (", ".join(p for p in parts if p) or "not described"))
    return resource


def practitioner(rdsr: Rdsr) -> dict[str, Any]:
    """The irradiation authorizing person; an empty stub (the performer is required) when the RDSR names none."""
    resource: dict[str, Any] = {"resourceType": "Practitioner"}
    person = rdsr.authorizing
    if person is None:
        resource["text"] = _narrative("Irradiation authorizing person: not named in the RDSR")
        return resource
    if person.identifier:
        ident: dict[str, Any] = {"value": person.identifier}
        if person.issuer:
            ident["assigner"] = {"display": person.issuer}
        resource["identifier"] = [ident]
    if person.name:
        family, _, rest = person.name.partition("^")
        given = [x for x in rest.replace("^", " ").split() if x]
        name: dict[str, Any] = {"family": family} if family else {}
        if given:
            name["given"] = given
        resource["name"] = [name or {"text": person.name}]
    resource["text"] = _narrative(f"Irradiation authorizing person: {person.name or 'no name'}"
                                  + (f" ({person.organization})" if person.organization else ""))
    return resource


# ---------------------------------------------------------------------------------------------
# helpers


def _s(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _issue(severity: Literal["error", "warning", "information"], message: str) -> Issue:
    code = "incomplete" if severity == "warning" else "informational"
    return Issue(severity, code, message, rule="dicom-rdsr")


def _note(rdsr: Rdsr, severity: Literal["warning", "information"], message: str) -> None:
    """An issue, and a note on the Observation when it says what the RDSR does not hold."""
    rdsr.issues.append(_issue(severity, message))
    if severity == "warning":
        rdsr.notes.append(message)


def _narrative(text: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{html.escape(text)}</div>'}


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(_plain(value))
