"""The built-in rules; importing this package registers them in `imgfhir.validation.model.RULES`."""

from imgfhir.validation.rules import (
    bindings,
    bundle_links,
    bundles,
    cardinality,
    extensions,
    invariants,
    narrative,
    primitives,
    ranges,
    references,
    resource_ids,
    slicing,
    structure,
    values,
)

__all__ = [
    "bindings",
    "bundle_links",
    "bundles",
    "cardinality",
    "extensions",
    "invariants",
    "narrative",
    "primitives",
    "ranges",
    "references",
    "resource_ids",
    "slicing",
    "structure",
    "values",
]
