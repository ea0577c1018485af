"""FHIR regexes read as the reference validator (Java) reads them, in Python's re and pydantic's Rust engine."""

from __future__ import annotations

import re
from typing import Annotated

import pytest
from pydantic import Field, TypeAdapter, ValidationError

from imgfhir.fhir_regex import to_python

STRING = r"[ \r\n\t\S]+"  # the string regex published in R4
CODE = r"[^\s]+( [^\s]+)*"
URI = r"\S*"


@pytest.mark.parametrize(
    ("regex", "text", "valid"),
    [
        (STRING, "a\u00a0b", True),  # a no-break space is not whitespace to Java's \s
        (STRING, "line\r\nbreak\ttab", True),
        (STRING, "vertical\x0btab", False),  # Java's \s has \x0B and \f; the class leaves them out
        (STRING, "form\ffeed", False),
        (CODE, "a\u00a0b", True),
        (CODE, "two words", True),
        (CODE, "two  spaces", False),
        (CODE, "tab\there", False),
        (URI, "urn:x\u2003y", True),  # an em space is not \s in Java either
        (URI, "http://a b", False),
        (r"^[\s\S]+$", "\u00a0\n", True),
        (r"[A-Za-z0-9\-\.]{1,64}", "a-b.c", True),
    ],
)
def test_python_and_rust_engines_agree_with_java(regex: str, text: str, valid: bool) -> None:
    pattern = f"^(?:{to_python(regex)})$"
    assert bool(re.match(pattern, text)) is valid
    adapter: TypeAdapter[str] = TypeAdapter(Annotated[str, Field(pattern=pattern)])
    try:
        adapter.validate_python(text)
        rust = True
    except ValidationError:
        rust = False
    assert rust is valid


def test_classes_are_spelled_out() -> None:
    assert to_python(STRING) == r"[^\x0B\f]+"
    assert to_python(URI) == r"[^ \t\n\x0B\f\r]*"
    assert to_python(r"[\s\S]") == r"[\s\S]"
    assert to_python(r"[]a]") == r"[]a]"


def test_an_unterminated_class_is_an_error() -> None:
    with pytest.raises(ValueError, match="unterminated"):
        to_python("[abc")


def test_the_validator_reads_primitive_regexes_the_java_way() -> None:
    from imgfhir.validation.rules.primitives import PATTERNS

    assert PATTERNS["code"].match("a\u00a0b")
    assert not PATTERNS["code"].match("a\u000bb")
    assert PATTERNS["uri"].match("urn:a\u00a0b")
