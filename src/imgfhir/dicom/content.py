"""A DICOM SR content tree as plain data, read once from a pydicom Dataset.

Vendors bend the SR encoding in small ways (a UID given as TEXT, a NUM without a measured value,
a CODE without its concept code, code meanings in another case); the tree keeps what is there and
leaves the judgement to the template readers. Items are matched by code value and coding scheme,
never by meaning. Each item knows its position (`1.3.2`, the DICOM SR item position by-reference
notation) so messages can name it.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

# What pydicom raises on unreadable, truncated or malformed input (InvalidDicomError is a
# subclass of Exception we cannot name without importing pydicom).
READ_ERRORS: tuple[type[Exception], ...] = (OSError, EOFError, ValueError, TypeError, KeyError, AttributeError,
                                            IndexError, NotImplementedError, struct.error)


class DicomError(Exception):
    """Input that cannot be converted: one line, naming the file and the content item when there is one."""


@contextmanager
def pydicom_warnings() -> Iterator[list[Any]]:
    """pydicom's warnings about non-conformant values, as information Issues (each once) instead of stderr noise."""
    from imgfhir.outcome import Issue

    issues: list[Any] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield issues
    seen: set[str] = set()
    for warning in caught:
        text = str(warning.message).split(" Please see ")[0]
        if text not in seen:
            seen.add(text)
            issues.append(Issue("information", "informational", f"DICOM value not conformant: {text}",
                                rule="dicom-read"))


def read_dataset(source: str | Path | Any) -> tuple[Any, str]:
    """A pydicom Dataset from a path (or the Dataset itself) and a name for messages."""
    if not isinstance(source, str | Path):
        filename = getattr(source, "filename", None)
        return source, Path(filename).name if isinstance(filename, str) and filename else "dataset"
    try:
        import pydicom
        from pydicom.errors import InvalidDicomError
    except ImportError as exc:  # pragma: no cover - pydicom is a test extra
        raise DicomError("reading DICOM needs pydicom: pip install 'imgfhir[dicom]'") from exc
    path = Path(source)
    try:
        dataset = pydicom.dcmread(path)
    except InvalidDicomError as exc:
        raise DicomError(f"{path.name}: not a DICOM file ({exc})") from exc
    except READ_ERRORS as exc:
        raise DicomError(f"{path.name}: unreadable or truncated DICOM file ({type(exc).__name__}: {exc})") from exc
    return dataset, path.name



# SNOMED RT (SRT) identifiers DICOM has since replaced by SNOMED CT (SCT): the same concept,
# so either form matches.
SRT_TO_SCT: dict[str, str] = {
    "P5-08000": "77477000",  # Computed Tomography X-Ray
    "P5-40010": "71651007",  # Mammography
    "P5-06000": "44491008",  # Fluoroscopy
    "G-C171": "272741003",  # Laterality
    "T-04020": "73056007",  # Right breast
    "T-04030": "80248007",  # Left breast
    "G-C0E8": "363675004",  # Has Intent
    "R-408C3": "261004008",  # Diagnostic Intent
    "R-41531": "262202000",  # Therapeutic Intent
    "R-002E9": "129428001",  # Combined diagnostic and therapeutic procedure
    "A-2C090": "44492001",  # Dosimeter
}


@dataclass(frozen=True, slots=True)
class Code:
    """A coded entry (Code Sequence Macro): value, coding scheme designator, meaning."""

    value: str
    scheme: str
    meaning: str = ""

    def is_(self, value: str, scheme: str = "DCM") -> bool:
        if self.value == value and _same_scheme(self.scheme, scheme):
            return True
        if scheme == "SCT" and self.scheme.upper() == "SRT":
            return SRT_TO_SCT.get(self.value) == value
        return False

    def __str__(self) -> str:
        return f"({self.value}, {self.scheme}, {self.meaning!r})"


def _same_scheme(a: str, b: str) -> bool:
    a, b = a.upper(), b.upper()
    return a == b or {a, b} <= {"SCT", "SNM3"}


