"""fixed[x] (exact) and pattern[x] (partial) values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from imgfhir.outcome import Issue
from imgfhir.validation.context import Context
from imgfhir.validation.model import ElementPlan, Item, issue, rule


def json_of(item: Item) -> Any:
    """The item as FHIR JSON data, merging a primitive's value and its `_x` extras like the spec's model."""
    return item.value


def matches_pattern(pattern: Any, value: Any) -> bool:
    """Every property the pattern states is present with that value; arrays: each pattern entry matches one."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(k in value and matches_pattern(v, value[k]) for k, v in pattern.items())
    if isinstance(pattern, list):
        values = value if isinstance(value, list) else [value]
        return all(any(matches_pattern(p, v) for v in values) for p in pattern)
    return equal_values(pattern, value)


def equal_values(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return bool(a == b)


def matches_fixed(fixed: Any, value: Any) -> bool:
    if isinstance(fixed, dict):
        if not isinstance(value, dict):
            return False
        stripped = {k: v for k, v in value.items() if k != "id" and k != "extension"}
        return set(fixed) == set(stripped) and all(matches_fixed(v, stripped[k]) for k, v in fixed.items())
    if isinstance(fixed, list):
        return isinstance(value, list) and len(fixed) == len(value) and all(map(matches_fixed, fixed, value))
    return equal_values(fixed, value)


@rule("fixed", applies=lambda e: e.fixed is not None)
def fixed_value(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    assert element.fixed is not None
    key, expected = element.fixed
    if item.value is None:
        return  # a primitive with extensions only: cardinality/ele rules decide
    if not _same_as_fixed(expected, item.value):
        message = f"value must be exactly {_show(expected)} ({key}), found {_show(item.value)}"
        yield issue("error", "value", message, item, "fixed")
        return
    own = element.ed.get("_" + key)
    problem = fixed_extensions(expected, item.value, own, item.extras)
    if problem is not None:
        yield issue("error", "value", f"{problem} ({key})", item, "fixed-extension")


def _same_as_fixed(fixed: Any, value: Any) -> bool:
    """matches_fixed less the primitives' `_x` halves at every level (whose extensions
    fixed_extensions compares, as the reference does, after the values)."""
    if isinstance(fixed, dict):
        if not isinstance(value, dict):
            return False
        mine = {k: v for k, v in value.items() if k[:1] != "_" and k != "id" and k != "extension"}
        theirs = {k: v for k, v in fixed.items() if k[:1] != "_" and k != "extension"}
        return set(theirs) == set(mine) and all(_same_as_fixed(v, mine[k]) for k, v in theirs.items())
    if isinstance(fixed, list):
        return isinstance(value, list) and len(fixed) == len(value) and all(map(_same_as_fixed, fixed, value))
    return equal_values(fixed, value)


def fixed_extensions(fixed: Any, value: Any, fixed_extras: Any = None, extras: Any = None) -> str | None:
    """What is wrong with the extensions of a value that equals a fixed value, or None.

    The reference (InstanceValidator.checkFixedValue) compares the extensions at every level it
    compares: where the fixed value has none the value may have none (EXTENSION_EXT_FIXED_BANNED);
    where it has some the value has as many (EXTENSION_EXT_COUNT_MISMATCH), each fixed url among
    them (EXTENSION_EXT_COUNT_NOTFOUND). A pattern[x] allows extensions: this is for fixed[x] only.
    A primitive's extensions are in its `_x` half (`fixed_extras`, `extras`). The values of matching
    extensions are not compared: the reference compares them through a nested `extension` child, which
    a simple extension does not have."""
    if isinstance(fixed, dict) and isinstance(value, dict):
        problem = _extension_problem(fixed.get("extension"), value.get("extension"))
        if problem is not None:
            return problem
        for k, v in fixed.items():
            if k[:1] == "_" or k in ("id", "extension") or k not in value:
                continue
            problem = fixed_extensions(v, value[k], fixed.get("_" + k), value.get("_" + k))
            if problem is not None:
                return f"{k}: {problem}"
        return None
    if isinstance(fixed, list) and isinstance(value, list):
        fixed_x = fixed_extras if isinstance(fixed_extras, list) else []
        value_x = extras if isinstance(extras, list) else []
        for i, (f, v) in enumerate(zip(fixed, value, strict=False)):
            at = (fixed_x[i] if i < len(fixed_x) else None, value_x[i] if i < len(value_x) else None)
            problem = fixed_extensions(f, v, *at)
            if problem is not None:
                return f"[{i}]: {problem}"
        return None
    return _extension_problem(_extensions_of(fixed_extras), _extensions_of(extras))


def _extensions_of(extras: Any) -> Any:
    return extras.get("extension") if isinstance(extras, dict) else None


def _extension_problem(fixed: Any, found: Any) -> str | None:
    fixed_list = fixed if isinstance(fixed, list) else []
    found_list = found if isinstance(found, list) else []
    if not fixed_list:
        return "the fixed value has no extensions, so the value may have none" if found_list else None
    if len(found_list) != len(fixed_list):
        return f"the fixed value has {len(fixed_list)} extensions, the value {len(found_list)}"
    for ext in fixed_list:
        url = ext.get("url") if isinstance(ext, dict) else None
        if not any(isinstance(e, dict) and e.get("url") == url for e in found_list):
            return f"the fixed extension {url} is not present"
    return None


@rule("pattern", applies=lambda e: e.pattern is not None)
def pattern_value(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    assert element.pattern is not None
    key, expected = element.pattern
    if item.value is None:
        return
    if not matches_pattern(expected, item.value):
        message = f"value must match the pattern {_show(expected)} ({key}), found {_show(item.value)}"
        yield issue("error", "value", message, item, "pattern")


def _show(value: Any) -> str:
    import json

    # the stdlib encoder: instance values may be anything JSON allows, e.g. integers beyond 64 bits
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= 200 else text[:197] + "..."
