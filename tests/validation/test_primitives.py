"""base64Binary is checked without decoding (attachments run to megabytes): the check must accept
exactly what an encoder writes and reject what FHIR's base64Binary regex and RFC 4648 reject."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgfhir.validation.rules.primitives import is_base64


@given(st.binary(max_size=300))
def test_what_an_encoder_writes_is_base64(data: bytes) -> None:
    encoded = base64.b64encode(data).decode("ascii")
    assert is_base64(encoded) or not encoded  # the empty string is rejected earlier, as blank
    mime = base64.encodebytes(data).decode("ascii")  # 76-character lines, CRLF-free
    assert is_base64(mime.replace("\n", "\r\n")) or not data


@pytest.mark.parametrize(
    "text",
    [
        "Zg=",  # not a whole 4-character group
        "Zm9vY",  # 5 characters
        "Zg===",  # three padding characters
        "Zm9v=",  # padding after a complete group
        "Zg==Zg==",  # padding in the middle
        "Zm9-",  # URL-safe alphabet
        "Zm9_",
        "Zm9vé===",  # non-ASCII
    ],
)
def test_malformed_base64_is_rejected(text: str) -> None:
    assert not is_base64(text)


@pytest.mark.parametrize(
    "text", ["Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy", "Zm9v\nYmFy", "Zm9v YmFy", "Zm9\tv"]
)
def test_rfc_4648_vectors_are_base64(text: str) -> None:
    assert is_base64(text)
