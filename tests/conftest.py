"""Shared fixtures: the bundled store (default cache) and isolation from the developer's environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from imgfhir.packages import ENV_VAR, PackageStore, bundled_dir, load_store
from imgfhir.packages.lock import LockEntry
from tests.support import RDS_ID, lock_entry

# Property tests: deterministic in CI (the same examples every run, so a red CI is reproducible),
# random locally; IMGFHIR_HYPOTHESIS=nightly runs many more examples.
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
settings.register_profile("dev", deadline=None)
settings.register_profile("nightly", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("IMGFHIR_HYPOTHESIS") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _no_user_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Packages named by the developer's own environment must not leak into the tests."""
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(scope="session")
def bundled_store() -> PackageStore:
    """The shipped packages only; shared, so tests must not count its diagnostics."""
    return load_store(env=False, entry_points=False)


@pytest.fixture
def fresh_store() -> PackageStore:
    """A store of the shipped packages with no diagnostics gathered yet."""
    return load_store(env=False, entry_points=False)


@pytest.fixture
def rds_archive() -> tuple[Path, LockEntry]:
    """A small shipped archive (radiation dose summary, ~9 kB) and its lock entry."""
    entry = lock_entry(RDS_ID)
    return bundled_dir() / entry.file, entry
