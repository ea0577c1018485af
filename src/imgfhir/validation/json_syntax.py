"""What the JSON text says that the parsed value no longer shows: duplicate property names and
the digits of numbers.

orjson keeps the last of duplicate keys and turns every number into an int or a float; the FHIR
JSON format forbids duplicates, and the reference validator checks a decimal's digits as written
(Utilities.checkDecimal). `check()` costs one walk of the parsed value and one C-level regex over
the text; only when the two disagree (keys were lost, or a number has many digits) does it run the
Python scan of the text, which finds the duplicates' positions and keeps such numbers' lexical
form in the value (as `JsonNumber`).

`recover()` reads what orjson refuses but the reference validator reads with errors (its JSON5
mode: `//` comments, extra commas) or without (numbers beyond a double).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

import orjson

from imgfhir.outcome import Issue

Pointer = tuple[str | int, ...]

_WS = "[ \t\r\n]*"
# more digits than a decimal may have (18) or a longer exponent (4 digits) than the reference allows
_LONG = r"-?[0-9][0-9.]{17,}|-?[0-9][0-9.]*[eE][+-]?[0-9]{5,}"
# one match per property name (a quote, then a colon), a long number value captured; it also matches
# an escaped quote and a colon inside a string, which _escaped() counts when that may be the case.
# (No lookbehind for the backslash: it would cost the regex its fast search for the quote.)
_KEY = re.compile(rf'"{_WS}:(?:{_WS}({_LONG}))?')
_LONG_NUMBER = re.compile(rf"(?:{_LONG})\Z")
_TOKEN = re.compile(
    r"""[ \t\r\n]*(?:
        ("[^"\\]*(?:\\.[^"\\]*)*")      # 1 string
      | ([{}\[\],:])                   # 2 punctuation
      | ([^\s{}\[\],:"]+)              # 3 number or literal
    )""",
    re.VERBOSE | re.DOTALL,
)


class JsonNumber(float):
    """A JSON number that keeps the text it was written as: made only where the digits matter (a
    decimal with more than 18 digits or a long exponent, which a float cannot tell) and for the
    numbers of a text with a number beyond a double (`recover`)."""

    __slots__ = ("lexical",)
    lexical: str

    def __new__(cls, lexical: str) -> JsonNumber:
        number = super().__new__(cls, lexical)
        number.lexical = lexical
        return number

    def __reduce__(self) -> tuple[type[JsonNumber], tuple[str]]:
        return JsonNumber, (self.lexical,)

    def __repr__(self) -> str:
        return self.lexical


def check(text: str, value: dict[str, Any], resource_type: str) -> list[Issue]:
    """Duplicate property names in `text` as errors at their line:column; numbers with many digits
    become `JsonNumber`s in `value` (in place). `value` is orjson's parse of `text`."""
    found = _KEY.findall(text)
    keys, numbers_in_arrays = _count(value)
    # found = the names in the text + quote-colons inside strings; keys = the names less duplicates
    lost = len(found) != keys and len(found) - _escaped(text) != keys
    if not lost and not numbers_in_arrays and not any(found):
        return []
    scan = _scan(text)
    for pointer, lexical in scan.numbers:
        _keep_lexical(value, pointer, lexical)
    if not lost:
        return []
    line_starts = _line_starts(text)
    return [_duplicate(resource_type, pointer, key, offset, line_starts) for pointer, key, offset in scan.duplicates]


def _escaped(text: str) -> int:
    """Matches of _KEY that are an escaped quote inside a string: preceded by an odd number of
    backslashes (1 - 2 + 3 - ... over the runs of at least n backslashes)."""
    total, sign, run = 0, 1, 1
    while True:
        pattern = _ESCAPED.get(run)
        if pattern is None:
            pattern = _ESCAPED[run] = re.compile("\\\\" * run + f'"{_WS}:')
        count = len(pattern.findall(text))
        if not count:
            return total
        total, sign, run = total + sign * count, -sign, run + 1


_ESCAPED: dict[int, re.Pattern[str]] = {}


def _count(value: dict[str, Any]) -> tuple[int, bool]:
    """Keys in the parsed value, and whether any array holds a number (array items are not seen by
    the regex, which looks at property values)."""
    keys = 0
    numbers = False
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            keys += len(node)
            for child in node.values():
                kind = type(child)
                if kind is dict or kind is list:
                    stack.append(child)
        else:
            for child in node:
                kind = type(child)
                if kind is dict or kind is list:
                    stack.append(child)
                elif kind is float or kind is int:
                    numbers = True
    return keys, numbers


@dataclass(slots=True)
class _Scan:
    duplicates: list[tuple[Pointer, str, int]] = field(default_factory=list)  # object, key, offset of the key
    numbers: list[tuple[Pointer, str]] = field(default_factory=list)  # long numbers, as written


@dataclass(slots=True)
class _Frame:
    pointer: Pointer
    keys: set[str] | None  # None for an array
    key: str | int = 0
    expect_key: bool = True


def _scan(text: str) -> _Scan:
    """One pass over JSON text orjson accepted: every repeated key of an object, every long number."""
    out = _Scan()
    stack: list[_Frame] = []
    pos = 1 if text.startswith("\ufeff") else 0
    end = len(text)
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None:
            break
        pos = m.end()
        string, punct, literal = m.group(1, 2, 3)
        top = stack[-1] if stack else None
        if string is not None:
            if top is not None and top.keys is not None and top.expect_key:
                key = orjson.loads(string) if "\\" in string else string[1:-1]
                if key in top.keys:
                    out.duplicates.append((top.pointer, key, m.start(1)))
                top.keys.add(key)
                top.key, top.expect_key = key, False
        elif literal is not None:
            if top is not None and _LONG_NUMBER.match(literal):
                out.numbers.append(((*top.pointer, top.key), literal))
        elif punct in "{[":
            pointer = (*top.pointer, top.key) if top is not None else ()
            stack.append(_Frame(pointer, set() if punct == "{" else None))
        elif punct in "}]":
            if stack:
                stack.pop()
        elif punct == "," and top is not None:
            if top.keys is not None:
                top.expect_key = True
            else:
                top.key = int(top.key) + 1
    return out


def _keep_lexical(value: Any, pointer: Pointer, lexical: str) -> None:
    """Replace the float at `pointer` by a JsonNumber of `lexical` (ints keep every digit already)."""
    *path, last = pointer
    node = value
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return
    try:
        current = node[last]
    except (KeyError, IndexError, TypeError):
        return
    if type(current) is float and float(lexical) == current:  # not a duplicate's discarded value
        node[last] = JsonNumber(lexical)


def _duplicate(resource_type: str, pointer: Pointer, key: str, offset: int, line_starts: list[int]) -> Issue:
    # elementmodel/JsonParser.checkNotProcessed: a property whose name was already taken is
    # DUPLICATE_JSON_PROPERTY (error), reported at the duplicate; the first occurrence is the one
    # validated there, orjson keeps the last one here
    message = f"duplicate JSON property {key!r}: the FHIR JSON format allows each name once per object"
    return _located("json-duplicate", message, offset, line_starts, _expression(resource_type, (*pointer, key)))


def _expression(resource_type: str, pointer: Pointer) -> str:
    out = resource_type
    for step in pointer:
        out += f"[{step}]" if isinstance(step, int) else f".{step}"
    return out


# -- JSON5 leniency -------------------------------------------------------------------------------

_LENIENT = re.compile(
    r"""("[^"\\]*(?:\\.[^"\\]*)*")   # 1 string
      | (//[^\r\n]*)                     # 2 a line comment
      | ([,}\]])                          # 3 comma or close
      | [^"/,}\]\s]+ | \s+ | /          # anything else
    """,
    re.VERBOSE,
)


def recover(text: str, message: str) -> tuple[dict[str, Any] | Any, str, list[Issue]] | None:
    """The value of JSON text orjson refused (its error `message`), where the reference validator
    reads it anyway: its JSON5 mode takes `//` comments and extra commas, reporting each as an error
    (elementmodel/JsonParser: JSON_COMMENTS_NOT_ALLOWED, JSON_COMMA_EXTRA); and a number beyond a
    double's range is JSON (RFC 8259 sets no limit). Returns (value, text, issues), the text with
    comments and extra commas blanked out (same lines and columns); None if that does not help."""
    if "infinity" in message:
        try:
            return json.loads(text, parse_float=JsonNumber, parse_constant=_no_constant), text, []
        except (ValueError, RecursionError):
            return None
    blanked, issues = _blank_comments_and_commas(text)
    if not issues:
        return None
    try:
        return orjson.loads(blanked), blanked, issues
    except orjson.JSONDecodeError:
        return None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _blank_comments_and_commas(text: str) -> tuple[str, list[Issue]]:
    parts: list[str] = []
    issues: list[Issue] = []
    comma: tuple[int, int] | None = None  # (index in parts, offset) of a comma with only blanks after it
    line_starts = _line_starts(text)
    for m in _LENIENT.finditer(text):
        comment, punct = m.group(2, 3)
        piece = m.group()
        if comment is not None:
            issues.append(_located("json-comment", "comments are not allowed in JSON", m.start(), line_starts))
            piece = " " * len(comment)
        elif punct == ",":
            comma = (len(parts), m.start())
        elif punct is not None:
            if comma is not None:  # reported at the comma (the reference: at the object's or array's end)
                kind = "object" if punct == "}" else "array"
                issues.append(_located("json-comma", f"an extra comma ends this {kind}", comma[1], line_starts))
                parts[comma[0]] = " "
            comma = None
        elif not piece.isspace():
            comma = None
        parts.append(piece)
    return "".join(parts), issues


def _line_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in re.finditer("\n", text))]


def _located(rule: str, message: str, offset: int, line_starts: list[int], expression: str | None = None) -> Issue:
    """An error at character `offset` of the text (line and column counted from 1)."""
    line = bisect_right(line_starts, offset)
    column = offset - line_starts[line - 1] + 1
    return Issue("error", "invalid", message, expression=expression, rule=rule, line=line, column=column)
