"""Streaming input: the records of files, folders, NDJSON / JSON Lines (plain or gzip) and stdin.

`iter_records()` yields one `Record` at a time and holds at most one line in memory, so a bulk
export of any size is read in constant memory. A record is either
- a whole file (`path`), read and size-checked by whoever validates it (a worker process), or
- the bytes of one NDJSON line (`data`) with its line number in the file, or
- a problem the reader found itself (`issue`): a line over the size limit (skipped without being
  held in memory), a gzip stream that is truncated or corrupt, a file that cannot be read.
Blank lines are no records; they are counted (`Record.blank` on the next record; an `empty` record
carries those at the end of a file), so that the summary says how many were skipped: nothing is
dropped silently.

Standard input is NDJSON with `input_format="ndjson"`, one document with `"json"`, and sniffed by
default: NDJSON when its first non-blank line is a complete JSON value and another line follows.
"""

from __future__ import annotations

import gzip
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol

import orjson

from imgfhir.outcome import Issue
from imgfhir.validation.source import DEFAULT_MAX_BYTES, STDIN, STDIN_NAME

InputFormat = Literal["auto", "json", "ndjson"]
NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")
DOCUMENT_SUFFIXES = (".json", ".xml")
_DRAIN = 1 << 20  # an over-long line is skipped in pieces of this size


