"""Models of the DICOM SR to FHIR (hl7.fhir.uv.dicom-sr, R5) profiles; generated, see imgfhir.models."""

from imgfhir_models.dicom_sr import *  # noqa: F403
from imgfhir_models.r5.datatypes import *  # noqa: F403
