"""A streamed run: validate, report and count record by record, in constant memory.

Results are written as they come (`sinks`), a progress bar runs on a terminal (`progress`), and a
summary goes to standard error at the end (`summary`). What the CLI does for a batch at the end
(drop the 'release guessed' notices into one note, apply a baseline, limit what is printed to
`--level`) is done here per record.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

import orjson

from imgfhir.outcome import Issue, Outcome, Severity

from .check import Job
from .progress import Progress, input_bytes, label_of, wanted
from .reader import Record
from .runner import Runner
from .sinks import sink_for
from .summary import Summary

if TYPE_CHECKING:
    from imgfhir.packages import PackageStore
    from imgfhir.validation.filters import Accepted


class BulkError(Exception):
    """A usage or output problem that ends the run (the CLI prints it as one line)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class StreamOptions:
    """How a streamed run is reported (the `imgfhir validate` options)."""

    format: str = "text"
    level: str = "information"
    fail_on: str = "error"
    color: bool = False
    quiet: bool = False
    workers: int | None = None
    output: Path | None = None
    baseline: Path | None = None
    write_baseline: Path | None = None
    paths: tuple[str, ...] = ()  # as given: the progress bar's label and total


def stream(
    records: Iterable[Record], job: Job, options: StreamOptions, *, store: PackageStore | None = None,
    err: TextIO | None = None,
) -> int:
    """Validate and report record by record; the exit code (1 when an issue reaches `fail_on`)."""
    from imgfhir.validation.filters import BaselineError, read_baseline

    err = err or sys.stderr
    try:
        accepted = read_baseline(options.baseline) if options.baseline is not None else []
    except BaselineError as exc:
        raise BulkError(str(exc)) from None
    handle: TextIO | None = None
    if options.output is not None and str(options.output) != "-":
        try:
            handle = options.output.open("w", encoding="utf-8")
        except OSError as exc:
            raise BulkError(f"cannot write {options.output}: {exc.strerror or exc}", 1) from None
    try:
        return _stream(records, job, options, store, err, handle, accepted)
    finally:
        if handle is not None:
            handle.close()


def _stream(
    records: Iterable[Record],
    job: Job,
    options: StreamOptions,
    store: PackageStore | None,
    err: TextIO,
    handle: TextIO | None,
    accepted: list[Accepted],
) -> int:
    from imgfhir.validation.filters import apply_baseline, at_level, baseline_of

    out = (lambda: handle) if handle is not None else (lambda: sys.stdout)  # sys.stdout: looked up on each write
    sink = sink_for(options.format, out, color=options.color)
    runner = Runner(job, workers=options.workers, store=store)
    summary, report = Summary(), _Tally()
    baseline: dict[str, dict[str, str]] = {}
    start = time.perf_counter()
    shown_bar = wanted(options.quiet, err)
    total = input_bytes(options.paths) if shown_bar else None
    with Progress(total, shown=shown_bar, label=label_of(list(options.paths))) as bar:
        for checked in runner.run(records):
            issues = report.without_notice(checked.issues)
            results = [(checked.label, Outcome(issues, list(checked.checked)))]
            if options.write_baseline is not None:
                baseline.update((orjson.dumps(e).decode(), e) for e in baseline_of(results))
            if accepted:
                results, dropped = apply_baseline(results, accepted)
                summary.accepted += dropped
                issues = results[0][1].issues
            summary.add(checked, issues)
            report.failed = report.failed or bool(Outcome(issues).at_least(cast(Severity, options.fail_on)))
            bar.advance(checked.size, sum(i.severity in ("fatal", "error") for i in issues))
            if checked.empty or (checked.skipped and not issues):
                continue
            shown = at_level(results, options.level)[0][1] if options.level != "information" else results[0][1]
            report.count(shown.issues)
            sink.add(checked.label, shown, checked.text)
    sink.close(report.records, report.errors, report.warnings)
    summary.seconds, summary.workers = time.perf_counter() - start, runner.workers
    if runner.pool is not None and runner.pool.restarts:
        err.write(f"note: {runner.pool.restarts} worker crash(es): the pool was restarted each time\n")
    report.notes(err, summary.accepted, options.baseline)
    if options.write_baseline is not None:
        _write_baseline(options.write_baseline, list(baseline.values()))
    if not options.quiet:
        err.write(summary.render())
    return 1 if report.failed else 0


class _Tally:
    """What the report line counts (issues shown), and the notices said once per run."""

    def __init__(self) -> None:
        self.records = self.errors = self.warnings = self.guessed = 0
        self.failed = False

    def count(self, issues: list[Issue]) -> None:
        self.records += 1
        self.errors += sum(i.severity in ("fatal", "error") for i in issues)
        self.warnings += sum(i.severity == "warning" for i in issues)

    def without_notice(self, issues: list[Issue]) -> list[Issue]:
        """The record's issues without the 'FHIR release guessed' notice, counted for one note."""
        from imgfhir.validation.validator import AMBIGUOUS

        kept = [i for i in issues if i.rule != AMBIGUOUS]
        self.guessed += len(kept) != len(issues)
        return kept

    def notes(self, err: TextIO, accepted: int, baseline: Path | None) -> None:
        if self.guessed:
            err.write(
                f"note: the FHIR release of {self.guessed} input(s) could not be told from their profiles, "
                "resource types or elements: validated as FHIR R4 (--fhir-version R4|R5 to choose)\n"
            )
        if accepted:
            err.write(f"note: {accepted} known issue(s) accepted by the baseline {baseline}\n")


def _write_baseline(path: Path, entries: list[dict[str, Any]]) -> None:
    try:
        path.write_bytes(orjson.dumps({"accept": entries}, option=orjson.OPT_INDENT_2) + b"\n")
    except OSError as exc:
        raise BulkError(f"cannot write {path}: {exc.strerror or exc}", 1) from None
