"""Typed pydantic v2 models of the imaging IG profiles, generated from their snapshots (generated/imgfhir_models).

    from imgfhir.models.rds import RadiationDoseSummary
    from imgfhir.models.dicom_sr import ImagingMeasurement
    from imgfhir.models.eu_imaging_r5 import CompositionEuImaging

Modules: `rds` (R4), `dicom_sr` (R5), `eu_imaging` (R4), `eu_imaging_r5` (R5), the base resources and shared
datatypes of each release in `r4` / `r5`. Class names are the profiles' `name`; fields are the FHIR element
names (aliased where Python needs it: `class_`, `field_birthDate` for `_birthDate`). `model_dump(by_alias=True,
exclude_none=True)` or `.to_fhir()` gives FHIR JSON; `.validate_profile()` runs the full validator.
The JSON Schemas the models were generated from: `schema_path("rds")`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from imgfhir.models.base import FhirModel

__all__ = ["FhirModel", "schema_path"]


def schema_path(module: str) -> Path:
    """The JSON Schema (draft 2020-12) document of a models module: `rds`, `dicom_sr`, `r4/datatypes`, ..."""
    root = resources.files("imgfhir_models") / "schemas"
    return Path(str(root / f"{module}.json"))
