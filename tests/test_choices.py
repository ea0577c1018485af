"""Choice elements' JSON names, as the FHIR JSON and XML formats spell them."""

from __future__ import annotations

from imgfhir.choices import choice_name, choice_type, is_choice_key, upper_first


def test_names_of_one_type() -> None:
    assert choice_name("value", "Quantity") == "valueQuantity"
    assert choice_name("effective", "dateTime") == "effectiveDateTime"
    assert upper_first("base64Binary") == "Base64Binary"


def test_keys_of_a_stem() -> None:
    assert is_choice_key("valueQuantity", "value")
    assert is_choice_key("valueSet", "value")  # the shape only: whether Set is a type is choice_type's question
    assert not is_choice_key("values", "value")
    assert not is_choice_key("value", "value")


def test_the_type_a_key_names() -> None:
    types = ("Quantity", "dateTime", "string")
    assert choice_type("valueDateTime", "value", types) == "dateTime"
    assert choice_type("valueString", "value", types) == "string"
    assert choice_type("valueStrng", "value", types) is None
    assert choice_type("valueSet", "value", types) is None
