"""Merging a differential element: a choice-typed property has one value whatever its type.

Real data: R5 positiveInt and unsignedInt specialise integer, whose value carries
minValueInteger/maxValueInteger; their differentials restate the bounds as minValuePositiveInt /
minValueUnsignedInt, which must replace the inherited ones, not sit beside them.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from imgfhir.snapshot import SnapshotError, generator_for
from imgfhir.snapshot.merge import merge_element
from imgfhir.snapshot.oracle import bundled_store, discover_cases

FHIR = "http://hl7.org/fhir/StructureDefinition/"
_PREFIXES = ("defaultValue", "fixed", "pattern", "minValue", "maxValue")


def _choice_keys(el: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key in el:
        for prefix in _PREFIXES:
            if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
                found.setdefault(prefix, []).append(key)
    return found


def _regenerated(package: str, url: str) -> dict[str, dict[str, Any]]:
    scope = bundled_store().scope(package)
    published = scope.resolve(url)
    sd = generator_for(scope).generate(copy.deepcopy({k: v for k, v in published.items() if k != "snapshot"}))
    return {e["id"]: e for e in sd["snapshot"]["element"]}


@pytest.mark.parametrize(
    ("type_name", "suffix", "low"), [("positiveInt", "PositiveInt", 1), ("unsignedInt", "UnsignedInt", 0)]
)
def test_r5_integer_specialisations_replace_the_integer_bounds(type_name: str, suffix: str, low: int) -> None:
    value = _regenerated("hl7.fhir.r5.core", FHIR + type_name)[f"{type_name}.value"]
    assert _choice_keys(value) == {"minValue": [f"minValue{suffix}"], "maxValue": [f"maxValue{suffix}"]}
    assert value[f"minValue{suffix}"] == low


def test_replacing_a_choice_value_drops_the_other_type() -> None:
    # R4 Observation.value[x] pattern, then a profile fixing a Quantity instead (bodyweight-like)
    el: dict[str, Any] = {"path": "Observation.value[x]", "patternString": "a", "defaultValueBoolean": True}
    merge_element(el, {"path": "Observation.value[x]", "patternQuantity": {"value": 1}, "defaultValueInteger": 2}, "x")
    assert el == {"path": "Observation.value[x]", "patternQuantity": {"value": 1}, "defaultValueInteger": 2}
    # a fixed value does not replace a pattern (different properties)
    merge_element(el, {"fixedCode": "c"}, "x")
    assert el["patternQuantity"] == {"value": 1} and el["fixedCode"] == "c"


def test_no_snapshot_element_carries_two_values_of_one_choice_property() -> None:
    store = bundled_store()
    doubled: list[str] = []
    for case in discover_cases(store):
        pkg = store.get(case.package)
        assert pkg is not None
        published = pkg.load(case.filename)
        try:
            sd = generator_for(store.scope(pkg)).generate(
                copy.deepcopy({k: v for k, v in published.items() if k != "snapshot"})
            )
        except SnapshotError:
            continue
        for el in sd["snapshot"]["element"]:
            doubled += [f"{case.url} {el['id']}: {keys}" for keys in _choice_keys(el).values() if len(keys) > 1]
    assert not doubled, "\n".join(doubled)


def test_a_constraint_does_not_turn_a_typed_element_into_a_content_reference() -> None:
    # the extensions pack's artifactassessment-content states a contentReference on value[x];
    # the published snapshot (reference tooling) keeps value[x] typed
    url = FHIR + "artifactassessment-content"
    for package in ("hl7.fhir.uv.extensions.r4", "hl7.fhir.uv.extensions.r5"):
        value = _regenerated(package, url)["Extension.extension:component.value[x]"]
        published = {e["id"]: e for e in bundled_store().scope(package).resolve(url)["snapshot"]["element"]}
        assert "contentReference" not in value
        assert value["type"] == published["Extension.extension:component.value[x]"]["type"]


@pytest.mark.parametrize(("package", "type_name"), [("hl7.fhir.r5.core", "code"), ("hl7.fhir.r5.core", "markdown")])
def test_a_primitive_value_does_not_inherit_its_base_types_limits(package: str, type_name: str) -> None:
    value = _regenerated(package, FHIR + type_name)[f"{type_name}.value"]
    published = bundled_store().scope(package).resolve(FHIR + type_name)["snapshot"]["element"]
    assert "maxLength" not in value and "maxLength" not in published[-1]
