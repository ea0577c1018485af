"""Overrides of fhirpathpy internals, active only while imgfhir's layer evaluates.

Each override replaces an entry of fhirpathpy's evaluator table, a module function or a method by a
dispatcher that calls our version when `ACTIVE` is set and fhirpathpy's original otherwise, so fhirpathpy
used directly (e.g. the peer in bench/fhirpath_suite.py) behaves as shipped. `install()` is idempotent and
runs when imgfhir.fhirpath.engine is imported. What each override fixes:

* ``make_param``: every function argument and operand is evaluated in its own variable scope (for
  ``defineVariable``); ``SortKey`` arguments (``sort(-family)``) carry their direction.
* ``NumberLiteral``: ``1.0`` stays a decimal (fhirpathpy folds it to the integer 1, losing its precision).
* ``DateTimeLiteral``: ``@2015-02-04`` is a System.Date, ``@2015T`` a System.DateTime.
* ``MemberInvocation``: a primitive and its ``_name`` extension sibling are one item, not two.
* ``TypeInfo.is_``/``create_by_value_in_namespace``: System.Date vs DateTime; FHIR primitives do not
  inherit (``code is string`` is false); unknown type names are errors; a resource given as plain
  JSON (``%resource``) has its resourceType as type (``%resource.is(Questionnaire)``).

One override is not gated: fhirpathpy keeps the FHIR model in the class attribute ``TypeInfo.model``,
which its ``is``/``as`` set from the evaluation context, so two threads evaluating with different
releases would read each other's model. ``TypeInfo.model`` becomes a read-only view of `MODEL`, a
context variable each evaluation sets for itself (its own thread, its own asyncio task), and ``is``/``as``
set that variable instead of the class attribute.
"""

from __future__ import annotations

import copy
import importlib
import re
from collections import abc
from collections.abc import Callable
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

ACTIVE: ContextVar[bool] = ContextVar("imgfhir_fhirpath_active", default=False)
MODEL: ContextVar[dict[str, Any] | None] = ContextVar("imgfhir_fhirpath_model", default=None)

_engine: Any = importlib.import_module("fhirpathpy.engine")
_evaluators_mod: Any = importlib.import_module("fhirpathpy.engine.evaluators")
_nodes: Any = importlib.import_module("fhirpathpy.engine.nodes")
_util: Any = importlib.import_module("fhirpathpy.engine.util")

_SYSTEM_TYPES = frozenset({"Boolean", "String", "Integer", "Decimal", "Date", "DateTime", "Time", "Quantity", "Any"})


def is_date(value: Any) -> bool:
    """fhirpathpy has one class for Date and DateTime: a value without a time part is a Date, unless it was
    written as a partial DateTime literal (``@2015T``), which `_date_time_literal` flags."""
    return (
        isinstance(value, _nodes.FP_DateTime)
        and "T" not in (value.asStr or "")
        and not getattr(value, "imgfhir_datetime", False)
    )


_LITERAL_RE = re.compile(
    r"^@(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2}))?)?"
    r"(?:T(?:(?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?)?)?(?:Z|[+-](?P<tzh>\d{2}):(?P<tzm>\d{2}))?)?$"
)
_LITERAL_LIMITS = {"mo": (1, 12), "d": (1, 31), "h": (0, 23), "mi": (0, 59), "s": (0, 59), "tzh": (0, 14)}


def check_ast(ast: dict[str, Any]) -> None:
    """Static checks fhirpathpy's grammar does not make; raise ValueError on an invalid expression."""
    kind = ast.get("type")
    if kind in ("DateTimeLiteral", "TimeLiteral"):
        text: str = ast["text"] if kind == "DateTimeLiteral" else "@0000-01-01" + ast["text"][1:]
        m = _LITERAL_RE.match(text)
        if kind == "TimeLiteral" and m and (text.endswith("Z") or m["tzh"] is not None):
            raise ValueError(f"a time literal has no time zone: {ast['text']}")
        if not m:
            raise ValueError(f"malformed date/time literal {ast['text']}")
        for key, (low, high) in _LITERAL_LIMITS.items():
            if m[key] is not None and not low <= int(m[key]) <= high:
                raise ValueError(f"date/time literal {ast['text']} out of range")
    for child in ast.get("children", ()):
        if isinstance(child, dict):
            check_ast(child)


