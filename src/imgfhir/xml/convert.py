"""`imgfhir convert`: FHIR JSON ↔ XML for files, folders, NDJSON records and stdin.

Each input is loaded as the validator loads it (format told by content) and written in the other format
by the definitions of its release. An input that cannot be read, or that holds what the target format
cannot carry, is reported, never half-written silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import orjson

from imgfhir.outcome import Issue
from imgfhir.packages import PackageStore
from imgfhir.validation.source import STDIN, iter_inputs, load, ndjson_line
from imgfhir.xml.load import XmlScopes
from imgfhir.xml.writer import XmlWriteError, write_xml

SUFFIX = {"xml": ".xml", "json": ".json"}


@dataclass
class Converted:
    name: str  # the input's name (`file.ndjson:3` for one NDJSON line)
    text: str | None  # the converted document, None when the input could not be converted
    problems: list[str] = field(default_factory=list)
    folder: PurePath = field(default_factory=PurePath)  # where the input is in the folder it was found in

    def target(self, directory: Path, to: str) -> Path:
        """Where the document goes in `directory`: the input's stem (and, for one NDJSON record, its line)
        with the new suffix, in the same sub-folder as the input in the folder it was found in. XML has
        no file of many resources as NDJSON has: each record of an NDJSON file becomes a file."""
        line = ndjson_line(self.name)
        stem = Path(line[0]).stem + f"-{line[1]}" if line else Path(self.name).stem
        return directory / self.folder / (("stdin" if self.name.startswith("<") else stem) + SUFFIX[to])


def _folder(name: str, root: Path | None) -> PurePath:
    """The input's sub-folder inside `root` (the folder given on the command line), else none."""
    if root is None:
        return PurePath()
    line = ndjson_line(name)
    path = Path(line[0] if line else name)
    try:
        return path.parent.relative_to(root)
    except ValueError:
        return PurePath()


def convert(
    paths: Iterable[str | os.PathLike[str]], to: str, store: PackageStore, fhir_version: str | None
) -> Iterator[Converted]:
    scopes = XmlScopes(store, fhir_version)
    for raw in paths:
        root = Path(raw) if os.fspath(raw) != STDIN and Path(raw).is_dir() else None
        for name, source in iter_inputs([raw]):
            done = _convert_one(name, source, to, scopes)
            done.folder = _folder(name, root)
            yield done


def _convert_one(name: str, source: bytes | Path, to: str, scopes: XmlScopes) -> Converted:
    loaded = load(source, name=name, xml=scopes)
    line = ndjson_line(name)
    first = line[1] if line else 1  # an NDJSON record's positions are made the file's, as `validate` reports them
    if loaded.resource is None:
        return Converted(name, None, [_where(i.line, i.column, first) + i.message for i in loaded.issues])
    problems = [
        _where(i.line, i.column, first) + i.message for i in loaded.issues if i.severity in ("fatal", "error")
    ]
    if to == "json":
        return Converted(name, orjson.dumps(loaded.resource, option=orjson.OPT_INDENT_2).decode() + "\n", problems)
    meta = loaded.resource.get("meta")
    declared = meta.get("profile") if isinstance(meta, dict) else None
    scope = scopes.scope_for([p for p in declared if isinstance(p, str)] if isinstance(declared, list) else [])
    if isinstance(scope, Issue):
        return Converted(name, None, [scope.message])
    try:
        written = write_xml(loaded.resource, scope)
    except XmlWriteError as exc:
        return Converted(name, None, [str(exc)])
    problems += [f"{where}: no XML form for this value, left out" for where in written.skipped]
    return Converted(name, written.text, problems)


def _where(line: int | None, column: int | None, first: int) -> str:
    return f"{line + first - 1}:{column}: " if line is not None else ""
