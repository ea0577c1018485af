"""Issues as data: every layer reports problems as `Issue` values; rendering is separate.

The fields mirror FHIR's OperationOutcome.issue so an outcome can be emitted as a
valid OperationOutcome resource without translation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["fatal", "error", "warning", "information"]

_SEVERITY_RANK: dict[str, int] = {"fatal": 0, "error": 1, "warning": 2, "information": 3}


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding. `code` is an OperationOutcome issue-type code (`invalid`, `not-found`, ...)."""

    severity: Severity
    code: str
    message: str
    expression: str | None = None
    rule: str | None = None
    line: int | None = None
    column: int | None = None
    # JSON location (keys and indexes) of the offending value; turned into line/column by the
    # validator when the input was text, never rendered itself
    pointer: tuple[str | int, ...] | None = field(default=None, compare=False, repr=False)

    def to_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.message}
        if self.expression:
            issue["expression"] = [self.expression]
        return issue

    def __str__(self) -> str:
        where = f" @ {self.expression}" if self.expression else ""
        return f"{self.severity}: {self.message}{where}"


@dataclass(slots=True, repr=False)
class Outcome:
    """A collection of issues with the verdict helpers callers need."""

    issues: list[Issue] = field(default_factory=list)
    # the definitions the resource was validated against, as `url|version` (base definition first), as
    # the reference prints "Validate Observation against ...|1.0.0"; empty when nothing was validated
    checked: list[str] = field(default_factory=list)

    def extend(self, issues: Iterable[Issue]) -> None:
        self.issues.extend(issues)

    def __iter__(self) -> Iterator[Issue]:
        return iter(self.issues)

    @property
    def ok(self) -> bool:
        return not any(i.severity in ("fatal", "error") for i in self.issues)

    def at_least(self, severity: Severity) -> list[Issue]:
        rank = _SEVERITY_RANK[severity]
        return [i for i in self.issues if _SEVERITY_RANK[i.severity] <= rank]

    MAX_SHOWN = 20  # issues listed by repr(); the rest are counted

    def __repr__(self) -> str:
        """A summary and the issues one per line, as a REPL or notebook shows it."""
        errors = sum(i.severity in ("fatal", "error") for i in self.issues)
        warnings = sum(i.severity == "warning" for i in self.issues)
        head = f"Outcome(ok={self.ok}, errors={errors}, warnings={warnings}, issues={len(self.issues)})"
        lines = [head]
        for i in self.issues[: self.MAX_SHOWN]:
            where = f" {i.line}:{i.column}" if i.line is not None else ""
            rule = f" [{i.rule}]" if i.rule else ""
            lines.append(f"  {i.severity:<11} {i.expression or '-'}{where}  {i.message}{rule}")
        if len(self.issues) > self.MAX_SHOWN:
            lines.append(f"  ... and {len(self.issues) - self.MAX_SHOWN} more")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython / Jupyter
        printer.text(repr(self))

    def to_operation_outcome(self) -> dict[str, Any]:
        issues = [i.to_fhir() for i in self.issues] or [
            {"severity": "information", "code": "informational", "diagnostics": "No issues detected"}
        ]
        return {"resourceType": "OperationOutcome", "issue": issues}
