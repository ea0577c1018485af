"""What an ElementDefinition says about a primitive beyond its type, through extensions and the R5
properties mustHaveValue / valueAlternatives, checked as InstanceValidator.checkPrimitive,
checkQuantity and checkAttachment do; and the plausible years of dates, which core definitions ask
for by default.

Everything is read from the definition once per element (`element.memo`), so elements that state
none of it cost nothing per value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from imgfhir.fhir_regex import to_python
from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.json_syntax import JsonNumber
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.plan import FHIR_SD
from imgfhir.validation.rules.datatypes import _decoded_length
from imgfhir.validation.rules.primitives import PATTERNS, is_base64

_EXT = "http://hl7.org/fhir/StructureDefinition/"
REGEX = _EXT + "regex"
MIN_LENGTH = _EXT + "minLength"
MAX_DECIMALS = _EXT + "maxDecimalPlaces"
MAX_SIZE = _EXT + "maxSize"
DATE_RULES = "http://hl7.org/fhir/tools/StructureDefinition/elementdefinition-date-rules"
# the R5 properties as R4 definitions carry them (cross-version extensions)
_XVER = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition."
MUST_HAVE_VALUE = _XVER + "mustHaveValue"
VALUE_ALTERNATIVES = _XVER + "valueAlternatives"
_NONE: tuple[Issue, ...] = ()


@dataclass(frozen=True, slots=True)
class Stated:
    """The definition's statements about its values, read once."""

    regex: tuple[str, re.Pattern[str] | None] | None = None  # as written, compiled (None: does not compile)
    min_length: int | None = None
    max_decimals: int | None = None
    max_size: int | None = None
    date_rules: str | None = None
    must_have_value: bool = False
    alternatives: tuple[str, ...] = ()

    @property
    def checks_values(self) -> bool:
        return self.regex is not None or self.min_length is not None or self.max_decimals is not None

    @property
    def checks_absence(self) -> bool:
        return self.must_have_value or bool(self.alternatives)


_NOTHING = Stated()


def stated(element: ElementPlan) -> Stated:
    found: Stated | None = element.memo.get("stated")
    if found is None:
        found = element.memo["stated"] = _read(element.ed)
    return found


def _read(ed: dict[str, Any]) -> Stated:
    exts = _extensions(ed)
    if not exts and "mustHaveValue" not in ed and "valueAlternatives" not in ed:
        return _NOTHING
    regex = _text(exts.get(REGEX))
    if regex is not None:
        # InstanceValidator.checkPrimitive: the extension belongs on the element; for historical
        # reasons one on a type, where the element has one, is the one used
        for t in ed.get("type", ()):
            on_type = _text(_extensions(t).get(REGEX)) if isinstance(t, dict) else None
            if on_type is not None:
                regex = on_type
                break
    alternatives = ed.get("valueAlternatives")
    if not isinstance(alternatives, list):
        alternatives = [e.get("valueCanonical") for e in _all(ed, VALUE_ALTERNATIVES)]
    must = ed.get("mustHaveValue")
    if not isinstance(must, bool):
        must = _value(exts.get(MUST_HAVE_VALUE)) is True
    return Stated(
        regex=(regex, _compile(regex)) if regex is not None else None,
        min_length=_number(exts.get(MIN_LENGTH)),
        max_decimals=_number(exts.get(MAX_DECIMALS)),
        max_size=_number(exts.get(MAX_SIZE)),
        date_rules=_text(exts.get(DATE_RULES)),
        must_have_value=must,
        alternatives=tuple(str(a) for a in alternatives if isinstance(a, str)),
    )


