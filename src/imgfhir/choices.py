"""Choice elements' JSON names (`value[x]` → `valueQuantity`): one implementation for every layer.

FHIR names one type of a choice element by its stem and the type code with the first letter upper-cased
(JSON and XML formats, "Choice of Data Types"): `value[x]` with `Quantity` is `valueQuantity`, with
`dateTime` `valueDateTime`. The snapshot generator, the validator, the XML reader/writer, code generation
and the strategies all need the same three answers: the name for a type, whether a key names one type of
a stem, and which type it names.
"""

from __future__ import annotations

from collections.abc import Iterable


def upper_first(code: str) -> str:
    """`dateTime` → `DateTime`: a type code as it appears in a choice name."""
    return code[:1].upper() + code[1:]


def choice_name(stem: str, type_code: str) -> str:
    """`value`, `Quantity` → `valueQuantity` (`stem` without its `[x]`)."""
    return stem + upper_first(type_code)


def is_choice_key(key: str, stem: str) -> bool:
    """Does `key` name one type of the choice `stem[x]` (`valueQuantity` for `value`; `values` does not)?
    Only the shape: whether that type is allowed is `choice_type`'s question."""
    return key.startswith(stem) and key[len(stem) : len(stem) + 1].isupper()


def choice_type(key: str, stem: str, type_codes: Iterable[str]) -> str | None:
    """The type code among `type_codes` that `key` names for the choice `stem[x]`, or None."""
    if not is_choice_key(key, stem):
        return None
    suffix = key[len(stem) :]
    return next((code for code in type_codes if upper_first(code) == suffix), None)
