"""Package-layer errors. Each carries a one-line message fit for a CLI or an OperationOutcome."""

from __future__ import annotations


class PackageError(Exception):
    """A package cannot be used: missing, corrupt, unreadable, or failing its checksum."""


class ChecksumMismatch(PackageError):
    """A shipped package's bytes differ from the sha256 recorded in packages.lock."""


class UnknownCanonical(LookupError):
    """No package in scope defines a resource with this canonical URL."""

    def __init__(self, canonical: str, suggestions: list[str] | None = None, scope: str = "") -> None:
        self.canonical = canonical
        self.suggestions = suggestions or []
        where = f" in {scope}" if scope else ""
        hint = f" (did you mean {', '.join(self.suggestions)}?)" if self.suggestions else ""
        super().__init__(f"unknown canonical {canonical}{where}{hint}")
