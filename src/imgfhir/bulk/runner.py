"""Which inputs are validated together, and where: in this process or on a pool.

`split()` decides, reading ahead as little as it needs:
- a batch: ordinary files below `LOAD_ALL_BYTES` / `LOAD_ALL_RECORDS` and no NDJSON: every input is
  loaded first and references between them resolve, as in an IG build (`check_batch`);
- a stream: NDJSON, standard input as NDJSON, or more than that: each record is validated on its
  own, as the HL7 reference validator validates each input on its own, in constant memory
  (`imgfhir.bulk.stream`). `cross_references=True` loads everything first whatever its size
  (memory then grows with the input); `False` always streams.

`Runner` validates records in this process (`-j 1`, and short inputs by default) or on a process
pool (`-j N`; by default the machine's cores once an input is longer than `AUTO_POOL_RECORDS`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from .check import Checked, Checker, Job
from .pool import Pool, cores
from .reader import Record

if TYPE_CHECKING:
    from imgfhir.packages import PackageStore
    from imgfhir.validation import Validator

LOAD_ALL_BYTES = 32 << 20
LOAD_ALL_RECORDS = 10_000
AUTO_POOL_RECORDS = 500  # a stream longer than this is validated on all cores unless -j says otherwise


def split(
    records: Iterable[Record],
    cross_references: bool | None = None,
    *,
    max_bytes: int = LOAD_ALL_BYTES,
    max_records: int = LOAD_ALL_RECORDS,
) -> tuple[list[Record] | None, Iterator[Record]]:
    """(the records to validate as one batch, None) or (None, every record as a stream)."""
    it = iter(records)
    if cross_references is False:
        return None, it
    batch: list[Record] = []
    held = 0
    for record in it:
        batch.append(record)
        held += record.size
        if cross_references is None and (record.ndjson or held > max_bytes or len(batch) > max_records):
            return None, itertools.chain(batch, it)
    return batch, iter(())


def _validator(job: Job, store: PackageStore | None) -> Validator | None:
    if store is None:
        return None
    from imgfhir.validation import Validator, limits

    from .check import import_rules

    return Validator(
        store,
        rules=import_rules(job.rules),
        plugins=job.plugins,
        extension_domains=job.extension_domains,
        best_practice=job.best_practice,
        issue_limits=limits.RUN_LIMITS,  # read at run time: the run's own setting
    )


class Runner:
    """Validates records in order, here or on a pool; `workers` says how many processes did."""

    def __init__(self, job: Job, *, workers: int | None = None, store: PackageStore | None = None) -> None:
        self.job, self.requested, self.store = job, workers, store
        self.workers = 1
        self.pool: Pool[Record, Checked] | None = None

    def run(self, records: Iterable[Record]) -> Iterator[Checked]:
        it = iter(records)
        count = self.requested
        head: list[Record] = []
        if count is None:  # read ahead: a short input is not worth starting processes for
            head = list(itertools.islice(it, AUTO_POOL_RECORDS + 1))
            count = cores() if len(head) > AUTO_POOL_RECORDS else 1
        records = itertools.chain(head, it)
        if count <= 1:
            checker = Checker(self.job, _validator(self.job, self.store))
            yield from (checker.check(record) for record in records)
            return
        self.workers = count
        with Pool[Record, Checked](self.job, count) as pool:
            self.pool = pool
            yield from pool.map(records)


def check_batch(
    batch: list[Record],
    job: Job,
    *,
    store: PackageStore | None = None,
    workers: int | None = None,
    quiet: bool = True,
) -> tuple[list[Checked], dict[str, str]]:
    """Validate inputs that may refer to each other: all are loaded first, and every resource
    among them is known to the validator (references to it resolve). The texts come back too.
    Without `quiet`, a progress bar runs on a terminal (standard error)."""
    from .progress import Progress, wanted

    loader = Checker(job, _validator(job, store))
    loaded = [loader.load(r) if not (r.empty or r.issue) else None for r in batch]
    known = tuple(x.resource for x in loaded if x is not None and x.resource is not None)
    sources = {r.label: x.text for r, x in zip(batch, loaded, strict=True) if x is not None and x.text is not None}
    with_known = replace(job, known=known)
    if workers is not None and workers > 1:
        results: Iterable[Checked] = Runner(with_known, workers=workers, store=store).run(batch)
    else:
        checker = Checker(with_known, loader.validator)
        results = (checker.check(r, x) for r, x in zip(batch, loaded, strict=True))
    done: list[Checked] = []
    with Progress(sum(r.size for r in batch), shown=wanted(quiet), label=f"{len(batch)} inputs") as bar:
        for checked in results:
            done.append(checked)
            bar.advance(checked.size, sum(i.severity in ("fatal", "error") for i in checked.issues))
    return done, sources
