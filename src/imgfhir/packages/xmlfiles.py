"""FHIR XML conformance resources in folder packages.

The reference validator loads the XML files of an `-ig` folder as it loads the JSON ones (IgLoader reads
each file by its format); a folder package given with `--package` may hold StructureDefinitions,
ValueSets, CodeSystems ... as `.xml`. They are indexed from the root's direct `value`s (no definitions
needed: the index is built before any scope exists) and read in full, with the XML reader in the
package's own scope (its FHIR release), the first time a canonical resolves to them. A file that cannot
be read is a package warning and is left out, never a crash, as the reference's
IgLoader.loadFileWithErrorChecking prints "ignored due to error" and goes on (it reads each file with the
XmlParser of the folder's FHIR version: loadResourceByVersion).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imgfhir.packages.errors import PackageError

if TYPE_CHECKING:
    from imgfhir.packages.package import ResourceEntry
    from imgfhir.packages.store import Scope

ScopeHook = Callable[[], "Scope"]  # the scope a package's XML is read in (set by the store it is in)
Report = Callable[[str], None]  # where a package's problems go (the store's warnings)
FHIR_NS = "http://hl7.org/fhir"
# the root's children an index entry is made of (ResourceEntry.of reads them by their JSON names)
_INDEXED = frozenset({"id", "url", "version", "name", "kind", "type", "baseDefinition", "derivation", "abstract"})


def index_entry(path: Path) -> ResourceEntry | str:
    """The index entry of one XML file, or why it is not a FHIR resource that can be read."""
    from imgfhir.outcome import Issue
    from imgfhir.packages.package import ResourceEntry
    from imgfhir.xml.parse import parse_xml

    try:
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except OSError as exc:
        return f"cannot read {path.name} ({exc.strerror or exc})"
    except UnicodeDecodeError as exc:
        return f"{path.name} is not UTF-8 (byte {exc.start}: {exc.reason})"
    doc = parse_xml(text)
    if isinstance(doc, Issue):
        where = f" {doc.line}:{doc.column}" if doc.line is not None and doc.rule != "xml-syntax" else ""
        return f"{path.name}{where}: {doc.message}"  # a syntax error's message has its line and column
    root = doc.root
    if root.ns != FHIR_NS or not root.name[:1].isupper():
        return f"{path.name} is not a FHIR resource (root <{root.name}> in namespace {root.ns or 'none'})"
    res: dict[str, Any] = {"resourceType": root.name}
    for child in root.elements:
        value = child.attr("value") if child.ns == FHIR_NS and child.name in _INDEXED else None
        if value is not None and child.name not in res:
            res[child.name] = value.value
    res["abstract"] = res.get("abstract") == "true"
    return ResourceEntry.of(path.name, res)


class _Reading(threading.local):
    """The files this thread is reading: one whose reading needs itself (a package that redefines the
    definition of its own resource type) is refused, not recursed into."""

    def __init__(self) -> None:
        self.files: set[str] = set()


_READING = _Reading()


def read_resource(path: Path, package_key: str, scope: ScopeHook | None, report: Report) -> dict[str, Any]:
    """One XML resource of a package as its JSON tree, read by the definitions of the package's scope;
    what the reader finds wrong in it (an element out of order, say) is reported, the rest is kept."""
    from imgfhir.xml import read_xml

    if scope is None:
        raise PackageError(f"{package_key}: {path.name} is XML, which is read in a package store (none here)")
    key = str(path)
    if key in _READING.files:
        raise PackageError(f"{package_key}: {path.name} is needed to read itself (a definition of its own type)")
    _READING.files.add(key)
    try:
        result = read_xml(path.read_bytes().decode("utf-8"), scope())
    except (OSError, UnicodeDecodeError) as exc:
        raise PackageError(f"{package_key}: cannot read {path.name} ({exc})") from exc
    finally:
        _READING.files.discard(key)
    if result.resource is None:
        problem = result.issues[0].message if result.issues else "not a FHIR resource"
        raise PackageError(f"{package_key}: cannot read {path.name} ({problem})")
    for issue in result.issues:
        if issue.severity in ("fatal", "error"):
            report(f"{package_key}: {path.name} {issue.line}:{issue.column}: {issue.message}")
    return result.resource
