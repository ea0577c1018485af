"""Bulk validation: NDJSON / JSON Lines (plain or gzip), folders and stdin, record by record."""

from .reader import Record, iter_records

__all__ = ["Record", "iter_records"]
