"""DICOM → FHIR: X-Ray Radiation Dose SRs to the Radiation Dose Summary IG (`imgfhir.dicom.rdsr`).

pydicom is needed only here (`pip install 'imgfhir[dicom]'`) and is imported when a file is read.
"""

from __future__ import annotations

from imgfhir.dicom.content import DicomError
from imgfhir.dicom.rdsr import Conversion, convert_rdsr, read_rdsr

__all__ = ["Conversion", "DicomError", "convert_rdsr", "read_rdsr"]
