"""Fast equivalents of the simplest FHIRPath invariants, compiled to Python closures over the JSON.

Most core invariants are existence logic over plain member paths — `dataAbsentReason.empty() or
value.empty()`, `a.exists() implies b.exists()` — and every resource carries dozens of them, so
running each through a general FHIRPath engine dominates validation time. This module compiles
exactly that fragment:

    expr := expr ('implies' | 'or' | 'xor' | 'and') expr | term
    term := path '.empty()' | path '.exists()' | path '.count()' cmp integer
          | '(' expr ')' | term '.not()'
    path := step ('.' step)*
    step := name | "extension('" url "')" | "where(" name '=' (string | 'true' | 'false') ")"
                                      (a name may be a choice stem such as `value`)

Beyond that fragment, `EXACT` maps the exact text of frequent core invariants that need more
(comparisons, `all()`, `isDistinct()`) to hand-written equivalents, each answering only the
common cases and None ("ask the engine") otherwise.

Anything else returns None and the FHIRPath engine is used. tests/validation/test_shortcuts.py
checks every shortcut against the engine on real resources and on variants of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]
Shortcut = Callable[[Any], "bool | None"]

_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_STEP = rf"(?:extension\('[^']*'\)|where\(\s*{_NAME}\s*=\s*(?:'[^']*'|true|false)\s*\)|{_NAME})"
_TOKEN = re.compile(
    r"\s*(\(|\)|\.empty\(\)|\.exists\(\)|\.not\(\)|\.count\(\)|<=|>=|!=|<|>|=|[0-9]+\b"
    rf"|implies\b|or\b|xor\b|and\b|{_STEP}(?:\.(?!empty\(\)|exists\(\)|not\(\)|count\(\)){_STEP})*)"
)
_STEP_RE = re.compile(rf"\.?({_STEP})")
_WHERE = re.compile(rf"where\(\s*({_NAME})\s*=\s*('[^']*'|true|false)\s*\)")
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_PRECEDENCE = {"implies": 1, "or": 2, "xor": 2, "and": 3}
_RESERVED = frozenset({"implies", "or", "xor", "and", "not", "empty", "exists", "true", "false", "where", "all"})


def shortcut(expression: str) -> Shortcut | None:
    """A fast equivalent of `expression` (evaluated on its context node), or None."""
    if expression.startswith(_DOM_3):
        return _dom_3
    exact = EXACT.get(expression)
    return exact if exact is not None else compile_shortcut(expression)


def compile_shortcut(expression: str) -> Shortcut | None:
    tokens = _tokens(expression)
    if tokens is None:
        return None
    parser = _Parser(tokens)
    try:
        check = parser.expr(0)
    except ValueError:
        return None
    return _answer(check) if parser.done() else None


class _Unknown(Exception):
    """The engine would see what the shortcut cannot decide (a comparison with several values)."""


def _answer(check: Check) -> Shortcut:
    def run(node: Any) -> bool | None:
        try:
            return check(node)
        except _Unknown:
            return None

    return run


Step = tuple[str, Any]  # ("name", name) | ("extension", url) | ("where", (name, literal))


def _steps(token: str) -> list[Step]:
    out: list[Step] = []
    pos = 0
    while pos < len(token):
        m = _STEP_RE.match(token, pos)
        if m is None:
            raise ValueError(f"bad path {token!r}")
        step = m.group(1)
        if step.startswith("extension("):
            out.append(("extension", step[11:-2]))
        elif step.startswith("where("):
            where = _WHERE.fullmatch(step)
            assert where is not None
            literal = where.group(2)
            value: Any = literal[1:-1] if literal.startswith("'") else literal == "true"
            out.append(("where", (where.group(1), value)))
        elif step in _RESERVED:
            raise ValueError("function in path")
        else:
            out.append(("name", step))
        pos = m.end()
    return out


def _tokens(expression: str) -> list[str] | None:
    out: list[str] = []
    pos = 0
    text = expression.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            return None
        out.append(m.group(1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def done(self) -> bool:
        return self.pos == len(self.tokens)

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        if self.pos >= len(self.tokens):
            raise ValueError("unexpected end")
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expr(self, min_prec: int) -> Check:
        left = self.term()
        while (op := self.peek()) in _PRECEDENCE and _PRECEDENCE[op] >= min_prec:
            self.take()
            right = self.expr(_PRECEDENCE[op] + 1)
            left = _combine(op, left, right)
        return left

    def term(self) -> Check:
        tok = self.take()
        if tok == "(":
            inner = self.expr(0)
            if self.take() != ")":
                raise ValueError("unbalanced")
            check = inner
        elif tok[0].islower() and tok.split(".")[0] not in _RESERVED - {"where"}:  # not `Observation.x`
            path = _steps(tok)
            if path[0][0] == "where":
                raise ValueError("a path starts with a name")
            test = self.take()
            if test == ".empty()":
                check = _empty(path)
            elif test == ".exists()":
                check = _exists(path)
            elif test == ".count()":
                op, number = self.take(), self.take()
                if op not in _COMPARE or not number.isdigit():
                    raise ValueError("unsupported comparison")
                check = _count(path, _COMPARE[op], int(number))
            else:
                raise ValueError("unsupported")
        else:
            raise ValueError("unsupported")
        while self.peek() == ".not()":
            self.take()
            check = _negate(check)
        return check


def _combine(op: str, left: Check, right: Check) -> Check:
    if op == "and":
        return lambda node: left(node) and right(node)
    if op == "or":
        return lambda node: left(node) or right(node)
    if op == "xor":
        return lambda node: left(node) != right(node)
    return lambda node: (not left(node)) or right(node)  # implies


def _negate(check: Check) -> Check:
    return lambda node: not check(node)


def _exists(path: list[Step]) -> Check:
    return lambda node: bool(_select(node, path))


def _empty(path: list[Step]) -> Check:
    return lambda node: not _select(node, path)


def _count(path: list[Step], compare: Callable[[int, int], bool], number: int) -> Check:
    return lambda node: compare(len(_select(node, path)), number)


def _select(node: Any, path: list[Step]) -> list[Any]:
    """What the path selects: a primitive exists through its value or its `_name` extensions."""
    current = [node]
    for kind, arg in path:
        found: list[Any] = []
        if kind == "where":
            name, literal = arg
            for value in current:
                if not isinstance(value, dict):
                    raise _Unknown
                got = value.get(name)
                if isinstance(got, list) or ("_" + name in value and got is None):
                    raise _Unknown  # a repeating or extension-only property: left to the engine
                if got == literal and type(got) is type(literal):
                    found.append(value)
        elif kind == "extension":
            for value in current:
                extensions = value.get("extension") if isinstance(value, dict) else None
                for ext in extensions if isinstance(extensions, list) else []:
                    if isinstance(ext, dict) and ext.get("url") == arg:
                        found.append(ext)
        else:
            for value in current:
                if not isinstance(value, dict):
                    continue
                if arg in value or "_" + arg in value:
                    _extend_primitive(found, value.get(arg), value.get("_" + arg))
                else:
                    for key, item in value.items():  # a choice named by its stem (`value` → valueQuantity)
                        if key.startswith(arg) and key[len(arg) : len(arg) + 1].isupper():
                            _extend(found, item)
        current = found
        if not current:
            return []
    return current


def _extend_primitive(found: list[Any], value: Any, extras: Any) -> None:
    """A primitive's values and its `_name` extensions are one item per position."""
    values = value if isinstance(value, list) else [] if value is None else [value]
    more = extras if isinstance(extras, list) else [] if extras is None else [extras]
    for i in range(max(len(values), len(more))):
        v = values[i] if i < len(values) else None
        e = more[i] if i < len(more) else None
        if v is not None or e is not None:
            found.append(v if v is not None else e)


