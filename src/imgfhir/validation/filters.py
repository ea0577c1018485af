"""What a run reports: the `--level` threshold and a baseline of accepted issues.

A baseline lets CI accept the issues a repository already has and fail on new ones. It is a JSON
file, a list of entries (or `{"accept": [...]}`), each matching issues by
- `rule`: the rule id (`Issue.rule`, e.g. `dom-6`, `binding`), exact or a pattern;
- `location` (optional): a pattern over the FHIRPath location (`Observation.component[*].code`);
- `file` (optional): a glob over the input's name as reported (`fhir/examples/*.json`);
- `severity` (optional): only issues of that severity;
- `reason` (optional, not matched): why it is accepted.
Patterns: `*` matches any run of characters, `?` one character; everything else, brackets
included, is literal (so `component[*]` is any index). `imgfhir validate --write-baseline FILE` writes
one from a run (every issue, exact locations).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from imgfhir.outcome import Issue, Outcome

_RANK = {"fatal": 0, "error": 1, "warning": 2, "information": 3}
Results = Sequence[tuple[str, Outcome]]


@lru_cache(maxsize=1024)
def _pattern(glob: str) -> re.Pattern[str]:
    return re.compile(re.escape(glob).replace(r"\*", ".*").replace(r"\?", ".") + r"\Z", re.DOTALL)


def _match(glob: str, text: str) -> bool:
    return _pattern(glob).match(text) is not None


class BaselineError(ValueError):
    """The baseline file cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Accepted:
    rule: str
    location: str | None = None
    file: str | None = None
    severity: str | None = None

    def matches(self, name: str, issue: Issue) -> bool:
        if not _match(self.rule, issue.rule or issue.code):
            return False
        if self.severity is not None and issue.severity != self.severity:
            return False
        if self.location is not None and not _match(self.location, issue.expression or ""):
            return False
        return self.file is None or _match(self.file, name)


def read_baseline(path: Path) -> list[Accepted]:
    try:
        data: Any = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise BaselineError(f"baseline {path} is not JSON: {exc}") from None
    entries = data.get("accept") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise BaselineError(f"baseline {path}: expected a list of entries (or an object with 'accept')")
    found: list[Accepted] = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("rule"), str):
            raise BaselineError(f"baseline {path}: entry {n} needs a 'rule' (a rule id or glob)")
        extra = set(entry) - {"rule", "location", "file", "severity", "reason"}
        if extra:
            raise BaselineError(f"baseline {path}: entry {n} has unknown keys {', '.join(sorted(extra))}")
        severity = entry.get("severity")
        if severity is not None and severity not in _RANK:
            raise BaselineError(f"baseline {path}: entry {n} severity must be one of {', '.join(_RANK)}")
        found.append(Accepted(entry["rule"], entry.get("location"), entry.get("file"), severity))
    return found


def apply_baseline(results: Results, accepted: Sequence[Accepted]) -> tuple[list[tuple[str, Outcome]], int]:
    """The results without the accepted issues, and how many were accepted."""
    out: list[tuple[str, Outcome]] = []
    dropped = 0
    for name, outcome in results:
        kept = [i for i in outcome.issues if not any(a.matches(name, i) for a in accepted)]
        dropped += len(outcome.issues) - len(kept)
        out.append((name, Outcome(kept, list(outcome.checked))))
    return out, dropped


def baseline_of(results: Results) -> list[dict[str, str]]:
    """A baseline accepting exactly the issues of `results` (for --write-baseline)."""
    seen: dict[tuple[str, str, str, str], None] = {}
    for name, outcome in results:
        for i in outcome.issues:
            exact = (i.expression or "").replace("*", "?")  # `?` also matches a literal `*`
            seen.setdefault((i.rule or i.code, exact, name.replace("*", "?"), i.severity), None)
    return [
        {"rule": rule, **({"location": loc} if loc else {}), "file": name, "severity": severity}
        for rule, loc, name, severity in seen
    ]


def at_level(results: Results, level: str) -> list[tuple[str, Outcome]]:
    """Only the issues at `level` or more severe (what is printed; the verdict is not changed)."""
    rank = _RANK[level]
    return [(name, Outcome([i for i in o.issues if _RANK[i.severity] <= rank], list(o.checked))) for name, o in results]
