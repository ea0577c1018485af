"""The built-in rules; importing this package registers them in `imgfhir.validation.model.RULES`."""

from imgfhir.validation.rules import (
    additional_bindings,
    bindings,
    bundle_links,
    bundles,
    cardinality,
    datatypes,
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
    "additional_bindings",
    "bindings",
    "bundle_links",
    "bundles",
    "cardinality",
    "datatypes",
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
