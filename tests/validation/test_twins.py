"""What an element restates of its twin is checked once (plan.mark_twins): a profile pass leaves to
the base pass what the profile restates of the base resource, a slice leaves to the sliced element
what it restates, and neither walks again the children both take from one type. Validating with
and without that shortcut must give the same issues, on the IGs' examples and on the invalid
fixtures derived from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from imgfhir.packages import load_store
from imgfhir.validation import Validator, engine, plan
from imgfhir.validation.model import ElementPlan
from tests.validation.test_ig_examples import RELEASES

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXAMPLES = FIXTURES / "ig-examples"
INVALID = FIXTURES / "validation" / "invalid"
IGS = RELEASES  # the imaging IGs and the IGs they build on


def cases() -> list[tuple[Path, str, str | None]]:
    found: list[tuple[Path, str, str | None]] = [
        (path, release, None) for ig, release in IGS.items() for path in sorted((EXAMPLES / ig).glob("*.json"))
    ]
    found += [(path, path.parent.name.upper(), None) for path in sorted((FIXTURES / "core-examples").glob("r*/*.json"))]
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
        mp.setattr(plan, "mark_twins", lambda *_: False)
        without = Validator(load_store(extra=local, env=False, entry_points=False))
        # compile every plan the cases need now, while marking is off
        for path, release, profile in cases():
            without.validate(orjson.loads(path.read_bytes()), profile, fhir_version=release)
    return with_overlap, without


@pytest.mark.parametrize(("path", "release", "profile"), cases(), ids=lambda v: getattr(v, "name", v))
def test_leaving_work_to_twins_changes_no_issue(
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
    skipped = [e for e in elements if e.covered]
    assert 0.3 < len(skipped) / len(elements) < 1, (len(skipped), len(elements))
    assert not any(e.covered for e in elements if e.slices or e.pattern or e.fixed)


def test_a_reference_in_a_slice_is_walked_once() -> None:
    """The findings section's entries are a slice (entry:finding) of a slice (section:findings) of a
    profiled element: three definitions over each Reference, whose children all come from the
    Reference type. Its `reference` is checked once, not once per definition."""
    store = load_store(env=False, entry_points=False)
    path = EXAMPLES / "hl7.fhir.eu.imaging" / "Composition-CompositionStructured.json"
    resource = orjson.loads(path.read_bytes())
    entries = sum("reference" in e for s in resource["section"] for e in s.get("entry", ()))
    walked: list[str] = []
    real = engine.walk_element

    def counting(ctx: Any, element: ElementPlan, item: Any, out: list[Any]) -> None:
        if element.id == "Reference.reference":
            walked.append(item.expression)
        real(ctx, element, item, out)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "walk_element", counting)
        outcome = Validator(store).validate(resource, fhir_version="4.0.1")
    assert outcome.ok, outcome.issues
    section_refs = [w for w in walked if w.startswith("Composition.section[") and ".entry[" in w]
    assert len(section_refs) == entries == len(set(section_refs)), sorted(section_refs)


def test_a_slice_narrowing_a_choice_checks_the_keys_itself() -> None:
    """R5 core's sex-and-gender Patient uses valueCodeableReference in sub-extensions whose
    definition (extensions pack 5.3.0) allows CodeableConcept or Reference only. The sliced
    Extension.extension allows any type, so the slice's own unfolded children decide: the
    unknown-element rule is not left to the twin where the children differ."""
    store = load_store(env=False, entry_points=False)
    path = FIXTURES / "core-examples" / "r5" / "Patient-patient-example-sex-and-gender.json"
    outcome = Validator(store).validate(orjson.loads(path.read_bytes()), fhir_version="R5")
    found = {(i.severity, i.rule, i.expression) for i in outcome.issues}
    assert ("error", "type", "Patient.extension[2].extension[4].valueCodeableReference") in found
