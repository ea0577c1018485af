"""Offline FHIR NPM packages: loading, checksums, and canonical resolution."""

from imgfhir.packages.errors import ChecksumMismatch, PackageError, UnknownCanonical
from imgfhir.packages.package import Package, ResourceEntry, fhir_release
from imgfhir.packages.sources import ENTRY_POINT_GROUP, ENV_VAR, bundled_dir, load_store
from imgfhir.packages.store import PackageStore, Scope

__all__ = [
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "ChecksumMismatch",
    "Package",
    "PackageError",
    "PackageStore",
    "ResourceEntry",
    "Scope",
    "UnknownCanonical",
    "bundled_dir",
    "fhir_release",
    "load_store",
]
