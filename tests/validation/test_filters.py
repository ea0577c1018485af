"""Baselines and the --level threshold: what a run reports, never what it found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imgfhir.outcome import Issue, Outcome
from imgfhir.validation.filters import Accepted, BaselineError, apply_baseline, at_level, baseline_of, read_baseline

RESULTS = [
    (
        "fhir/Observation-545-broken.json",
        Outcome(
            [
                Issue("error", "code-invalid", "bad status", "Observation.status", "binding", 36, 13),
                Issue("warning", "invariant", "dom-6", "Observation", "dom-6", 1, 1),
                Issue("information", "informational", "note", "Observation.component[2].code", "binding"),
            ]
        ),
    ),
    ("other/Device-12.json", Outcome([Issue("warning", "invariant", "dom-6", "Device", "dom-6", 1, 1)])),
]


def _write(tmp_path: Path, entries: object) -> Path:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(entries))
    return path


def test_rule_location_and_file_patterns(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "accept": [
                {"rule": "dom-*", "file": "fhir/*"},
                {"rule": "binding", "location": "Observation.component[*].code"},
            ]
        },
    )
    kept, dropped = apply_baseline(RESULTS, read_baseline(path))
    assert dropped == 2
    assert [i.rule for i in kept[0][1].issues] == ["binding"]
    assert kept[0][1].issues[0].expression == "Observation.status"  # [*] is any index, not any character
    assert [i.rule for i in kept[1][1].issues] == ["dom-6"]  # other/ is not under fhir/


def test_brackets_are_literal(tmp_path: Path) -> None:
    path = _write(tmp_path, [{"rule": "binding", "location": "Observation.component[2]"}])
    _, dropped = apply_baseline(RESULTS, read_baseline(path))
    assert dropped == 0  # [2] is not a character class: it does not match "Observation.component2"


def test_written_baseline_accepts_exactly_the_run() -> None:
    entries = baseline_of(RESULTS)
    assert len(entries) == 4
    kept, dropped = apply_baseline(RESULTS, _parse(entries))
    assert dropped == 4 and all(not o.issues for _, o in kept)


def _parse(entries: list[dict[str, str]]) -> list[Accepted]:
    return [Accepted(e["rule"], e.get("location"), e.get("file"), e.get("severity")) for e in entries]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{", "not JSON"),
        ('{"accept": 3}', "expected a list"),
        ('[{"location": "x"}]', "needs a 'rule'"),
        ('[{"rule": "x", "path": "y"}]', "unknown keys path"),
        ('[{"rule": "x", "severity": "bad"}]', "severity must be"),
    ],
)
def test_bad_baselines_are_refused(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(BaselineError, match=says):
        read_baseline(path)


def test_missing_baseline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="cannot read"):
        read_baseline(tmp_path / "absent.json")


def test_level_filters_what_is_printed() -> None:
    shown = at_level(RESULTS, "warning")
    assert [i.severity for i in shown[0][1].issues] == ["error", "warning"]
    assert [i.severity for i in at_level(RESULTS, "error")[0][1].issues] == ["error"]
