"""One profile's compiled plan and the lookups construction needs (children, target types, value set
expansions, profile lineage), cached per (store, canonical, release)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import imgfhir.validation.rules  # noqa: F401 - plans compiled before the rule table is filled keep no rules
from imgfhir.packages import PackageStore, Scope, UnknownCanonical, load_store
from imgfhir.snapshot import SnapshotError
from imgfhir.validation.model import ElementPlan
from imgfhir.validation.plan import FHIR_SD, ProfilePlan, compile_profile, is_primitive, type_children

if TYPE_CHECKING:
    from imgfhir.terminology import Terminology

Code = tuple[str, str, str | None]  # (system, code, display)


class ProfileBuilder:
    """A profile's plan and the lookups made while constructing its instances."""

    def __init__(self, store: PackageStore, canonical: str, release: str | None = None) -> None:
        self.store = store
        self.scope: Scope = store.scope_for_canonical(canonical, release)
        self.plan: ProfilePlan = compile_profile(self.scope, canonical)
        self.canonical = self.plan.url
        self.release = self.scope.release
        self._expansions: dict[str, list[Code] | None] = {}

    def terminology(self) -> Terminology:
        from imgfhir.terminology import Terminology

        term = self.scope.memo.get("terminology")
        if not isinstance(term, Terminology):
            term = self.scope.memo["terminology"] = Terminology(self.scope)
        return term

    def expansion(self, value_set: str | None) -> list[Code] | None:
        """The first 200 codes of `value_set` expanded offline (None when it cannot be)."""
        if not value_set:
            return None
        if value_set not in self._expansions:
            try:
                codes = self.terminology().expand(value_set)
            except Exception:  # noqa: BLE001 - an unexpandable value set just means no bound codes
                codes = None
            self._expansions[value_set] = sorted(codes, key=lambda c: (c[0] or "", c[1]))[:200] if codes else None
        return self._expansions[value_set]

    def children(self, element: ElementPlan, type_code: str | None) -> dict[str, ElementPlan]:
        """The child definitions below `element` for a complex value of `type_code` (none for a primitive)."""
        if not element.children and is_primitive(type_code) and "contentReference" not in element.ed:
            return {}
        return type_children(self.scope, element, type_code)

    def is_resource(self, type_code: str) -> bool:
        if type_code in ("Resource", "DomainResource"):
            return True
        hit = self.scope.entry(FHIR_SD + type_code)
        return hit is not None and hit[1].kind == "resource"

    def profile_type(self, url: str) -> str:
        hit = self.scope.entry(url)
        return str(hit[1].type) if hit is not None and hit[1].type else url.rsplit("/", 1)[-1]

    def target_types(self, element: ElementPlan) -> list[str]:
        """The resource types a literal reference of `element` may name (Patient when any will do)."""
        out: list[str] = []
        for t in element.ed.get("type", ()):
            for url in t.get("targetProfile", ()):
                name = self.profile_type(str(url))
                if name not in out:
                    out.append(name)
        return [t for t in out if t not in ("Resource", "DomainResource")] or ["Patient"]

    def lineage(self, url: str) -> frozenset[str]:
        """`url` and the profiles it derives from: an instance of `url` conforms to all of them."""
        found: list[str] = []
        current: object = url
        while isinstance(current, str) and current not in found:
            found.append(current)
            try:
                current = builder_for(current, store=self.store, release=self.release).plan.sd.get("baseDefinition")
            except (SnapshotError, UnknownCanonical):
                break
        return frozenset(found)


_BUILDERS: dict[tuple[int, str, str | None], ProfileBuilder] = {}
_STORE: list[PackageStore] = []


def builder_for(canonical: str, *, store: PackageStore | None = None, release: str | None = None) -> ProfileBuilder:
    """The (cached) builder of `canonical`; raises UnknownCanonical / SnapshotError."""
    if store is None:
        if not _STORE:
            _STORE.append(load_store())
        store = _STORE[0]
    key = (id(store), canonical, release)
    found = _BUILDERS.get(key)
    if found is None:
        found = _BUILDERS[key] = ProfileBuilder(store, canonical, release)
    return found


__all__ = ["ProfileBuilder", "builder_for"]
