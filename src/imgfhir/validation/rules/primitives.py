"""Primitive values: JSON type, lexical form (the regexes of the FHIR spec) and ranges."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime

from imgfhir.fhir_regex import to_python
from imgfhir.outcome import Issue, Severity
from imgfhir.validation.context import Context
from imgfhir.validation.json_syntax import JsonNumber
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.plan import has_primitive_type, is_primitive

_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_DATE = _YEAR + r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"

# the regexes published with each primitive type in the FHIR specification (R4/R5)
PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(rf"^(?:{to_python(rx)})$")
    for name, rx in {
        "date": _DATE,
        "dateTime": _YEAR + r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T" + _TIME + _ZONE + r")?)?)?",
        "instant": _YEAR + r"-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T" + _TIME + _ZONE,
        "time": _TIME,
        "code": r"[^\s]+( [^\s]+)*",
        "id": r"[A-Za-z0-9\-\.]{1,64}",
        "oid": r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+",
        "uuid": r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "uri": r"\S*",
        "url": r"\S*",
        "canonical": r"\S*",
        "decimal": r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?",
        "integer": r"[0]|[-+]?[1-9][0-9]*",
        "unsignedInt": r"[0]|([1-9][0-9]*)",
        "positiveInt": r"\+?[1-9][0-9]*",
        "integer64": r"[0]|[-+]?[1-9][0-9]*",
    }.items()
}
_INT_RANGES = {
    "integer": (-(2**31), 2**31 - 1),
    "unsignedInt": (0, 2**31 - 1),
    "positiveInt": (1, 2**31 - 1),
}
_INT64 = (-(2**63), 2**63 - 1)
# JSON numbers; integer64 is a JSON string in R5 (the reference's JSON parser expects a string for it in
# any release: elementmodel/JsonParser.parseChildPrimitiveInstance)
_JSON_NUMBER = frozenset({"decimal", "integer", "unsignedInt", "positiveInt"})
MAX_STRING = 1024 * 1024


def _quick_string(value: str) -> bool:
    # isspace() stops at the first other character: a whitespace-only string is looked at closer
    return len(value) <= MAX_STRING and "\x0b" not in value and "\x0c" not in value and not value.isspace()


def _quick_pattern(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: value != "" and pattern.match(value) is not None


# the common values that need no closer look: a string with no forbidden character, a code, id or
# uri matching its regex (dates go the long way: their calendar is checked too)
_QUICK: dict[str | None, Callable[[str], bool]] = {
    "string": _quick_string,
    "markdown": _quick_string,
    **{t: _quick_pattern(PATTERNS[t]) for t in ("code", "id", "uri", "url", "canonical", "oid", "uuid")},
}
_NONE: tuple[Issue, ...] = ()


@rule("primitive", applies=has_primitive_type, reads=("type", "maxLength"))
def primitive_value(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    value = item.value
    if type(value) is str:
        quick = _QUICK.get(item.type)
        if quick is not None and quick(value) and "maxLength" not in element.ed:
            return iter(_NONE)
    elif type(value) is bool and item.type == "boolean":
        return iter(_NONE)
    return _primitive_issues(ctx, element, item)


def _primitive_issues(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    t = item.type
    if not is_primitive(t) or item.value is None:
        return
    assert t is not None
    value = item.value
    if t == "boolean":
        if not isinstance(value, bool):
            yield _bad(item, f"boolean must be JSON true or false, found {value!r}")
        return
    if t in _JSON_NUMBER:
        yield from _number_issues(t, value, item)
        return
    if not isinstance(value, str):
        yield _bad(item, f"{t} must be a JSON string, found {value!r}")
        return
    if value == "" and t != "string" and t != "markdown":
        yield _bad(item, f"{t} must not be empty")
        return
    if value.isspace():
        yield from _blank(t, item)
        return
    if t in ("string", "markdown") and len(value) > MAX_STRING:
        yield _bad(item, f"{t} is longer than {MAX_STRING} characters")
    if t == "string" and ctx.release == "R4" and ("\x0b" in value or "\x0c" in value):
        # R4's string regex [ \r\n\t\S]+, read as the reference validator reads \S (R5's allows anything)
        yield _bad(item, "a string may not contain a vertical tab or form feed (the R4 string regex)")
    pattern = PATTERNS.get(t)
    # an oid's or uuid's form is the uri-value rule's (rules/identifiers.py), which says what is wrong
    if pattern is not None and t != "oid" and t != "uuid" and not pattern.match(value):
        yield _bad(item, f"{value!r} is not a valid {t}")
        return
    if t == "integer64" and not _is_long(value):
        # InstanceValidator.checkPrimitive: Utilities.isLong, digits after an optional "-" within 64 bits
        # (stricter than the R5 regex, which allows a leading "+")
        yield _bad(item, f"{value!r} is not a valid integer64 (digits with an optional '-', 64-bit range)")
        return
    if t in ("date", "dateTime", "instant") and len(value) >= 10:
        try:
            date.fromisoformat(value[:10])
        except ValueError:
            yield _bad(item, f"{value!r} is not a real calendar date")
    if t == "instant":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            yield _bad(item, f"{value!r} is not a valid instant")
    if t == "base64Binary":
        yield from _base64_issues(ctx, value, item)
    max_length = element.ed.get("maxLength")
    if isinstance(max_length, int) and len(value) > max_length:
        yield issue("error", "value", f"value is longer than maxLength {max_length}", item, "maxLength")


def _blank(t: str, item: Item) -> Iterator[Issue]:
    """A value of only whitespace, of any primitive type: the reference warns (unless the value also
    has extensions) and checks nothing else of it (InstanceValidator.checkPrimitive, isBlank:
    TYPE_SPECIFIC_CHECKS_DT_PRIMITIVE_WS); a required binding still refuses it (bindings rule)."""
    extras = item.extras
    if not (isinstance(extras, dict) and extras.get("extension")):
        message = f"the {t} value is only whitespace"
        yield issue("warning", "value", message, item, "primitive-whitespace")


_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# Utilities.isWhitespace in the reference's Base64Util: the ASCII whitespace characters
_WHITESPACE = (" ", "\t", "\n", "\r", "\x0b", "\x0c")


def _without_whitespace(value: str) -> str:
    """`value` less its whitespace; the same string when it has none (str.replace and `in` scan a
    megabyte attachment far faster than a character loop)."""
    for ws in _WHITESPACE:
        if ws in value:
            value = value.replace(ws, "")
    return value


def _base64_issues(ctx: Context, value: str, item: Item) -> Iterator[Issue]:
    """Valid base64 with whitespace between the characters: an error in R5, a warning in R4
    (InstanceValidator.checkPrimitive: Base64Util.base64HasWhitespace, TYPE_SPECIFIC_CHECKS_DT_BASE64_NO_WS_ERROR
    for R5 and later, ..._NO_WS_WARNING before)."""
    if not is_base64(value):
        yield _bad(item, "base64Binary content is not valid base64")
    elif _without_whitespace(value) is not value:
        severity: Severity = "error" if ctx.release != "R4" else "warning"
        message = "base64Binary content must not contain whitespace (line breaks, spaces)"
        yield issue(severity, "value", message, item, "base64-whitespace")


def is_base64(value: str) -> bool:
    """Base64 (RFC 4648 alphabet, whole 4-character groups, at most two `=` at the end; whitespace
    ignored, as the reference's Base64Util.isValidBase64 ignores it), checked without decoding:
    attachments run to megabytes."""
    value = _without_whitespace(value)
    if not value.isascii():
        return False
    body = value.rstrip("=")
    if len(value) % 4 or len(value) - len(body) > 2:
        return False
    return not body.encode("ascii").translate(None, _BASE64_ALPHABET)


def _number_issues(t: str, value: object, item: Item) -> Iterator[Issue]:
    """decimal, integer, unsignedInt, positiveInt: a JSON number (elementmodel/JsonParser:
    ERROR_PARSING_JSON_THE_PRIMITIVE_VALUE_MUST_BE_A_NUMBER), checked as InstanceValidator.checkPrimitive
    checks the number as written."""
    if type(value) is bool or not isinstance(value, int | float):
        yield _bad(item, f"{t} must be a JSON number, found {value!r}")
        return
    if t == "decimal":
        lexical = value.lexical if type(value) is JsonNumber else str(value) if type(value) is int else None
        if lexical is not None and decimal_out_of_range(lexical):
            # Utilities.checkDecimal RANGE: TYPE_SPECIFIC_CHECKS_DT_DECIMAL_RANGE, a warning
            message = f"the decimal {lexical} has more digits (18) or a longer exponent (4) than is commonly supported"
            yield issue("warning", "value", message, item, "decimal-range")
        return
    if type(value) is not int:
        # Utilities.isInteger reads the number as written: digits only, so 1.0 and 1e2 are no integers
        # (TYPE_SPECIFIC_CHECKS_DT_INTEGER_VALID); orjson makes a float of exactly those
        yield _bad(item, f"{t} must be written as a whole number without fraction or exponent, found {value!r}")
        return
    low, high = _INT_RANGES[t]
    if not low <= value <= high:
        yield _bad(item, f"{t} value {value} is out of range [{low}, {high}]")


def _is_long(value: str) -> bool:
    """Utilities.isLong on a value that matches the integer64 regex: no "+", at most 64 bits."""
    digits = value[1:] if value[0] == "-" else value
    return digits.isdigit() and len(digits) <= 19 and _INT64[0] <= int(value) <= _INT64[1]


def decimal_out_of_range(lexical: str) -> bool:
    """Utilities.checkDecimal's RANGE: more than 18 digits before and after the point together, or an
    exponent of more than 4 digits (`lexical` is a JSON number, so its syntax is known to be good)."""
    mantissa, _, exponent = lexical.lower().partition("e")
    digits = len(mantissa) - mantissa.count("-") - mantissa.count(".")
    return digits > 18 or len(exponent.lstrip("+-")) > 4


def _bad(item: Item, message: str) -> Issue:
    return issue("error", "value", message, item, "primitive")
