"""Placeholder: being written. Public API is fixed:

class SnapshotError(Exception): one-line message (unknown base, circular base, unresolvable diff element).
class SnapshotGenerator:
    def __init__(self, scope: Scope) -> None
    def snapshot(self, canonical: str) -> dict   # SD (copy) with complete snapshot; published snapshot of
                                                 # constraint SDs is *regenerated*, cached per scope
    def generate(self, sd: dict) -> dict         # regenerate snapshot of this SD from its differential
def generator_for(scope: Scope) -> SnapshotGenerator   # cached in scope.memo
def snapshot_of(store: PackageStore, canonical: str, release: str | None = None) -> dict
"""
from __future__ import annotations

from typing import Any

from imgfhir.packages import PackageStore, Scope


class SnapshotError(Exception):
    pass


class SnapshotGenerator:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def snapshot(self, canonical: str) -> dict[str, Any]:
        raise NotImplementedError

    def generate(self, sd: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


def generator_for(scope: Scope) -> SnapshotGenerator:
    gen = scope.memo.get("snapshot")
    if not isinstance(gen, SnapshotGenerator):
        gen = scope.memo["snapshot"] = SnapshotGenerator(scope)
    return gen


def snapshot_of(store: PackageStore, canonical: str, release: str | None = None) -> dict[str, Any]:
    return generator_for(store.scope_for_canonical(canonical, release)).snapshot(canonical)
