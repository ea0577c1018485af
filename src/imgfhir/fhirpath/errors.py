"""FHIRPath errors, importable without the engine (and fhirpathpy) behind them."""

from __future__ import annotations


class FhirPathError(Exception):
    """A FHIRPath expression that does not parse (``phase='syntax'``), fails strict model checks
    (``'semantic'``, only with ``compile(strict=True)``) or fails while evaluating (``'evaluation'``)."""

    def __init__(self, message: str, expression: str, phase: str) -> None:
        super().__init__(message)
        self.expression = expression
        self.phase = phase

    def __str__(self) -> str:
        return f"{self.phase} error in FHIRPath {self.expression!r}: {self.args[0]}"
