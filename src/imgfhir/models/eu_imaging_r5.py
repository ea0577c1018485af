"""Models of the EU Imaging Report (hl7.fhir.eu.imaging-r5, R5) profiles; generated, see imgfhir.models."""

from imgfhir_models.eu_imaging_r5 import *  # noqa: F403
from imgfhir_models.r5.datatypes import *  # noqa: F403
