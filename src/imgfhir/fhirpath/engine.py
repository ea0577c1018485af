"""Compile and evaluate FHIRPath expressions over FHIR JSON, on top of fhirpathpy.

fhirpathpy does the parsing (its ANTLR grammar) and most of the evaluation. This module owns
what a validator needs around it: strict syntax checking at compile time, a compile cache, the FHIR
model per release (so ``is``, ``as`` and ``ofType`` know the FHIR type hierarchy), the standard
environment variables, one exception type, and the gap-closing overrides of ``_patches`` and
``functions``, which are active only while this layer evaluates (fhirpathpy used directly in the
same process keeps its own behaviour).

Evaluation state is per call: the model is a context variable (see ``_patches.MODEL``), variables and
the clock (``now()``) live in the call's own context dict, so threads may evaluate concurrently, each
with its own release.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from imgfhir.fhirpath import _patches, budget
from imgfhir.fhirpath.budget import Budget, BudgetExceeded, Exhausted
from imgfhir.fhirpath.checker import SemanticError, check
from imgfhir.fhirpath.errors import FhirPathError
from imgfhir.fhirpath.functions import FUNCTIONS

_engine: Any = importlib.import_module("fhirpathpy.engine")
_nodes: Any = importlib.import_module("fhirpathpy.engine.nodes")
_util: Any = importlib.import_module("fhirpathpy.engine.util")
_models: Any = importlib.import_module("fhirpathpy.models")
_antlr: Any = importlib.import_module("antlr4")
_error_listener: Any = importlib.import_module("antlr4.error.ErrorListener")
_lexer_mod: Any = importlib.import_module("fhirpathpy.parser.generated.FHIRPathLexer")
_parser_mod: Any = importlib.import_module("fhirpathpy.parser.generated.FHIRPathParser")
_listener_mod: Any = importlib.import_module("fhirpathpy.parser.ASTPathListener")

_log = logging.getLogger(__name__)
_patches.install()
if not hasattr(_engine.do_eval, "imgfhir_metered"):
    _engine.do_eval = budget.metered_eval(_engine.do_eval)
    _engine.do_eval.imgfhir_metered = True
_TABLE = budget.charged_table(FUNCTIONS, importlib.import_module("fhirpathpy.engine.invocations").invocation_registry)

RELEASES: dict[str, str] = {"R4": "r4", "R4B": "r4", "R5": "r5"}
"""FHIR release name -> fhirpathpy model folder (R4B shares the R4 model)."""

UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
_VS_PREFIX = "http://hl7.org/fhir/ValueSet/"
_EXT_PREFIX = "http://hl7.org/fhir/StructureDefinition/"




class _Variables(dict[str, Any]):
    """Environment variables; ``%`vs-x```` and ``%`ext-x```` resolve to HL7 canonicals on demand."""

    @staticmethod
    def _derived(name: str) -> str | None:
        if name.startswith("vs-"):
            return _VS_PREFIX + name[3:]
        if name.startswith("ext-"):
            return _EXT_PREFIX + name[4:]
        return None

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or (isinstance(name, str) and self._derived(name) is not None)

    def __missing__(self, name: str) -> Any:
        derived = self._derived(name)
        if derived is None:
            raise KeyError(name)
        return derived


class _RaisingListener(_error_listener.ErrorListener):  # type: ignore[misc]
    def syntaxError(self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any) -> None:
        raise SyntaxError(f"line {line}:{column} {msg}")


_KEYWORD_NAMES = frozenset({"div", "mod", "and", "or", "xor", "implies", "true", "false"})
"""Keywords fhirpathpy's grammar does not accept as member names (FHIR has ``Narrative.div``)."""


