"""Where packages come from: the SDK's bundled profiles/, $IMGFHIR_PACKAGES, entry points, and callers."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path

from imgfhir.outcome import Issue
from imgfhir.packages.errors import PackageError
from imgfhir.packages.lock import LOCK_NAME, read_lock
from imgfhir.packages.package import Package
from imgfhir.packages.store import PackageStore

ENV_VAR = "IMGFHIR_PACKAGES"
ENTRY_POINT_GROUP = "imgfhir.packages"


def bundled_dir() -> Path:
    """profiles/ inside an installed wheel (imgfhir/_profiles), else at the top of a source checkout."""
    here = Path(__file__).resolve().parent.parent
    wheel = here / "_profiles"
    if (wheel / LOCK_NAME).is_file():
        return wheel
    return here.parent.parent / "profiles"


def bundled_packages(directory: Path | None = None, cache_dir: Path | None = None) -> list[Package]:
    directory = directory or bundled_dir()
    lock_file = directory / LOCK_NAME
    if not lock_file.is_file():
        raise PackageError(f"no {LOCK_NAME} in {directory}: the SDK's bundled packages are missing")
    return [
        Package.open(directory / entry.file, "bundled", lock=entry, cache_dir=cache_dir)
        for entry in read_lock(lock_file)
    ]


def env_paths() -> list[Path]:
    raw = os.environ.get(ENV_VAR, "")
    return [Path(p) for p in raw.split(os.pathsep) if p.strip()]


def entry_point_paths(issues: list[Issue]) -> list[tuple[str, Path]]:
    """Paths published by installed distributions; a broken plugin becomes a warning, not a crash."""
    found: list[tuple[str, Path]] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            value = ep.load()
            if callable(value):
                value = value()
            items = [value] if isinstance(value, str | os.PathLike) else list(value)
            found.extend((f"entry-point:{ep.name}", Path(v)) for v in items)
        except Exception as exc:  # noqa: BLE001 - third-party code; report and carry on
            issues.append(Issue("warning", "exception", f"package entry point {ep.name!r} failed: {exc}"))
    return found


def load_store(
    extra: Sequence[str | Path] = (),
    *,
    bundled: bool = True,
    env: bool = True,
    entry_points: bool = True,
    cache_dir: Path | None = None,
) -> PackageStore:
    """Build a store from all sources. Explicit paths that cannot be loaded raise PackageError."""
    store = PackageStore()
    plugin_issues: list[Issue] = []
    sources: list[tuple[str, Path]] = [("option", Path(p)) for p in extra]
    if env:
        sources += [(f"env:{ENV_VAR}", p) for p in env_paths()]
    if entry_points:
        sources += entry_point_paths(plugin_issues)
    # user packages first: they take precedence over bundled ones with the same canonical
    for origin, path in sources:
        try:
            store.add(Package.open(path, origin, cache_dir=cache_dir))
        except PackageError:
            if origin.startswith("entry-point:"):
                plugin_issues.append(Issue("warning", "not-found", f"{origin}: cannot load {path}"))
                continue
            raise
    if bundled:
        for pkg in bundled_packages(cache_dir=cache_dir):
            store.add(pkg)
    store.diagnostics.extend(plugin_issues)
    return store


def packages_from(paths: Iterable[str | Path], cache_dir: Path | None = None) -> list[Package]:
    return [Package.open(Path(p), "option", cache_dir=cache_dir) for p in paths]
