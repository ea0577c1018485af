"""Validating records: one checker per process, a pool that keeps input order and survives crashes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from imgfhir.bulk import Checked, Checker, Job, Pool, Record, Runner, iter_records
from imgfhir.bulk.pool import CRASH_RULE, chunks
from imgfhir.packages import PackageStore
from imgfhir.validation import Validator
from tests.bulk import crash_rule
from tests.support import FIXTURES, RDS_CANONICAL

EXPORT = FIXTURES / "validation" / "bulk" / "rds-export.ndjson"


@pytest.fixture(scope="module")
def checker(bundled_store: PackageStore) -> Checker:
    return Checker(Job(), Validator(bundled_store))


def by_line(results: list[Checked]) -> dict[int, Checked]:
    return {c.line: c for c in results if not c.empty}


def copies(n: int, *, crash_at: int | None = None) -> list[bytes]:
    """`n` valid records: the fixture's Patient, Device and Observation lines with fresh ids."""
    lines = EXPORT.read_bytes().split(b"\n")
    bases = [orjson.loads(lines[i]) for i in (0, 3, 4)]
    out = []
    for k in range(n):
        resource = dict(bases[k % 3], id=crash_rule.CRASH_ID if k == crash_at else f"copy-{k}")
        out.append(orjson.dumps(resource))
    return out


def export(tmp_path: Path, lines: list[bytes]) -> Path:
    path = tmp_path / "export.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_issues_are_located_in_the_file(checker: Checker) -> None:
    found = by_line([checker.check(r) for r in iter_records([EXPORT])])
    assert list(found) == [1, 2, 4, 5, 6, 7, 9]
    assert found[5].outcome.ok and found[5].resource_type == "Observation"
    errors = {(i.rule, i.severity, i.line, i.column) for i in found[6].issues if i.severity == "error"}
    assert errors == {("primitive", "error", 6, 772), ("binding", "error", 6, 634)}
    (fatal,) = found[7].issues
    assert (fatal.rule, fatal.severity, fatal.line, fatal.column) == ("json", "fatal", 7, 247)
    assert fatal.message.startswith("invalid JSON at line 7, column 247")  # the file's line, in the text too
    assert found[4].blank == 1 and found[9].blank == 1
    assert RDS_CANONICAL in found[5].profiles


def test_an_exception_in_a_rule_is_a_fatal_issue_of_that_record(bundled_store: PackageStore) -> None:
    job = Job(rules=(crash_rule.SPEC,))
    lines = copies(3)
    lines[1] = lines[1].replace(b'"copy-1"', f'"{crash_rule.RAISE_ID}"'.encode())
    results = [Checker(job, None).check(Record("x.ndjson", n + 1, data=d, ndjson=True)) for n, d in enumerate(lines)]
    assert [r.outcome.ok for r in results] == [True, False, True]
    (fatal,) = [i for i in results[1].issues if i.severity == "fatal"]
    assert fatal.code == "exception" and "fails on purpose" in fatal.message


def test_chunks_are_bounded_by_count_and_bytes() -> None:
    records = [Record("f", n, data=b"x" * 100, ndjson=True) for n in range(10)]
    assert [len(c) for c in chunks(records, size=4)] == [4, 4, 2]
    assert [len(c) for c in chunks(records, size=100, max_bytes=250)] == [3, 3, 3, 1]


def fake_records(data: list[bytes]) -> Iterator[Record]:
    return (Record("f.ndjson", n + 1, data=d, ndjson=True) for n, d in enumerate(data))


def test_the_pool_keeps_input_order_and_survives_a_crash() -> None:
    data = [str(n).encode() for n in range(120)]
    data[37] = b"crash"
    with Pool(Job(), 2, chunk_records=5, window=4, init=crash_rule.fake_init, work=crash_rule.fake_work) as pool:
        results = list(pool.map(fake_records(data)))
    assert [r.label for r in results] == [f"f.ndjson:{n + 1}" for n in range(120)]
    assert [r.issues[0].message for r in results if r.issues[0].rule != CRASH_RULE] == [
        str(n) for n in range(120) if n != 37
    ]
    (crashed,) = [r for r in results if r.issues[0].rule == CRASH_RULE]
    assert crashed.line == 38 and crashed.issues[0].severity == "fatal" and crashed.issues[0].line == 38
    assert pool.restarts >= 1


def test_two_workers_give_the_results_of_one(tmp_path: Path, checker: Checker) -> None:
    path = export(tmp_path, copies(150))
    inline = [checker.check(r) for r in iter_records([path])]
    runner = Runner(Job(), workers=2)
    pooled = list(runner.run(iter_records([path])))
    assert runner.workers == 2
    assert [(c.label, c.issues) for c in pooled] == [(c.label, c.issues) for c in inline]


def test_a_record_that_kills_its_worker_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    path = export(tmp_path, copies(60, crash_at=41))
    runner = Runner(Job(rules=(crash_rule.SPEC,)), workers=2)
    results = list(runner.run(iter_records([path])))
    assert len(results) == 60
    crashed = [c for c in results if any(i.rule == CRASH_RULE for i in c.issues)]
    assert [c.line for c in crashed] == [42]
    (issue,) = crashed[0].issues
    assert (issue.severity, issue.code, issue.line) == ("fatal", "exception", 42)
    assert all(c.outcome.ok for c in results if c is not crashed[0])
    assert runner.pool is not None and runner.pool.restarts >= 1


def test_short_inputs_stay_in_this_process_by_default(tmp_path: Path) -> None:
    runner = Runner(Job())
    assert len(list(runner.run(iter_records([export(tmp_path, copies(12))])))) == 12
    assert runner.workers == 1 and runner.pool is None


def test_records_are_read_only_a_bounded_window_ahead() -> None:
    pulled = [0]

    def counted(n: int) -> Iterator[Record]:
        for record in fake_records([str(k).encode() for k in range(n)]):
            pulled[0] += 1
            yield record

    with Pool(Job(), 2, chunk_records=5, window=4, init=crash_rule.fake_init, work=crash_rule.fake_work) as pool:
        results = pool.map(counted(1000))
        next(results)
        assert pulled[0] <= 4 * 5  # the window of chunks in flight, not the input
        assert len(list(results)) == 999
    inline = Runner(Job(), workers=1).run(counted(10))
    pulled[0] = 0
    next(inline)
    assert pulled[0] == 1
