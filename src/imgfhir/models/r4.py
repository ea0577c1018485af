"""FHIR R4 base resources and datatypes (generated; see imgfhir.models)."""

from imgfhir_models.r4.datatypes import *  # noqa: F403
from imgfhir_models.r4.resources import *  # noqa: F403
