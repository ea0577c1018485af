"""Checks the reference validator makes on datatype values beyond their structure: an Attachment's
size and hash against its data, HTML tags in markdown, and the order of a Period's start and end
(per-1, which the reference evaluates at the precision both state).

Each cites the InstanceValidator method it follows; the rule ids are ours, the message keys the
reference's (Messages.properties).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.rules.primitives import is_base64

_NONE: tuple[Issue, ...] = ()


def _has_type(code: str) -> Any:
    def applies(element: ElementPlan) -> bool:
        return code in element.type_codes

    return applies


# -- Attachment ------------------------------------------------------------------------------------


@rule("attachment", applies=_has_type("Attachment"), reads=("type",))
def attachment(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """InstanceValidator.checkAttachment: a stated size must be the decoded length of `data`
    (TYPE_SPECIFIC_CHECKS_DT_ATT_SIZE_CORRECT), or without data a whole number >= 0
    (..._ATT_SIZE_INVALID); a stated hash must be the base64 SHA-1 of the decoded data
    (..._ATT_HASH_MISMATCH); an attachment with neither data nor url should say its contentType or
    language (..._ATT_NO_CONTENT, a warning). R4 states size as unsignedInt (a JSON number), R5
    as integer64 (a JSON string): both compare by their text, as the reference does."""
    value = item.value
    if item.type != "Attachment" or not isinstance(value, dict):
        return iter(_NONE)
    return _attachment_issues(item, value)


def _attachment_issues(item: Item, value: dict[str, Any]) -> Iterator[Issue]:
    data, size = value.get("data"), value.get("size")
    if isinstance(data, str):
        if is_base64(data):
            if size is not None and _text(size) != str(_decoded_length(data)):
                message = f"the stated size {_text(size)} is not the size of the data ({_decoded_length(data)} bytes)"
                yield issue("error", "structure", message, item, "attachment")
            yield from _hash_issue(item, data, value.get("hash"))
    elif size is not None and not _whole_number(size):
        yield issue("error", "structure", f"the stated size {_text(size)} is not valid", item, "attachment")
    if not any(key in value for key in ("data", "url", "contentType", "language")):
        message = "an attachment has data or a url, or else should state its contentType or language"
        yield issue("warning", "structure", message, item, "attachment")


def _hash_issue(item: Item, data: str, stated: Any) -> Iterator[Issue]:
    if not isinstance(stated, str):
        return
    digest = hashlib.sha1(base64.b64decode(_compact(data)), usedforsecurity=False).digest()
    try:
        matches = base64.b64decode(_compact(stated), validate=True) == digest
    except (binascii.Error, ValueError):
        matches = False
    if not matches:
        actual = base64.b64encode(digest).decode("ascii")
        message = f"the stated hash {stated!r} is not the SHA-1 of the data ({actual!r})"
        yield issue("error", "structure", message, item, "attachment")


def _compact(text: str) -> str:
    return text.replace("\n", "").replace("\r", "").replace(" ", "").replace("\t", "")


def _decoded_length(data: str) -> int:
    """The number of bytes base64 `data` decodes to, counted without decoding (attachments run to
    megabytes): Base64Util.countBase64DecodedBytes."""
    body = _compact(data)
    return len(body) * 3 // 4 - (len(body) - len(body.rstrip("=")))


def _text(value: Any) -> str:
    """A number as the reference reads its text (JSON 11 and "11" alike; 11.0 is not 11)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _whole_number(value: Any) -> bool:
    text = _text(value)
    return re.fullmatch(r"[-+]?[0-9]+", text) is not None and int(text) >= 0 and int(text) < 2**63


# -- markdown ----------------------------------------------------------------------------------------


