"""FHIR XML (R4, R5): a safe reader into the JSON-shaped tree the validator walks, the XML-only rules,
and a writer back to XML, all driven by the StructureDefinitions.

- `load_xml` / `XmlScopes`: XML bytes or text → `Loaded` (resource, XML issues, pointer → line:column);
  `imgfhir.validation.source.load` hands XML here when the content is XML;
- `read_xml(text, scope)`: the same for a known scope, as a `ReadResult`;
- `write_xml(resource, scope)`: JSON → XML, element order from the definitions.
"""

from __future__ import annotations

from imgfhir.outcome import Issue
from imgfhir.packages import Scope
from imgfhir.xml.load import XmlScopes, load_xml
from imgfhir.xml.parse import collector_paused, parse_xml
from imgfhir.xml.reader import ReadResult, read_document

__all__ = ["ReadResult", "XmlScopes", "load_xml", "parse_xml", "read_xml"]


def read_xml(text: str, scope: Scope) -> ReadResult:
    """Read one XML resource by the definitions of `scope`; a document that cannot be parsed gives a
    result with no resource and its fatal issue."""
    with collector_paused():
        doc = parse_xml(text.removeprefix("\ufeff"))
        if isinstance(doc, Issue):
            return ReadResult(None, [doc])
        return read_document(scope, doc)
