"""Reports written while a bulk run goes on, one record at a time, in input order.

- `ndjson`: one OperationOutcome per record, on its own line, as soon as the record is done;
- `text` and `compact`: the records with issues (as `validation/report.py` prints them), then a
  line counting records, errors and warnings;
- `json`: one OperationOutcome for a single record, else a Bundle of them, written entry by
  entry (the same document `report.render_json` makes);
- `sarif`: the results written as they come, the rule table (known only at the end) after them
  (the same log as `report.sarif_log`, members in another order);
- `html`: aggregating: the page needs every record with issues and its text, so it is written
  at the end (memory grows with the records that have issues, not with the input).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TextIO, overload

import orjson

from imgfhir.outcome import Outcome
from imgfhir.validation import report

_FLUSH_EVERY = 0.25  # seconds: results reach a pipe promptly without a write per record


class Sink(Protocol):
    def add(self, name: str, outcome: Outcome, text: str | None) -> None: ...
    def close(self, records: int, errors: int, warnings: int) -> None: ...


class _Writer:
    def __init__(self, out: Callable[[], TextIO]) -> None:
        self._out = out  # looked up on each write: a live progress display replaces sys.stdout
        self._flushed = time.monotonic()

    def write(self, text: str) -> None:
        stream = self._out()
        stream.write(text)
        now = time.monotonic()
        if now - self._flushed >= _FLUSH_EVERY:
            stream.flush()
            self._flushed = now

    def flush(self) -> None:
        self._out().flush()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def count_line(records: int, errors: int, warnings: int) -> str:
    return f"{_plural(records, 'record')}, {_plural(errors, 'error')}, {_plural(warnings, 'warning')}"


class TextSink(_Writer):
    def __init__(self, out: Callable[[], TextIO], *, compact: bool = False, color: bool = False) -> None:
        super().__init__(out)
        self.compact, self.color = compact, color

    def add(self, name: str, outcome: Outcome, text: str | None) -> None:
        if not outcome.issues:
            return
        if self.compact:
            rendered = report.render_compact([(name, outcome)])
        else:
            rendered = report.render_text([(name, outcome)], color=self.color)
        self.write(rendered[: rendered.rstrip("\n").rfind("\n") + 1])  # without its summary line

    def close(self, records: int, errors: int, warnings: int) -> None:
        line = count_line(records, errors, warnings)
        if self.color:
            style = "\x1b[1;31m" if errors else "\x1b[33m" if warnings else "\x1b[32m"
            line = f"{style}{line}\x1b[0m"
        self.write(line + "\n")
        self.flush()


class NdjsonSink(_Writer):
    def add(self, name: str, outcome: Outcome, text: str | None) -> None:
        self.write(orjson.dumps(report.operation_outcome(name, outcome)).decode() + "\n")

    def close(self, records: int, errors: int, warnings: int) -> None:
        self.flush()


def _indented(value: Any, prefix: str) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode().replace("\n", "\n" + prefix)


class JsonSink(_Writer):
    """A single record's OperationOutcome, or a Bundle written entry by entry."""

    def __init__(self, out: Callable[[], TextIO]) -> None:
        super().__init__(out)
        self._first: tuple[str, dict[str, Any]] | None = None
        self._count = 0

    def _entry(self, index: int, name: str, oo: dict[str, Any]) -> str:
        url = uuid.uuid5(uuid.NAMESPACE_URL, f"imgfhir:{index}:{name}").urn
        lead = ",\n" if index else ""
        return f'{lead}    {{\n      "fullUrl": "{url}",\n      "resource": {_indented(oo, "      ")}\n    }}'

    def add(self, name: str, outcome: Outcome, text: str | None) -> None:
        oo = report.operation_outcome(name, outcome)
        if self._count == 0:
            self._first = (name, oo)
        else:
            if self._count == 1 and self._first is not None:
                self.write('{\n  "resourceType": "Bundle",\n  "type": "collection",\n  "entry": [\n')
                self.write(self._entry(0, *self._first))
                self._first = None
            self.write(self._entry(self._count, name, oo))
        self._count += 1

    def close(self, records: int, errors: int, warnings: int) -> None:
        if self._first is not None:
            self.write(_indented(self._first[1], "") + "\n")
        elif self._count:
            self.write("\n  ]\n}\n")
        self.flush()


class SarifSink(_Writer):
    def __init__(self, out: Callable[[], TextIO]) -> None:
        super().__init__(out)
        self._rules: dict[str, int] = {}
        self._count = 0

    def add(self, name: str, outcome: Outcome, text: str | None) -> None:
        if not outcome.issues:
            return
        if self._count == 0:
            head = {"$schema": report.SARIF_SCHEMA, "version": "2.1.0"}
            self.write(_indented(head, "")[:-2] + ',\n  "runs": [\n    {\n      "columnKind": "unicodeCodePoints",')
            self.write('\n      "results": [\n')
        log = report.sarif_log([(name, outcome)])
        for result in log["runs"][0]["results"]:
            result["ruleIndex"] = self._rules.setdefault(result["ruleId"], len(self._rules))
            self.write((",\n" if self._count else "") + "        " + _indented(result, "        "))
            self._count += 1

    def close(self, records: int, errors: int, warnings: int) -> None:
        if self._count == 0:
            self.write(report.render_sarif([]))
            self.flush()
            return
        driver = {"name": "imgfhir", "version": report._version(), "rules": [{"id": r} for r in self._rules]}
        self.write('\n      ],\n      "tool": ' + _indented({"driver": driver}, "      ") + "\n    }\n  ]\n}\n")
        self.flush()


class HtmlSink(_Writer):
    """Aggregating: the page is written at the end, from the records that have issues."""

    def __init__(self, out: Callable[[], TextIO]) -> None:
        super().__init__(out)
        self._results: list[tuple[str, Outcome]] = []
        self._sources: dict[str, str] = {}
        self._clean = 0

    def add(self, name: str, outcome: Outcome, text: str | None) -> None:
        if not outcome.issues:
            self._clean += 1
            return
        self._results.append((name, outcome))
        if text is not None:
            self._sources[name] = text

    def close(self, records: int, errors: int, warnings: int) -> None:
        from imgfhir.validation.report_html import render_html

        self.write(render_html(_WithClean(self._results, self._clean), self._sources))
        self.flush()


class _WithClean(Sequence[tuple[str, Outcome]]):
    """The records with issues, counted with `clean` records that have none (never held)."""

    def __init__(self, results: list[tuple[str, Outcome]], clean: int) -> None:
        self.results, self.clean = results, clean

    def __len__(self) -> int:
        return len(self.results) + self.clean

    def __iter__(self) -> Iterator[tuple[str, Outcome]]:
        return iter(self.results)  # the clean records add nothing to what the page lists or counts

    @overload
    def __getitem__(self, index: int) -> tuple[str, Outcome]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[str, Outcome]]: ...
    def __getitem__(self, index: int | slice) -> tuple[str, Outcome] | Sequence[tuple[str, Outcome]]:
        if isinstance(index, slice):
            return self.results[index]
        return self.results[index] if index < len(self.results) else ("", Outcome())


def sink_for(fmt: str, out: Callable[[], TextIO], *, color: bool = False) -> Sink:
    if fmt in ("text", "compact"):
        return TextSink(out, compact=fmt == "compact", color=color)
    factories: dict[str, Callable[[Callable[[], TextIO]], Sink]] = {
        "ndjson": NdjsonSink,
        "json": JsonSink,
        "sarif": SarifSink,
        "html": HtmlSink,
    }
    if fmt not in factories:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(report.FORMATS)}")
    return factories[fmt](out)
