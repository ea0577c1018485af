"""The built-in rules; importing this package registers them in `imgfhir.validation.model.RULES`."""

from imgfhir.validation.rules import (
    bindings,
    bundles,
    cardinality,
    datatypes,
    extensions,
    invariants,
    narrative,
    primitives,
    ranges,
    references,
    slicing,
    structure,
    values,
)

__all__ = [
    "bindings",
    "bundles",
    "cardinality",
    "datatypes",
    "extensions",
    "invariants",
    "narrative",
    "primitives",
    "ranges",
    "references",
    "slicing",
    "structure",
    "values",
]
