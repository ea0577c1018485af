"""The hypothesis strategies (`from_profile`, `mutations`) and the runs built on them:
`example_instances` (`imgfhir example`) and `fuzz` (`imgfhir fuzz`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from imgfhir.packages import PackageStore
from imgfhir.strategies.builder import ProfileBuilder, builder_for
from imgfhir.strategies.bundles import build_resource
from imgfhir.strategies.model import MUTATION_KINDS, Draw, ExpectedIssue, Site
from imgfhir.strategies.mutants import apply_mutation
from imgfhir.strategies.places import candidates, entry_verdict


def with_sites(builder: ProfileBuilder) -> st.SearchStrategy[tuple[dict[str, Any], list[Site]]]:
    """Instances of the builder's profile, each with the sites of the values it was built from."""

    @st.composite
    def build(draw: Callable[[st.SearchStrategy[Any]], Any]) -> tuple[dict[str, Any], list[Site]]:
        d = Draw(draw)
        draw(st.just(None))  # a fully determined profile draws nothing else (hypothesis warns on that)
        return build_resource(builder, d), d.sites

    return build()


def from_profile(
    canonical: str, *, store: PackageStore | None = None, release: str | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Instances of the profile `canonical` (a StructureDefinition in `store`), valid by construction."""
    builder = builder_for(canonical, store=store, release=release)
    return with_sites(builder).map(lambda pair: pair[0])


def mutations(
    canonical: str,
    *,
    store: PackageStore | None = None,
    release: str | None = None,
    kinds: tuple[str, ...] = MUTATION_KINDS,
) -> st.SearchStrategy[tuple[dict[str, Any], ExpectedIssue]]:
    """(mutant, expected issue) pairs: a generated instance broken in one targeted place.

    Draws that offer no place for any of `kinds` are rejected (`hypothesis.reject`)."""
    from hypothesis import reject

    builder = builder_for(canonical, store=store, release=release)

    @st.composite
    def mutate(draw: Callable[[st.SearchStrategy[Any]], Any]) -> tuple[dict[str, Any], ExpectedIssue]:
        instance, sites = draw(with_sites(builder))
        options = {k: c for k in kinds if (c := candidates(k, sites, builder, instance))}
        if not options:
            reject()
        kind = draw(st.sampled_from(sorted(options)))
        site = draw(st.sampled_from(options[kind]))
        mutant, expected = apply_mutation(builder, instance, kind, site, Draw(draw))
        if entry_verdict(builder, kind, site, sites, instance) == "slice":
            change = f"{expected.change}: the entry no longer conforms to its slice's profile"
            expected = ExpectedIssue(kind, "cardinality", "Bundle", change)
        return mutant, expected

    return mutate()


def _run(strategy: st.SearchStrategy[Any], n: int, seed: int, body: Callable[[Any], None]) -> None:
    """Feed `n` draws of `strategy` to `body`, reproducibly for `seed` (no shrinking, no database)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as with_seed

    @with_seed(seed)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    @given(strategy)
    def run(value: Any) -> None:
        body(value)

    run()


def example_instances(
    canonical: str, n: int, seed: int = 0, *, store: PackageStore | None = None, release: str | None = None
) -> list[dict[str, Any]]:
    """`n` generated instances of `canonical`, reproducible for a given seed (`imgfhir example`)."""
    found: list[dict[str, Any]] = []
    drawn = [0]

    def keep(instance: dict[str, Any]) -> None:
        drawn[0] += 1
        if drawn[0] > 1 and len(found) < n:  # the first draw is always hypothesis's simplest instance
            found.append(instance)

    strategy = from_profile(canonical, store=store, release=release)
    while len(found) < n:
        before = len(found)
        _run(strategy, n - len(found) + 1, seed + before, keep)
        if len(found) == before:
            break
    return found[:n]


@dataclass
class FuzzReport:
    """What `fuzz` found for one profile: valid instances, and mutants caught or missed, by kind."""

    canonical: str
    examples: int = 0
    invalid: list[tuple[dict[str, Any], list[str]]] = field(default_factory=list)
    caught: dict[str, int] = field(default_factory=dict)
    missed: dict[str, list[tuple[ExpectedIssue, dict[str, Any]]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.invalid and not any(self.missed.values())


def fuzz(
    canonical: str,
    max_examples: int = 100,
    seed: int = 0,
    *,
    store: PackageStore | None = None,
    release: str | None = None,
) -> FuzzReport:
    """Generate instances of `canonical` and mutants of them, validate each, and count the outcomes."""
    from hypothesis.errors import Unsatisfiable

    from imgfhir.validation import Validator

    builder = builder_for(canonical, store=store, release=release)
    validator = Validator(builder.store)
    report = FuzzReport(builder.canonical)

    def errors(instance: dict[str, Any]) -> list[tuple[str | None, str | None, str]]:
        outcome = validator.validate(instance, builder.canonical, fhir_version=builder.release)
        return [(i.rule, i.expression, i.message) for i in outcome.issues if i.severity in ("error", "fatal")]

    def valid(instance: dict[str, Any]) -> None:
        report.examples += 1
        found = errors(instance)
        if found:
            report.invalid.append((instance, [f"{r} at {e}: {m}" for r, e, m in found]))

    def mutant(pair: tuple[dict[str, Any], ExpectedIssue]) -> None:
        instance, expected = pair
        if any((r, e) == (expected.rule, expected.expression) for r, e, _ in errors(instance)):
            report.caught[expected.kind] = report.caught.get(expected.kind, 0) + 1
        else:
            report.missed.setdefault(expected.kind, []).append((expected, instance))

    _run(from_profile(canonical, store=builder.store, release=release), max_examples, seed, valid)
    for kind in _offered(builder, seed):
        with contextlib.suppress(Unsatisfiable):  # no place for this kind in this profile's instances
            _run(mutations(canonical, store=builder.store, release=release, kinds=(kind,)), max_examples, seed, mutant)
    return report


def _offered(builder: ProfileBuilder, seed: int) -> list[str]:
    """The mutation kinds with a place in a sample of instances: the others are not tried, as hypothesis
    would draw hundreds of instances before giving up on each (half a minute apiece for a document Bundle)."""
    offered: set[str] = set()

    def probe(pair: tuple[dict[str, Any], list[Site]]) -> None:
        offered.update(k for k in MUTATION_KINDS if k not in offered and candidates(k, pair[1], builder, pair[0]))

    _run(with_sites(builder), 25, seed, probe)
    return [k for k in MUTATION_KINDS if k in offered]
