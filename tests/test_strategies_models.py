"""Property (c) of the generated instances: they load into the generated pydantic model of their
profile and dump back to the same FHIR JSON."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from imgfhir.models.base import FhirModel
from imgfhir.packages import PackageStore, load_store
from imgfhir.strategies import builder_for, from_profile

MODULES = ("rds", "dicom_sr", "eu_imaging", "eu_imaging_r5")


def _models() -> dict[str, type[FhirModel]]:
    found: dict[str, type[FhirModel]] = {}
    for name in MODULES:
        module = importlib.import_module(f"imgfhir.models.{name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, FhirModel) and cls.fhir_profile:
                found[cls.fhir_profile] = cls
    return found


MODELS = _models()


@pytest.fixture(scope="module")
def store() -> PackageStore:
    return load_store(env=False, entry_points=False)


def test_every_profile_of_the_four_igs_has_a_model() -> None:
    # 4 Radiation Dose Summary + 22 DICOM SR + 39 EU imaging R4 + 41 EU imaging R5 profiles
    assert len(MODELS) == 4 + 22 + 39 + 41


@pytest.mark.parametrize("url", sorted(MODELS))
def test_generated_instances_round_trip_through_the_models(url: str, store: PackageStore) -> None:
    model = MODELS[url]
    # the validator takes a datatype or extension instance with its type as resourceType; FHIR JSON has none
    datatype = builder_for(url, store=store).plan.kind != "resource"

    @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(from_profile(url, store=store))
    def check(instance: dict[str, Any]) -> None:
        if datatype:
            instance = {k: v for k, v in instance.items() if k != "resourceType"}
        loaded = model.model_validate(instance)
        assert loaded.model_dump(by_alias=True, exclude_none=True, mode="json") == instance

    check()
