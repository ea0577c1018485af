"""What a bulk run found, in memory that does not grow with the input.

Counts by severity, by rule, by profile (records validated against it, and how many of them are
invalid), the most frequent messages and the slowest records. Distinct messages are counted up to
`MAX_MESSAGES` (messages quote values, so a million records can carry a million of them); past that,
new ones are counted under `other messages` only.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

from imgfhir.outcome import Issue

from .check import Checked

MAX_MESSAGES = 10_000
SEVERITIES = ("fatal", "error", "warning", "information")
ISOLATED = (
    "each record was validated on its own: references between records are not resolved "
    "(--cross-references loads all inputs first so that they are)"
)


@dataclass
class Summary:
    records: int = 0
    invalid: int = 0
    skipped: int = 0
    blank: int = 0
    seconds: float = 0.0  # wall time of the run (set by the caller)
    workers: int = 1
    isolated: bool = True  # records validated on their own (no cross-record references)
    accepted: int = 0  # issues accepted by a baseline
    by_severity: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[str] = field(default_factory=Counter)
    by_profile: Counter[str] = field(default_factory=Counter)
    invalid_by_profile: Counter[str] = field(default_factory=Counter)
    messages: Counter[tuple[str, str]] = field(default_factory=Counter)
    other_messages: int = 0
    slowest: list[tuple[float, str]] = field(default_factory=list)  # a min-heap of (seconds, label)
    keep_slowest: int = 5

    def add(self, checked: Checked, issues: list[Issue] | None = None) -> None:
        """Count a record; `issues` are the ones reported (after a baseline), default its own."""
        self.blank += checked.blank
        if checked.empty:
            return
        if checked.skipped:
            self.skipped += 1
            return
        self.records += 1
        found = checked.issues if issues is None else issues
        bad = False
        for issue in found:
            self.by_severity[issue.severity] += 1
            self.by_rule[issue.rule or issue.code] += 1
            bad = bad or issue.severity in ("fatal", "error")
            key = (issue.rule or issue.code, " ".join(issue.message.split()))
            if key in self.messages or len(self.messages) < MAX_MESSAGES:
                self.messages[key] += 1
            else:
                self.other_messages += 1
        self.invalid += bad
        for profile in checked.profiles:
            self.by_profile[profile] += 1
            self.invalid_by_profile[profile] += bad
        entry = (checked.seconds, checked.label)
        if len(self.slowest) < self.keep_slowest:
            heapq.heappush(self.slowest, entry)
        elif entry > self.slowest[0]:
            heapq.heapreplace(self.slowest, entry)

    @property
    def errors(self) -> int:
        return self.by_severity["fatal"] + self.by_severity["error"]

    @property
    def warnings(self) -> int:
        return self.by_severity["warning"]

    def render(self, top: int = 10) -> str:
        """The summary as text, for standard error."""
        rate = f", {self.records / self.seconds:,.0f} records/s" if self.seconds > 0 else ""
        head = (
            f"summary: {self.records:,} records in {self.seconds:.1f} s{rate} "
            f"({self.workers} worker{'s' if self.workers != 1 else ''}): "
            f"{self.records - self.invalid:,} valid, {self.invalid:,} invalid"
        )
        extra = [
            f"{self.skipped:,} skipped (not FHIR)" if self.skipped else "",
            f"{self.blank:,} blank lines skipped" if self.blank else "",
            f"{self.accepted:,} issues accepted by the baseline" if self.accepted else "",
        ]
        lines = [head + "".join(f"; {e}" for e in extra if e)]
        severities = ", ".join(f"{s} {self.by_severity[s]:,}" for s in SEVERITIES if self.by_severity[s])
        lines.append(f"  by severity: {severities or 'no issues'}")
        if self.by_rule:
            lines.append("  by rule: " + ", ".join(f"{r} {n:,}" for r, n in self.by_rule.most_common(top)))
        if self.by_profile:
            lines.append("  by profile (records, invalid):")
            for profile, n in self.by_profile.most_common(top):
                lines.append(f"    {profile}  {n:,}, {self.invalid_by_profile[profile]:,} invalid")
        if self.messages:
            lines.append("  most frequent messages:")
            for (rule, message), n in self.messages.most_common(top // 2 or 1):
                lines.append(f"    {n:>8,}  [{rule}] {_short(message)}")
            if self.other_messages:
                lines.append(f"    {self.other_messages:>8,}  other messages")
        if self.slowest and self.records:
            slow = sorted(self.slowest, reverse=True)
            shown = ", ".join(f"{label} {seconds * 1000:.0f} ms" for seconds, label in slow)
            lines.append(f"  slowest records: {shown}")
        if self.isolated and self.records > 1:
            lines.append(f"  note: {ISOLATED}")
        return "\n".join(lines) + "\n"


def _short(message: str, width: int = 160) -> str:
    return message if len(message) <= width else message[: width - 1] + "…"
