"""What a primitive's text holds: control characters, unbalanced bi-directional controls, whitespace
around a string, HTML tags where no markup belongs (InstanceValidator.checkPrimitive).

The reference checks the characters of every primitive value that is not blank; most values are
printable text without `<`, which one `str.isprintable` call and one `in` tell.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.plan import has_primitive_type

_NONE: tuple[Issue, ...] = ()
# Utilities.isWhitespace (the Unicode white space characters)
_SPACES = "\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2008\u2009\u200a\u2028\u2029\u205f\u3000"
_WS = frozenset("\t\n\x0b\x0c\r \x85\xa0\u2007\u202f" + _SPACES)
# Java's Character.isWhitespace, which StringUtils.isBlank tests (no-break spaces and U+0085 are not)
_JAVA_WS = frozenset("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f " + _SPACES)
# UnicodeUtilities: LRE RLE PDF LRO RLO LRI RLI FSI PDI LRM RLM ALM, and the paragraph break
_LRE, _RLE, _PDF, _LRO, _RLO = "\u202a", "\u202b", "\u202c", "\u202d", "\u202e"
_LRI, _RLI, _FSI, _PDI = "\u2066", "\u2067", "\u2068", "\u2069"
_LRM, _RLM, _ALM = "\u200e", "\u200f", "\u061c"
_BIDI = frozenset((_LRE, _RLE, _PDF, _LRO, _RLO, _LRI, _RLI, _FSI, _PDI, _LRM, _RLM, _ALM, "\n"))
_NAMES = {_LRE: "LRE", _RLE: "RLE", _PDF: "PDF", _LRO: "LRO", _RLO: "RLO", _LRI: "LRI", _RLI: "RLI",
          _FSI: "FSI", _PDI: "PDI", _LRM: "LRM", _RLM: "RLM", _ALM: "ALM"}  # fmt: skip
_EMBEDDINGS = frozenset((_LRE, _RLE, _LRO, _RLO, _LRM, _RLM, _ALM))
_ISOLATES = frozenset((_LRI, _RLI, _FSI))
_CONTROLS = frozenset(chr(c) for c in range(32)) - {"\t", "\n", "\r"}
# InstanceValidator.HTML_FRAGMENT_REGEX, `[a-zA-Z]\w*(((\s+)(\S)*)*)` with Java's ASCII classes: a
# name, then anything that starts with white space
_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:[ \t\n\x0b\x0c\r][\s\S]*)?")
_NO_TAGS = frozenset({"xhtml", "markdown"})  # markdown has its own check (datatypes.markdown_html)


def _string_valued(element: ElementPlan) -> bool:
    return has_primitive_type(element)


@rule("string-content", applies=_string_valued, reads=("type",))
def string_content(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """Control characters other than tab, CR and LF (UNICODE_XML_BAD_CHARS_one / _other, a warning),
    bi-directional controls without their terminator (UNICODE_BIDI_CONTROLS_CHARS_MATCH, a warning;
    _DISALLOWED only where the reference is told to refuse them), and text that reads as an HTML tag
    outside markdown and xhtml (SECURITY_STRING_CONTENT_WARNING, information)."""
    value = item.value
    if type(value) is not str or item.type == "xhtml":
        return iter(_NONE)
    if value.isprintable() and "<" not in value:
        return iter(_NONE)  # the common case
    return _content_issues(item, value)


def _content_issues(item: Item, value: str) -> Iterator[Issue]:
    if _is_blank(value):
        return  # InstanceValidator.checkPrimitive checks the text of values that are not blank only
    if not _BIDI.isdisjoint(value):
        problem = bidi_problem(value)
        if problem is not None:
            yield issue("warning", "invalid", problem, item, "string-content")
    bad = sorted({f"{ord(ch):x}" for ch in value if ch in _CONTROLS})
    if bad:
        what = "a control character" if len(bad) == 1 else f"{len(bad)} different control characters"
        message = f"the value holds {what} ({', '.join(bad)}) that XML cannot carry"
        yield issue("warning", "invalid", message, item, "string-content")
    if item.type not in _NO_TAGS and "<" in value and contains_html_tags(value):
        message = "the value looks like it holds HTML tags: check it is safe wherever it is shown"
        yield issue("information", "invalid", message, item, "string-content")


def bidi_problem(text: str) -> str | None:
    """UnicodeUtilities.checkUnicodeWellFormed: an override, isolate or mark left open at the end of
    a paragraph (PDF closes the last embedding, PDI the last isolate and what it encloses)."""
    stack: list[tuple[str, int]] = []
    for i, ch in enumerate(text):
        if ch == "\n":
            stack.clear()
        elif ch in (_LRO, _RLO, _LRI, _RLI, _FSI, _LRM, _RLM, _ALM):
            stack.append((ch, i))
        elif ch == _PDF:
            if stack and stack[-1][0] in _EMBEDDINGS:
                stack.pop()
        elif ch == _PDI and any(c in _ISOLATES for c, _ in stack):
            while stack and (stack[-1][0] in _ISOLATES or stack[-1][0] in _EMBEDDINGS):
                done = stack.pop()[0] in _ISOLATES
                if done:
                    break
    if not stack:
        return None
    ch, at = stack[-1]
    return f"Unicode character {_NAMES[ch]} at index {at} has no terminating match"


def contains_html_tags(text: str) -> bool:
    """InstanceValidator.containsHtmlTags: some `<name ...>` followed by another `<` later on."""
    at = text.find("<")
    while at > -1:
        text = text[at + 1 :]
        at = text.find("<")
        end = text.find(">")
        if -1 < end < at and _TAG.fullmatch(text[:end]):
            return True
    return False


def _is_blank(value: str) -> bool:
    """StringUtils.isBlank: empty or only Java white space."""
    return all(ch in _JAVA_WS for ch in value)


# -- whitespace around strings --------------------------------------------------------------------------


def _is_string(element: ElementPlan) -> bool:
    return "string" in element.type_codes


@rule("string-whitespace", applies=_is_string, reads=("type",))
def string_whitespace(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """A string should not start or end with white space (TYPE_SPECIFIC_CHECKS_DT_STRING_WS) nor be only
    white space (_STRING_WS_ALL, or _PRIMITIVE_WS where Java calls it blank and no extension stands in
    for the value); all warnings. XML input has its own rule for this (`xml-whitespace`), so the
    validator drops these for XML."""
    value = item.value
    if item.type != "string" or type(value) is not str or value == "":
        return iter(_NONE)
    if value[0] not in _WS and value[-1] not in _WS:
        return iter(_NONE)
    if all(ch in _WS for ch in value):
        if _is_blank(value) and item.extras:
            return iter(_NONE)  # blank with extensions: the reference checks nothing
        message = f"the string {_show(value)} is only white space"
    else:
        message = f"the string {_show(value)} starts or ends with white space"
    return iter((issue("warning", "invalid", message, item, "string-whitespace"),))


def _show(value: str) -> str:
    text = value.encode("unicode_escape").decode("ascii")
    return f"'{text}'" if len(text) <= 60 else f"'{text[:57]}...'"
