"""DICOM → FHIR: X-Ray Radiation Dose SRs to the Radiation Dose Summary IG (`imgfhir.dicom.rdsr`, R4)
and TID 1500 measurement reports to the DICOM SR IG (`imgfhir.dicom.sr`, R5).

pydicom is needed only here (`pip install 'imgfhir[dicom]'`) and is imported when a file is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from imgfhir.dicom.content import READ_ERRORS, DicomError, read_dataset
from imgfhir.dicom.rdsr import Conversion, convert_rdsr, read_rdsr
from imgfhir.dicom.sr import SrConversion, convert_sr

__all__ = ["Conversion", "DicomError", "SrConversion", "convert_file", "convert_rdsr", "convert_sr", "read_rdsr"]


def convert_file(
    source: str | Path | Any,
    bundle_type: Literal["collection", "transaction"] = "collection",
    modality: str | None = None,
) -> Conversion | SrConversion:
    """Convert an RDSR or a TID 1500 measurement report, told apart by the document's root concept.

    DICOM JSON files (`.json`) are read as measurement reports; `modality` applies to RDSRs only.
    """
    if isinstance(source, str | Path) and Path(source).suffix.lower() == ".json":
        return convert_sr(source, bundle_type)
    dataset, name = read_dataset(source)
    try:
        concept = dataset.get("ConceptNameCodeSequence")
        root = str(concept[0].get("CodeValue", "")) if concept else ""
    except READ_ERRORS as exc:
        raise DicomError(f"{name}: unreadable or truncated DICOM data ({type(exc).__name__}: {exc})") from exc
    if root == "126000":
        return convert_sr(dataset, bundle_type)
    return convert_rdsr(dataset, bundle_type, modality)