_LOOSER_THAN_TYPE = frozenset({"UnionExpression", "InequalityExpression"})


def fix_precedence(node: dict[str, Any]) -> dict[str, Any]:
    """fhirpathpy's grammar ranks ``is``/``as`` below ``|`` and the inequalities; FHIRPath ranks them above.

    ``1 > 2 is Boolean`` parses as ``(1 > 2) is Boolean``: rotate it to ``1 > (2 is Boolean)``.
    """
    children = node.get("children")
    if isinstance(children, list):
        node["children"] = [fix_precedence(c) if isinstance(c, dict) else c for c in children]
    if node.get("type") == "TypeExpression" and len(node["children"]) == 2:
        left, type_spec = node["children"]
        if left.get("type") in _LOOSER_THAN_TYPE and len(left.get("children", ())) == 2:
            a, b = left["children"]
            inner = fix_precedence({**node, "children": [b, type_spec]})
            return {**left, "children": [a, inner]}
    return node


def _gated(ours: Callable[..., Any], original: Callable[..., Any]) -> Callable[..., Any]:
    def dispatch(*args: Any, **kwargs: Any) -> Any:
        return ours(*args, **kwargs) if ACTIVE.get() else original(*args, **kwargs)

    dispatch.__name__ = getattr(original, "__name__", "dispatch")
    dispatch.__wrapped__ = original  # type: ignore[attr-defined]
    return dispatch


# -- parameters: variable scopes and sort keys ----------------------------------------------------------------------


def _scoped(ctx: dict[str, Any], run: Callable[[], Any]) -> Any:
    if not ctx.get("imgfhir_scoped"):  # only expressions that define variables need scopes
        return run()
    saved = ctx["vars"]
    ctx["vars"] = copy.copy(saved)
    try:
        return run()
    finally:
        ctx["vars"] = saved


def _make_param(original: Callable[..., Any]) -> Callable[..., Any]:
    def make_param(ctx: dict[str, Any], parent_data: Any, node_type: Any, param: dict[str, Any]) -> Any:
        if node_type == "SortKey":
            descending = param.get("type") == "PolarityExpression" and param["terminalNodeText"][:1] == ["-"]
            body = param["children"][0] if descending else param

            def key(data: Any) -> tuple[bool, Any]:
                def run() -> Any:
                    ctx["$this"] = _util.arraify(data)
                    return _engine.do_eval(ctx, ctx["$this"], body)

                return descending, _scoped(ctx, run)

            return key
        if node_type == "Expr":
            inner = original(ctx, parent_data, node_type, param)

            def lambda_param(data: Any) -> Any:
                saved: dict[str, Any] = {key: ctx[key] for key in ("$this", "$index", "$total") if key in ctx}
                try:
                    return _scoped(ctx, lambda: inner(data))
                finally:  # fhirpathpy leaves $this of the last item behind for later arguments
                    for key in ("$this", "$index", "$total"):
                        ctx.pop(key, None)
                    ctx.update(saved)

            return lambda_param
        return _scoped(ctx, lambda: original(ctx, parent_data, node_type, param))

    return make_param


# -- literals -------------------------------------------------------------------------------------------------------


def _number_literal(ctx: dict[str, Any], parent_data: Any, node: dict[str, Any]) -> list[Any]:
    text: str = node["text"]
    return [Decimal(text)] if "." in text else [int(text)]


def _date_time_literal(ctx: dict[str, Any], parent_data: Any, node: dict[str, Any]) -> list[Any]:
    text: str = node["text"][1:]
    value = _nodes.FP_DateTime(text.removesuffix("T"))
    if value is not None and text.endswith("T"):
        value.imgfhir_datetime = True
    return [value]


def _polarity(original: Callable[..., Any]) -> Callable[..., Any]:
    def polarity_expression(ctx: dict[str, Any], parent_data: Any, node: dict[str, Any]) -> list[Any]:
        operand = _engine.do_eval(ctx, parent_data, node["children"][0])
        if len(operand) == 1 and isinstance(_util.get_data(operand[0]), _nodes.FP_Quantity):
            q = _util.get_data(operand[0])
            sign = -1 if node["terminalNodeText"][0] == "-" else 1
            return [_nodes.FP_Quantity(sign * q.value, q.unit)]
        result: list[Any] = original(ctx, parent_data, node)
        return result

    return polarity_expression


# -- member access: primitives with extensions, choice types


