"""The dom-3 shortcut (contained resources referenced from the resource) against the FHIRPath engine.

The engine, evaluating the core invariant as written, is the oracle: on every real resource of the
fixtures that has contained resources and on variants that take each branch of the shortcut (reference,
canonical, uri, plain string, '#' back to the container, no id, odd shapes), the shortcut either agrees
or says "ask the engine" (None), and it answers every well-formed variant itself.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest

from imgfhir import fhirpath
from imgfhir.packages import load_store
from imgfhir.validation import Validator
from imgfhir.validation.shortcuts import shortcut

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CONTAINED = FIXTURES / "validation" / "contained-scale"
DOMAIN_RESOURCE = "http://hl7.org/fhir/StructureDefinition/DomainResource"


@cache
def _dom_3(release: str) -> str:
    scope = load_store(env=False, entry_points=False).scope(release=release)
    hit = scope.entry(DOMAIN_RESOURCE)
    assert hit is not None
    sd = hit[0].load(hit[1].filename)
    root = sd["snapshot"]["element"][0]
    return next(c["expression"] for c in root["constraint"] if c["key"] == "dom-3")


def _engine(resource: dict[str, Any], release: str) -> bool | None:
    try:
        result = fhirpathpy_eval(resource, release)
    except fhirpath.FhirPathError:
        return None
    return not result or all(r is True for r in result)


def fhirpathpy_eval(resource: dict[str, Any], release: str) -> list[Any]:
    return fhirpath.compile(_dom_3(release), release).evaluate(resource, lenient=True)


def _with_contained(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.rglob("*.json")):
        try:
            res = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            continue
        stack = [res]
        while stack:  # the resource and every resource nested in it (Bundle entries, contained)
            node = stack.pop()
            if isinstance(node, dict):
                if isinstance(node.get("resourceType"), str) and isinstance(node.get("contained"), list):
                    yield node
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)


def _real() -> list[dict[str, Any]]:
    found = [r for folder in ("ig-examples", "core-examples", "validation") for r in _with_contained(FIXTURES / folder)]
    found = [r for r in found if len(orjson.dumps(r)) < 20_000]  # the engine is quadratic here: keep it quick
    kept: dict[tuple[str, int], dict[str, Any]] = {}
    for r in found:  # one per resource type and number of contained resources (the MHD examples repeat)
        kept.setdefault((r["resourceType"], len(r["contained"])), r)
    assert len(kept) >= 8
    return list(kept.values())


def _variants(res: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The resource, then each contained resource referenced in other ways (or not at all)."""
    yield "as is", res
    text = orjson.dumps(res).decode()
    for i, c in enumerate(res["contained"]):
        if not isinstance(c, dict) or not isinstance(c.get("id"), str):
            continue
        target = "#" + c["id"]
        unreferenced = orjson.loads(text.replace(f'"{target}"', '"#elsewhere"'))
        yield "unreferenced", unreferenced
        for field, value in (
            ("implicitRules", target),  # uri: counts
            ("language", target),  # code: does not count
        ):
            v = copy.deepcopy(unreferenced)
            v[field] = value
            yield field, v
        v = copy.deepcopy(unreferenced)
        v.setdefault("meta", {})["profile"] = [target]  # canonical, in a list
        yield "meta.profile", v
        v = copy.deepcopy(unreferenced)
        v["extension"] = [{"url": "http://example.org/x", "valueCanonical": target}]
        yield "extension valueCanonical", v
        v = copy.deepcopy(unreferenced)
        v["extension"] = [{"url": "http://example.org/x", "valueString": target}]
        yield "extension valueString", v
        v = copy.deepcopy(unreferenced)
        v["contained"][i]["extension"] = [{"url": "http://example.org/x", "valueReference": {"reference": "#"}}]
        yield "back to the container", v
        v = copy.deepcopy(unreferenced)
        v["contained"][i]["extension"] = [{"url": "http://example.org/x", "valueCanonical": "#"}]
        yield "canonical back to the container", v
        v = copy.deepcopy(unreferenced)
        del v["contained"][i]["id"]
        yield "no id", v
        break  # one contained resource per example is enough to take every branch


ODD = [
    ("id is a number", lambda r: r["contained"][0].__setitem__("id", 7)),
    ("id with an extension", lambda r: r["contained"][0].__setitem__("_id", {"extension": []})),
    ("contained is an object", lambda r: r.__setitem__("contained", r["contained"][0])),
    ("repeating reference", lambda r: r.__setitem__("extension", [{"valueReference": {"reference": ["#"]}}])),
    ("list in a list", lambda r: r.__setitem__("extension", [[{"url": "x"}]])),
]


def test_the_shortcut_agrees_with_the_engine_on_real_resources_and_variants() -> None:
    answered = 0
    for res in _real():
        for release in ("R4", "R5"):  # each spelling of dom-3 with its release's model
            check = shortcut(_dom_3(release))
            assert check is not None
            for label, variant in _variants(res):
                fast = check(variant)
                assert fast is not None, (label, variant.get("id"))
                assert fast == _engine(variant, release), (label, variant.get("id"), release)
                answered += 1
    assert answered > 80


@pytest.mark.parametrize(("label", "change"), ODD)
def test_odd_shapes_are_left_to_the_engine(label: str, change: Any) -> None:
    res = copy.deepcopy(next(r for r in _real() if isinstance(r["contained"][0], dict)))
    change(res)
    assert shortcut(_dom_3("R4"))(res) is None  # type: ignore[misc]


def _scaled(n: int) -> dict[str, Any]:
    """The scale fixture (a real Observation with contained resources) grown to `n` contained resources."""
    res: dict[str, Any] = orjson.loads((CONTAINED / "Observation-many-contained.json").read_bytes())
    template = res["contained"][0]
    res["contained"] = [orjson.loads(orjson.dumps({**template, "id": f"c{i}"})) for i in range(n)]  # no sharing
    res["subject"] = {"reference": "#c0"}
    res["performer"] = [{"reference": f"#c{i}"} for i in range(n)]
    return res


def test_many_contained_resources_are_checked_natively() -> None:
    res = _scaled(1000)
    check = shortcut(_dom_3("R4"))
    assert check is not None and check(res) is True
    res["performer"].pop()  # the last one is referenced from nowhere now
    assert check(res) is False
    start = time.monotonic()
    check(res)
    assert time.monotonic() - start < 5  # generous: linear, a few ms; the engine needs minutes here


def test_validation_reports_the_unreferenced_contained_resource() -> None:
    validator = Validator(load_store(env=False, entry_points=False))
    res = _scaled(300)
    res["performer"].pop()
    dom3 = [i for i in validator.validate(res, fhir_version="R4").issues if i.rule == "dom-3"]
    assert [(i.severity, i.expression) for i in dom3] == [("error", "Observation")]
    valid = _scaled(300)  # the near miss: every contained resource referenced
    assert not [i for i in validator.validate(valid, fhir_version="R4").issues if i.rule == "dom-3"]
