"""Rule plugins: discovered through the `imgfhir.rules` entry points of separately installed distributions."""

from __future__ import annotations

import json
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from imgfhir.packages import PackageStore, load_store
from imgfhir.rules import dose_plausibility
from imgfhir.validation.model import ElementPlan, Item, Rule
from imgfhir.validation.plugins import ENTRY_POINT_GROUP, PluginRules, for_resources, load_plugin_rules, rules_from
from imgfhir.validation.validator import Validator

ROOT = Path(__file__).resolve().parents[2]
RDS = ROOT / "tests" / "fixtures" / "ig-examples" / "hl7.fhir.uv.radiation-dose-summary"
RDS_PROFILE = "http://hl7.org/fhir/uv/radiation-dose-summary/StructureDefinition/radiation-dose-summary"

PLUGIN_MODULE = '''
"""A third-party rule set, as a plugin author would write it."""
from imgfhir.validation.model import issue
from imgfhir.validation.plugins import for_resources

RDS = "{rds}"


def final_only(ctx, element, item):
    if item.value.get("status") != "final":
        yield issue("warning", "business-rule", "dose summaries must be final", item, "acme-final")


def component_seen(ctx, element, item):
    yield issue("information", "informational", "component seen", item, "acme-component")


RULES = [for_resources("acme-final", final_only, resource_types=("Observation",), profiles=(RDS,))]
COMPONENTS = for_resources("acme-component", component_seen, path="Observation.component", profiles=(RDS,))


def make_rules():
    return [COMPONENTS]


def broken():
    raise RuntimeError("no licence key")


def not_rules():
    return ["a string"]
'''

ENTRY_POINTS = """
[imgfhir.rules]
acme-final = {module}:RULES
acme-module = {module}
acme-callable = {module}:make_rules
acme-broken = {module}:broken
acme-not-rules = {module}:not_rules
acme-missing = {module}_does_not_exist:RULES
"""


@pytest.fixture(scope="module")
def store() -> PackageStore:
    return load_store(env=False, entry_points=False)


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A distribution `acme-rules` installed in a folder on sys.path (found by importlib.metadata)."""
    module = f"acme_rules_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(PLUGIN_MODULE.format(rds=RDS_PROFILE)))
    dist_info = tmp_path / "acme_rules-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-rules\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS.format(module=module))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield module
    sys.modules.pop(module, None)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_plugin_distribution_is_discovered(plugin: str) -> None:
    assert "acme-rules" in {d.metadata["Name"] for d in metadata.distributions()}
    found = load_plugin_rules()
    assert isinstance(found, PluginRules) and all(isinstance(r, Rule) for r in found)
    names = [r.name for r in found]
    assert names.count("acme-final") == 2  # from RULES and from the module's RULES
    assert names.count("acme-component") == 1  # from the callable


def test_broken_plugins_become_warnings(plugin: str) -> None:
    found = load_plugin_rules()
    messages = {w.message.split(" = ", 1)[0]: w for w in found.warnings}
    assert set(messages) >= {"rule plugin 'acme-broken'", "rule plugin 'acme-not-rules'", "rule plugin 'acme-missing'"}
    broken = messages["rule plugin 'acme-broken'"]
    assert broken.severity == "warning" and broken.rule == "plugin"
    assert "RuntimeError: no licence key" in broken.message
    assert "distribution acme-rules" in broken.message
    assert "expected Rule objects" in messages["rule plugin 'acme-not-rules'"].message
    assert "ModuleNotFoundError" in messages["rule plugin 'acme-missing'"].message


def test_plugin_rules_run_on_an_ig_example(plugin: str, store: PackageStore) -> None:
    validator = Validator(store, rules=load_plugin_rules())
    example = load(RDS / "Observation-139.json")
    assert not any(i.rule == "acme-final" for i in validator.validate(example, fhir_version="R4"))

    example["status"] = "preliminary"
    found = [i for i in validator.validate(example, fhir_version="R4") if i.rule == "acme-final"]
    assert [(i.rule, i.severity, i.expression, i.message) for i in found] == [
        ("acme-final", "warning", "Observation", "dose summaries must be final")
    ]


def test_path_and_profile_scoping(plugin: str, store: PackageStore) -> None:
    validator = Validator(store, rules=load_plugin_rules())
    seen = [
        i.expression
        for i in validator.validate(load(RDS / "Observation-139.json"), fhir_version="R4")
        if i.rule == "acme-component"
    ]
    assert seen == ["Observation.component[0]", "Observation.component[1]"]
    # a plain Observation (no dose profile) is not in the rule's scope
    plain = load(RDS / "Observation-139.json")
    del plain["meta"]
    assert not any(i.rule == "acme-component" for i in validator.validate(plain, fhir_version="R4"))


def test_no_plugins_without_entry_points() -> None:
    assert load_plugin_rules("imgfhir.rules.nothing-here") == []
    assert load_plugin_rules("imgfhir.rules.nothing-here").warnings == []


def _plan(path: str, profile: str) -> ElementPlan:
    return ElementPlan(path, path, path.rsplit(".", 1)[-1], {}, 0, None, (), profile, "R4")


def _never(ctx: Any, element: ElementPlan, item: Item) -> Iterator[Any]:
    yield from ()


def test_for_resources_applies() -> None:
    root_rule = for_resources("r", _never, resource_types=("Observation",), profiles=(RDS_PROFILE + "|1.0.0",))
    assert root_rule.applies(_plan("Observation", RDS_PROFILE))
    assert not root_rule.applies(_plan("Observation.component", RDS_PROFILE))
    assert not root_rule.applies(_plan("Observation", "http://hl7.org/fhir/StructureDefinition/Observation"))
    assert not root_rule.applies(_plan("Patient", RDS_PROFILE))
    any_root = for_resources("r", _never, kind="group")
    assert any_root.kind == "group" and any_root.applies(_plan("Patient", "x"))
    assert not any_root.applies(_plan("a.b", "x"))
    at_path = for_resources("r", _never, path="Observation.component")
    assert at_path.applies(_plan("Observation.component", "x")) and not at_path.applies(_plan("Observation", "x"))
    with pytest.raises(ValueError, match="not in any of the resource types"):
        for_resources("r", _never, resource_types=("Patient",), path="Observation.component")


def test_rules_from_shapes() -> None:
    rule = dose_plausibility.RULES[0]
    assert rules_from(rule) == [rule]
    assert rules_from((rule,)) == [rule]
    assert rules_from(dose_plausibility) == [rule]
    assert rules_from(lambda: rule) == [rule]
    with pytest.raises(TypeError):
        rules_from(42)
    with pytest.raises(TypeError):
        rules_from(json)  # a module without RULES


def test_dose_plausibility_is_published_as_a_plugin() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    value = project["entry-points"][ENTRY_POINT_GROUP]["dose-plausibility"]
    ep = metadata.EntryPoint("dose-plausibility", value, ENTRY_POINT_GROUP)
    assert rules_from(ep.load()) == dose_plausibility.RULES
