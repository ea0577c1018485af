"""The package store: every package the SDK can see, and canonical resolution scoped per package.

Resolution follows the FHIR package rules: a resource resolves against its own package, then
that package's dependency closure (breadth-first), then — as a last resort — any other package
of the same FHIR release. Releases never mix: an R4 profile cannot resolve to R5 core.
Missing dependencies and unknown canonicals are reported once each as warnings; they never
make the whole store unusable.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.packages.errors import PackageError, UnknownCanonical
from imgfhir.packages.package import Package, ResourceEntry, core_package_id

# Package ids that the FHIR tooling maps to a per-release variant.
_PER_RELEASE_IDS = {
    "hl7.fhir.uv.extensions": "hl7.fhir.uv.extensions.{r}",
    "hl7.terminology": "hl7.terminology.{r}",
}
_FLOATING_VERSIONS = {"current", "dev", "latest"}


def _version_key(version: str) -> tuple[Any, ...]:
    parts = re.split(r"[.-]", version)
    return tuple((0, int(p)) if p.isdigit() else (-1, p) for p in parts)


class PackageStore:
    """All loaded packages plus the diagnostics gathered while wiring them together."""

    def __init__(self, packages: Iterable[Package] = ()) -> None:
        self.packages: list[Package] = []
        self.diagnostics: list[Issue] = []
        self._reported: set[str] = set()
        self._scopes: dict[str, Scope] = {}
        self._definers: dict[tuple[str, str | None], Package] = {}  # (url, release) → package, as asked
        for pkg in packages:
            self.add(pkg)

    def add(self, pkg: Package) -> None:
        if any(p.key == pkg.key and p.release == pkg.release for p in self.packages):
            message = f"package {pkg.key} loaded twice; keeping the first ({pkg.origin} ignored)"
            self.warn_once(f"dup:{pkg.key}", "duplicate", message)
            return
        self.packages.append(pkg)
        pkg.xml_scope = lambda: self.scope(pkg)
        pkg.report = lambda message: self.warn_once(f"file:{message}", "processing", message)
        for message in pkg.problems:
            pkg.report(message)
        self._scopes.clear()
        self._definers.clear()

    def warn_once(self, key: str, code: str, message: str) -> None:
        if key not in self._reported:
            self._reported.add(key)
            self.diagnostics.append(Issue("warning", code, message))

    # -- package lookup -------------------------------------------------------------

    def get(self, id_or_key: str, version: str | None = None) -> Package | None:
        """Exact lookup by id (and version), or `id#version`."""
        if "#" in id_or_key and version is None:
            id_or_key, version = id_or_key.split("#", 1)
        for pkg in self.packages:
            if pkg.id == id_or_key and (version is None or pkg.version == version):
                return pkg
        return None

    def resolve_dependency(self, name: str, version: str, release: str, requester: str) -> Package | None:
        """Pick the package that satisfies `name#version` for a package of `release`, or warn."""
        wanted = {name}
        if name in _PER_RELEASE_IDS:
            wanted.add(_PER_RELEASE_IDS[name].format(r=release.lower()))
        candidates = [
            p
            for p in self.packages
            if (p.id in wanted or f"{name}#{version}" in p.provides or name in p.provides) and p.release == release
        ]
        if not candidates:
            other = [p for p in self.packages if p.id in wanted]
            why = f" (only for FHIR {', '.join(sorted({p.release for p in other}))})" if other else " (not available)"
            self.warn_once(
                f"dep:{name}#{version}:{release}",
                "not-found",
                f"unresolved dependency {name}#{version} of {requester}{why}; resources it defines cannot be resolved",
            )
            return None
        exact = [p for p in candidates if p.version == version or f"{name}#{version}" in p.provides]
        if exact:
            return exact[0]
        best = max(candidates, key=lambda p: _version_key(p.version))
        if version.endswith(".x"):
            prefix = version[:-1]
            matching = [p for p in candidates if p.version.startswith(prefix)]
            if matching:
                return max(matching, key=lambda p: _version_key(p.version))
        if version not in _FLOATING_VERSIONS:
            self.warn_once(
                f"standin:{name}#{version}:{release}",
                "informational",
                f"dependency {name}#{version} of {requester} is not available; using {best.key} in its place",
            )
        return best

    def closure(self, root: Package) -> list[Package]:
        """root, then its dependencies breadth-first (with the implicit core package)."""
        order: list[Package] = [root]
        seen = {id(root)}
        queue = [root]
        while queue:
            pkg = queue.pop(0)
            deps = dict(pkg.dependencies)
            core = core_package_id(pkg.release)
            if core and core != pkg.id:
                deps.setdefault(core, pkg.fhir_version)
            for name, version in deps.items():
                dep = self.resolve_dependency(name, version, pkg.release, pkg.key)
                if dep is not None and id(dep) not in seen:
                    seen.add(id(dep))
                    order.append(dep)
                    queue.append(dep)
        return order

    # -- scopes ---------------------------------------------------------------------

    def scope(self, root: Package | str | None = None, *, release: str | None = None) -> Scope:
        """Canonical resolution as seen from `root` (a package or its id), or from a whole release."""
        if isinstance(root, str):
            found = self.get(root)
            if found is None:
                raise PackageError(f"unknown package {root}; known: {', '.join(p.key for p in self.packages)}")
            root = found
        if root is None and release is None:
            raise ValueError("scope() needs a package or a FHIR release")
        key = root.key + "/" + root.release if root else f"release:{release}"
        if key not in self._scopes:
            rel = root.release if root else str(release)
            ordered = self.closure(root) if root else self._release_order(rel)
            # core last: a canonical that an IG-level package redefines (newer extension and code
            # system editions, e.g. hl7.fhir.uv.extensions over R4 core's) wins, as in the reference tooling
            core = core_package_id(rel)
            ordered = [p for p in ordered if p.id != core or p is root] + [
                p for p in ordered if p.id == core and p is not root
            ]
            rest = [p for p in self._release_order(rel) if p not in ordered]
            self._scopes[key] = Scope(self, ordered + rest, label=root.key if root else f"FHIR {rel}", release=rel)
        return self._scopes[key]

    def _release_order(self, release: str) -> list[Package]:
        core = core_package_id(release)
        same = [p for p in self.packages if p.release == release]
        return sorted(same, key=lambda p: (p.id != core,))

    def releases(self) -> list[str]:
        return sorted({p.release for p in self.packages})

    def scope_for_canonical(self, canonical: str, release: str | None = None) -> Scope:
        """The scope of the package that defines `canonical` (first match, release-filtered)."""
        url = canonical.split("|", 1)[0]
        found = self._definers.get((url, release or None))
        if found is not None:
            return self.scope(found)
        for pkg in self.packages:
            if release and pkg.release != release:
                continue
            if any(e.url == url for e in pkg.entries):
                self._definers[url, release or None] = pkg
                return self.scope(pkg)
        known = sorted(
            {e.url for p in self.packages for e in p.entries if e.url and (not release or p.release == release)}
        )
        raise UnknownCanonical(canonical, difflib.get_close_matches(url, known, n=3, cutoff=0.75))


class Scope:
    """Canonical URL → resource, for one ordered list of packages of one FHIR release."""

    def __init__(self, store: PackageStore, packages: Sequence[Package], *, label: str, release: str) -> None:
        self.store = store
        self.packages = list(packages)
        self.label = label
        self.release = release
        self.memo: dict[str, Any] = {}  # derived artefacts (snapshots, plans) built once per scope
        self._by_url: dict[str, list[tuple[Package, ResourceEntry]]] | None = None

    def __repr__(self) -> str:
        return f"<Scope {self.label} ({self.release}, {len(self.packages)} packages)>"

    @property
    def root(self) -> Package:
        return self.packages[0]

    def _index(self) -> dict[str, list[tuple[Package, ResourceEntry]]]:
        if self._by_url is None:
            index: dict[str, list[tuple[Package, ResourceEntry]]] = {}
            for pkg in self.packages:
                for entry in pkg.entries:
                    if entry.url:
                        index.setdefault(entry.url, []).append((pkg, entry))
            self._by_url = index
        return self._by_url

    def entry(self, canonical: str) -> tuple[Package, ResourceEntry] | None:
        url, _, version = canonical.partition("|")
        hits = self._index().get(url)
        if not hits:
            return None
        if version:
            for hit in hits:
                if hit[1].version == version:
                    return hit
        return hits[0]

    def find(self, canonical: str, *, context: str = "") -> dict[str, Any] | None:
        """The resource, or None after recording a one-time warning."""
        hit = self.entry(canonical)
        if hit is None:
            where = f" (referenced from {context})" if context else ""
            self.store.warn_once(
                f"url:{self.release}:{canonical}", "not-found", f"cannot resolve {canonical} in {self.label}{where}"
            )
            return None
        return hit[0].load(hit[1].filename)

    def resolve(self, canonical: str) -> dict[str, Any]:
        """The resource, or UnknownCanonical carrying close matches."""
        hit = self.entry(canonical)
        if hit is None:
            url = canonical.split("|", 1)[0]
            raise UnknownCanonical(
                canonical, difflib.get_close_matches(url, list(self._index()), n=3, cutoff=0.75), self.label
            )
        return hit[0].load(hit[1].filename)

    def package_of(self, canonical: str) -> Package | None:
        hit = self.entry(canonical)
        return hit[0] if hit else None

    def entries(self, resource_type: str | None = None) -> Iterator[tuple[Package, ResourceEntry]]:
        for hits in self._index().values():
            for pkg, entry in hits[:1]:
                if resource_type is None or entry.resource_type == resource_type:
                    yield pkg, entry

    def structure_definition_for_type(self, type_code: str) -> dict[str, Any] | None:
        """The base definition of a type code (`Quantity`, `Observation`, or a full URL)."""
        url = type_code if "/" in type_code else f"http://hl7.org/fhir/StructureDefinition/{type_code}"
        return self.find(url)
