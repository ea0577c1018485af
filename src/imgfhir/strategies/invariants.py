"""Invariants met by construction: the shapes of FHIRPath constraints that say which children must or
must not be there, read once per element, and the steps that settle an object once its children exist.

Shapes read from `ElementDefinition.constraint` (error severity only):
- one of: `a.exists() or b.exists()` (and `(a.count() + b.count()) > 0`, org-1): force one of them;
- disjunction: `a.exists() or <other>` forces `a`; `a.empty() or <condition>` (obs-7) leaves the optional
  `a` out, or at a resource's root builds it and drops it when the built resource fails the condition;
- implication: `x implies <one of>` forces the consequent; `a.exists() implies <anything else>` leaves
  the optional `a` out;
- exclusive choice: `a.empty() or b.empty()`, `a.exists() implies b.empty()`: the optional one goes;
- forbidden value: `where(use = 'home').empty()` (org-3): the optional child goes when it has that code;
- required prefix: `startsWith('urn:uuid:')` (mhd-startswithuuid) on a primitive.
`xor` and other shapes are not constructed. Datatype invariants no shape states are met by the
named steps in SETTLE, each with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from imgfhir.strategies.model import Building, choice_key, keys_of, kid
from imgfhir.strategies.primitives import PRIMITIVES
from imgfhir.validation.model import ElementPlan
from imgfhir.validation.rules.bindings import QUANTITY_LIKE

if TYPE_CHECKING:
    from imgfhir.strategies.builder import ProfileBuilder

# optional elements left out: they take part in invariants that construction does not model
SKIP_OPTIONAL = frozenset({"dataAbsentReason", "extension", "modifierExtension", "id"})

_EXCLUSIVE = re.compile(r"^\(?\s*(\w+)\.(?:empty\(\)\s+or|exists\(\)\s+implies)\s+(\w+)\.empty\(\)\s*\)?$")
_ANTECEDENT = re.compile(r"^\(?\s*(\w+)\.exists\(\)\s*\)?\s+implies\s+")
_EXISTS_ONLY = re.compile(r"\(?\s*\w+\.exists\(\)(\s+or\s+\w+\.exists\(\))*\s*\)?")
_EMPTY_TERM = re.compile(r"(\w+)\.empty\(\)")
_EXISTS_TERM = re.compile(r"(\w+)\.(?:exists\(\)|empty\(\)\.not\(\))")
_STARTS_WITH = re.compile(r"(?:\$this\.)?startsWith\('([^']*)'\)")
_FORBIDDEN_VALUE = re.compile(r"^where\((\w+)\s*=\s*'([^']*)'\)\.empty\(\)$")
_COUNT_SUM = re.compile(r"\(?\s*\w+\.count\(\)(\s*\+\s*\w+\.count\(\))*\s*\)?\s*>\s*0")
_ONE_OF = re.compile(r"^\(?\s*\w+\.exists\(\)(\s+or\s+\w+\.exists\(\))*\s*\)?$")

DROP = "strategies:drop"  # element.memo: optional children left out for an invariant
DROP_UNLESS = "strategies:drop-unless"  # element.memo: child -> condition it is kept under (at the root)


# ---- shapes that force or leave out children -----------------------------------------------------


def invariant_children(
    builder: ProfileBuilder, element: ElementPlan, kids: dict[str, ElementPlan], entry: ElementPlan | None = None
) -> list[str]:
    """Children to force so that the `a.exists() or b.exists() ...` invariants of `element` hold (and
    those of its slicing `entry`: a profile's constraints on a sliced element bind every slice too)."""
    wanted: list[str] = []
    for c in _constraints(element, entry):
        names = _one_needed(element, kids, wanted, c)
        usable = [
            child
            for name in sorted(names, key=lambda n: n in SKIP_OPTIONAL)
            if (child := kid(kids, name)) is not None
            and child.max != 0
            and not builder.is_resource((child.type_codes or ("x",))[0])
        ]
        if usable and not any(u.name in wanted or u.min > 0 for u in usable):
            wanted.append(usable[0].name)
    return wanted


def _constraints(element: ElementPlan, entry: ElementPlan | None) -> list[dict[str, Any]]:
    constraints = list(element.ed.get("constraint", ()))
    if entry is not None and entry is not element:
        keys = {c.get("key") for c in constraints}
        constraints += [c for c in entry.ed.get("constraint", ()) if c.get("key") not in keys]
    return constraints


def _one_needed(element: ElementPlan, kids: dict[str, ElementPlan], wanted: list[str], c: dict[str, Any]) -> list[str]:
    """The children one of which constraint `c` needs (none: nothing to force; it may record children to
    leave out in the element's memo instead)."""
    expression = str(c.get("expression", ""))
    antecedent = None if _EXCLUSIVE.match(expression.strip()) else _ANTECEDENT.match(expression)
    if " implies " in expression:  # construct the consequent: (...) implies (a.exists() or ...)
        expression = expression.rsplit(" implies ", 1)[1].strip()
    if c.get("severity") != "error":
        return []
    if antecedent and not _EXISTS_ONLY.fullmatch(expression.strip()):
        # `a.exists() implies <something not constructed>`: leave the optional `a` out
        child = kid(kids, antecedent.group(1))
        if child is not None and child.min == 0:
            element.memo.setdefault(DROP, set()).add(child.name)
        return []
    if _ONE_OF.match(expression):
        return re.findall(r"(\w+)\.exists\(\)", expression)
    if _COUNT_SUM.fullmatch(expression.strip()):  # org-1: (identifier.count() + name.count()) > 0
        return re.findall(r"(\w+)\.count\(\)", expression)
    if " xor " in expression:
        return []
    return _disjunction(element, kids, wanted, expression)


def _disjunction(element: ElementPlan, kids: dict[str, ElementPlan], wanted: list[str], expression: str) -> list[str]:
    """A disjunction with other terms too: making one `a.exists()` / `a.empty().not()` true suffices."""
    terms = top_level_or(expression.strip())
    empties = [
        child
        for t in terms
        if (m := _EMPTY_TERM.fullmatch(t))
        and (child := kid(kids, m.group(1))) is not None
        and child.min == 0
        and child.name not in wanted
    ]
    if empties:  # `a.empty() or ...`: leave the optional `a` out (at a resource's root: if need be)
        element.memo.setdefault(DROP, set()).add(empties[0].name)
        element.memo.setdefault(DROP_UNLESS, {})[empties[0].name] = expression
        return []
    return [m.group(1) for t in terms if (m := _EXISTS_TERM.fullmatch(t))]


def left_out(element: ElementPlan, name: str, at_root: bool) -> bool:
    """Is the optional child `name` left out for an invariant (`a.empty() or ...` only off the root)?"""
    return name in element.memo.get(DROP, ()) and not (at_root and name in element.memo.get(DROP_UNLESS, {}))


def exclusive_constraints(element: ElementPlan) -> list[tuple[str, str, str, bool]]:
    """(key, a, b, symmetric) of each error invariant of `element` that forbids a and b together
    (`a.empty() or b.empty()` is symmetric, `a.exists() implies b.empty()` is not)."""
    found = element.memo.get("strategies:exclusive")
    if found is None:
        found = []
        for c in element.ed.get("constraint", ()):
            expr = str(c.get("expression", "")).strip()
            m = _EXCLUSIVE.match(expr)
            if m and c.get("severity") == "error":
                found.append((str(c.get("key")), m.group(1), m.group(2), "implies" not in expr))
        element.memo["strategies:exclusive"] = found
    return list(found)


def required_prefix(element: ElementPlan) -> str | None:
    """The prefix an error invariant `startsWith('...')` of a primitive element demands."""
    for c in element.ed.get("constraint", ()):
        m = _STARTS_WITH.fullmatch(str(c.get("expression", "")).strip())
        if m and c.get("severity") == "error":
            return m.group(1)
    return None


def holds(expression: str, resource: dict[str, Any], release: str) -> bool:
    """Does a constraint hold on a resource being built (False where it cannot be told)?"""
    from imgfhir.fhirpath import FhirPathError, compile

    try:
        result = compile(expression, release).evaluate(resource)
    except (FhirPathError, ValueError, RecursionError):
        return False
    return not result or all(r is True for r in result)


def top_level_or(expression: str) -> list[str]:
    """The terms of `a or b or (c and d)` split at parenthesis depth 0 (none if `and` is at depth 0)."""
    if expression.startswith("(") and _closing(expression, 0) == len(expression) - 1:
        expression = expression[1:-1].strip()
    terms: list[str] = []
    depth, start, i = 0, 0, 0
    while i < len(expression):
        ch = expression[i]
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and expression.startswith(" or ", i):
            terms.append(expression[start:i].strip())
            start = i = i + 4
            continue
        if depth == 0 and expression.startswith((" and ", " implies "), i):
            return []
        i += 1
    terms.append(expression[start:].strip())
    return terms


def _closing(expression: str, at: int) -> int:
    """The index of the parenthesis closing the one at `at` (-1 if unbalanced)."""
    depth = 0
    for i in range(at, len(expression)):
        depth += (expression[i] == "(") - (expression[i] == ")")
        if depth == 0:
            return i
    return -1


# ---- settling a built object ----------------------------------------------------------------------


def _conditional_children(obj: Building) -> None:
    """`a.empty() or <condition>` (obs-7) at a resource's root: `a` was built; it goes when the built
    resource fails the condition."""
    if obj.at.depth != 0:
        return
    for name, expression in obj.element.memo.get(DROP_UNLESS, {}).items():
        stem = name.removesuffix("[x]")
        keys = [k for k in obj.out if k == name or (stem != name and choice_key(k, stem))]
        if keys and not holds(expression, obj.out, obj.builder.release):
            for k in keys:
                obj.drop(k)


def _reference_type(obj: Building) -> None:
    """ref-1-like agreement: Reference.type states the literal reference's type (or the contained target's)."""
    out, d = obj.out, obj.d
    if obj.type_code != "Reference" or "type" not in out or not isinstance(out.get("reference"), str):
        return
    local = [c["resourceType"] for c in d.contained if f"#{c['id']}" == out["reference"]]
    found = d.bundle.find(out["reference"]) if d.bundle is not None else None
    out["type"] = found.type if found else local[0] if local else out["reference"].split("/")[0]
    d.forget(obj.at.pointer, "type")


def _exclusive_children(obj: Building) -> None:
    """Exclusive invariants: of two children built together, the optional (unforced) one goes."""
    for _, first, second, _ in exclusive_constraints(obj.element):
        keep_second = obj.kid(second)
        if keep_second is not None and (keep_second.min > 0 or keep_second.name in obj.wanted):
            first, second = second, first  # drop the optional one of the two
        drop = keys_of(obj.out, second)
        if keys_of(obj.out, first) and drop:
            for k in drop:
                obj.drop(k)


def _forbidden_values(obj: Building) -> None:
    """org-3: where(use = 'home').empty(): an optional child with the forbidden code goes."""
    for c in obj.element.ed.get("constraint", ()):
        forbidden = _FORBIDDEN_VALUE.match(str(c.get("expression", "")).strip())
        if forbidden is None or c.get("severity") != "error":
            continue
        name, code = forbidden.groups()
        if obj.out.get(name) == code and name in obj.kids and obj.kids[name].min == 0:
            obj.drop(name)


def _quantity_value(obj: Building) -> None:
    if obj.type_code in QUANTITY_LIKE and not obj.element.children and "value" not in obj.out:
        obj.out["value"] = obj.d.draw(PRIMITIVES["decimal"])


def _quantity_system(obj: Building) -> None:
    if obj.type_code in QUANTITY_LIKE and "code" in obj.out and "system" not in obj.out:
        obj.out["system"] = "http://unitsofmeasure.org"


def _period(obj: Building) -> None:
    if obj.type_code == "Period" and "start" in obj.out and "end" in obj.out:
        obj.drop("end")


def _attachment(obj: Building) -> None:
    if obj.type_code == "Attachment":
        for name in ("size", "hash"):
            if name in obj.out and name in obj.kids and obj.kids[name].min == 0:
                obj.drop(name)


# Steps that settle a built object, in order: (invariant, step, why a general shape does not do it).
SETTLE: tuple[tuple[str, Callable[[Building], None], str], ...] = (
    ("a.empty() or <condition>", _conditional_children, "the condition is only known once the resource is built"),
    ("Reference.type", _reference_type, "the target is chosen while the reference is built"),
    ("exclusive choice", _exclusive_children, "both children may be built before either is known"),
    ("org-3", _forbidden_values, "the forbidden code is only known once the child is built"),
    ("Quantity value", _quantity_value, "a unit without a value says nothing; bounds compare values"),
    ("qty-3", _quantity_system, "a code for the unit needs its system (UCUM, the only one offline)"),
    ("per-1", _period, "start <= end: only one of the two is kept rather than ordering two draws"),
    ("Attachment size/hash", _attachment, "size and hash must agree with data, which is drawn apart"),
)


def settle(obj: Building) -> None:
    for _, step, _ in SETTLE:
        step(obj)

