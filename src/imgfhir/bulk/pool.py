"""Validating records on all cores: a process pool that keeps input order and survives crashes.

Each worker process builds one `Checker` (one Validator: the package store is loaded and the plans
compile once per worker) and validates chunks of records. Chunks are submitted a few per worker
ahead of the one being collected (`window`), so memory stays bounded however long the input is,
and results come back in input order.

A worker that dies (a crash in native code, the out-of-memory killer, `os._exit` in a plugin)
breaks the pool: every chunk in flight fails. The pool is then started afresh and each of those
chunks is validated again one record at a time, waiting for each, so that only the record whose
worker dies is reported (fatal, rule `worker-crash`) and the run goes on.

Workers are started by a fork server (spawn where there is none), never forked from the main
process, which runs threads (the progress bar) that a fork would copy in an unknown state.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Generic, TypeVar

from imgfhir.outcome import Issue

from .check import Checked, Checker, Job
from .reader import Record

CRASH_RULE = "worker-crash"
CHUNK_RECORDS = 32
CHUNK_BYTES = 4 << 20

T = TypeVar("T")  # what is validated (a Record)
R = TypeVar("R")  # its result (a Checked)

_CHECKER: Checker | None = None
_SETUP_ERROR: str | None = None


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _init(job: Job) -> None:
    global _CHECKER, _SETUP_ERROR
    try:
        _CHECKER = Checker(job)
    except Exception as exc:  # noqa: BLE001 - reported on every record instead of breaking the pool
        _SETUP_ERROR = f"cannot set up the validator in a worker: {type(exc).__name__}: {exc}"


def _work(chunk: list[Record]) -> list[Checked]:
    if _CHECKER is None:
        message = _SETUP_ERROR or "worker not set up"
        return [Checked(r.label, [Issue("fatal", "exception", message)], line=r.line, blank=r.blank) for r in chunk]
    return [_CHECKER.check(record) for record in chunk]


def chunks(records: Iterable[T], size: int = CHUNK_RECORDS, max_bytes: int = CHUNK_BYTES) -> Iterator[list[T]]:
    """Records in chunks of at most `size` records and about `max_bytes` of record data."""
    chunk: list[T] = []
    held = 0
    for record in records:
        chunk.append(record)
        data = record.data if isinstance(record, Record) else None
        held += len(data) if data is not None else 0
        if len(chunk) >= size or held >= max_bytes:
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk


def crashed(record: Record) -> Checked:
    message = (
        "the worker process validating this record stopped abruptly (it crashed or was killed): "
        "the record is not validated"
    )
    issue = Issue("fatal", "exception", message, rule=CRASH_RULE, line=record.line if record.ndjson else None)
    return Checked(record.label, [issue], line=record.line, blank=record.blank)


class Pool(Generic[T, R]):
    """`map()` validates records in worker processes and yields their results in input order.

    By default the records are `Record`s validated by a `Checker` built from `job`; `init(job)`,
    `work(chunk)` and `lost(record)` (the result of a record whose worker died) make it run
    other work (the DICOM conversions of `from-dicom`). `init` and `work` run in the workers:
    module-level functions, pickled by name."""

    def __init__(
        self,
        job: Any,
        workers: int,
        *,
        chunk_records: int = CHUNK_RECORDS,
        window: int | None = None,
        init: Callable[[Any], None] = _init,
        work: Callable[[list[T]], list[R]] = _work,  # type: ignore[assignment]
        lost: Callable[[T], R] = crashed,  # type: ignore[assignment]
    ) -> None:
        self.job, self.workers, self.chunk_records = job, max(1, workers), chunk_records
        self.window = window or 2 * self.workers
        self._init, self._work, self._lost = init, work, lost
        self._executor: ProcessPoolExecutor | None = None
        self.restarts = 0

    def __enter__(self) -> Pool[T, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=_context(), initializer=self._init, initargs=(self.job,)
            )
        return self._executor

    def _restart(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self.restarts += 1

    def map(self, records: Iterable[T]) -> Iterator[R]:
        pending: deque[tuple[list[T], Future[list[R]], int]] = deque()
        for chunk in chunks(records, self.chunk_records):
            pending.append((chunk, self._submit(chunk), self.restarts))
            while len(pending) >= self.window:
                yield from self._collect(*pending.popleft())
        while pending:
            yield from self._collect(*pending.popleft())

    def _submit(self, chunk: list[T]) -> Future[list[R]]:
        try:
            return self._pool().submit(self._work, chunk)
        except BrokenProcessPool:  # broken between two submissions: start afresh
            self._restart()
            return self._pool().submit(self._work, chunk)

    def _collect(self, chunk: list[T], future: Future[list[R]], generation: int) -> Iterator[R]:
        try:
            yield from future.result()
            return
        except BrokenProcessPool:
            if generation == self.restarts:  # the first chunk to see this pool broken restarts it
                self._restart()
        for record in chunk:  # one at a time, so that only the record that kills its worker is lost
            yield self._alone(record)

    def _alone(self, record: T) -> R:
        try:
            return self._submit([record]).result()[0]
        except BrokenProcessPool:
            self._restart()
            return self._lost(record)


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        ctx.set_forkserver_preload(["imgfhir.bulk.check"])  # the validation modules, imported once
    return ctx
