"""FHIRPath invariants (ElementDefinition.constraint), compiled once per element and evaluated per value."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from imgfhir.fhirpath.errors import FhirPathError
from imgfhir.outcome import Issue, Severity
from imgfhir.validation.context import Context
from imgfhir.validation.engine import conforms
from imgfhir.validation.model import ElementPlan, Item, issue, rule
from imgfhir.validation.rules.references import resolve_reference
from imgfhir.validation.shortcuts import Shortcut, shortcut

if TYPE_CHECKING:
    from imgfhir.fhirpath import CompiledExpression

# checked natively, with the same meaning, by the json-shape and extension rules
# (txt-1/txt-2, htmlChecks(), by the narrative rule, which says what is wrong; per-1 by the datatypes
# rule, at the precision the reference compares)
NATIVE = frozenset({"ele-1", "ext-1", "txt-1", "txt-2", "per-1"})
BEST_PRACTICE = "http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice"
# how a best-practice invariant (dom-6, ...) is reported, as the reference validator's -best-practice
# option (BestPracticeWarningLevel: Ignore, Hint, Warning, Error; default Warning)
BEST_PRACTICE_LEVELS: dict[str, Severity | None] = {
    "ignore": None,
    "hint": "information",
    "warning": "warning",
    "error": "error",
}


def _shortcut(expression: str) -> Shortcut | None:
    return shortcut(expression)


# the function names the reference's FHIRPath parser knows (fhirpath/ExpressionNode.Function.fromCode), the
# FHIR-specific ones (FHIRPath in FHIR: the validator's host services) and those FHIRPath 3.0 adds: a name
# outside these does not parse there (FHIRPathEngine: "not a valid function name")
KNOWN_FUNCTIONS = frozenset(
    {
        "empty", "not", "exists", "subsetOf", "supersetOf", "isDistinct", "distinct", "count", "where",
        "select", "all", "repeat", "aggregate", "item", "as", "is", "single", "first", "last", "tail", "skip",
        "take", "union", "combine", "intersect", "exclude", "iif", "upper", "lower", "toChars", "indexOf",
        "substring", "startsWith", "endsWith", "matches", "matchesFull", "replaceMatches", "contains",
        "replace", "length", "children", "descendants", "memberOf", "trace", "defineVariable", "check", "today",
        "now", "resolve", "extension", "allFalse", "anyFalse", "allTrue", "anyTrue", "hasValue", "htmlChecks",
        "htmlchecks", "htmlChecks2", "comparable", "encode", "decode", "escape", "unescape", "trim", "split",
        "join", "ofType", "type", "toInteger", "toDecimal", "toString", "toQuantity", "toBoolean", "toDateTime",
        "toTime", "convertsToInteger", "convertsToDecimal", "convertsToString", "convertsToQuantity",
        "convertsToBoolean", "convertsToDateTime", "convertsToDate", "convertsToTime", "conformsTo", "round",
        "sqrt", "abs", "ceiling", "exp", "floor", "ln", "log", "power", "truncate", "sort", "coalesce",
        "lowBoundary", "highBoundary", "precision", "hasTemplateIdOf", "getValue", "elementDefinition", "slice",
        "checkModifiers", "subsumes", "subsumedBy", "getResourceKey", "getReferenceKey", "lastIndexOf",
        "repeatAll", "toDate", "toLong", "convertsToLong", "timeOfDay", "yearOf", "monthOf", "dayOf", "hourOf",
        "minuteOf", "secondOf", "millisecondOf", "timezoneOffsetOf", "dateOf", "timeOf", "duration",
        "difference",
    }
)
# the operators that read like a call where a parenthesis follows them: `x in ('a' | 'b')`
_OPERATORS = frozenset({"and", "or", "xor", "implies", "in", "contains", "div", "mod", "is", "as"})
# the terminology functions of %terminologies, which imgfhir's engine also has (named here: importing the
# engine's table would load fhirpathpy for every validation)
_TERMINOLOGY = frozenset({"expand", "lookup", "validateVS", "validateCS", "translate"})
_ALLOWED = KNOWN_FUNCTIONS | _OPERATORS | _TERMINOLOGY
_STRINGS = re.compile(r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`")
_CALLS = re.compile(r"(?<![\w%$])([A-Za-z_]\w*)\s*\(")


@lru_cache(maxsize=8192)
def unknown_functions(expression: str) -> tuple[str, ...]:
    """The functions `expression` calls that no FHIRPath engine of the reference knows (string literals and
    delimited names left out)."""
    calls = _CALLS.findall(_STRINGS.sub("''", expression))
    return tuple(sorted({c for c in calls if c not in _ALLOWED}))


@dataclass(frozen=True, slots=True)
class Invariant:
    key: str
    severity: Severity
    human: str
    expression: str
    release: str
    shortcut: Shortcut | None
    best_practice: bool = False
    unknown: tuple[str, ...] = ()  # functions the reference's parser refuses (unknown_functions)


def _is_best_practice(constraint: dict[str, Any]) -> bool:
    return any(
        isinstance(e, dict) and e.get("url") == BEST_PRACTICE and e.get("valueBoolean") is True
        for e in constraint.get("extension", ())
    )


@lru_cache(maxsize=8192)
def _engine(expression: str, release: str) -> tuple[CompiledExpression | None, str | None]:
    """The compiled expression, or why it cannot be compiled; once per expression, and only when a
    shortcut cannot answer (most core invariants never reach the engine)."""
    from imgfhir.fhirpath import compile

    try:
        return compile(expression, release), None
    except (FhirPathError, ValueError) as exc:
        return None, str(exc)


def _constraints(element: ElementPlan) -> list[dict[str, Any]]:
    return [
        c
        for c in element.ed.get("constraint", ())
        if isinstance(c, dict) and c.get("key") not in NATIVE and isinstance(c.get("expression"), str)
    ]


def _compiled(element: ElementPlan) -> tuple[list[Invariant], list[Invariant]]:
    """The element's invariants, and those its twin does not evaluate on the same values (a profile
    that adds one constraint leaves the base resource's own to the base pass)."""
    cached: tuple[list[Invariant], list[Invariant]] | None = element.memo.get("invariants")
    if cached is None:
        every: list[Invariant] = []
        for c in _constraints(element):
            expression = str(c["expression"])
            severity: Severity = "warning" if c.get("severity") == "warning" else "error"
            human = str(c.get("human", ""))
            key = str(c.get("key"))
            shortcut = _shortcut(expression)
            practice = _is_best_practice(c)
            unknown = unknown_functions(expression)
            every.append(Invariant(key, severity, human, expression, element.fhir_release, shortcut, practice, unknown))
        twin = element.twin
        theirs = {(i.key, i.severity, i.human, i.expression) for i in (_compiled(twin)[0] if twin else ())}
        own = [i for i in every if (i.key, i.severity, i.human, i.expression) not in theirs]
        cached = element.memo["invariants"] = (every, own)
    return cached


