"""FHIR R5 base resources and datatypes (generated; see imgfhir.models)."""

from imgfhir_models.r5.datatypes import *  # noqa: F403
from imgfhir_models.r5.resources import *  # noqa: F403
