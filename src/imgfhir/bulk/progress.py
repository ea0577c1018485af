"""A progress bar for long runs: records done, records/s, errors so far and the time left.

Shown on standard error when it is a terminal (never in a pipe, a CI log or with `--quiet`). The
amount of work is the bytes of the inputs (file sizes are known before reading; a gzip counts its
compressed bytes), so the time left is known for files and folders; for standard input it is not
and the bar only counts. Updates are cheap (a few attribute writes); rich redraws ten times a
second from its own thread.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .reader import walk

UPDATE_EVERY = 0.1  # seconds

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID


def input_bytes(paths: Iterable[str]) -> int | None:
    """The bytes of all inputs, or None when unknown (standard input)."""
    total = 0
    for raw in paths:
        if raw == "-":
            return None
        path = Path(raw)
        try:
            files = walk(path) if path.is_dir() else [path]
            total += sum(f.stat().st_size for f in files)
        except OSError:
            continue
    return total


def wanted(quiet: bool, stream: Any = None) -> bool:
    """A bar only on a terminal, and not with --quiet or TERM=dumb."""
    stream = stream if stream is not None else sys.stderr
    return not quiet and bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


class Progress:
    """`advance(bytes, errors)` per record; a no-op object when not shown."""

    def __init__(
        self, total_bytes: int | None, *, shown: bool, console: Console | None = None, label: str = ""
    ) -> None:
        self.shown = shown
        self.records = 0
        self.errors = 0
        self._pending = 0  # bytes not shown yet: the bar is updated at most every UPDATE_EVERY seconds
        self._updated = 0.0
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        if not shown:
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        columns = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[records]:,} records"),
            TextColumn("{task.fields[rate]:,.0f}/s"),
            TextColumn("[red]{task.fields[errors]:,} errors"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        self._bar = Progress(*columns, console=console or Console(stderr=True), transient=True)
        self._task = self._bar.add_task(label or "validating", total=total_bytes, records=0, rate=0.0, errors=0)

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, size: int, errors: int) -> None:
        self.records += 1
        self.errors += errors
        if self._bar is None or self._task is None:
            return
        self._pending += size
        now = time.monotonic()
        if now - self._updated < UPDATE_EVERY:
            return
        self._updated = now
        task = self._bar.tasks[0]
        elapsed = task.elapsed or 0.0
        rate = self.records / elapsed if elapsed > 0 else 0.0
        self._bar.update(self._task, advance=self._pending, records=self.records, rate=rate, errors=self.errors)
        self._pending = 0


def label_of(paths: list[str]) -> str:
    """What the bar says it is doing: the one input's name, or how many there are."""
    if len(paths) == 1:
        return "standard input" if paths[0] == "-" else Path(paths[0]).name
    return f"{len(paths)} inputs"