class Lines(Protocol):
    """What the reader needs of a stream: a file, a gzip file, standard input."""

    def readline(self, limit: int = -1, /) -> bytes: ...
    def read(self, limit: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Record:
    """One input to validate. `name` is the file as given (`<stdin>` for standard input); `line` is
    the record's first line in that file (1 for a whole file); `size` is the bytes it took of its
    input (for progress); `blank` the blank lines skipped just before it."""

    name: str
    line: int = 1
    data: bytes | None = None
    path: str | None = None
    issue: Issue | None = None
    size: int = 0
    ndjson: bool = False
    blank: int = 0

    @property
    def empty(self) -> bool:
        """Nothing to check: it only carries the count of blank lines at the end of a file."""
        return self.data is None and self.path is None and self.issue is None

    @property
    def label(self) -> str:
        """The name reports use: `file.ndjson:LINE` for an NDJSON record, else the file name."""
        return f"{self.name}:{self.line}" if self.ndjson else self.name


def is_ndjson(path: str | os.PathLike[str]) -> bool:
    return os.fspath(path).lower().endswith(NDJSON_SUFFIXES)


def walk(root: Path) -> Iterator[Path]:
    """The JSON, XML and NDJSON files under `root`, sorted, hidden files and folders left out
    (such as a package's `.index.json`)."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for filename in filenames:
            lower = filename.lower()
            if not filename.startswith(".") and lower.endswith((*DOCUMENT_SUFFIXES, *NDJSON_SUFFIXES)):
                found.append(Path(dirpath, filename))
    return iter(sorted(found))


def iter_records(
    paths: Iterable[str | os.PathLike[str]],
    *,
    input_format: InputFormat = "auto",
    max_bytes: int = DEFAULT_MAX_BYTES,
    stdin: Lines | None = None,
) -> Iterator[Record]:
    """The records of `paths` in order: `-` is standard input, a folder yields its files
    recursively (sorted), NDJSON files (by suffix, or all files with `input_format="ndjson"`) one
    record per non-blank line. Never raises for bad input: problems are records with an `issue`."""
    for raw in paths:
        if os.fspath(raw) == STDIN:
            yield from _stdin_records(stdin or _stdin(), input_format, max_bytes)
            continue
        path = Path(raw)
        if path.is_dir():
            for found in walk(path):
                yield from _file_records(found, str(found), input_format, max_bytes)
        else:
            yield from _file_records(path, os.fspath(raw), input_format, max_bytes)


def _stdin() -> Lines:
    return sys.stdin.buffer if hasattr(sys.stdin, "buffer") else _Encoded(sys.stdin)


class _Encoded:
    """A text stream read as UTF-8 bytes (a replaced sys.stdin without `.buffer`)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def readline(self, limit: int = -1, /) -> bytes:
        return self.stream.readline(limit).encode()

    def read(self, limit: int = -1, /) -> bytes:
        return self.stream.read(limit).encode()


def _file_records(path: Path, name: str, input_format: InputFormat, max_bytes: int) -> Iterator[Record]:
    ndjson = input_format == "ndjson" or (input_format == "auto" and is_ndjson(path))
    if not ndjson or not path.is_file():
        try:
            size = path.stat().st_size
        except OSError:
            size = 0  # load() reports it (not found, unreadable)
        yield Record(name, path=os.fspath(path), size=size)
        return
    try:
        raw = path.open("rb")
    except OSError as exc:
        yield Record(name, issue=_problem(f"cannot read {path}: {exc.strerror or exc}", "not-found"))
        return
    with raw:
        gz = path.name.lower().endswith(".gz")
        stream: Lines = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
        yield from _lines(stream, name, max_bytes, position=raw.tell)


def _stdin_records(stream: Lines, input_format: InputFormat, max_bytes: int) -> Iterator[Record]:
    if input_format == "json":
        data = stream.read(max_bytes + 1)  # one byte over the limit is enough for load() to refuse it
        yield Record(STDIN_NAME, data=data, size=len(data))
        return
    if input_format == "ndjson":
        yield from _lines(stream, STDIN_NAME, max_bytes)
        return
    # sniff: NDJSON when the first non-blank line is a whole JSON value and another line follows
    head: list[bytes] = []
    for line in iter(lambda: stream.readline(max_bytes + 1), b""):
        head.append(line)
        if line.strip():
            break
    first = head[-1] if head else b""
    second = b""
    if _whole_value(first):
        for line in iter(lambda: stream.readline(max_bytes + 1), b""):
            head.append(line)
            if line.strip():
                second = line
                break
    if second:
        yield from _lines(_Prefixed(head, stream), STDIN_NAME, max_bytes)
        return
    data = b"".join(head)
    data += stream.read(max(0, max_bytes + 1 - len(data)))
    yield Record(STDIN_NAME, data=data, size=len(data))


def _whole_value(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return bool(line.strip())


class _Prefixed:
    """A stream that first replays the lines read while sniffing."""

    def __init__(self, head: list[bytes], rest: Lines) -> None:
        self.head, self.rest = list(head), rest

    def readline(self, limit: int = -1, /) -> bytes:
        return self.head.pop(0) if self.head else self.rest.readline(limit)

    def read(self, limit: int = -1, /) -> bytes:
        return b"".join(iter(lambda: self.readline(), b"")) if limit < 0 else self.readline(limit)


def _problem(message: str, code: str = "structure", line: int | None = None) -> Issue:
    return Issue("fatal", code, message, rule="json", line=line, column=1 if line is not None else None)


def _lines(
    stream: Lines, name: str, max_bytes: int, position: Callable[[], int] | None = None
) -> Iterator[Record]:
    """One record per non-blank line; a line over `max_bytes` is skipped in pieces, never held.
    `position` tells how far the underlying file has been read (the compressed offset of a gzip)."""
    number, blank, last, read = 0, 0, 0, 0  # bytes: up to the last record, read so far
    while True:
        number += 1
        try:
            line, length = _read_line(stream, max_bytes)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            message = f"gzip stream is truncated or corrupt at line {number} ({exc}): the rest is not read"
            yield Record(name, number, issue=_problem(message, "incomplete", number), ndjson=True, blank=blank)
            return
        except OSError as exc:
            message = f"cannot read line {number}: {exc.strerror or exc}"
            yield Record(name, number, issue=_problem(message, "exception", number), ndjson=True, blank=blank)
            return
        read = position() if position is not None else read + length
        if line is not None and not line.strip():
            if not line:  # the end; blank lines before it are counted on a record with nothing to check
                if blank:
                    yield Record(name, number, ndjson=True, blank=blank, size=read - last)
                return
            blank += 1
            continue
        size, last = read - last, read
        if line is None:
            message = f"line {number} is {length} bytes, over the limit of {max_bytes} bytes (max_bytes): not read"
            issue = _problem(message, "too-costly", number)
            yield Record(name, number, issue=issue, size=size, ndjson=True, blank=blank)
        else:  # without its line break: an error at the end of the record is on its own line, not the next
            data = line[:-2] if line.endswith(b"\r\n") else line[:-1] if line.endswith(b"\n") else line
            yield Record(name, number, data=data, size=size, ndjson=True, blank=blank)
        blank = 0


def _read_line(stream: Lines, max_bytes: int) -> tuple[bytes | None, int]:
    """(the next line, its length); None for a line over `max_bytes`, which is skipped."""
    line = stream.readline(max_bytes + 1)
    if len(line) > max_bytes and not line.endswith(b"\n"):
        return None, len(line) + _drain(stream)
    return line, len(line)


def _drain(stream: Lines) -> int:
    """Skip to the end of the current line; the bytes skipped."""
    skipped = 0
    while True:
        piece = stream.readline(_DRAIN)
        skipped += len(piece)
        if not piece or piece.endswith(b"\n"):
            return skipped