def _context_type(element: ElementPlan, item: Item) -> str | None:
    t = item.type
    if t and t[:1].isupper() and t not in ("BackboneElement", "Element", "Resource", "DomainResource"):
        return t
    base = element.ed.get("base")
    return str(base.get("path")) if isinstance(base, dict) and "." in str(base.get("path")) else None


def member_of(ctx: Context, value: Any, value_set: Any) -> bool | None:
    """FHIRPath memberOf() over the offline terminology: a code, Coding or CodeableConcept."""
    if not isinstance(value_set, str):
        return None
    codings: list[tuple[str | None, str]] = []
    if isinstance(value, str):
        codings.append((None, value))
    elif isinstance(value, dict):
        for coding in value.get("coding", [value]) if isinstance(value.get("coding", [value]), list) else []:
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                codings.append((coding.get("system"), coding["code"]))
    verdicts = [ctx.terminology.validate_code(value_set, system, code).valid for system, code in codings]
    if any(v is True for v in verdicts):
        return True
    return False if verdicts and all(v is False for v in verdicts) else None


def _unchecked(inv: Invariant, item: Item, problem: str | None) -> Issue:
    """An invariant that cannot be evaluated. One that does not parse is an error, wherever its
    definition comes from, as in the reference (InstanceValidator.checkInvariant: fpe.parse fails →
    PROBLEM_PROCESSING_EXPRESSION__IN_PROFILE__PATH__, a rule; so does one calling a function the reference
    does not know, checked before evaluating); one that parses but needs what imgfhir's engine lacks (a
    function such as slice(), checkModifiers(), elementDefinition(), lastIndexOf(), repeatAll()) is
    information: imgfhir cannot tell, the reference can."""
    if _engine(inv.expression, inv.release)[0] is None:
        return _unparsable(inv, item, str(problem))
    return issue("information", "informational", f"{inv.key} not checked: {problem}", item, inv.key)


def _unparsable(inv: Invariant, item: Item, problem: str) -> Issue:
    message = f"{inv.key}: the constraint's FHIRPath does not parse: {problem} [{inv.expression}]"
    return issue("error", "invariant", message, item, inv.key)


def _failed(inv: Invariant, item: Item, severity: Severity) -> Issue:
    return issue(severity, "invariant", f"{inv.key}: {inv.human} [{inv.expression}]", item, inv.key)


@rule("invariant", applies=lambda e: bool(_constraints(e)), reads=("constraint", "base"))
def invariants(ctx: Context, element: ElementPlan, item: Item) -> Iterator[Issue]:
    if item.value is None:
        return
    every, own = _compiled(element)
    for inv in every if ctx.probing or ctx.extra else own:
        severity = BEST_PRACTICE_LEVELS[ctx.validator.best_practice] if inv.best_practice else inv.severity
        if severity is None:
            continue
        if inv.unknown:
            yield _unparsable(inv, item, f"it calls unknown functions ({', '.join(inv.unknown)})")
            continue
        verdict, problem = holds(
            ctx, inv.expression, inv.release, item.value, _context_type(element, item), inv.shortcut
        )
        if verdict is None:
            yield _unchecked(inv, item, problem)
        elif not verdict:
            yield _failed(inv, item, severity)


def holds(
    ctx: Context,
    expression: str,
    release: str,
    value: Any,
    context_type: str | None,
    fast: Shortcut | None = None,
) -> tuple[bool | None, str | None]:
    """Does the FHIRPath `expression` hold on `value` (a node of ctx.resource, or the resource)?
    True or False, or None with the reason it cannot be told. An empty result holds, as for
    constraints; `fast` is the expression's shortcut, when the caller has it at hand."""
    if fast is not None:
        verdict = fast(value)
        if verdict is not None:
            return verdict, None
    compiled, problem = _engine(expression, release)
    if compiled is None:
        return None, f"the expression cannot be compiled ({problem})"
    at_root = value is ctx.resource
    try:
        result = compiled.evaluate(
            ctx.resource,
            context_node=None if at_root else value,
            context_type=None if at_root else context_type,
            root_resource=ctx.root,
            env={
                "memberOf": lambda v, url: member_of(ctx, v, url),
                "conformsTo": lambda v, url: conforms(ctx, v, None, [url]),
            },
            resolver=lambda ref: resolve_reference(ctx, ref),
            lenient=True,  # as the reference validator: invariants use as() and in on collections
        )
    except (FhirPathError, RecursionError) as exc:
        return None, f"evaluation failed ({exc})"
    return not result or all(r is True for r in result), None
