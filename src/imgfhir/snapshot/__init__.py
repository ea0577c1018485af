"""Differential → snapshot generation (FHIR profiling rules), measured against published snapshots."""

from imgfhir.snapshot.generator import SnapshotError, SnapshotGenerator, generator_for, snapshot_of

__all__ = ["SnapshotError", "SnapshotGenerator", "generator_for", "snapshot_of"]
