"""Strict-mode static checks of a FHIRPath expression against the FHIR model (opt-in: ``compile(strict=True)``).

Follows the element paths an expression navigates from its context type and reports, before any
evaluation: unknown elements (``name.given1``), a type name that is not the context (``Encounter.name`` on
a Patient), choice elements named with their type suffix (``valueQuantity``; strict FHIRPath wants
``value.ofType(Quantity)``), and order-dependent functions on the unordered results of ``children()`` /
``descendants()``. Where the type of a collection cannot be followed (literals, most functions, System
types), checking stops silently, so the check never rejects what it does not understand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class SemanticError(ValueError):
    """An expression that is invalid for its context type (reported at compile time in strict mode)."""


@dataclass(frozen=True, slots=True)
class _Coll:
    paths: frozenset[str] | None  # type names or backbone-element paths; None when not followed
    unordered: bool = False


_UNKNOWN = _Coll(None)
_ABSTRACT = frozenset({"Resource", "DomainResource", "Base"})  # contained/entry resources: any resource type
_SAME_TYPE = frozenset({"where", "trace", "distinct", "single", "exclude", "intersect", "union"})
_ORDERED = frozenset({"first", "last", "tail", "skip", "take"})
_LAMBDAS = frozenset({"where", "select", "all", "exists", "repeat", "aggregate", "sort", "iif"})


def _backbones(keys: Iterable[str]) -> frozenset[str]:
    prefixes: set[str] = set()
    for key in keys:
        parts = key.split(".")
        for i in range(2, len(parts)):
            prefixes.add(".".join(parts[:i]))
    return frozenset(prefixes)


class _Checker:
    def __init__(self, model: dict[str, Any]) -> None:
        self.path2type: dict[str, str] = model["path2Type"]
        self.choices: dict[str, list[str]] = model["choiceTypePaths"]
        self.elsewhere: dict[str, str] = model["pathsDefinedElsewhere"]
        self.parents: dict[str, str] = model["type2Parent"]
        self.backbones = _backbones([*self.path2type, *self.choices])

    # -- model ----------------------------------------------------------------------------------------------------

    def _is_type(self, name: str) -> bool:
        return name in self.parents or name in ("Resource", "Element", "BackboneElement", "DomainResource")

    def _ancestors(self, path: str) -> list[str]:
        chain = [path]
        current: str | None = path if "." not in path else "BackboneElement"
        if current != path and current is not None:
            chain.append(current)
        while current is not None:
            current = self.parents.get(current)
            if current is not None:
                chain.append(current)
        return chain

    def _child(self, path: str, key: str) -> frozenset[str] | None:
        """Types/paths of `path`.`key`; None when no such element."""
        for owner in self._ancestors(path):
            for cut in range(1, len(key)):
                base = f"{owner}.{key[:cut]}"
                if key[cut].isupper() and key[cut:] in self.choices.get(base, ()):
                    raise SemanticError(f"choice element {key!r}: use {key[:cut]}.ofType({key[cut:]})")
            candidate = f"{owner}.{key}"
            candidate = self.elsewhere.get(candidate, candidate)
            if candidate in self.path2type:
                kind = self.path2type[candidate]
                return frozenset({candidate if kind in ("BackboneElement", "Element") else kind})
            if candidate in self.choices:
                names = (c[0].lower() + c[1:] for c in self.choices[candidate])
                return frozenset(n if n in self.parents else n[0].upper() + n[1:] for n in names)
            if candidate in self.backbones:
                return frozenset({candidate})
        return None

    # -- inference ------------------------------------------------------------------------------------------------

    def infer(self, node: dict[str, Any], focus: _Coll) -> _Coll:
        kind = node.get("type")
        children: list[dict[str, Any]] = [c for c in node.get("children", ()) if isinstance(c, dict)]
        if kind in ("TermExpression", "ParenthesizedTerm") and children:
            return self.infer(children[0], focus)
        if kind == "InvocationTerm" and children:
            return self.invoke(children[0], focus, at_root=True)
        if kind == "InvocationExpression" and len(children) == 2:
            return self.invoke(children[1], self.infer(children[0], focus), at_root=False)
        if kind == "IndexerExpression" and len(children) == 2:
            left = self.infer(children[0], focus)
            self.infer(children[1], focus)
            if left.unordered:
                raise SemanticError("indexing an unordered collection (from children()/descendants())")
            return left
        if kind == "TypeExpression" and len(children) == 2:
            self.infer(children[0], focus)
            if node.get("terminalNodeText", [""])[0] == "as":
                return self._type_spec(children[1])
            return _UNKNOWN
        for child in children:
            self.infer(child, focus)
        return _UNKNOWN

    def _type_spec(self, node: dict[str, Any]) -> _Coll:
        name = str(node.get("text", "")).replace("`", "")
        name = name.removeprefix("FHIR.")
        return _Coll(frozenset({name})) if self._is_type(name) else _UNKNOWN

    def invoke(self, node: dict[str, Any], focus: _Coll, at_root: bool) -> _Coll:
        kind = node.get("type")
        children: list[dict[str, Any]] = [c for c in node.get("children", ()) if isinstance(c, dict)]
        if kind == "ThisInvocation":
            return focus
        if kind == "MemberInvocation" and children:
            return self._member(str(children[0].get("text", "")).replace("`", ""), focus, at_root)
        if kind == "FunctionInvocation" and children:
            functn = [c for c in children[0].get("children", ()) if isinstance(c, dict)]
            name = str(functn[0].get("text", "")) if functn else ""
            params = functn[1].get("children", []) if len(functn) > 1 else []
            return self._function(name, params, focus)
        return _UNKNOWN

    def context(self, context_type: str) -> _Coll:
        """The focus for a context given as a type name or an element path (``Observation.value[x]``)."""
        path = context_type.removesuffix("[x]")
        if path in self.choices:
            return _Coll(self._child(path.rsplit(".", 1)[0], path.rsplit(".", 1)[1]))
        kind = self.path2type.get(self.elsewhere.get(path, path))
        if kind is not None and kind not in ("BackboneElement", "Element"):
            return _Coll(frozenset({kind}))
        if "." in path and path not in self.backbones and path not in self.path2type:
            return _UNKNOWN  # a profile's sliced or renamed path: do not guess
        return _Coll(frozenset({path}))

    def _member(self, key: str, focus: _Coll, at_root: bool) -> _Coll:
        if focus.paths is None or focus.paths & _ABSTRACT:
            return _UNKNOWN
        if at_root and key[:1].isupper() and self._is_type(key):
            if any(key in self._ancestors(p) for p in focus.paths):
                return _Coll(frozenset({key}))
            raise SemanticError(f"{key} is not the context type ({', '.join(sorted(focus.paths))})")
        found: set[str] = set()
        for path in focus.paths:
            if path.startswith("System.") or path in ("xhtml",):
                return _UNKNOWN
            if key == "value" and path[:1].islower():
                return _UNKNOWN  # a FHIR primitive's own value (a System type)
            child = self._child(path, key)
            if child is not None:
                found |= child
        if not found:
            raise SemanticError(f"no element {key!r} on {', '.join(sorted(focus.paths))}")
        return _Coll(frozenset(found), focus.unordered)

    def _function(self, name: str, params: list[Any], focus: _Coll) -> _Coll:
        if name in _LAMBDAS:
            item = _Coll(focus.paths)
            for param in params:
                if isinstance(param, dict):
                    self.infer(param, item)
        if name in _ORDERED and focus.unordered:
            raise SemanticError(f"{name}() depends on order, but its input (from children()/descendants()) has none")
        if name in ("ofType", "as") and params and isinstance(params[0], dict):
            spec = params[0]
            while spec.get("children") and spec.get("type") != "TypeSpecifier":
                spec = spec["children"][0]
            return self._type_spec(spec) if "text" in spec else _UNKNOWN
        if name in ("children", "descendants"):
            return _Coll(None, unordered=True)
        if name in _SAME_TYPE or name in _ORDERED:
            return focus
        return _UNKNOWN


_CHECKERS: dict[int, _Checker] = {}  # per fhirpathpy model (module-level dicts that live as long as the process)


def check(ast: dict[str, Any], model: dict[str, Any], context_type: str) -> None:
    """Raise `SemanticError` when `ast` is invalid for a focus of `context_type` (a type name or path)."""
    checker = _CHECKERS.get(id(model))
    if checker is None:
        checker = _CHECKERS[id(model)] = _Checker(model)
    checker.infer(ast, checker.context(context_type))