def _extend(found: list[Any], value: Any) -> None:
    if isinstance(value, list):
        found.extend(v for v in value if v is not None)
    elif value is not None:
        found.append(value)


# ------------------------------------------------------------------ hand-written equivalents
# FHIRPath's empty result passes an invariant; a shortcut returns None wherever the answer would
# hinge on empty-propagation or malformed input, and the engine decides.


def _no_contained(node: Any) -> bool | None:
    """The contained-resource invariants (dom-2..dom-5) hold trivially without contained resources."""
    return True if isinstance(node, dict) and not node.get("contained") else None


def _has_div(node: Any) -> bool | None:
    text = node.get("text") if isinstance(node, dict) else None
    return isinstance(text, dict) and bool(text.get("div"))


def _has_choice(node: dict[str, Any], stem: str) -> bool:
    return any(k.lstrip("_").startswith(stem) and k.lstrip("_")[len(stem) : len(stem) + 1].isupper() for k in node)


def _obs_7(node: Any) -> bool | None:
    """obs-7: with a value, no component may carry one of the Observation's own codings (FHIRPath
    equality of Codings is equality of all their properties: JSON equality, extensions aside)."""
    if not isinstance(node, dict):
        return None
    components = node.get("component")
    if not _has_choice(node, "value") or not components:
        return True
    own = _codings(node.get("code"))
    if own is None or not isinstance(components, list):
        return None
    for component in components:
        theirs = _codings(component.get("code")) if isinstance(component, dict) else None
        if theirs is None:
            return None
        if any(c in own for c in theirs):
            return False
    return True


