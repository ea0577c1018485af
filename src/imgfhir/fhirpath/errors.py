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
        return f"{self.phase} error in FHIRPath {shown(self.expression)}: {self.args[0]}"


SHOWN = 200  # characters of an expression echoed in a message


def shown(expression: str) -> str:
    """`expression` quoted for a message; a long one (a hostile profile's megabyte) is cut."""
    if len(expression) <= SHOWN:
        return repr(expression)
    return f"{expression[:SHOWN]!r}... ({len(expression)} characters)"
