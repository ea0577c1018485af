"""Fast equivalents of the simplest FHIRPath invariants, compiled to Python closures over the JSON.

Most core invariants are existence logic over plain member paths — `dataAbsentReason.empty() or
value.empty()`, `a.exists() implies b.exists()` — and every resource carries dozens of them, so
running each through a general FHIRPath engine dominates validation time. This module compiles
exactly that fragment:

    expr := expr ('implies' | 'or' | 'xor' | 'and') expr | term
    term := path '.empty()' | path '.exists()' | '(' expr ')' | term '.not()'
    path := name ('.' name)*          (a name may be a choice stem such as `value`)

Anything else returns None and the FHIRPath engine is used. tests/validation/test_shortcuts.py
checks every compiled shortcut against the engine on real resources.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_TOKEN = re.compile(
    r"\s*(\(|\)|\.empty\(\)|\.exists\(\)|\.not\(\)|implies\b|or\b|xor\b|and\b"
    r"|[A-Za-z][A-Za-z0-9_]*(?:\.(?!empty\(\)|exists\(\)|not\(\))[A-Za-z][A-Za-z0-9_]*)*)"
)
_PRECEDENCE = {"implies": 1, "or": 2, "xor": 2, "and": 3}
_RESERVED = frozenset({"implies", "or", "xor", "and", "not", "empty", "exists", "true", "false", "where", "all"})


def compile_shortcut(expression: str) -> Check | None:
    tokens = _tokens(expression)
    if tokens is None:
        return None
    parser = _Parser(tokens)
    try:
        check = parser.expr(0)
    except ValueError:
        return None
    return check if parser.done() else None


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
        elif tok[0].islower() and tok.split(".")[0] not in _RESERVED:  # not `Observation.x`, not a keyword
            path = tok.split(".")
            if any(p in _RESERVED for p in path):
                raise ValueError("function in path")
            test = self.take()
            if test == ".empty()":
                check = _empty(path)
            elif test == ".exists()":
                check = _exists(path)
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


def _exists(path: list[str]) -> Check:
    return lambda node: _any_at(node, path)


def _empty(path: list[str]) -> Check:
    return lambda node: not _any_at(node, path)


def _any_at(node: Any, path: list[str]) -> bool:
    """Does the path select anything? A primitive exists through its value or its `_name` extensions."""
    current = [node]
    for name in path:
        found: list[Any] = []
        for value in current:
            if not isinstance(value, dict):
                continue
            for key in (name, "_" + name):
                if key in value:
                    _extend(found, value[key])
            if name not in value and "_" + name not in value:
                for key, item in value.items():  # a choice named by its stem (`value` → valueQuantity)
                    if key.startswith(name) and key[len(name) : len(name) + 1].isupper():
                        _extend(found, item)
        current = found
        if not current:
            return False
    return bool(current)


def _extend(found: list[Any], value: Any) -> None:
    if isinstance(value, list):
        found.extend(v for v in value if v is not None)
    elif value is not None:
        found.append(value)
