"""A profile pass skips what restates the base definition (plan.mark_same_as_base): the base pass
reports it. Validating with and without that shortcut must give the same issues, on the IGs'
examples and on the invalid fixtures derived from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from imgfhir.packages import load_store
from imgfhir.validation import Validator, plan
from imgfhir.validation.model import ElementPlan

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXAMPLES = FIXTURES / "ig-examples"
INVALID = FIXTURES / "validation" / "invalid"
IGS = {
    "hl7.fhir.uv.radiation-dose-summary": "R4",
    "hl7.fhir.uv.dicom-sr": "R5",
    "hl7.fhir.eu.imaging": "R4",
    "hl7.fhir.eu.imaging-r5": "R5",
}


def cases() -> list[tuple[Path, str, str | None]]:
    found: list[tuple[Path, str, str | None]] = [
        (path, release, None) for ig, release in IGS.items() for path in sorted((EXAMPLES / ig).glob("*.json"))
    ]
    expected = json.loads((INVALID / "expected.json").read_text(encoding="utf-8"))
    found += [(INVALID / c["file"], c["fhirVersion"], c.get("profile")) for c in expected["cases"]]
    return found


def issues(validator: Validator, path: Path, release: str, profile: str | None) -> set[tuple[Any, ...]]:
    outcome = validator.validate(orjson.loads(path.read_bytes()), profile, fhir_version=release)
    return {(i.severity, i.rule, i.expression, i.message) for i in outcome.issues}


@pytest.fixture(scope="module")
def validators() -> tuple[Validator, Validator]:
    local = [FIXTURES / "snapshot" / "local-profiles"]
    with_overlap = Validator(load_store(extra=local, env=False, entry_points=False))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plan, "mark_same_as_base", lambda *_: False)
        without = Validator(load_store(extra=local, env=False, entry_points=False))
        # compile every plan the cases need now, while marking is off
        for path, release, profile in cases():
            without.validate(orjson.loads(path.read_bytes()), profile, fhir_version=release)
    return with_overlap, without


@pytest.mark.parametrize(("path", "release", "profile"), cases(), ids=lambda v: getattr(v, "name", v))
def test_skipping_the_base_overlap_changes_no_issue(
    validators: tuple[Validator, Validator], path: Path, release: str, profile: str | None
) -> None:
    with_overlap, without = validators
    assert issues(with_overlap, path, release, profile) == issues(without, path, release, profile)


def test_a_typical_profile_mostly_restates_its_base() -> None:
    """The shortcut is worth having: most elements of the Radiation Dose Summary profile are skipped."""
    store = load_store(env=False, entry_points=False)
    url = "http://hl7.org/fhir/uv/radiation-dose-summary/StructureDefinition/radiation-dose-summary"
    profile = plan.compile_profile(store.scope_for_canonical(url), url)

    def walk(element: ElementPlan) -> list[ElementPlan]:
        return [element] + [e for c in [*element.children.values(), *element.slices] for e in walk(c)]

    elements = walk(profile.root)[1:]
    skipped = [e for e in elements if e.same_as_base]
    assert 0.3 < len(skipped) / len(elements) < 1, (len(skipped), len(elements))
    assert not any(e.same_as_base for e in elements if e.slices or e.pattern or e.fixed)
