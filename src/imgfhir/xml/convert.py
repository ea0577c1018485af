"""`imgfhir convert`: FHIR JSON ↔ XML for files, folders, NDJSON lines and stdin.

Each input is loaded as the validator loads it (format told by content) and written in the other format
by the definitions of its release. An input that cannot be read, or that holds what the target format
cannot carry, is reported, never half-written silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from imgfhir.outcome import Issue
from imgfhir.packages import PackageStore
from imgfhir.validation.source import iter_inputs, load, ndjson_line
from imgfhir.xml.load import XmlScopes
from imgfhir.xml.writer import XmlWriteError, write_xml

SUFFIX = {"xml": ".xml", "json": ".json"}


@dataclass
class Converted:
    name: str  # the input's name (`file.ndjson:3` for one NDJSON line)
    text: str | None  # the converted document, None when the input could not be converted
    problems: list[str] = field(default_factory=list)

    def target(self, directory: Path, to: str) -> Path:
        """Where the document goes in `directory`: the input's stem (and NDJSON line) with the new suffix."""
        line = ndjson_line(self.name)
        stem = Path(line[0]).stem + f"-{line[1]}" if line else Path(self.name).stem
        return directory / (("stdin" if self.name.startswith("<") else stem) + SUFFIX[to])


def convert(
    paths: Iterable[str | os.PathLike[str]], to: str, store: PackageStore, fhir_version: str | None
) -> Iterator[Converted]:
    scopes = XmlScopes(store, fhir_version)
    for name, source in iter_inputs(paths):
        loaded = load(source, name=name, xml=scopes)
        if loaded.resource is None:
            yield Converted(name, None, [_where(i.line, i.column) + i.message for i in loaded.issues])
            continue
        problems = [_where(i.line, i.column) + i.message for i in loaded.issues if i.severity in ("fatal", "error")]
        if to == "json":
            yield Converted(name, orjson.dumps(loaded.resource, option=orjson.OPT_INDENT_2).decode() + "\n", problems)
            continue
        meta = loaded.resource.get("meta")
        declared = meta.get("profile") if isinstance(meta, dict) else None
        scope = scopes.scope_for([p for p in declared if isinstance(p, str)] if isinstance(declared, list) else [])
        if isinstance(scope, Issue):
            yield Converted(name, None, [scope.message])
            continue
        try:
            written = write_xml(loaded.resource, scope)
        except XmlWriteError as exc:
            yield Converted(name, None, [str(exc)])
            continue
        problems += [f"{where}: no XML form for this value, left out" for where in written.skipped]
        yield Converted(name, written.text, problems)


def _where(line: int | None, column: int | None) -> str:
    return f"{line}:{column}: " if line is not None else ""
