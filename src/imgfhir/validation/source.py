"""Input loading for validation: bytes, text, files, directories, NDJSON and stdin, in JSON or XML.

XML is told apart from JSON by content (the first character is `<`) and read by `imgfhir.xml`, which
returns the same JSON-shaped resource together with its XML-only issues and a pointer → position table.

`load()` turns whatever the caller has into a JSON object or fatal issues, never an exception:
unparseable JSON (with line and column), invalid UTF-8, a top level that is not an object, a
missing or non-string `resourceType`, nesting deeper than `MAX_DEPTH`, and files over the size
limit (checked with `stat` before reading). A loaded resource may come with errors in its JSON
text that the parsed value hides (duplicate property names: see json_syntax).

`positions(text)` maps JSON pointers (the keys/indexes of `Item.pointer`) back to the line and
column where the value starts; it is only built when an outcome has located issues
(`with_positions`). Columns count Unicode code points, starting at 1.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import orjson

from imgfhir.outcome import Issue, Outcome
from imgfhir.validation import json_syntax

if TYPE_CHECKING:
    from imgfhir.xml.load import XmlScopes

DEFAULT_MAX_BYTES = 50 * 2**20
MAX_DEPTH = 1024  # nesting levels (the top-level object is level 1); orjson >= 3.9 stops there too
STDIN = "-"
INPUT_NAME = "<input>"
STDIN_NAME = "<stdin>"

Pointer = tuple[str | int, ...]
Lookup = Callable[[Pointer], tuple[int, int] | None]
Source = dict[str, Any] | str | bytes | os.PathLike[str]


@dataclass(slots=True)
class Loaded:
    """The outcome of `load()`: a resource, or fatal issues saying why there is none. With a
    resource, `issues` holds what is wrong with the JSON text itself (duplicate property names)."""

    resource: dict[str, Any] | None
    text: str | None = None  # the JSON text the resource was parsed from (None for a dict input)
    issues: list[Issue] = field(default_factory=list)
    name: str = INPUT_NAME
    # XML inputs: where each value is (pointer → line, column), and the XML-only issues (with a resource)
    positions: Callable[[Pointer], tuple[int, int] | None] | None = None
    format: str = "json"

    @property
    def ok(self) -> bool:
        return self.resource is not None


def _fatal(name: str, message: str, code: str = "structure", **where: Any) -> Loaded:
    return Loaded(None, None, [Issue("fatal", code, message, rule="json", **where)], name)


def load(
    resource: Source, *, max_bytes: int = DEFAULT_MAX_BYTES, name: str | None = None, xml: XmlScopes | None = None
) -> Loaded:
    """Load one resource. A str is JSON or XML text when it looks like it (starts with `{`, `[`, `<`, ...),
    otherwise a file path; bytes are JSON or XML text (told apart by content); a path-like is a file.
    XML is read by the definitions of the scope `xml` chooses (default: the bundled packages). Never raises."""
    if isinstance(resource, dict):
        return _check(resource, None, name or INPUT_NAME)
    if isinstance(resource, os.PathLike) or (
        isinstance(resource, str) and not _looks_like_json(resource) and not looks_like_xml(resource)
    ):
        path = Path(os.fspath(resource))
        label = name or str(path)
        try:
            # opened without blocking and checked on the open descriptor: a FIFO would block open()
            # and read() forever, a device (/dev/zero) never ends; only a regular file is read
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
            with os.fdopen(fd, "rb") as fh:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    return _fatal(label, f"{path} is not a regular file ({_file_kind(st.st_mode)})", "not-supported")
                if st.st_size > max_bytes:
                    return _fatal(label, _over(f"file is {st.st_size} bytes", max_bytes), "too-costly")
                data = fh.read(max_bytes + 1)  # the file may have grown since fstat()
        except OSError as exc:
            return _fatal(label, f"cannot read {path}: {exc.strerror or exc}", "not-found")
        except ValueError:  # a "path" with a NUL character: no file can have that name
            return _fatal(label[:200], "not JSON, XML or a readable file name (it holds a NUL character)", "invalid")
        return _parse_any(data, label, max_bytes, xml)
    if isinstance(resource, str | bytes | bytearray | memoryview):
        return _parse_any(resource, name or INPUT_NAME, max_bytes, xml)
    return _fatal(name or INPUT_NAME, f"cannot validate a {type(resource).__name__}: expected a JSON object", "invalid")


def _file_kind(mode: int) -> str:
    kinds: list[tuple[Callable[[int], bool], str]] = [(stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device")]
    kinds += [(stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")]
    return next((name for test, name in kinds if test(mode)), "not a file")


def _parse_any(
    data: str | bytes | bytearray | memoryview, name: str, max_bytes: int, xml: XmlScopes | None
) -> Loaded:
    if looks_like_xml(data):
        from imgfhir.xml.load import load_xml

        return load_xml(data, name, max_bytes=max_bytes, scopes=xml)
    return _parse(data, name, max_bytes)


_XML_START = re.compile(rb"\A(?:\xef\xbb\xbf)?[ \t\r\n]*<")


def looks_like_xml(data: str | bytes | bytearray | memoryview) -> bool:
    """XML by content: the first character (after a byte order mark and whitespace) is `<`."""
    if isinstance(data, str):
        return data.lstrip("\ufeff \t\r\n")[:1] == "<"
    return _XML_START.match(bytes(data[:4096])) is not None


def _over(what: str, max_bytes: int) -> str:
    return f"{what}, over the limit of {max_bytes} bytes (max_bytes)"


# an object, array or string, or nothing but a scalar: a path such as `null-given.json` or `42.json` is a path
_JSON_START = re.compile(r"\s*(?:[{\[\"]|(?:-?\d[\d.eE+-]*|true|false|null)\s*\Z)|\s*\Z")


def _looks_like_json(text: str) -> bool:
    return "\n" in text or _JSON_START.match(text) is not None


def _parse(data: str | bytes | bytearray | memoryview, name: str, max_bytes: int) -> Loaded:
    if len(data) > max_bytes:
        unit = "characters" if isinstance(data, str) else "bytes"
        return _fatal(name, _over(f"input is {len(data)} {unit}", max_bytes), "too-costly")
    if isinstance(data, str):
        text = data
    else:
        raw = bytes(data)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, column = _byte_position(raw, exc.start)
            return _fatal(
                name,
                f"invalid UTF-8 at line {line}, column {column} (byte {exc.start}): {exc.reason}",
                line=line,
                column=column,
            )
    if text.startswith("\ufeff"):  # a UTF-8 byte order mark: allowed by RFC 8259 parsers, ignored
        text = text[1:]
    lenient: list[Issue] = []
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if "recursion" in exc.msg or "depth" in exc.msg:  # newer orjson limits depth itself (1024)
            return _fatal(name, f"JSON nested deeper than {MAX_DEPTH} levels")
        recovered = json_syntax.recover(text, exc.msg)  # comments, extra commas: errors, not fatal
        if recovered is None:
            line, column = _char_position(text, exc.pos)
            return _fatal(name, f"invalid JSON at line {line}, column {column}: {exc.msg}", line=line, column=column)
        value, text, lenient = recovered
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else "null" if value is None else "a " + _json_kind(value)
        return _fatal(name, f"expected a JSON object (a FHIR resource), found {kind}", line=1, column=1)
    loaded = _check(value, text, name)
    if loaded.resource is not None:  # what the text says that the value no longer shows (duplicate keys)
        loaded.issues.extend([*lenient, *json_syntax.check(text, value, value["resourceType"])])
    return loaded


def _check(resource: dict[str, Any], text: str | None, name: str) -> Loaded:
    rtype = resource.get("resourceType")
    if "resourceType" not in resource:
        return Loaded(None, text, [Issue("fatal", "required", "missing resourceType", rule="json")], name)
    if not isinstance(rtype, str):
        issue = Issue(
            "fatal",
            "structure",
            f"resourceType must be a string, found {_json_kind(rtype)}",
            expression="resourceType",
            rule="json",
            pointer=("resourceType",),
        )
        return Loaded(None, text, with_positions([issue], text) if text else [issue], name)
    if _too_deep(resource, MAX_DEPTH, text):
        deep = Issue("fatal", "structure", f"JSON nested deeper than {MAX_DEPTH} levels", rule="json")
        return Loaded(None, text, [deep], name)
    return Loaded(resource, text, [], name)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _too_deep(value: Any, limit: int, text: str | None) -> bool:
    """Nesting deeper than `limit`, without recursion; free when the text has few brackets."""
    if text is not None and text.count("{") + text.count("[") <= limit:
        return False
    level: list[Any] = [value]
    depth = 1
    while level:
        if depth > limit:
            return True
        deeper: list[Any] = []
        for node in level:
            for child in node.values() if isinstance(node, dict) else node:
                if isinstance(child, dict | list):
                    deeper.append(child)
        level, depth = deeper, depth + 1
    return False


def _char_position(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column (in code points) of character offset `pos`."""
    pos = max(0, min(pos, len(text)))
    line_start = text.rfind("\n", 0, pos) + 1
    return text.count("\n", 0, pos) + 1, pos - line_start + 1


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


