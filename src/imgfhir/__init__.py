"""imgfhir: offline FHIR profile toolkit for the HL7 imaging IGs.

`imgfhir.validate(resource)` validates a resource (dict, JSON text or bytes, or a path) as
`jsonschema.validate` does for JSON Schema; `imgfhir.Validator` compiles once for many resources.
Both are imported on first use, so that `import imgfhir` (and the CLI's start-up) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imgfhir.outcome import Issue, Outcome
    from imgfhir.validation.validator import Validator, validate

__all__ = ["Issue", "Outcome", "Validator", "validate"]


def __getattr__(name: str) -> Any:
    if name in ("Validator", "validate"):
        from imgfhir.validation import validator

        return getattr(validator, name)
    if name in ("Issue", "Outcome"):
        from imgfhir import outcome

        return getattr(outcome, name)
    raise AttributeError(f"module 'imgfhir' has no attribute {name!r}")
