"""min/max of every element, counted per parent (slices are counted by the slicing rule)."""

from __future__ import annotations

from collections.abc import Iterator

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule


def _bounded(element: ElementPlan) -> bool:
    return element.min > 0 or element.max is not None


def cardinality_issues(element: ElementPlan, parent: Item, count: int, what: str) -> Iterator[Issue]:
    if count < element.min:
        message = f"{what}: minimum required = {element.min}, but only found {count}"
        yield issue("error", "required", message, Item(None, f"{parent.expression}", parent.pointer), "cardinality")
    if element.max is not None and count > element.max:
        message = f"{what}: maximum allowed = {element.max}, but found {count}"
        yield issue("error", "structure", message, Item(None, f"{parent.expression}", parent.pointer), "cardinality")


@rule("cardinality", "group", applies=_bounded, absent=lambda element: element.min > 0)
def cardinality(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    count = len(ctx.group)
    if count >= element.min and (element.max is None or count <= element.max):
        return iter(())  # the usual case, without a generator
    return cardinality_issues(element, item, count, element.path)