def _codings(concept: Any) -> list[dict[str, Any]] | None:
    """The codings of a CodeableConcept as plain JSON, or None where JSON equality would not be FHIRPath's."""
    if concept is None:
        return []
    codings = concept.get("coding", []) if isinstance(concept, dict) else None
    if not isinstance(codings, list):
        return None
    for c in codings:
        if not isinstance(c, dict) or any(k.startswith("_") or k == "extension" or k == "id" for k in c):
            return None
    return codings


def _entries(node: Any) -> list[dict[str, Any]] | None:
    if not isinstance(node, dict):
        return None
    entries = node.get("entry", [])
    return entries if isinstance(entries, list) and all(isinstance(e, dict) for e in entries) else None


def _bundle_type(node: Any) -> str | None:
    t = node.get("type") if isinstance(node, dict) else None
    return t if isinstance(t, str) else None


def _member_iff(member: str, types: frozenset[str]) -> Shortcut:
    """bdl-3/bdl-4: entry.request (response) present exactly when the Bundle type needs it."""

    def check(node: Any) -> bool | None:
        entries, t = _entries(node), _bundle_type(node)
        if entries is None or t is None:
            return None
        return all((e.get(member) is not None) == (t in types) for e in entries)

    return check


def _no_history_url(node: Any) -> bool | None:
    """bdl-8: fullUrl is not a version-specific URL."""
    if not isinstance(node, dict) or "_fullUrl" in node:
        return None
    url = node.get("fullUrl")
    if url is None:
        return True
    return "/_history/" not in url if isinstance(url, str) else None


def _distinct_versions(node: Any) -> bool | None:
    """bdl-7: fullUrl (with meta.versionId) unique, except in a history Bundle."""
    entries, t = _entries(node), _bundle_type(node)
    if entries is None or (t is None and "type" in node):
        return None
    if t == "history":
        return True
    keys = []
    for e in entries:
        url = e.get("fullUrl")
        if url is None:
            continue
        res = e.get("resource")
        meta = res.get("meta") if isinstance(res, dict) else None
        version = meta.get("versionId", "") if isinstance(meta, dict) else ""
        if not isinstance(url, str) or not isinstance(version, str) or "_fullUrl" in e:
            return None
        keys.append(url + version)
    return len(set(keys)) == len(keys) or t is None


