"""The streaming reader: NDJSON / JSON Lines (plain, gzip), stdin, folders; bad input as records."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import orjson
import pytest

from imgfhir.bulk.reader import Record, iter_records
from imgfhir.validation.source import ndjson_line
from tests.support import FIXTURES

EXPORT = FIXTURES / "validation" / "bulk" / "rds-export.ndjson"
LINES = EXPORT.read_bytes().split(b"\n")


def checked(records: list[Record]) -> list[Record]:
    return [r for r in records if not r.empty]


def test_one_record_per_non_blank_line_with_its_file_line() -> None:
    records = list(iter_records([EXPORT]))
    assert [r.line for r in checked(records)] == [1, 2, 4, 5, 6, 7, 9]
    assert [r.label for r in checked(records)][:2] == [f"{EXPORT}:1", f"{EXPORT}:2"]
    assert all(r.ndjson and r.issue is None for r in records)
    assert records[2].blank == 1 and records[6].blank == 1  # lines 3 and 8 (whitespace only)
    assert records[-1].empty and records[-1].blank == 1  # the blank line at the end of the file
    assert sum(r.blank for r in records) == 3
    assert records[0].data == LINES[0]  # without its line break
    assert orjson.loads(records[3].data or b"")["id"] == "545"
    assert sum(r.size for r in records) == EXPORT.stat().st_size


def test_crlf_line_breaks_are_not_part_of_the_record(tmp_path: Path) -> None:
    crlf = tmp_path / "crlf.jsonl"
    crlf.write_bytes(LINES[0] + b"\r\n" + LINES[1] + b"\r\n")
    records = list(iter_records([crlf]))
    assert [r.data for r in records] == [LINES[0], LINES[1]]
    assert ndjson_line(records[1].label) == (str(crlf), 2)


def test_gzip_reads_the_same_records(tmp_path: Path) -> None:
    packed = tmp_path / "Observation.ndjson.gz"
    packed.write_bytes(gzip.compress(EXPORT.read_bytes()))
    plain = [(r.line, r.data, r.blank) for r in iter_records([EXPORT])]
    assert [(r.line, r.data, r.blank) for r in iter_records([packed])] == plain
    assert ndjson_line(f"{packed}:4") == (str(packed), 4)


def test_a_truncated_gzip_is_a_fatal_record_after_the_lines_it_holds(tmp_path: Path) -> None:
    packed = tmp_path / "cut.ndjson.gz"
    whole = gzip.compress(EXPORT.read_bytes())
    packed.write_bytes(whole[: len(whole) // 2])
    records = list(iter_records([packed]))
    *good, last = records
    assert good and all(r.issue is None and r.data is not None for r in good)
    assert last.issue is not None and last.data is None
    assert (last.issue.severity, last.issue.code, last.issue.rule) == ("fatal", "incomplete", "json")
    assert last.issue.line == last.line == good[-1].line + 1 + last.blank
    assert "truncated or corrupt" in last.issue.message


def test_a_file_that_is_no_gzip_is_one_fatal_record(tmp_path: Path) -> None:
    fake = tmp_path / "fake.ndjson.gz"
    fake.write_bytes(EXPORT.read_bytes())
    (only,) = list(iter_records([fake]))
    assert only.issue is not None and only.issue.line == 1 and only.issue.code == "incomplete"


def test_a_line_over_the_limit_is_skipped_without_being_held(tmp_path: Path) -> None:
    big = tmp_path / "big.ndjson"
    huge = LINES[3][:-1] + b', "note": [{"text": "' + b"x" * 50_000 + b'"}]}'
    big.write_bytes(LINES[0] + b"\n" + huge + b"\n" + LINES[1] + b"\n")
    records = list(iter_records([big], max_bytes=4096))
    assert [r.line for r in records] == [1, 2, 3]
    over = records[1]
    assert over.data is None and over.issue is not None
    assert (over.issue.severity, over.issue.code, over.issue.line, over.issue.column) == ("fatal", "too-costly", 2, 1)
    assert f"line 2 is {len(huge) + 1} bytes, over the limit of 4096 bytes" in over.issue.message
    assert records[2].data == LINES[1]  # the next line is read from its start


def test_reading_is_lazy() -> None:
    class Counting(io.BytesIO):
        lines = 0

        def readline(self, limit: int | None = -1, /) -> bytes:
            Counting.lines += 1
            return super().readline(limit)

    stream = Counting(EXPORT.read_bytes())
    records = iter_records(["-"], input_format="ndjson", stdin=stream)
    first = next(records)
    assert first.label == "<stdin>:1" and Counting.lines == 1
    assert len(list(records)) == 7


@pytest.mark.parametrize(
    ("data", "fmt", "labels"),
    [
        (EXPORT.read_bytes(), "auto", [f"<stdin>:{n}" for n in (1, 2, 4, 5, 6, 7, 9)]),  # sniffed
        (LINES[0] + b"\n", "auto", ["<stdin>"]),  # one line: one document
        ((FIXTURES / "validation" / "Device-12.json").read_bytes(), "auto", ["<stdin>"]),  # pretty-printed
        (LINES[0] + b"\n", "ndjson", ["<stdin>:1"]),
        (LINES[0] + b"\n" + LINES[1], "json", ["<stdin>"]),
    ],
)
def test_stdin_formats(data: bytes, fmt: str, labels: list[str]) -> None:
    records = checked(list(iter_records(["-"], input_format=fmt, stdin=io.BytesIO(data))))  # type: ignore[arg-type]
    assert [r.label for r in records] == labels
    if labels == ["<stdin>"]:
        assert records[0].data == data


def test_stdin_sniffing_keeps_the_lines_it_read_ahead() -> None:
    data = b"\n" + LINES[0] + b"\n\n" + LINES[1] + b"\n"
    records = list(iter_records(["-"], stdin=io.BytesIO(data)))
    assert [(r.line, r.data, r.blank) for r in records] == [(2, LINES[0], 1), (4, LINES[1], 1)]


def test_folders_hold_every_kind_of_input(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(LINES[0])
    (tmp_path / "b.jsonl").write_bytes(LINES[1] + b"\n")
    (tmp_path / "c.ndjson.gz").write_bytes(gzip.compress(LINES[3] + b"\n"))
    (tmp_path / ".hidden.ndjson").write_bytes(LINES[0])
    (tmp_path / "notes.txt").write_bytes(b"not json")
    labels = [r.label for r in iter_records([tmp_path])]
    assert labels == [str(tmp_path / "a.json"), f"{tmp_path / 'b.jsonl'}:1", f"{tmp_path / 'c.ndjson.gz'}:1"]


def test_input_format_ndjson_reads_any_file_by_lines(tmp_path: Path) -> None:
    export = tmp_path / "export.txt"
    export.write_bytes(LINES[0] + b"\n" + LINES[1] + b"\n")
    assert [r.line for r in iter_records([export], input_format="ndjson")] == [1, 2]
    (whole,) = iter_records([export], input_format="json")
    assert whole.path == str(export) and whole.size == export.stat().st_size