def _choice_type(model: dict[str, Any], path: str) -> str:
    """fhirpathpy leaves ``Parameters.parameter.valueUri`` as the path of a choice value: name its type."""
    if "." not in path or path in model["path2Type"]:
        return path
    base = path.rstrip("abcdefghijklmnopqrstuvwxyz0123456789")
    for cut in range(len(path) - 1, len(base) - 2, -1):
        if cut <= 0 or not path[cut].isupper():
            continue
        choices = model["choiceTypePaths"].get(path[:cut])
        suffix = path[cut:]
        if choices and suffix in choices:
            primitive = suffix[0].lower() + suffix[1:]
            return primitive if primitive in model["type2Parent"] else suffix
    return path


# ---------------------------------------------------------------------------------------------------------------


def _is_extension_part(data: Any) -> bool:
    return isinstance(data, abc.Mapping) and bool(data) and set(data) <= {"extension", "id"}


def _fold_primitive_extensions(result: list[Any]) -> list[Any]:
    """fhirpathpy returns the ``_name`` sibling of a primitive as an item of its own after all the values
    (and a None item for each JSON ``null`` of a list). Fold each into its value's node (``node._data``);
    a value that is only an extension stays the extension object, as fhirpathpy has it for single values."""
    values: dict[str, Any] = {}
    extensions: dict[str, Any] = {}
    for item in result:
        if isinstance(item, _nodes.ResourceNode) and item.propName:
            if _is_extension_part(item.data):
                extensions.setdefault(item.propName, item)
            elif not isinstance(item.data, abc.Mapping):
                values.setdefault(item.propName, item)
    merged: list[Any] = []
    placed: set[int] = set()
    for item in result:
        name = item.propName if isinstance(item, _nodes.ResourceNode) else None
        if not name:
            merged.append(item)
        elif name in extensions and extensions[name] is item:
            value = values.get(name)
            if value is not None and value.data is not None:
                value._data = item.data
            elif id(item) not in placed:
                merged.append(item)
        elif name in values and values[name] is item and item.data is None:
            ext = extensions.get(name)
            if ext is not None:  # a null in a primitive list: its extension takes the value's place
                merged.append(ext)
                placed.add(id(ext))
        elif item.data is not None:  # the nulls of a `_name` list stand for values without extensions
            merged.append(item)
    return merged


def _extension_members(item: Any, key: str) -> list[Any] | None:
    """``extension``/``id`` of a primitive whose ``_name`` sibling was folded into it, else None."""
    extra = getattr(item, "_data", None)
    if not isinstance(item, _nodes.ResourceNode) or isinstance(item.data, abc.Mapping) or not isinstance(extra, dict):
        return None
    value = extra.get(key)
    if value is None:
        return []
    if key == "id":
        return [_nodes.ResourceNode.create_node(value, "string")]
    return [_nodes.ResourceNode.create_node(ext, "Extension") for ext in value]


def _member_invocation(original: Callable[..., Any]) -> Callable[..., Any]:
    def member_invocation(ctx: dict[str, Any], parent_data: Any, node: dict[str, Any]) -> list[Any]:
        key = str(node["children"][0].get("text", "")).strip('`"')
        folded = isinstance(parent_data, list) and key in ("extension", "id")
        if folded and any(_extension_members(item, key) is not None for item in parent_data):
            out: list[Any] = []
            for item in parent_data:
                members = _extension_members(item, key)
                out.extend(members if members is not None else member_invocation(ctx, [item], node))
            return out
        result: list[Any] = original(ctx, parent_data, node)
        model = ctx.get("model")
        if model:
            for item in result:
                if isinstance(item, _nodes.ResourceNode) and isinstance(item.path, str):
                    item.path = _choice_type(model, item.path)
        if len(result) > 1 and any(
            isinstance(item, _nodes.ResourceNode) and (item.data is None or _is_extension_part(item.data))
            for item in result
        ):
            return _fold_primitive_extensions(result)
        return result

    return member_invocation


# -- types ----------------------------------------------------------------------------------------------------------


