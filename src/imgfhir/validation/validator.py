"""Validator: compile profiles into plans once, validate many resources against them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from imgfhir.fhirpath.budget import Budget
from imgfhir.fhirpath.budget import scope as fhirpath_scope
from imgfhir.outcome import Issue, Outcome
from imgfhir.packages import PackageError, PackageStore, Scope, UnknownCanonical, fhir_release, load_store
from imgfhir.validation import limits
from imgfhir.validation.limits import IssueLimits

if TYPE_CHECKING:
    from imgfhir.terminology import Terminology
    from imgfhir.validation.model import ElementPlan, Rule
    from imgfhir.xml.load import XmlScopes

AMBIGUOUS = "fhir-version"  # the rule of the notice that no release could be told from the resource
_RELEASE_ALIASES = {"R4": "R4", "R5": "R5", "4.0.1": "R4", "4.0": "R4", "5.0.0": "R5", "5.0": "R5"}


class Validator:
    """Holds the package store and the compiled plans; reuse one for many resources."""

    def __init__(
        self,
        store: PackageStore | None = None,
        *,
        packages: list[str] | None = None,
        rules: list[Rule] | None = None,
        plugins: bool = False,
        extension_domains: Iterable[str] = (),
        best_practice: str = "warning",
        issue_limits: IssueLimits | None = None,
        fhirpath_budget: Budget | None = None,
    ) -> None:
        """`extension_domains`: URL prefixes whose extensions may be used without a definition (then
        information, not an error), as the reference validator's `-extension`; `any` allows all.
        `best_practice`: how best-practice invariants (dom-6, ...) are reported: ignore, hint
        (information), warning (the reference validator's default) or error.
        `issue_limits`: how many issues a resource (and the run: this validator until `new_run()`)
        reports, see `limits.IssueLimits`; `fhirpath_budget`: the steps and time each FHIRPath
        evaluation and each resource's evaluations may take (`imgfhir.fhirpath.budget.Budget`); an
        invariant over budget is reported as not evaluated."""
        import imgfhir.validation.rules  # noqa: F401 - registers the built-in rules

        self.store = store if store is not None else load_store(extra=list(packages or []))
        self.known: dict[str, dict[str, dict[str, Any]]] = {}  # release → `Type/id` → resource
        self.known_ids: set[int] = set()
        # (id of a known resource, profiles) → conforms: stays valid while the resource is known
        self.known_conformance: dict[tuple[int, tuple[str, ...]], bool] = {}
        # rules beyond the built-in table (plugins, callers): applied on top of every compiled plan
        self.extra_rules: list[Rule] = list(rules or [])
        # problems with the setup itself (a broken plugin), reported with every outcome
        self.diagnostics: list[Issue] = []
        if plugins:
            from imgfhir.validation.plugins import load_plugin_rules

            found = load_plugin_rules()
            self.extra_rules.extend(found)
            self.diagnostics.extend(found.warnings)
        self._extra_by_element: dict[int, tuple[list[Rule], list[Rule]]] = {}
        self.extension_domains = tuple(extension_domains)
        from imgfhir.validation.rules.invariants import BEST_PRACTICE_LEVELS

        if best_practice not in BEST_PRACTICE_LEVELS:
            raise ValueError(f"best_practice must be one of {', '.join(BEST_PRACTICE_LEVELS)}, not {best_practice!r}")
        self.best_practice = best_practice
        self.issue_limits = issue_limits or IssueLimits()
        self.fhirpath_budget = fhirpath_budget
        self.issues_reported = 0  # in this run, against issue_limits.per_run

    def new_run(self) -> None:
        """Start counting issues against `issue_limits.per_run` afresh."""
        self.issues_reported = 0

    def extra_rules_for(self, element: ElementPlan) -> tuple[list[Rule], list[Rule]]:
        """(item rules, group rules) of `extra_rules` that apply to `element`, decided once per element."""
        found = self._extra_by_element.get(id(element))
        if found is None:
            applicable = [r for r in self.extra_rules if r.applies(element)]
            found = (
                [r for r in applicable if r.kind == "item"],
                [r for r in applicable if r.kind == "group"],
            )
            self._extra_by_element[id(element)] = found
        return found

    def add_resources(self, resources: Any, *, fhir_version: str | None = None) -> None:
        """Resources that references may resolve to (e.g. an IG's other examples, a server's
        content), by `Type/id`, like the reference validator's loaded examples. Each is filed under the
        FHIR release it is validated in (`fhir_version`, else as `validate` works it out): a reference
        never resolves to a resource of the other release."""
        for res in resources:
            if isinstance(res, dict) and isinstance(res.get("resourceType"), str) and isinstance(res.get("id"), str):
                scope, _ = self.scope_for(res, [], fhir_version)
                if scope is not None:
                    self.known.setdefault(scope.release, {})[f"{res['resourceType']}/{res['id']}"] = res
        self.known_ids = {id(r) for by_type in self.known.values() for r in by_type.values()}
        self.known_conformance.clear()

    def validate(
        self, resource: Any, profile: str | list[str] | None = None, *, fhir_version: str | None = None
    ) -> Outcome:
        """Never raises: bad input and internal errors become fatal/error issues."""
        from imgfhir.validation.source import load, with_positions

        outcome = Outcome()
        try:
            if isinstance(resource, dict):
                resource, problem = self._as_tree(resource)
                if problem is not None:
                    outcome.issues.append(problem)
                    return outcome
            xml = None if isinstance(resource, dict) else self._xml_scopes(profile, fhir_version)
            loaded = load(resource, xml=xml)
            cap = self.issue_limits.per_resource
            read = limits.capped(loaded.issues, cap, "issues per resource (IssueLimits.per_resource)")
            if loaded.resource is None:
                outcome.extend(read)
                return self._limited(outcome)
            issues, outcome.checked = self._validate(loaded.resource, _as_list(profile), fhir_version)
            if loaded.positions is not None:  # XML: its own issues first, positions from the reader
                from imgfhir.xml.load import without_xml_duplicates

                issues = without_xml_duplicates(loaded.issues, issues)
                outcome.extend(with_positions(read + issues, "", lookup=loaded.positions))
            else:
                outcome.extend(read)  # the JSON text's own errors (duplicate keys, comments) first
                outcome.extend(with_positions(issues, loaded.text) if loaded.text is not None else issues)
        except RecursionError:
            outcome.issues.append(Issue("fatal", "too-costly", "resource nested too deeply to validate"))
        except Exception as exc:  # noqa: BLE001 - the contract is an outcome, never a traceback
            outcome.issues.append(Issue("fatal", "exception", f"internal error: {type(exc).__name__}: {exc}"))
        return self._limited(outcome)

    def _as_tree(self, res: dict[str, Any]) -> tuple[dict[str, Any], Issue | None]:
        """A dict that shares sub-objects is validated as its tree copy, or refused when it is cyclic or its
        copy would be huge (walked as a tree, such a graph costs exponential time or never ends)."""
        if not limits.shares_objects(res):
            return res, None
        problem = limits.tree_problem(res, self.issue_limits.tree_nodes)
        if problem is None:
            return limits.tree_copy(res), None
        message = f"the input is not a JSON document: it {problem}"
        return res, Issue("fatal", "too-costly", message, rule="json")

    def _limited(self, outcome: Outcome) -> Outcome:
        """The outcome within the run's cap, with messages and locations cut to a readable length."""
        issues = limits.shortened(outcome.issues, self.issue_limits)
        per_run = self.issue_limits.per_run
        if per_run is not None:
            left = max(per_run - self.issues_reported, 0)
            self.issues_reported += min(len(issues), left)
            issues = limits.capped(issues, left, "issues per run (IssueLimits.per_run)")
        outcome.issues = issues
        return outcome

    def _xml_scopes(self, profile: str | list[str] | None, fhir_version: str | None) -> XmlScopes:
        """How XML input is read: by the definitions of the scope it will be validated in."""
        from imgfhir.xml.load import XmlScopes

        return XmlScopes(self.store, fhir_version, _as_list(profile))

    def _validate(
        self, res: dict[str, Any], profiles: list[str], fhir_version: str | None
    ) -> tuple[list[Issue], list[str]]:
        """The issues, and the definitions (`url|version`) the resource was validated against."""
        from imgfhir.validation.context import Context
        from imgfhir.validation.engine import check_resource
        from imgfhir.validation.model import Item

        scope, problems = self.scope_for(res, profiles, fhir_version)
        if scope is None:
            return problems, []
        checked = checked_against(scope, res, profiles)
        rt = str(res.get("resourceType"))
        item = Item(res, rt, (), rt)
        known = self.known.get(scope.release, {})
        ctx = Context(self, scope, scope.release, res, res, item, entries=_bundle_index(res), known=known)
        cap = self.issue_limits.per_resource
        with limits.metered(ctx, self.issue_limits) as meter, fhirpath_scope(self.fhirpath_budget):
            try:
                found = list(check_resource(ctx, item, profiles))
            except limits.IssueFlood:
                assert meter is not None and cap is not None
                first = _dedupe(self.diagnostics + problems + meter.first)[:cap]
                return [*first, limits.stop_notice(meter)], checked
        issues = _dedupe(self.diagnostics + problems + found)
        return limits.capped(issues, cap, "issues per resource (IssueLimits.per_resource)"), checked

    def scope_for(
        self, res: dict[str, Any], profiles: list[str], fhir_version: str | None
    ) -> tuple[Scope | None, list[Issue]]:
        """The scope to validate in: the package of the profile asked for, else a declared one, else the release."""
        release = _RELEASE_ALIASES.get(fhir_version or "", fhir_release(fhir_version) if fhir_version else None)
        for url in profiles:
            try:
                return self._explicit_scope(url, release)
            except UnknownCanonical as exc:
                if release is not None:
                    try:
                        other = self.store.scope_for_canonical(url).release
                    except UnknownCanonical:
                        other = None
                    if other is not None:
                        message = f"profile {url} is defined for FHIR {other}, not FHIR {release}"
                        return None, [Issue("error", "not-supported", message, rule="profile")]
                return None, [Issue("error", "not-found", f"unknown profile: {exc}", rule="profile")]
        meta = res.get("meta")
        declared = meta.get("profile") if isinstance(meta, dict) else None
        for url in declared if isinstance(declared, list) else []:
            if isinstance(url, str):
                try:
                    return self.store.scope_for_canonical(url, release), []
                except UnknownCanonical:
                    continue
        if release is None:
            from imgfhir.validation.release import detect_release

            detected = detect_release(self.store, res)
            if detected.release is not None:
                return self.store.scope(release=detected.release), []
            release = "R4" if "R4" in self.store.releases() else self.store.releases()[0]
            message = f"no FHIR version given and {detected.reason}: validating as FHIR {release}"
            return self.store.scope(release=release), [Issue("information", "informational", message, rule=AMBIGUOUS)]
        if release not in self.store.releases():
            return None, [Issue("error", "not-supported", f"no packages for FHIR {release} are loaded")]
        return self.store.scope(release=release), []

    def _explicit_scope(self, url: str, release: str | None) -> tuple[Scope | None, list[Issue]]:
        """The scope of a profile asked for by the caller. A `|version` that is not loaded is an error
        (the reference validator cannot resolve the profile and stops, ValidationEngine.validate), not
        a quiet fall-back to another version."""
        from imgfhir.validation.plan import loaded_entry, loaded_versions

        scope = self.store.scope_for_canonical(url, release)
        if "|" in url and loaded_entry(scope, url) is None:
            versions = ", ".join(loaded_versions(scope, url)) or "none"
            message = f"unknown profile {url}: that version is not loaded (loaded versions: {versions})"
            return None, [Issue("error", "not-found", message, rule="profile")]
        return scope, []

    def terminology(self, scope: Scope) -> Terminology:
        from imgfhir.terminology import Terminology

        term = scope.memo.get("terminology")
        if not isinstance(term, Terminology):
            term = scope.memo["terminology"] = Terminology(scope)
        return term


def checked_against(scope: Scope, res: dict[str, Any], profiles: list[str]) -> list[str]:
    """`url|version` of each definition a resource is validated against, in the order the engine takes
    them (engine.check_resource): its base definition, the loaded ones of its meta.profile, `profiles`."""
    from imgfhir.validation.plan import FHIR_SD, loaded_entry

    rt = res.get("resourceType")
    meta = res.get("meta")
    declared = meta.get("profile") if isinstance(meta, dict) else None
    urls = [FHIR_SD + str(rt), *(u for u in declared if isinstance(u, str))] if isinstance(declared, list) else []
    urls = urls or [FHIR_SD + str(rt)]
    found: list[str] = []
    for url in dict.fromkeys([*urls, *profiles]):
        hit = loaded_entry(scope, url)
        if hit is not None:
            version = hit[1].version
            label = url.split("|", 1)[0] + (f"|{version}" if version else "")
            found.append(label)
    return list(dict.fromkeys(found))


def _as_list(profile: str | list[str] | None) -> list[str]:
    if profile is None:
        return []
    return [profile] if isinstance(profile, str) else list(profile)


def _bundle_index(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """fullUrl and `Type/id` → entry resource of a Bundle (the Bundle rules' index, as resources)."""
    from imgfhir.validation.rules.bundles import BundleIndex

    if res.get("resourceType") != "Bundle" or not isinstance(res.get("entry"), list):
        return {}
    index = BundleIndex.of(res)
    entries = res["entry"]
    found: dict[str, dict[str, Any]] = {}
    for key, at in [*index.type_ids.items(), *index.full_urls.items()]:
        target = entries[at].get("resource") if isinstance(entries[at], dict) else None
        if isinstance(target, dict):
            found[key] = target
    return found


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen: set[tuple[Any, ...]] = set()
    out: list[Issue] = []
    for i in issues:
        key = (i.severity, i.expression, i.message)
        if key not in seen:
            seen.add(key)
            out.append(i)
    return out


def validate(
    resource: Any,
    profile: str | list[str] | None = None,
    *,
    fhir_version: str | None = None,
    packages: list[str] | None = None,
    extension_domains: Iterable[str] = (),
) -> Outcome:
    """Validate `resource` (dict, JSON text/bytes, or a path) offline; see Validator.validate
    (and Validator for `extension_domains`)."""
    key = (tuple(str(p) for p in packages or ()), tuple(extension_domains))
    validator = _VALIDATORS.get(key)
    if validator is None:
        try:
            validator = _VALIDATORS[key] = Validator(packages=list(key[0]), extension_domains=key[1])
        except PackageError as exc:
            return Outcome([Issue("fatal", "not-found", str(exc), rule="package")])
    return validator.validate(resource, profile, fhir_version=fhir_version)


_VALIDATORS: dict[tuple[tuple[str, ...], tuple[str, ...]], Validator] = {}
