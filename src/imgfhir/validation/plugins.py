"""Third-party rules: discovery through the `imgfhir.rules` entry-point group, and a helper to scope them.

A distribution publishes rules with an entry point in the `imgfhir.rules` group, e.g.::

    [project.entry-points."imgfhir.rules"]
    dose-plausibility = "imgfhir.rules.dose_plausibility:RULES"

The entry point may load to a `Rule`, a list (or tuple) of Rules, a module with a `RULES` list, or a
callable taking no arguments that returns any of these. `load_plugin_rules()` gathers them all; a
plugin that cannot be imported, raises, or yields something that is not a Rule is skipped and
reported as a warning Issue (`.warnings` of the returned list), never raised.

Plugin rules are not registered in the global table: pass them to `Validator(rules=...)`.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.validation.model import ElementPlan, Rule, RuleFn, RuleKind

ENTRY_POINT_GROUP = "imgfhir.rules"


class PluginRules(list[Rule]):
    """The rules found, in entry-point order; `warnings` says which plugins were skipped and why."""

    def __init__(self, rules: Iterable[Rule] = (), warnings: Iterable[Issue] = ()) -> None:
        super().__init__(rules)
        self.warnings: list[Issue] = list(warnings)


def _canonical(url: str) -> str:
    return url.split("|", 1)[0]


def for_resources(
    name: str,
    fn: RuleFn,
    *,
    resource_types: Iterable[str] = (),
    profiles: Iterable[str] = (),
    kind: RuleKind = "item",
    path: str | None = None,
) -> Rule:
    """A Rule for `fn` that applies only where it should, decided once per compiled element.

    Without `path` the rule sees resource roots (element path = the resource type); with `path`
    (e.g. "Observation.component") it sees that element. `resource_types` limits the resource type
    (the first path segment), `profiles` the StructureDefinition the element was compiled from
    (canonical URLs; a `|version` suffix is ignored). Empty means any.
    """
    types_wanted = frozenset(resource_types)
    profiles_wanted = frozenset(_canonical(p) for p in profiles)
    if path is not None and types_wanted and path.split(".", 1)[0] not in types_wanted:
        raise ValueError(f"path {path!r} is not in any of the resource types {sorted(types_wanted)}")

    def applies(element: ElementPlan) -> bool:
        if path is None:
            if "." in element.path:
                return False
        elif element.path != path:
            return False
        if types_wanted and element.path.split(".", 1)[0] not in types_wanted:
            return False
        return not profiles_wanted or _canonical(element.profile_url) in profiles_wanted

    return Rule(name, kind, fn, applies)


def rules_from(value: Any) -> list[Rule]:
    """The Rules an entry point's object stands for; TypeError if it is not one of the accepted shapes."""
    if isinstance(value, Rule):
        return [value]
    if isinstance(value, types.ModuleType):
        found = getattr(value, "RULES", None)
        if found is None:
            raise TypeError(f"module {value.__name__} has no RULES list")
        return rules_from(found)
    if isinstance(value, list | tuple):
        bad = [v for v in value if not isinstance(v, Rule)]
        if bad:
            raise TypeError(f"expected Rule objects, got {type(bad[0]).__name__}")
        return list(value)
    if callable(value):
        produced = value()
        if callable(produced) and not isinstance(produced, Rule | list | tuple | types.ModuleType):
            raise TypeError("the callable returned another callable, not rules")
        return rules_from(produced)
    raise TypeError(f"expected a Rule, a list of Rules, a module or a callable, got {type(value).__name__}")


def _origin(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) if dist is not None else None
    return f" (distribution {name})" if name else ""


def load_plugin_rules(group: str = ENTRY_POINT_GROUP) -> PluginRules:
    """Every rule published in the entry-point group; broken plugins become warnings, never exceptions."""
    result = PluginRules()
    seen: set[tuple[str, str]] = set()
    for ep in metadata.entry_points(group=group):
        key = (ep.name, ep.value)
        if key in seen:  # the same distribution found twice on sys.path
            continue
        seen.add(key)
        try:
            rules = rules_from(ep.load())
        except Exception as exc:  # noqa: BLE001 - third-party code: report and carry on
            message = f"rule plugin {ep.name!r} = {ep.value!r}{_origin(ep)} skipped: {type(exc).__name__}: {exc}"
            result.warnings.append(Issue("warning", "exception", message, rule="plugin"))
            continue
        result.extend(rules)
    return result
