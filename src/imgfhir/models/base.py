"""The base class of the generated models: FHIR JSON in and out, and the full profile validator on demand."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

if TYPE_CHECKING:
    from imgfhir.outcome import Outcome


def _matches(schema: Any, value: Any) -> bool:
    """Whether a value matches one of the partial schemas of `fhir_slices` (the JSON Schema subset they use)."""
    if isinstance(schema, bool):
        return schema
    kind = schema.get("type")
    if (kind == "object" and not isinstance(value, dict)) or (kind == "array" and not isinstance(value, list)):
        return False
    if kind == "string" and not isinstance(value, str):
        return False
    if "const" in schema and value != schema["const"]:
        return False
    if "pattern" in schema and not (isinstance(value, str) and re.search(schema["pattern"], value)):
        return False
    if isinstance(value, dict):
        if any(key not in value for key in schema.get("required", [])):
            return False
        if any(k in value and not _matches(sub, value[k]) for k, sub in schema.get("properties", {}).items()):
            return False
    if "contains" in schema and not (isinstance(value, list) and any(_matches(schema["contains"], v) for v in value)):
        return False
    if not all(_matches(sub, value) for sub in schema.get("allOf", [])):
        return False
    if "anyOf" in schema and not any(_matches(sub, value) for sub in schema["anyOf"]):
        return False
    return not ("not" in schema and _matches(schema["not"], value))


def _stem(names: tuple[str, ...]) -> str:
    """The element name of a choice group: valueQuantity, valueCodeableConcept, valueCoding → value."""
    size = min(len(n) for n in names)
    while size > 0 and len({n[:size] for n in names}) > 1:
        size -= 1
    while size > 0 and not all(len(n) > size and n[size].isupper() for n in names):
        size -= 1
    return names[0][:size]


class FhirModel(BaseModel):
    """A generated FHIR model. Field names are the FHIR names (aliased where Python needs: `class_`, `field__x`)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", defer_build=True)

    fhir_profile: ClassVar[str | None] = None
    """The canonical URL of the profile the model was generated from (None for datatypes)."""
    fhir_version: ClassVar[str | None] = None
    """The FHIR release of the profile (R4, R5)."""
    fhir_choice_groups: ClassVar[tuple[tuple[str, ...], ...]] = ()
    """The concrete fields of each choice element (`valueQuantity`, `valueString`, ...): at most one may be set."""

    fhir_required_choices: ClassVar[tuple[tuple[str, ...], ...]] = ()
    """Choice elements (or required type slices of one) the profile requires: one of the fields must be set."""
    fhir_slices: ClassVar[dict[str, dict[str, Any]]] = {}
    """Element → slice name → what an item must look like to belong to the slice (a partial JSON Schema)."""

    def fhir_slice(self, element: str, name: str) -> list[Any]:
        """The items of a repeating element that belong to one of its slices (by the slice's discriminator)."""
        schema = self.fhir_slices[element][name]
        field = next(f for f, info in type(self).model_fields.items() if (info.alias or f) == element)
        items = getattr(self, field) or []
        return [
            item
            for item in items
            if _matches(
                schema, item.model_dump(by_alias=True, exclude_none=True) if isinstance(item, BaseModel) else item
            )
        ]

    @model_validator(mode="after")
    def _one_choice(self) -> FhirModel:
        for group in self.fhir_choice_groups:
            present = [name for name in group if getattr(self, name, None) is not None]
            if len(present) > 1:
                raise ValueError(f"at most one of {', '.join(present)} may be set (a choice of {_stem(group)}[x])")
        for group in self.fhir_required_choices:
            if all(getattr(self, name, None) is None for name in group):
                raise ValueError(f"{' or '.join(group)} is required ({_stem(group) if len(group) > 1 else group[0]})")
        return self

    def to_fhir(self) -> dict[str, Any]:
        """The instance as FHIR JSON data (aliases, no empty fields)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    def validate_profile(self, profile: str | None = None, *, packages: list[str] | None = None) -> Outcome:
        """Run the imgfhir validator on the instance against `profile` (default: the model's own profile).

        Models check structure; the validator adds invariants, bindings, slicing and references.
        """
        from imgfhir.validation import validate

        canonical = profile or self.fhir_profile
        return validate(self.to_fhir(), canonical, fhir_version=self.fhir_version, packages=packages)
