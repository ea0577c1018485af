"""JSON → XML → JSON is the identity for every IG and core example in the fixtures, and the XML written
validates with the same issues as its JSON (the XML-only rules aside: the writer never breaks them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from imgfhir.packages import PackageStore
from imgfhir.validation import Validator
from imgfhir.xml import read_xml
from imgfhir.xml.writer import write_xml
from tests.support import FIXTURES
from tests.validation.test_ig_examples import NOT_FHIR, RELEASES

EXAMPLES = [
    (path, release)
    for ig, release in sorted(RELEASES.items())
    for path in sorted((FIXTURES / "ig-examples" / ig).glob("*.json"))
    if f"{ig}/{path.name}" not in NOT_FHIR
] + [(path, rel.upper()) for rel in ("r4", "r5") for path in sorted((FIXTURES / "core-examples" / rel).glob("*.json"))]


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@pytest.fixture(scope="module")
def validator(bundled_store: PackageStore) -> Validator:
    return Validator(bundled_store)


def _issues(outcome: Any) -> list[tuple[str, str | None, str | None, str]]:
    return sorted((i.severity, i.rule, i.expression, i.message) for i in outcome.issues)


def test_the_examples_are_many() -> None:
    assert len(EXAMPLES) > 300


@pytest.mark.parametrize(("path", "release"), EXAMPLES, ids=[_id(p) for p, _ in EXAMPLES])
def test_json_xml_json_is_the_identity(validator: Validator, path: Path, release: str) -> None:
    resource = orjson.loads(path.read_bytes())
    scope = validator.store.scope(release=release)
    written = write_xml(resource, scope)
    assert written.skipped == []
    back = read_xml(written.text, scope)
    assert back.issues == []
    assert back.resource == resource
    from_json = validator.validate(resource, fhir_version=release)
    from_xml = validator.validate(written.text, fhir_version=release)
    assert _issues(from_xml) == _issues(from_json)
    assert all(i.line is not None for i in from_xml.issues if i.expression)  # every located issue has a line