@dataclass(slots=True)
class ContentItem:
    """One SR content item with its value (by value type) and its children."""

    position: str
    value_type: str
    relationship: str
    concept: Code | None
    text: str | None = None
    code: Code | None = None
    number: Decimal | None = None
    number_text: str | None = None
    unit: Code | None = None
    datetime: str | None = None
    uid: str | None = None
    person: str | None = None
    observation_uid: str | None = None
    referenced_position: str | None = None  # a by-reference relationship: the target's position ("1.4.1")
    # IMAGE / COMPOSITE: (SOP Class UID, SOP Instance UID, frame numbers, segment numbers)
    reference: tuple[str, str, list[str], list[str]] | None = None
    # SCOORD / SCOORD3D: graphic type, graphic data, frame of reference UID (3D)
    graphic: tuple[str, list[float], str | None] | None = None
    source: Any = field(default=None, repr=False)  # the pydicom item, until its children are read
    _children: list[ContentItem] | None = field(default=None, repr=False)

    @property
    def children(self) -> list[ContentItem]:
        """Read on first use: pydicom decodes every element it is asked for, which is slow on
        large trees (thousands of irradiation event items), and most of a tree is never needed."""
        if self._children is None:
            seq = self.source.get("ContentSequence") if self.source is not None else None
            try:
                self._children = [_item(child, f"{self.position}.{n}") for n, child in enumerate(seq or (), start=1)]
            except READ_ERRORS as exc:
                raise DicomError(
                    f"unreadable or truncated SR content below content item {self.position}"
                    f" ({type(exc).__name__}: {exc})"
                ) from exc
            self.source = None
        return self._children

    @property
    def label(self) -> str:
        concept = str(self.concept) if self.concept else "(no concept name)"
        return f"{self.value_type} {concept} at content item {self.position}"

    def is_(self, value: str, scheme: str = "DCM") -> bool:
        return self.concept is not None and self.concept.is_(value, scheme)

    def find(self, value: str, scheme: str = "DCM") -> ContentItem | None:
        return next(self.find_all(value, scheme), None)

    def find_all(self, value: str, scheme: str = "DCM") -> Iterator[ContentItem]:
        return (c for c in self.children if c.is_(value, scheme))

    def walk(self) -> Iterator[ContentItem]:
        yield self
        for child in self.children:
            yield from child.walk()

    def string_value(self) -> str | None:
        """The value of a TEXT, UIDREF, PNAME, DATETIME or CODE item as text (vendors mix them up)."""
        for value in (self.text, self.uid, self.person, self.datetime):
            if value:
                return value
        return self.code.meaning if self.code else None


def _str(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _code(seq: Any) -> Code | None:
    if not seq:
        return None
    item = seq[0]
    value = _str(item.get("CodeValue")) or _str(item.get("LongCodeValue")) or _str(item.get("URNCodeValue"))
    if not value:
        return None
    return Code(value, _str(item.get("CodingSchemeDesignator")), _str(item.get("CodeMeaning")))


def _values(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue" else [value]


def content_tree(dataset: Any, name: str = "dataset") -> ContentItem:
    """The root CONTAINER of an SR dataset and everything below it.

    pydicom decodes sequences on access, so a truncated or malformed file often fails only here:
    that becomes a DicomError too.
    """
    try:
        return _item(dataset, "1")
    except READ_ERRORS as exc:
        raise DicomError(f"{name}: unreadable or truncated SR content tree ({type(exc).__name__}: {exc})") from exc


def _item(ds: Any, position: str) -> ContentItem:
    value_type = _str(ds.get("ValueType")) or "?"
    item = ContentItem(
        position=position,
        value_type=value_type,
        relationship=_str(ds.get("RelationshipType")),
        concept=_code(ds.get("ConceptNameCodeSequence")),
    )
    if value_type == "TEXT":
        item.text = _str(ds.get("TextValue")) or None
    elif value_type == "CODE":
        item.code = _code(ds.get("ConceptCodeSequence"))
    elif value_type == "NUM":
        measured = ds.get("MeasuredValueSequence")
        if measured:
            raw = measured[0].get("NumericValue")
            text = _str(raw.original_string if hasattr(raw, "original_string") and raw.original_string else raw)
            item.number_text = text or None
            try:
                item.number = Decimal(text) if text else None
            except InvalidOperation:
                item.number = None
            item.unit = _code(measured[0].get("MeasurementUnitsCodeSequence"))
    elif value_type == "DATETIME":
        item.datetime = _str(ds.get("DateTime")) or None
    elif value_type == "DATE":
        item.datetime = _str(ds.get("Date")) or None
    elif value_type == "UIDREF":
        item.uid = _str(ds.get("UID")) or None
    elif value_type == "PNAME":
        item.person = _str(ds.get("PersonName")) or None
    elif value_type in ("IMAGE", "COMPOSITE", "WAVEFORM"):
        refs = ds.get("ReferencedSOPSequence")
        if refs:
            ref = refs[0]
            item.reference = (
                _str(ref.get("ReferencedSOPClassUID")),
                _str(ref.get("ReferencedSOPInstanceUID")),
                [_str(x) for x in _values(ref.get("ReferencedFrameNumber"))],
                [_str(x) for x in _values(ref.get("ReferencedSegmentNumber"))],
            )
    elif value_type in ("SCOORD", "SCOORD3D"):
        data = [float(x) for x in _values(ds.get("GraphicData"))]
        item.graphic = (_str(ds.get("GraphicType")), data, _str(ds.get("ReferencedFrameOfReferenceUID")) or None)
    item.observation_uid = _str(ds.get("ObservationUID")) or None
    ref = ds.get("ReferencedContentItemIdentifier")
    if ref is not None and value_type == "?":
        item.referenced_position = ".".join(str(int(x)) for x in _values(ref)) or None
    item.source = ds
    return item


@contextmanager
def named_errors(name: str) -> Iterator[None]:
    """Every failure while reading `name` becomes one DicomError that starts with the file's name."""
    try:
        yield
    except DicomError as exc:  # from deep in the content tree: name the file
        if str(exc).startswith(f"{name}:"):
            raise
        raise DicomError(f"{name}: {exc}") from exc
    except READ_ERRORS as exc:
        raise DicomError(f"{name}: unreadable or truncated DICOM data ({type(exc).__name__}: {exc})") from exc
