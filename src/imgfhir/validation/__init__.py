"""Offline validation of FHIR resources against base definitions and IG profiles."""

from imgfhir.validation.validator import Validator, validate

__all__ = ["Validator", "validate"]
