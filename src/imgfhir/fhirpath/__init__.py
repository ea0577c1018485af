"""FHIRPath for the validator: a thin, gap-closing layer over fhirpathpy (see `engine`).

The engine (and fhirpathpy with its parser) is imported on first use: most validations answer
every invariant without it, and a pre-commit hook should not pay for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imgfhir.fhirpath.errors import FhirPathError

if TYPE_CHECKING:
    from imgfhir.fhirpath.engine import RELEASES, CompiledExpression, compile, evaluate

__all__ = ["RELEASES", "CompiledExpression", "FhirPathError", "compile", "evaluate"]
_LAZY = frozenset({"RELEASES", "CompiledExpression", "compile", "evaluate"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("imgfhir.fhirpath.engine"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