def _extensions(holder: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for ext in holder.get("extension", ()):
        if isinstance(ext, dict) and isinstance(ext.get("url"), str):
            found.setdefault(ext["url"], ext)
    return found


def _all(ed: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in ed.get("extension", ()) if isinstance(e, dict) and e.get("url") == url]


def _value(ext: dict[str, Any] | None) -> Any:
    if ext is None:
        return None
    return next((v for k, v in ext.items() if k.startswith("value")), None)


def _text(ext: dict[str, Any] | None) -> str | None:
    value = _value(ext)
    return value if isinstance(value, str) else None


def _number(ext: dict[str, Any] | None) -> int | None:
    """ToolingExtensions.readStringExtension, then parsed as a whole number."""
    value = _value(ext)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _compile(regex: str) -> re.Pattern[str] | None:
    try:
        return re.compile(to_python(regex))
    except re.error:
        return None


# -- values -------------------------------------------------------------------------------------------


def _checks_values(element: ElementPlan) -> bool:
    return stated(element).checks_values


@rule("definition-extension", applies=_checks_values, reads=("type", "extension"))
def stated_value(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """The regex extension (TYPE_SPECIFIC_CHECKS_DT_PRIMITIVE_REGEX: the whole value matches),
    minLength (PRIMITIVE_TOO_SHORT) and, on a decimal, maxDecimalPlaces
    (TYPE_SPECIFIC_CHECKS_DT_DECIMAL_CHARS); all errors. A regex that does not compile is reported as
    the reference does (TYPE_SPECIFIC_CHECKS_DT_PRIMITIVE_REGEX_EXCEPTION)."""
    value = item.value
    if value is None or isinstance(value, (dict, list, bool)):
        return
    says = stated(element)
    text = _lexical(value)
    if text.strip() == "":
        return  # blank: checkPrimitive's other branch
    if says.min_length is not None and len(text) < says.min_length:
        message = f"the value is {len(text)} characters long; the definition asks for at least {says.min_length}"
        yield issue("error", "invalid", message, item, "definition-extension")
    if says.regex is not None:
        written, pattern = says.regex
        if pattern is None:
            yield issue("error", "invalid", f"the regex {written!r} the definition states does not compile", item,
                        "definition-extension")  # fmt: skip
        elif pattern.fullmatch(text) is None:
            message = f"the value {text!r} does not match the regex {written!r} the definition states"
            yield issue("error", "invalid", message, item, "definition-extension")
    if says.max_decimals is not None and item.type == "decimal":
        yield from _decimals(item, text, says.max_decimals)


def _lexical(value: Any) -> str:
    """A value as text; a JSON number as written where the parser kept it, else Python's shortest
    round-trip form (so trailing zeros after the point are not counted)."""
    if type(value) is JsonNumber:
        return value.lexical
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def _decimals(item: Item, text: str, limit: int) -> Iterator[Issue]:
    places = len(text.split(".", 1)[1]) if "." in text else 0
    if places > limit:
        message = f"the value has {places} decimal places; the definition allows at most {limit}"
        yield issue("error", "structure", message, item, "definition-extension")


# -- sizes --------------------------------------------------------------------------------------------


def _limits_size(element: ElementPlan) -> bool:
    return stated(element).max_size is not None or (
        stated(element).max_decimals is not None and "Quantity" in element.type_codes
    )


@rule("definition-extension", applies=_limits_size, reads=("type", "extension"))
def stated_size(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """maxSize on a base64Binary: the decoded bytes (TYPE_SPECIFIC_CHECKS_DT_BASE64_TOO_LONG); on an
    Attachment: the size of its data, or its stated size (_ATT_TOO_LONG; a url's content would have to
    be fetched: a warning); maxDecimalPlaces on a Quantity's value (checkQuantity,
    TYPE_SPECIFIC_CHECKS_DT_DECIMAL_CHARS)."""
    says, value = stated(element), item.value
    if item.type == "base64Binary" and type(value) is str and says.max_size is not None and is_base64(value):
        size = _decoded_length(value)
        if size > says.max_size:
            message = f"the data is {size} bytes; the definition allows at most {says.max_size}"
            yield issue("error", "structure", message, item, "definition-extension")
    elif item.type == "Attachment" and type(value) is dict and says.max_size is not None:
        yield from _attachment_size(item, value, says.max_size)
    elif item.type == "Quantity" and type(value) is dict and says.max_decimals is not None:
        number = value.get("value")
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            yield from _decimals(item.child("value", number, None, "decimal"), _lexical(number), says.max_decimals)


def _attachment_size(item: Item, value: dict[str, Any], limit: int) -> Iterator[Issue]:
    """InstanceValidator.checkAttachment: the size is the data's when a size is stated too (else
    unknown), the stated size without data; a url would have to be fetched."""
    data, stated_size = value.get("data"), value.get("size")
    size: int | None = None
    if isinstance(data, str):
        if stated_size is not None and is_base64(data):
            size = _decoded_length(data)
    elif stated_size is not None:
        text = str(stated_size)
        size = int(text) if text.lstrip("-").isdigit() and int(text) >= 0 else None
    if size is None:
        why = "its url is not fetched offline" if "url" in value and "data" not in value else "it states no size"
        message = f"the definition limits the attachment to {limit} bytes, but its size is not known: {why}"
        yield issue("warning", "structure", message, item, "definition-extension")
    elif size > limit:
        message = f"the attachment is {size} bytes; the definition allows at most {limit}"
        yield issue("error", "structure", message, item, "definition-extension")


# -- values that must be there --------------------------------------------------------------------------


def _checks_absence(element: ElementPlan) -> bool:
    return stated(element).checks_absence


@rule("must-have-value", applies=_checks_absence, reads=("mustHaveValue", "valueAlternatives", "extension"))
def must_have_value(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """A primitive with no value (only an id or extensions) where the definition says mustHaveValue
    (PRIMITIVE_MUSTHAVEVALUE_MESSAGE), or without one of the extensions valueAlternatives names in its
    place (PRIMITIVE_VALUE_ALTERNATIVES_MESSAGE_one / _other); errors."""
    value = item.value
    if isinstance(value, (dict, list)) or (value is not None and (not isinstance(value, str) or value.strip())):
        return
    says = stated(element)
    where = f"{element.id} in {element.profile_url}"
    at = item.extras_item() if value is None and item.extras is not None else item  # `_gender`, not `gender`
    if says.must_have_value:
        yield issue("error", "invalid", f"{where} must have a value, not only extensions", at, "must-have-value")
    if says.alternatives:
        present = {e.get("url") for e in (item.extras or {}).get("extension", ()) if isinstance(e, dict)}
        if present.isdisjoint(says.alternatives):
            names = ", ".join(says.alternatives)
            message = f"{where} without a value needs one of these extensions in its place: {names}"
            yield issue("error", "invalid", message, at, "must-have-value")


# -- plausible years ------------------------------------------------------------------------------------

_DATES = frozenset({"date", "dateTime", "instant"})


def _is_date(element: ElementPlan) -> bool:
    return not _DATES.isdisjoint(element.type_codes)


@rule("date-reasonable", applies=_is_date, reads=("type", "extension"))
def date_reasonable(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    """A year before 1800 or after 2100 is a warning (TYPE_SPECIFIC_CHECKS_DT_DATETIME_REASONABLE): for
    a dateTime unless the date-rules extension leaves out `year-valid`; for a date or an instant in
    core definitions, or where the date-rules extension asks for `year-valid`."""
    value, t = item.value, item.type
    if type(value) is not str or t not in _DATES or len(value) < 4:
        return iter(_NONE)
    year = value[:4]
    if year.isdigit() and 1800 <= int(year) <= 2100:
        return iter(_NONE)
    rules = stated(element).date_rules
    if t == "dateTime":
        wanted = rules is None or "year-valid" in rules
    else:
        wanted = element.profile_url.startswith(FHIR_SD) or (rules is not None and "year-valid" in rules)
    if not wanted or not PATTERNS[t].match(value):
        return iter(_NONE)
    message = f"the year of {value} is not plausible (before 1800 or after 2100)"
    return iter((issue("warning", "invalid", message, item, "date-reasonable"),))