def _tokens(expression: str, listener: Any) -> list[Any]:
    lexer = _lexer_mod.FHIRPathLexer(_antlr.InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    tokens: list[Any] = lexer.getAllTokens()
    return tokens


def _single_quoted(expression: str) -> str:
    """Double-quoted strings (``contains(":")``, used by some core invariants) as FHIRPath's single-quoted."""
    if '"' not in expression:
        return expression
    out: list[str] = []
    i, n = 0, len(expression)
    while i < n:
        ch = expression[i]
        if ch in "'`" or expression.startswith(("//", "/*"), i):
            if ch in "'`":
                end = i + 1
                while end < n and expression[end] != ch:
                    end += 2 if expression[end] == "\\" else 1
                end += 1
            else:
                end = expression.find("\n" if expression[i + 1] == "/" else "*/", i + 2)
                end = n if end < 0 else end + (1 if expression[i + 1] == "/" else 2)
            out.append(expression[i:end])
            i = end
        elif ch == '"':
            end = i + 1
            while end < n and expression[end] != '"':
                end += 2 if expression[end] == "\\" else 1
            body = expression[i + 1 : end].replace('\\"', '"').replace("'", "\\'")
            out.append(f"'{body}'")
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _rewrite(expression: str, listener: Any) -> tuple[str, list[bool]]:
    """Work around grammar gaps before parsing.

    Double-quoted strings become single-quoted, ``x.div`` becomes ``x.`div``` (a keyword used as a member
    name), and a partial DateTime literal written
    with a bare ``T`` (``@2015T``) loses the ``T`` the grammar rejects; the second result flags, per DATETIME
    literal in source order, whether it had one, so `_mark_datetimes` can restore it in the AST.
    """
    expression = _single_quoted(expression)
    tokens = _tokens(expression, listener)
    edits: list[tuple[int, int, str]] = []
    partial: list[bool] = []
    for i, token in enumerate(tokens):
        previous = tokens[i - 1] if i else None
        following: Any = tokens[i + 1] if i + 1 < len(tokens) else None
        if token.text in _KEYWORD_NAMES and previous is not None and previous.text == ".":
            edits.append((token.start, token.stop + 1, f"`{token.text}`"))
        if token.type == _lexer_mod.FHIRPathLexer.DATETIME:
            bare_t = following is not None and following.text == "T" and following.start == token.stop + 1
            partial.append(bare_t)
            if bare_t:
                edits.append((following.start, following.stop + 1, ""))
    for start, stop, text in reversed(edits):
        expression = expression[:start] + text + expression[stop:]
    return expression, partial


def _mark_datetimes(node: dict[str, Any], partial: list[bool], seen: list[int]) -> None:
    if node.get("type") == "DateTimeLiteral":
        if partial[seen[0]]:
            node["text"] += "T"
        seen[0] += 1
    for child in node.get("children", ()):
        if isinstance(child, dict):
            _mark_datetimes(child, partial, seen)


def _parse(expression: str) -> dict[str, Any]:
    """Parse the whole text (up to EOF) into fhirpathpy's AST; any lexer or parser error raises."""
    listener = _RaisingListener()
    text, partial = _rewrite(expression, listener)
    lexer = _lexer_mod.FHIRPathLexer(_antlr.InputStream(text))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    parser = _parser_mod.FHIRPathParser(_antlr.CommonTokenStream(lexer))
    parser.buildParseTrees = True
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    tree = parser.entireExpression()
    ast_listener = _listener_mod.ASTPathListener()
    _antlr.ParseTreeWalker().walk(ast_listener, tree)
    root: dict[str, Any] = ast_listener.parentStack[0]
    entire = root["children"][0]
    expr: dict[str, Any] = entire["children"][0]
    if any(partial):
        _mark_datetimes(expr, partial, [0])
    expr = _patches.fix_precedence(expr)
    _patches.check_ast(expr)
    return expr


@dataclass(frozen=True, slots=True)
class CompiledExpression:
    """A parsed expression bound to a FHIR release; evaluate it against any number of resources."""

    expression: str
    release: str
    ast: dict[str, Any] = field(repr=False, compare=False)

    @property
    def model(self) -> dict[str, Any]:
        return _model(self.release)

    def evaluate(
        self,
        resource: Any,
        context_node: Any = None,
        env: Mapping[str, Any] | None = None,
        *,
        context_type: str | None = None,
        root_resource: Any = None,
        resolver: Callable[[str], Any] | None = None,
        raw: bool = False,
        lenient: bool = False,
        limits: Budget | None = None,
    ) -> list[Any]:
        """Evaluate on `resource` (FHIR JSON as dicts/lists); the input collection is `context_node`.

        `context_node` defaults to the resource itself; `context_type` names its FHIR type or path
        (``"HumanName"``, ``"Patient.name"``) when it is not a resource. `env` adds or overrides
        environment variables (names without ``%``). `resolver` maps a reference string to a resource for
        ``resolve()`` beyond contained resources and Bundle entries. With `raw`, items stay fhirpathpy nodes
        that carry their FHIR type; otherwise they are plain JSON values, with FHIRPath system values
        (dates, times, quantities) as fhirpathpy's ``FP_*`` objects.

        With `lenient`, ``as()`` over several items filters them like ``ofType()``, and ``in``/``contains``
        test each of several items, instead of failing: invariants written before FHIRPath made these
        singleton operations rely on that (R4's dom-3: ``%resource.descendants().as(canonical)``), and
        the reference validator evaluates them so. The official suite keeps the strict reading.

        `limits` bounds the evaluation's steps and time (default: the enclosing `budget.scope`'s, else
        `budget.DEFAULT_BUDGET`); going over raises `BudgetExceeded` (a FhirPathError, phase ``budget``).
        """
        focus = resource if context_node is None else context_node
        node = _nodes.ResourceNode.create_node(focus, context_type) if context_type else focus
        variables = _Variables(
            resource=resource,
            rootResource=resource if root_resource is None else root_resource,
            context=node,
            ucum=UCUM,
            sct=SNOMED,
            loinc=LOINC,
        )
        if env:
            variables.update(env)
        data_root = _util.arraify(node)
        ctx: dict[str, Any] = {
            "dataRoot": data_root,
            "vars": variables,
            "model": self.model,
            "userInvocationTable": _TABLE,
            "imgfhir": True,
            "traceFn": _trace,
            "imgfhir_resolver": resolver,
            "imgfhir_scoped": "defineVariable" in self.expression,
            "imgfhir_lenient": lenient,
            "imgfhir_meter": budget.meter(limits, self.expression),
        }
        try:
            with _active(self.model):
                result = _engine.do_eval(ctx, data_root, self.ast)
                return list(result) if raw else _plain(result)
        except Exhausted as exc:
            budget.note_exhausted()
            raise BudgetExceeded(str(exc), self.expression) from None
        except FhirPathError:
            raise
        except Exception as exc:
            raise FhirPathError(f"{type(exc).__name__}: {_readable(str(exc))}", self.expression, "evaluation") from exc


_NODE_LIST = re.compile(r"\[(?:<[\w.]+ object at 0x[0-9a-fA-F]+>(?:, )?)+\]")
_NODE = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def _readable(message: str) -> str:
    """fhirpathpy's messages show collections as object reprs: say how many items instead, so a
    message is short and the same from one run to the next."""
    if message.startswith("Expected singleton on right side of in,"):
        # fhirpathpy tests the left operand but names (and prints) the right one
        return "the left operand of 'in' has more than one item (FHIRPath requires a single item)"
    message = _NODE_LIST.sub(lambda m: f"a collection of {m.group(0).count(' object at ')} items", message)
    return _NODE.sub("an item", message)


def _trace(label: str, items: Any) -> None:
    _log.debug("trace %s: %r", label, _plain(_util.arraify(items)))


@contextmanager
def _active(model: dict[str, Any]) -> Iterator[None]:
    """This context evaluates with imgfhir's overrides and `model`; nested evaluations restore the outer one's."""
    model_token = _patches.MODEL.set(model)
    token = _patches.ACTIVE.set(True)
    try:
        yield
    finally:
        _patches.ACTIVE.reset(token)
        _patches.MODEL.reset(model_token)


def _plain(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        data = _util.get_data(item)
        if isinstance(data, dict) and list(data) == ["extension"] and isinstance(item, _nodes.ResourceNode):
            continue  # the `_x` half of a primitive that has only extensions
        out.append(data)
    return out


@lru_cache(maxsize=8)
def _model(release: str) -> dict[str, Any]:
    try:
        folder = RELEASES[release.upper()]
    except KeyError:
        raise ValueError(f"unknown FHIR release {release!r}; expected one of {sorted(RELEASES)}") from None
    model: dict[str, Any] = _models.models[folder]
    return model


@lru_cache(maxsize=4096)
def _parsed(expression: str) -> dict[str, Any]:
    """The AST of `expression`, shared by its compilations (release, strictness); evaluation only reads it."""
    try:
        return _parse(expression)
    except Exception as exc:
        raise FhirPathError(str(exc) or type(exc).__name__, expression, "syntax") from exc


def compile(
    expression: str, release: str = "R4", *, strict: bool = False, context_type: str | None = None
) -> CompiledExpression:
    """Parse `expression` once per (expression, release, ...); syntax errors raise `FhirPathError`.

    An expression longer than the budget's `expression_length` raises `BudgetExceeded` before parsing.

    With `strict` and a `context_type` (``"Patient"``, ``"Patient.contact"``, ``"HumanName"``) the expression
    is also checked against the FHIR model (see `checker`): unknown elements, foreign type names, choice
    elements named with a type suffix, order-dependent functions on unordered input raise
    `FhirPathError` with ``phase='semantic'``.
    """
    budget.check_length(expression)
    return _compile(expression, release, strict, context_type)


@lru_cache(maxsize=4096)
def _compile(expression: str, release: str, strict: bool, context_type: str | None) -> CompiledExpression:
    model = _model(release)
    ast = _parsed(expression)
    if strict and context_type:
        try:
            check(ast, model, context_type)
        except SemanticError as exc:
            raise FhirPathError(str(exc), expression, "semantic") from exc
    return CompiledExpression(expression, release.upper(), ast)


def evaluate(resource: Any, expression: str, release: str = "R4", env: Mapping[str, Any] | None = None) -> list[Any]:
    """One-shot convenience: `compile(expression, release).evaluate(resource, env=env)`."""
    return compile(expression, release).evaluate(resource, env=env)
