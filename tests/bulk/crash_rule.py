"""A rule that misbehaves on purpose, for the worker-crash tests: it kills the process validating
a resource whose id is `crash-worker` (as a segfault or the out-of-memory killer would) and raises
on `raise-error`. Imported by name in the worker processes (`Job(rules=...)`)."""

from __future__ import annotations

import os
from collections.abc import Iterator

from imgfhir.bulk.check import Checked
from imgfhir.bulk.reader import Record
from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item
from imgfhir.validation.plugins import for_resources

CRASH_ID = "crash-worker"
RAISE_ID = "raise-error"


def _misbehave(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    value = item.value if isinstance(item.value, dict) else {}
    if value.get("id") == CRASH_ID:
        os._exit(70)
    if value.get("id") == RAISE_ID:
        raise RuntimeError("this rule fails on purpose")
    return iter(())


RULES = [for_resources("misbehave", _misbehave)]
SPEC = f"{__name__}:RULES"


# -- a stand-in for the validator, for fast pool tests (no package store in the workers) ---------


def fake_init(job: object) -> None:
    """Nothing to set up."""


def fake_work(chunk: list[Record]) -> list[Checked]:
    """Echo each record as one information issue; die on `crash`, as a worker crash does."""
    out: list[Checked] = []
    for record in chunk:
        if record.data == b"crash":
            os._exit(70)
        out.append(Checked(record.label, [Issue("information", "informational", (record.data or b"").decode())]))
    return out