def _resources_only(node: Any) -> bool | None:
    """bdl-12 (R5): document/message/searchset/collection entries carry a resource and no request/response."""
    entries, t = _entries(node), _bundle_type(node)
    if entries is None or (t is None and "type" in node):
        return None
    if t not in ("document", "message", "searchset", "collection"):
        return True
    return all("resource" in e and "request" not in e and "response" not in e for e in entries)


def _full_url_or_post(node: Any) -> bool | None:
    """bdl-? (R5): outside transactions and batches, every entry has a fullUrl (or is a POST)."""
    entries, t = _entries(node), _bundle_type(node)
    if entries is None or (t is None and "type" in node):
        return None
    if t in ("transaction", "transaction-response", "batch", "batch-response"):
        return True
    return True if all(isinstance(e.get("fullUrl"), str) for e in entries) else None


def _no_total(node: Any) -> bool | None:
    """bdl-1: total only in a search set or history."""
    return True if isinstance(node, dict) and "total" not in node and "_total" not in node else None


_DOM_3 = "contained.where((('#'+id in (%resource.descendants().reference"  # R4 and R5 spellings


# ------------------------------------------------------------------ dom-3
# Evaluated as written, dom-3 walks %resource.descendants() once per contained resource: quadratic
# (600 contained resources took two minutes). This is the same test in one or two passes:
#   contained resource c passes  <=>  c has no id
#     or '#'+c.id is the `reference` of some descendant of the resource, or a descendant typed
#        canonical, uri or url (as(canonical) | as(uri) | as(url), R5: ofType(...))
#     or some descendant of c has reference = '#', or is a canonical '#'.
# Types are fhirpathpy's (path2Type of its model, as its descendants() assigns them); they are needed
# only for '#...' strings outside `reference`, and are looked up in both the R4 and R5 models: where
# the two disagree, the engine decides (the shortcut does not know the release).

_TYPED = frozenset({"canonical", "uri", "url"})


class _Scan:
    """What dom-3 needs from one model-free pass over a resource."""

    def __init__(self) -> None:
        self.refs: set[str] = set()  # `reference` members of descendants
        self.hashes: set[str] = set()  # other '#...' strings (their type decides)
        self.self_ref = False  # a descendant of this contained resource has reference = '#'

    def walk(self, value: dict[str, Any]) -> None:
        """`value`'s descendants; its own `reference` (a resource has none) the caller has ruled out."""
        stack: list[dict[str, Any]] = [value]
        while stack:
            node = stack.pop()
            for key, child in node.items():
                if key == "reference" and node is not value:
                    if isinstance(child, list):
                        raise _Unknown  # a repeating `reference`: `reference = '#'` is no plain test
                    if isinstance(child, str):
                        self.refs.add(child)
                        self.self_ref = self.self_ref or child == "#"
                        continue
                for item in child if isinstance(child, list) else (child,):
                    if isinstance(item, str):
                        if item.startswith("#"):
                            self.hashes.add(item)
                    elif isinstance(item, dict):
                        stack.append(item)
                    elif isinstance(item, list):
                        raise _Unknown  # fhirpathpy cannot walk a list in a list: the engine says so


def _dom_3(node: Any) -> bool | None:
    if not isinstance(node, dict):
        return None
    contained = node.get("contained")
    if not contained:
        return True
    if not isinstance(contained, list) or "reference" in node:
        return None
    try:
        return _dom_3_of(node, contained)
    except _Unknown:
        return None


