"""FHIRPath for the validator: a thin, gap-closing layer over fhirpathpy (see `engine`)."""

from imgfhir.fhirpath.engine import RELEASES, CompiledExpression, FhirPathError, compile, evaluate

__all__ = ["RELEASES", "CompiledExpression", "FhirPathError", "compile", "evaluate"]
