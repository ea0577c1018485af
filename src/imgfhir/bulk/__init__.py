"""Bulk validation: NDJSON / JSON Lines (plain or gzip), folders and stdin, record by record."""

from .check import Checked, Checker, Job
from .pool import Pool, cores
from .reader import Record, iter_records
from .runner import Runner, check_batch, split

__all__ = ["Checked", "Checker", "Job", "Pool", "Record", "Runner", "check_batch", "cores", "iter_records", "split"]
