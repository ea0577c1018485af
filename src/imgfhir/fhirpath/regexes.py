"""FHIRPath's regex functions (`matches`, `matchesFull`, `replaceMatches`) with a time limit.

Python's `re` backtracks without bound: `'aaaa…a!'.matches('^(a+)+$')` takes minutes at 34 characters,
and the pattern comes from a profile. The `regex` module (mrab-regex) keeps `re`'s syntax and
semantics (its default VERSION0 mode is `re`-compatible, so the FHIRPath suites read the same) and
takes a `timeout`: matching stops when the evaluation's time budget runs out. RE2 (google-re2) would
rule out backtracking altogether, but it has no lookaround and no backreferences, which FHIR
regexes may use, and it differs from `re` on some classes; a time limit bounds the same attacks
without changing what any pattern means.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any

import regex

from imgfhir.fhirpath.budget import Exhausted, Meter

_ensure_string_singleton: Any = importlib.import_module("fhirpathpy.engine.invocations.strings").ensure_string_singleton

_DOTALL = regex.DOTALL | regex.VERSION0
_PLAIN = regex.VERSION0
_GROUP_REF = regex.compile(r"\$(\d+)")


@lru_cache(maxsize=1024)
def _compiled(pattern: str, flags: int) -> regex.Pattern[str]:
    return regex.compile(pattern, flags)


def _timeout(ctx: dict[str, Any]) -> float | None:
    m: Meter | None = ctx.get("imgfhir_meter") if isinstance(ctx, dict) else None
    return None if m is None else m.seconds_left()


def _run(what: str, call: Any) -> Any:
    try:
        return call()
    except TimeoutError:
        raise Exhausted(f"{what} ran out of time") from None


def search(ctx: dict[str, Any], pattern: str, text: str) -> bool:
    """The regex matches somewhere in `text` (`.` matches newlines, as fhirpathpy's `matches`)."""
    found = _run("matches()", lambda: _compiled(pattern, _DOTALL).search(text, timeout=_timeout(ctx)))
    return found is not None


def fullmatch(ctx: dict[str, Any], pattern: str, text: str) -> bool:
    found = _run("matchesFull()", lambda: _compiled(pattern, _DOTALL).fullmatch(text, timeout=_timeout(ctx)))
    return found is not None


def sub(ctx: dict[str, Any], pattern: str, substitution: str, text: str) -> str:
    """`replaceMatches`: `$1` in the substitution names a group."""
    template = _GROUP_REF.sub(r"\\\1", substitution)
    compiled = _compiled(pattern, _PLAIN)
    result: str = _run("replaceMatches()", lambda: compiled.sub(template, text, timeout=_timeout(ctx)))
    return result


def matches(ctx: dict[str, Any], coll: list[Any], pattern: Any) -> Any:
    """fhirpathpy's `matches` (its input checks and messages), on the timed engine."""
    if not pattern or not coll:
        return []
    return search(ctx, str(pattern), _ensure_string_singleton(coll))
