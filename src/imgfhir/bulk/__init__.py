"""Bulk validation: NDJSON / JSON Lines (plain or gzip), folders and stdin, record by record.

Memory does not grow with the input: records are read one at a time (`iter_records`), validated
in this process or on a pool of worker processes that keeps input order and survives a worker
crash (`Runner`, `Pool`), and reported as they come (`stream`), with a progress bar on a terminal
and a summary at the end (`Summary`). Each record is validated on its own, as the reference
validator does: references between records are resolved only when all inputs are loaded first
(`check_batch`: small folders of files by default, or `cross_references=True`).

    from imgfhir.bulk import Job, Runner, iter_records

    for checked in Runner(Job(), workers=4).run(iter_records(["export/Observation.ndjson.gz"])):
        print(checked.label, checked.outcome.ok)
"""

from .check import Checked, Checker, Job
from .pool import Pool, cores
from .reader import Record, iter_records
from .runner import Runner, check_batch, split
from .stream import BulkError, StreamOptions, stream
from .summary import Summary

__all__ = [
    "BulkError",
    "Checked",
    "Checker",
    "Job",
    "Pool",
    "Record",
    "Runner",
    "StreamOptions",
    "Summary",
    "check_batch",
    "cores",
    "iter_records",
    "split",
    "stream",
]
