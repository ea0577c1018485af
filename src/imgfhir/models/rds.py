"""Models of the Radiation Dose Summary profiles (hl7.fhir.uv.radiation-dose-summary, R4); see imgfhir.models."""

from imgfhir_models.r4.datatypes import *  # noqa: F403
from imgfhir_models.rds import *  # noqa: F403
