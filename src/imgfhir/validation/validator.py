"""Validator: compile profiles into plans once, validate many resources against them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imgfhir.outcome import Outcome
from imgfhir.packages import PackageStore, Scope

if TYPE_CHECKING:
    from imgfhir.terminology import Terminology


class Validator:
    """Holds the package store and the compiled plans; safe to reuse for many resources."""

    def __init__(self, store: PackageStore | None = None, *, packages: list[str] | None = None) -> None:
        raise NotImplementedError  # being written

    def validate(
        self, resource: Any, profile: str | list[str] | None = None, *, fhir_version: str | None = None
    ) -> Outcome:
        """Never raises: bad input and internal errors become fatal/error issues."""
        raise NotImplementedError

    def terminology(self, scope: Scope) -> Terminology:
        from imgfhir.terminology import Terminology

        term = scope.memo.get("terminology")
        if not isinstance(term, Terminology):
            term = scope.memo["terminology"] = Terminology(scope)
        return term


def validate(
    resource: Any,
    profile: str | list[str] | None = None,
    *,
    fhir_version: str | None = None,
    packages: list[str] | None = None,
) -> Outcome:
    """Validate `resource` (dict, JSON text/bytes, or a path) offline; see Validator.validate."""
    raise NotImplementedError