class ModelView(abc.Mapping[str, Any]):
    """What fhirpathpy reads as ``TypeInfo.model``: the model of the evaluation running in this context."""

    def __getitem__(self, key: str) -> Any:
        model = MODEL.get()
        if model is None:
            raise KeyError(key)
        return model[key]

    def get(self, key: str, default: Any = None) -> Any:
        model = MODEL.get()
        return default if model is None else model.get(key, default)

    def __iter__(self) -> abc.Iterator[str]:
        return iter(MODEL.get() or ())

    def __len__(self) -> int:
        return len(MODEL.get() or ())

    def __bool__(self) -> bool:
        return bool(MODEL.get())


def _type_operator(name: str) -> Callable[..., Any]:
    """fhirpathpy's ``is``/``as`` (function and operator) without their ``TypeInfo.model = ctx["model"]``:
    under imgfhir the evaluation has set `MODEL` already; used directly, fhirpathpy's evaluation sets it
    here, for this context only."""

    def operator(ctx: dict[str, Any], coll: list[Any], type_info: Any) -> Any:
        if not ACTIVE.get():
            MODEL.set(ctx.get("model"))
        if not coll:
            return []
        if len(coll) > 1:
            raise ValueError(f"Expected singleton on left side of '{name}', got {coll}")
        matches = _nodes.TypeInfo.from_value(coll[0]).is_(type_info)
        return matches if name == "is" else (coll if matches else [])

    operator.__name__ = f"{name}_fn"
    return operator


def _known_type(name: str, namespace: str | None) -> bool:
    if namespace == "System" or (namespace is None and name in _SYSTEM_TYPES):
        return name in _SYSTEM_TYPES
    model = MODEL.get()
    if not model:
        return True
    return bool(
        name in model["type2Parent"]
        or name in model.get("_parents", ())
        or name in ("Resource", "Element", "BackboneElement", "DomainResource")
        or name in _SYSTEM_TYPES
    )


def type_is(self: Any, other: Any, exact_primitives: bool = False) -> bool:
    """`self` (a value's TypeInfo) is `other` (a type specifier); unknown FHIR type names raise.

    With `exact_primitives` a FHIR primitive matches only its own name (``as``/``ofType``: the suite
    expects ``gender.as(string)`` to be empty although ``gender is string``).
    """
    if not isinstance(other, _nodes.TypeInfo):
        return False
    if other.namespace != "System" and not _known_type(other.name, other.namespace):
        raise TypeError(f"unknown type {other.namespace + '.' if other.namespace else ''}{other.name}")
    if self.namespace and other.namespace and self.namespace != other.namespace:
        return False
    if self.namespace == "System" or other.namespace == "System":
        return bool(self.name == other.name)
    if exact_primitives and (self.name[:1].islower() or other.name[:1].islower()):
        return bool(self.name == other.name)
    model = MODEL.get()
    if not model:
        return bool(self.name == other.name)
    name: str | None = self.name
    while name:
        if name == other.name:
            return True
        name = model["type2Parent"].get(name)
    return False


def _create_by_value(original: Callable[..., Any]) -> Callable[..., Any]:
    def create(namespace: str, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
            # a resource as plain JSON (`%resource`, `%rootResource`, a resolved reference) has its type
            return _nodes.TypeInfo(value["resourceType"], _nodes.TypeInfo.FHIR)
        info = original(namespace, value)
        if is_date(value):
            info.name = "Date" if namespace == "System" else "date"
        return info

    return create


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    table = _evaluators_mod.evaluators
    table["NumberLiteral"] = _gated(_number_literal, table["NumberLiteral"])
    table["DateTimeLiteral"] = _gated(_date_time_literal, table["DateTimeLiteral"])
    table["PolarityExpression"] = _gated(_polarity(table["PolarityExpression"]), table["PolarityExpression"])
    table["MemberInvocation"] = _gated(_member_invocation(table["MemberInvocation"]), table["MemberInvocation"])
    _engine.make_param = _gated(_make_param(_engine.make_param), _engine.make_param)
    type_info = _nodes.TypeInfo
    MODEL.set(type_info.model)  # whatever fhirpathpy was given before, for this context
    type_info.model = ModelView()
    invocations = importlib.import_module("fhirpathpy.engine.invocations").invocation_registry
    for key, name in (("is", "is"), ("isOp", "is"), ("as", "as"), ("asOp", "as")):
        invocations[key]["fn"] = _type_operator(name)
    type_info.is_ = _gated(type_is, type_info.is_)
    original_create = type_info.create_by_value_in_namespace
    type_info.create_by_value_in_namespace = staticmethod(
        _gated(_create_by_value(original_create), original_create)
    )
