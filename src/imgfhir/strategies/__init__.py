"""Hypothesis strategies built from profiles: valid instances, and mutants the validator must catch.

`from_profile(canonical)` walks the compiled plan of a profile (`imgfhir.validation.plan`) and
constructs instances that meet it: cardinality (optional elements mostly omitted, bounded
depth), choice types, primitive lexical forms, fixed and pattern values, slices (each slice is
generated from its own definition, so value/pattern/type/exists discriminators hold by
construction), required and extensible bindings drawn from the offline expansion, and literal
references typed by the element's target profiles. Nothing is filtered.

A Bundle profile's entries are built from its entry slices, each from the slice's profile, and every
reference inside names an entry whose type and profile meet the reference's target profiles (an entry
is added from a target profile when none does): the EU imaging report document and its minimal
metadata collection validate as they are, with unique urn:uuid fullUrls.

`mutations(canonical)` draws a valid instance and breaks it in one targeted place, returning the
mutant and the issue (rule, FHIRPath location) the validator must report.

The modules, one idea each: `instances` (the walk: objects, occurrences, choices, values),
`primitives` (lexical forms, codes, bounds), `slices` (discriminators), `invariants` (constraint shapes
met by construction), `references` and `bundles` (targets, entries, documents), `places` and `mutants`
(where each kind of mutant applies, and how), `run` (the strategies, `example_instances`, `fuzz`).
"""

from __future__ import annotations

from imgfhir.strategies.builder import ProfileBuilder, builder_for
from imgfhir.strategies.model import MUTATION_KINDS, ExpectedIssue, Site
from imgfhir.strategies.mutants import apply_mutation
from imgfhir.strategies.places import candidates
from imgfhir.strategies.run import FuzzReport, example_instances, from_profile, fuzz, mutations

__all__ = [
    "MUTATION_KINDS",
    "ExpectedIssue",
    "FuzzReport",
    "ProfileBuilder",
    "Site",
    "apply_mutation",
    "builder_for",
    "candidates",
    "example_instances",
    "from_profile",
    "fuzz",
    "mutations",
]
