"""Offline terminology: value set expansion and code validation from the loaded packages (being written)."""

from __future__ import annotations

from imgfhir.packages import Scope


class Terminology:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
