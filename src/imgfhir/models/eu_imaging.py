"""Models of the EU Imaging Report (hl7.fhir.eu.imaging, R4) profiles; generated, see imgfhir.models."""

from imgfhir_models.eu_imaging import *  # noqa: F403
from imgfhir_models.r4.datatypes import *  # noqa: F403