@rule("markdown-html", applies=_has_type("markdown"), reads=("type",))
def markdown_html(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """InstanceValidator.checkPrimitive with the default htmlInMarkdownCheck (WARNING): markdown in
    which a `<` is followed by a letter (and not escaped as `\\<`) embeds what reads as an HTML
    tag (MarkDownProcessor.preProcess escapes it; TYPE_SPECIFIC_CHECKS_DT_MARKDOWN_HTML). An
    ElementDefinition.comment on a `.text.div` element is exempt, as there."""
    value = item.value
    if item.type != "markdown" or not isinstance(value, str) or "<" not in value:
        return iter(_NONE)
    at = _first_tag(value)
    if at is None or _narrative_comment(item):
        return iter(_NONE)
    message = f"the markdown embeds what looks like an HTML tag, starting at {value[at : at + 2]!r} (shown escaped)"
    return iter((issue("warning", "invalid", message, item, "markdown-html"),))


def _first_tag(text: str) -> int | None:
    at = text.find("<")
    while at != -1:
        after = text[at + 1 : at + 2]
        if after.isalpha() and (at == 0 or text[at - 1] != "\\"):
            return at
        at = text.find("<", at + 1)
    return None


def _narrative_comment(item: Item) -> bool:
    parent = item.parent
    if parent is None or not item.expression.endswith(".comment") or not isinstance(parent.value, dict):
        return False
    path = parent.value.get("path")
    return isinstance(path, str) and path.endswith(".text.div")


# -- Period ------------------------------------------------------------------------------------------


_PER_1 = "per-1: If present, start SHALL have a lower or equal value than end"


@rule("per-1", applies=_has_type("Period"), reads=("type",))
def period_order(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """per-1, checked natively as the reference evaluates it (the invariant rule leaves it here).

    R4, `start <= end`: compared field by field down to the shorter precision, times in UTC
    (FHIRPathEngine.opLessOrEqual via BaseDateTimeType.compareTimes); where the two agree on every
    field both state but one states more (2020-01 and 2020-01-15) the comparison is empty, and the
    reference fails an invariant whose result is empty (checkInvariant -> evaluateToBoolean ->
    convertToBoolean). R5, `start.lowBoundary() <= end.highBoundary()`: the earliest instant of
    start against the latest of end, an unstated offset taken as +14:00 for the one and -12:00 for
    the other (Utilities.lowBoundaryForDate / highBoundaryForDate)."""
    value = item.value
    if item.type != "Period" or not isinstance(value, dict):
        return iter(_NONE)
    start, end = value.get("start"), value.get("end")
    if not isinstance(start, str) or not isinstance(end, str):
        return iter(_NONE)
    if ctx.release == "R4":
        a, b = _fields(start), _fields(end)
        if a is None or b is None:
            return iter(_NONE)
        order = _order(a, b)
        if order is not None and order <= 0:
            return iter(_NONE)
        why = "is after" if order is not None else "cannot be ordered at the precision both state with"
    else:
        low, high = _boundary(start, low=True), _boundary(end, low=False)
        if low is None or high is None or low <= high:
            return iter(_NONE)
        why = "begins after the end of"
    message = f"{_PER_1}: start {start} {why} end {end}"
    return iter((issue("error", "invariant", message, item, "per-1"),))


_DATETIME = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def _fields(text: str) -> tuple[int, ...] | None:
    """year, month, day, hour, minute, second, millisecond -- as many as the value states, a time
    moved to UTC (the reference sets the time zone to Zulu above day precision)."""
    m = _DATETIME.fullmatch(text)
    if m is None:
        return None
    parts = [int(g) for g in m.groups()[:6] if g is not None]
    if m.group(7) is not None:
        parts.append(int((m.group(7) + "00")[:3]))
    zone = m.group(8)
    if len(parts) > 3 and zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        try:
            offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            moved = datetime(parts[0], parts[1], parts[2], parts[3], parts[4]) - offset
        except ValueError:  # not a real date: the primitive rule says so
            return None
        parts[:5] = [moved.year, moved.month, moved.day, moved.hour, moved.minute]
    return tuple(parts)


def _order(a: tuple[int, ...], b: tuple[int, ...]) -> int | None:
    """-1, 0 or 1 by the fields both state; None where they agree on all of them but one states
    more (BaseDateTimeType.compareTimes; seconds and milliseconds count as one precision)."""
    if min(len(a), len(b)) >= 6:  # both state seconds: a missing millisecond is 0
        a, b = a + (0,) * (7 - len(a)), b + (0,) * (7 - len(b))
    for x, y in zip(a, b, strict=False):
        if x != y:
            return -1 if x < y else 1
    return 0 if len(a) == len(b) else None


def _boundary(text: str, low: bool) -> datetime | None:
    """The earliest (low) or latest instant `text` may stand for, in UTC."""
    m = _DATETIME.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    try:
        mo = int(month) if month else (1 if low else 12)
        if day:
            d = int(day)
        else:
            d = 1 if low else (datetime(year=int(year) + mo // 12, month=mo % 12 + 1, day=1) - timedelta(days=1)).day
        milli = int((fraction + "00")[:3]) if fraction else (0 if low else 999)
        at = datetime(
            int(year), mo, d,
            int(hour) if hour else (0 if low else 23),
            int(minute) if minute else (0 if low else 59),
            int(second) if second else (0 if low else 59),
            milli * 1000,
        )  # fmt: skip
    except ValueError:
        return None
    zone = zone or ("+14:00" if low else "-12:00")
    if zone == "Z":
        return at
    sign = 1 if zone[0] == "+" else -1
    return at - sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