def _dom_3_of(node: dict[str, Any], contained: list[Any]) -> bool | None:
    whole = _Scan()
    whole.walk({k: v for k, v in node.items() if k != "contained"})
    open_: list[tuple[int, str, _Scan]] = []  # contained resources the model-free pass cannot clear
    scans: list[tuple[int, str, _Scan]] = []
    for i, c in enumerate(contained):
        if not isinstance(c, dict) or "_id" in c or "reference" in c or not isinstance(c.get("resourceType"), str):
            return None
        scan = _Scan()
        scan.walk(c)
        whole.refs |= scan.refs
        whole.hashes |= scan.hashes
        cid = c.get("id")
        if cid is None:
            continue
        if not isinstance(cid, str):
            return None
        scans.append((i, "#" + cid, scan))
    for i, target, scan in scans:
        if target in whole.refs or scan.self_ref:
            continue
        if target not in whole.hashes and "#" not in scan.hashes:
            return False  # no string could match, whatever its type
        open_.append((i, target, scan))
    if not open_:
        return True
    verdicts = {_typed_verdict(release, node, open_) for release in ("R4", "R5")}
    return verdicts.pop() if len(verdicts) == 1 else None


def _typed_verdict(release: str, node: dict[str, Any], open_: list[tuple[int, str, _Scan]]) -> bool:
    from imgfhir.fhirpath.engine import _model  # only for '#...' strings outside `reference`

    typed, canonical_hash = _typed_strings(_model(release), node)
    return all(target in typed or i in canonical_hash for i, target, _ in open_)


def _typed_strings(model: dict[str, Any], res: dict[str, Any]) -> tuple[set[str], set[int]]:
    """Strings of `res`'s descendants typed canonical, uri or url (fhirpathpy's typing: a child's path
    is its parent's + name, mapped through pathsDefinedElsewhere and path2Type; `extension` is an
    Extension; a nested resource restarts at its resourceType), and the contained resources (by
    index) holding a canonical '#'."""
    to_type: dict[str, str] = model["path2Type"]
    elsewhere: dict[str, str] = model["pathsDefinedElsewhere"]
    typed: set[str] = set()
    canonical_hash: set[int] = set()
    stack: list[tuple[dict[str, Any], str, int | None]] = [(res, str(res["resourceType"]), None)]
    while stack:
        value, path, owner = stack.pop()
        for key, child in value.items():
            child_path = "Extension" if key == "extension" else f"{path}.{key}"
            child_path = elsewhere.get(child_path, child_path)
            child_path = to_type.get(child_path, child_path)
            for index, item in enumerate(child if isinstance(child, list) else [child]):
                if isinstance(item, dict):
                    if "resourceType" in item and not isinstance(item["resourceType"], str):
                        raise _Unknown
                    at = owner if value is not res or key != "contained" else index
                    stack.append((item, item.get("resourceType", child_path), at))
                elif isinstance(item, str) and child_path in _TYPED:
                    typed.add(item)
                    if item == "#" and child_path == "canonical" and owner is not None:
                        canonical_hash.add(owner)
    return typed, canonical_hash
_BATCH = frozenset({"batch", "transaction", "history"})
_RESPONSES = frozenset({"batch-response", "transaction-response", "history"})

# the exact expression text (as the core and IG packages spell it) → its equivalent
EXACT: dict[str, Shortcut] = {
    "contained.contained.empty()": _no_contained,
    "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()": _no_contained,
    "contained.meta.security.empty()": _no_contained,
    "text.`div`.exists()": _has_div,
    "value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()": _obs_7,
    "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or "
    "%resource.type = 'history'))": _member_iff("request", _BATCH),
    "entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = "
    "'transaction-response' or %resource.type = 'history'))": _member_iff("response", _RESPONSES),
    "fullUrl.exists() implies fullUrl.contains('/_history/').not()": _no_history_url,
    "fullUrl.contains('/_history/').not()": _no_history_url,
    "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()": (
        _distinct_versions
    ),
    "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&iif(resource.meta.versionId.exists(), "
    "resource.meta.versionId, '')).isDistinct()": _distinct_versions,
    "type in ('document' | 'message' | 'searchset' | 'collection') implies entry.all(resource.exists() and "
    "request.empty() and response.empty())": _resources_only,
    "type='transaction' or type='transaction-response' or type='batch' or type='batch-response' or "
    "entry.all(fullUrl.exists() or request.method='POST')": _full_url_or_post,
    "total.empty() or (type = 'searchset') or (type = 'history')": _no_total,
}