# -- positions ----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""[ \t\r\n]*(?:
        ("[^"\\]*(?:\\.[^"\\]*)*")      # 1 string
      | ([{}\[\],:])                   # 2 punctuation
      | ([^\s{}\[\],:"]+)              # 3 number or literal
    )""",
    re.VERBOSE | re.DOTALL,
)


@dataclass(slots=True)
class _Frame:
    is_object: bool
    pointer: Pointer
    key: str | int = 0  # the current key (objects) or index (arrays)
    expect_key: bool = True


def _scan(text: str) -> dict[Pointer, int]:
    """Character offset of the start of every value, by pointer. Iterative; stops at bad JSON."""
    found: dict[Pointer, int] = {}
    stack: list[_Frame] = []
    pos, end = 0, len(text)
    if text.startswith("\ufeff"):
        pos = 1

    def here() -> Pointer:
        return (*stack[-1].pointer, stack[-1].key) if stack else ()

    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None:
            break
        pos = m.end()
        string, punct, literal = m.group(1), m.group(2), m.group(3)
        if string is not None:
            top = stack[-1] if stack else None
            if top is not None and top.is_object and top.expect_key:
                top.key = orjson.loads(string) if "\\" in string else string[1:-1]
                top.expect_key = False
            else:
                found[here()] = m.start(1)
        elif literal is not None:
            found[here()] = m.start(3)
        elif punct in "{[":
            pointer = here()
            found[pointer] = m.start(2)
            stack.append(_Frame(punct == "{", pointer))
        elif punct in "}]":
            if not stack:
                break
            stack.pop()
        elif punct == "," and stack:
            top = stack[-1]
            if top.is_object:
                top.expect_key = True
            else:
                top.key = int(top.key) + 1
    return found


def positions(text: str) -> Callable[[Pointer], tuple[int, int] | None]:
    """A lookup from pointer to the (line, column) where that value starts.

    A pointer that is not in the text (an element reported missing) falls back to its nearest
    ancestor that is. The text is scanned on the first lookup only.
    """
    table: dict[Pointer, int] | None = None
    line_starts: list[int] = []

    def lookup(pointer: Pointer) -> tuple[int, int] | None:
        nonlocal table, line_starts
        if table is None:
            table = _scan(text)
            line_starts = [0, *(m.end() for m in re.finditer("\n", text))]
        key = tuple(pointer)
        while key not in table:
            if not key:
                return None
            key = key[:-1]
        offset = table[key]
        line = bisect_right(line_starts, offset)
        return line, offset - line_starts[line - 1] + 1

    return lookup


@overload
def with_positions(
    issues: Outcome, text: str, *, first_line: int = 1, lookup: Lookup | None = None
) -> Outcome: ...
@overload
def with_positions(
    issues: list[Issue], text: str, *, first_line: int = 1, lookup: Lookup | None = None
) -> list[Issue]: ...
def with_positions(
    issues: Outcome | list[Issue], text: str, *, first_line: int = 1, lookup: Lookup | None = None
) -> Outcome | list[Issue]:
    """Fill line/column of the issues that have a pointer and no line yet.

    Returns the same kind it was given (an Outcome, or a list of issues). `first_line` shifts
    line numbers when the text is one line of a larger file (NDJSON). `lookup` replaces the scan of
    `text` (XML inputs come with their positions: `Loaded.positions`).
    """
    items = list(issues)
    out: list[Issue] = []
    for issue in items:
        if issue.pointer is not None and issue.line is None:
            lookup = lookup or positions(text)
            found = lookup(issue.pointer)
            if found is not None:
                issue = replace(issue, line=found[0] + first_line - 1, column=found[1])
        elif issue.line is not None and first_line != 1:
            issue = replace(issue, line=issue.line + first_line - 1)
        out.append(issue)
    return Outcome(out) if isinstance(issues, Outcome) else out


# -- inputs -------------------------------------------------------------------------------------


def iter_inputs(
    paths: Iterable[str | os.PathLike[str]], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[tuple[str, bytes | Path]]:
    """(name, source) for each input, in order; pass the source to `load()`.

    - `-` reads standard input (name `<stdin>`);
    - a directory yields its `*.json`, `*.xml`, `*.ndjson` and `*.jsonl` files recursively, sorted, skipping
      hidden files and folders (such as a package's `.index.json`);
    - a `.ndjson` or `.jsonl` file yields one source per non-blank line, named `file.ndjson:LINE`;
    - any other path is yielded as a Path, so that `load()` checks its size before reading it
      and reports a missing file as a fatal issue.
    """
    for raw in paths:
        if os.fspath(raw) == STDIN:
            yield STDIN_NAME, _read_stdin(max_bytes)
            continue
        path = Path(raw)
        if path.is_dir():
            for found in sorted(_walk(path)):
                yield from _file_inputs(found, str(found))
        else:
            yield from _file_inputs(path, os.fspath(raw))


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for filename in filenames:
            if not filename.startswith(".") and filename.endswith((".json", ".ndjson", ".jsonl", ".xml")):
                yield Path(dirpath, filename)


def _file_inputs(path: Path, name: str) -> Iterator[tuple[str, bytes | Path]]:
    """A file, or the non-blank lines of an NDJSON / JSON Lines file (read lazily, one at a time;
    `imgfhir.bulk.iter_records` also reads gzip, bounds the line length and counts blank lines)."""
    if path.suffix not in (".ndjson", ".jsonl") or not path.is_file():
        yield name, path
        return
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield f"{name}:{number}", line


def _read_stdin(max_bytes: int) -> bytes:
    stream = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else None
    if stream is None:
        return sys.stdin.read(max_bytes + 1).encode()
    return stream.read(max_bytes + 1)  # one byte over the limit is enough for load() to refuse it


# one record of an NDJSON / JSON Lines file (plain or gzip) or of standard input read as NDJSON
NDJSON_NAME = re.compile(r"^(?P<file>.*\.(?:ndjson|jsonl)(?:\.gz)?|<stdin>):(?P<line>\d+)$", re.IGNORECASE)


def ndjson_line(name: str) -> tuple[str, int] | None:
    """(`file.ndjson`, LINE) for the name of one record of an NDJSON input (`.ndjson`, `.jsonl`,
    either gzipped, or `<stdin>`), else None."""
    m = NDJSON_NAME.match(name)
    return (m["file"], int(m["line"])) if m else None
