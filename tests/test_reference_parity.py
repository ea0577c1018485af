"""docs/reference-parity.md is kept honest: its rows are well formed, its counts current, and every
`implemented` row's fixture makes the validator report that row's rule id."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from imgfhir.packages import PackageStore
from imgfhir.validation import Validator

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reference-parity.md"
STATUSES = ("implemented", "not applicable offline", "not applicable", "not yet", "differs")
COLUMNS = ["key", "reference severity", "status", "rule", "fixture", "note"]
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_COUNTS = re.compile(r"^Counts: (.*) \((\d+) keys\)\.$", re.MULTILINE)
# a fixture cell: `path`, optionally followed by the packages it is validated with besides the bundled ones,
# `path` [packages: `folder`, `folder`]
_FIXTURE = re.compile(r"^`?(?P<path>[^`\s\[]*)`?(?:\s*\[packages:(?P<packages>[^\]]*)\])?$")


@dataclass(frozen=True)
class Row:
    area: str
    line: int
    key: str
    severity: str
    status: str
    rule: str
    fixture: str
    note: str
    packages: tuple[str, ...] = ()


def _unquote(cell: str) -> str:
    cell = cell.strip().replace("\\|", "|")
    return cell[1:-1] if len(cell) >= 2 and cell[0] == cell[-1] == "`" else cell


def parse(text: str) -> tuple[list[Row], list[str]]:
    """The table rows of every area, and what is malformed (headers, column counts)."""
    rows: list[Row] = []
    problems: list[str] = []
    area = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("## "):
            area = line[3:].strip()
        if not line.startswith("|") or not area:
            continue
        cells = [c.strip() for c in _CELL_SPLIT.split(line.strip())[1:-1]]
        if cells == COLUMNS or set("".join(cells)) <= set("-: "):
            continue
        if len(cells) != len(COLUMNS):
            problems.append(f"line {number}: {len(cells)} columns, expected {len(COLUMNS)}")
            continue
        key, severity, status, rule, fixture, note = cells
        match = _FIXTURE.match(fixture.strip())
        if match is None:
            problems.append(f"line {number}: fixture cell {fixture!r} is not `path` [packages: `folder`, ...]")
            continue
        listed = match.group("packages")
        packages = tuple(_unquote(p) for p in listed.split(",") if p.strip()) if listed else ()
        fields = (_unquote(c) for c in (key, severity, status, rule))
        rows.append(Row(area, number, *fields, match.group("path"), _unquote(note), packages))
    header = "| " + " | ".join(COLUMNS) + " |"
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("| key ") and line.strip() != header:
            problems.append(f"line {number}: the header must be exactly {header}")
    return rows, problems


def row_problems(rows: list[Row]) -> list[str]:
    """Everything wrong with the rows themselves (fixtures are only checked for existence here)."""
    problems: list[str] = []
    for key, n in Counter(r.key for r in rows).items():
        if n > 1:
            problems.append(f"{key}: appears {n} times")
    for r in rows:
        where = f"line {r.line} ({r.key})"
        if r.status not in STATUSES:
            problems.append(f"{where}: status {r.status!r} is not one of {STATUSES}")
        elif r.status == "implemented":
            if not r.rule:
                problems.append(f"{where}: implemented without a rule id")
            if not r.fixture or not (ROOT / r.fixture).is_file():
                problems.append(f"{where}: fixture {r.fixture!r} does not exist")
            problems.extend(f"{where}: package {p!r} does not exist" for p in r.packages if not (ROOT / p).is_dir())
        elif r.packages:
            problems.append(f"{where}: packages named for a row that is not implemented")
        elif not r.note:
            problems.append(f"{where}: {r.status} without a note")
        if not r.severity:
            problems.append(f"{where}: no reference severity")
    return problems


def counts_problems(text: str, rows: list[Row]) -> list[str]:
    """The counts line must state the number of rows per status, in the order of STATUSES."""
    found = _COUNTS.search(text)
    counts = Counter(r.status for r in rows)
    expected = ", ".join(f"{counts[s]} {s}" for s in STATUSES)
    if found is None:
        return [f"no counts line; expected 'Counts: {expected} ({len(rows)} keys).'"]
    if found.group(1) != expected or int(found.group(2)) != len(rows):
        return [f"stale counts line {found.group(0)!r}; expected 'Counts: {expected} ({len(rows)} keys).'"]
    return []


@cache
def _doc() -> tuple[str, tuple[Row, ...]]:
    text = DOC.read_text(encoding="utf-8")
    rows, _ = parse(text)
    return text, tuple(rows)


def test_table_is_well_formed() -> None:
    text = DOC.read_text(encoding="utf-8")
    rows, problems = parse(text)
    assert rows, "no rows found"
    assert problems == []


def test_rows_are_valid() -> None:
    _, rows = _doc()
    assert row_problems(list(rows)) == []


def test_counts_line_is_current() -> None:
    text, rows = _doc()
    assert counts_problems(text, list(rows)) == []


def test_checks_catch_a_wrong_row() -> None:
    """The checks above fail on a doctored copy of the table (so they are not vacuous)."""
    text, rows = _doc()
    first = next(r for r in rows if r.status == "implemented")
    line = text.splitlines()[first.line - 1]
    doctored = [
        (line.replace("| implemented |", "| done |"), "is not one of"),
        (line.replace(f"`{first.fixture}`", "`tests/fixtures/no-such-file.json`"), "does not exist"),
        (line.replace(f"`{first.rule}`", ""), "without a rule id"),
        (line + "\n" + line, "appears 2 times"),
        (line.replace(f"`{first.fixture}`", f"`{first.fixture}` [packages: `tests/no-such`]"), "does not exist"),
    ]
    for replacement, expected in doctored:
        rows2, _ = parse(text.replace(line, replacement, 1))
        assert any(expected in p for p in row_problems(rows2)), expected
    no_note = next(r for r in rows if r.status == "not yet")
    note_line = text.splitlines()[no_note.line - 1]
    rows3, _ = parse(text.replace(note_line, note_line.rsplit("|", 2)[0] + "|  |", 1))
    assert any("without a note" in p for p in row_problems(rows3))
    rows4, _ = parse(text.replace(line, line.replace("| implemented |", "| not yet |"), 1))
    assert counts_problems(text, rows4)
    _, malformed = parse(text.replace(line, line.rsplit("|", 2)[0] + "|", 1))
    assert malformed
    _, malformed = parse(text.replace(line, line.replace(f"`{first.fixture}`", f"`{first.fixture}` [pkgs: x]"), 1))
    assert malformed


def test_a_fixture_cell_may_name_packages() -> None:
    row = "| `K` | error | implemented | `r` | `a/b.json` [packages: `tests/p1`, `tests/p2`] | n |"
    (parsed,), problems = parse("## Area\n\n" + row + "\n")
    assert problems == [] and (parsed.fixture, parsed.packages) == ("a/b.json", ("tests/p1", "tests/p2"))


def _release(fixture: str) -> str:
    path = Path(fixture)
    r5_folder = any(part == "r5" or part.endswith("-r5") for part in path.parts[:-1])  # hl7.fhir.eu.imaging-r5
    return "R5" if r5_folder or path.name.startswith("r5-") else "R4"


def _fixtures() -> list[tuple[str, tuple[str, ...]]]:
    _, rows = _doc()
    return sorted({(r.fixture, r.packages) for r in rows if r.status == "implemented" and r.fixture})


@pytest.fixture(scope="module")
def validators(bundled_store: PackageStore) -> dict[tuple[str, ...], Validator]:
    """One validator per set of packages (besides the bundled ones), made when first asked for."""
    return {(): Validator(bundled_store)}


def _validator(validators: dict[tuple[str, ...], Validator], packages: tuple[str, ...]) -> Validator:
    if packages not in validators:
        validators[packages] = Validator(packages=[str(ROOT / p) for p in packages])
    return validators[packages]


def _id(value: object) -> str:
    return "+".join(value) if isinstance(value, tuple) else str(value)


@pytest.mark.parametrize(("fixture", "packages"), _fixtures(), ids=_id)
def test_fixture_reports_the_rules_of_its_rows(
    validators: dict[tuple[str, ...], Validator], fixture: str, packages: tuple[str, ...]
) -> None:
    _, rows = _doc()
    claimed = {
        r.rule: r.key for r in rows if r.status == "implemented" and r.fixture == fixture and r.packages == packages
    }
    outcome = _validator(validators, packages).validate(ROOT / fixture, fhir_version=_release(fixture))
    reported = {i.rule for i in outcome.issues}
    missing = {rule: key for rule, key in claimed.items() if rule not in reported}
    assert missing == {}, f"{fixture} ({_release(fixture)}) reports {sorted(r for r in reported if r)}"
