"""Input loading: bad input becomes fatal issues (never exceptions), pointers map to line:column."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgfhir.outcome import Issue, Outcome
from imgfhir.validation.source import (
    MAX_DEPTH,
    Loaded,
    iter_inputs,
    load,
    ndjson_line,
    positions,
    with_positions,
)
from tests.support import FIXTURES

VALIDATION = FIXTURES / "validation"
OBSERVATION = VALIDATION / "Observation-545.json"


def fatal(loaded: Loaded) -> Issue:
    assert loaded.resource is None
    assert not loaded.ok
    assert len(loaded.issues) == 1, loaded.issues
    issue = loaded.issues[0]
    assert issue.severity == "fatal"
    return issue


# -- good input -----------------------------------------------------------------------------------


def test_file_path_and_pathlike_and_bytes_and_text_and_dict() -> None:
    text = OBSERVATION.read_text()
    expected = orjson.loads(text)
    for source in (OBSERVATION, str(OBSERVATION), OBSERVATION.read_bytes(), text):
        loaded = load(source)
        assert loaded.ok and loaded.issues == []
        assert loaded.resource == expected
        assert loaded.text == text
    assert load(OBSERVATION).name == str(OBSERVATION)
    assert load(text).name == "<input>"
    assert load(text, name="x.json").name == "x.json"
    as_dict = load(expected)
    assert as_dict.resource is expected and as_dict.text is None


def test_byte_order_mark_is_ignored() -> None:
    loaded = load(b"\xef\xbb\xbf" + OBSERVATION.read_bytes())
    assert loaded.ok
    assert loaded.text is not None and loaded.text.startswith("{")


# -- bad input ------------------------------------------------------------------------------------


def test_unparseable_json_reports_line_and_column() -> None:
    issue = fatal(load(b'{\n  "resourceType": "Patient",\n  "active": tru\n}'))
    assert issue.message.startswith("invalid JSON at line 3, column 13: ")
    assert (issue.line, issue.column) == (3, 13)


def test_unparseable_json_columns_count_characters_not_bytes() -> None:
    issue = fatal(load('{"resourceType": "Patient", "name": [{"text": "Jürgen Ødegård"},, 1]}'.encode()))
    assert (issue.line, issue.column) == (1, 65)  # the second comma; 68 in bytes


def test_truncated_real_example() -> None:
    text = OBSERVATION.read_text()
    issue = fatal(load(text[: text.index('"status"') + 10]))
    assert issue.line == 36
    assert "invalid JSON at line 36" in issue.message


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("[]", "an array"),
        ('[{"resourceType": "Patient"}]', "an array"),
        ("42", "a number"),
        ('"Patient"', "a string"),
        ("null", "null"),
        ("true", "a boolean"),
    ],
)
def test_top_level_must_be_an_object(text: str, found: str) -> None:
    issue = fatal(load(text.encode()))
    assert issue.message == f"expected a JSON object (a FHIR resource), found {found}"


def test_empty_input() -> None:
    assert fatal(load(b"")).message.startswith("invalid JSON at line 1, column 1")
    assert fatal(load("  \n ")).message.startswith("invalid JSON")


def test_missing_resource_type() -> None:
    issue = fatal(load(b'{"id": "x"}'))
    assert issue.message == "missing resourceType"
    assert fatal(load({"id": "x"})).message == "missing resourceType"


@pytest.mark.parametrize("value", ["3", "null", '["Patient"]', '{"a": 1}'])
def test_resource_type_must_be_a_string(value: str) -> None:
    issue = fatal(load(f'{{\n  "id": "x",\n  "resourceType": {value}\n}}'))
    assert issue.message.startswith("resourceType must be a string")
    assert issue.expression == "resourceType"
    assert (issue.line, issue.column) == (3, 19)


def test_unknown_resource_type_is_left_to_the_validator() -> None:
    loaded = load(b'{"resourceType": "Observaton"}')
    assert loaded.ok and loaded.resource == {"resourceType": "Observaton"}


def test_deep_nesting_is_a_fatal_issue_not_a_recursion_error() -> None:
    levels = 10_000
    text = '{"resourceType": "Basic", "a": ' + '{"a": ' * levels + "1" + "}" * levels + "}"
    issue = fatal(load(text))
    assert issue.message == f"JSON nested deeper than {MAX_DEPTH} levels"
    deep_array = '{"resourceType": "Basic", "a": ' + "[" * levels + "]" * levels + "}"
    assert fatal(load(deep_array.encode())).message == issue.message


def test_deep_nesting_in_a_dict() -> None:
    value: dict[str, Any] = {"resourceType": "Basic"}
    node = value
    for _ in range(10_000):
        node["a"] = {}
        node = node["a"]
    assert fatal(load(value)).message == f"JSON nested deeper than {MAX_DEPTH} levels"


def test_nesting_up_to_the_limit_is_fine() -> None:
    levels = MAX_DEPTH - 1  # plus the resource object itself
    text = '{"resourceType": "Basic", "a": ' + "[" * levels + "]" * levels + "}"
    assert load(text).ok


def test_file_over_the_limit_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(OBSERVATION.read_bytes())
    size = big.stat().st_size

    def no_reading(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("read a file over the limit")

    monkeypatch.setattr(Path, "open", no_reading)
    monkeypatch.setattr(Path, "read_bytes", no_reading)
    issue = fatal(load(big, max_bytes=1000))
    assert issue.message == f"file is {size} bytes, over the limit of 1000 bytes (max_bytes)"
    assert issue.code == "too-costly"


def test_bytes_over_the_limit() -> None:
    issue = fatal(load(OBSERVATION.read_bytes(), max_bytes=100))
    assert "over the limit of 100 bytes" in issue.message


def test_invalid_utf8() -> None:
    issue = fatal(load(b'{\n  "resourceType": "Patient",\n  "name": [{"text": "J\xfcrgen"}]\n}'))
    assert issue.message.startswith("invalid UTF-8 at line 3, column 23 (byte 53)")
    assert (issue.line, issue.column) == (3, 23)


def test_missing_file() -> None:
    issue = fatal(load(Path("does-not-exist.json")))
    assert issue.message.startswith("cannot read does-not-exist.json")
    assert issue.code == "not-found"
    assert fatal(load("does-not-exist.json")).code == "not-found"  # a str that is not JSON is a path


@pytest.mark.parametrize("name", ["null-given.json", "42.json", "true-copy.json", "-1.json"])
def test_a_path_that_starts_like_a_json_scalar_is_a_path(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(OBSERVATION.read_bytes())
    assert load(str(path)).ok
    assert fatal(load(name)).code == "not-found"  # read as a path, not as JSON text


@pytest.mark.parametrize("text", ["42", " null ", "-1.5e3", "true", '"x"'])
def test_a_json_scalar_as_text_is_json(text: str) -> None:
    assert fatal(load(text)).message.startswith("expected a JSON object")


# -- JSON the reference validator reads anyway ----------------------------------------------------


def test_comments_and_extra_commas_are_errors_and_the_resource_is_loaded() -> None:
    text = OBSERVATION.read_text().replace('"status": "final",', '"status": "final", // as reported', 1)
    text = text.replace('"XA01"\n', '"XA01",\n', 1)
    loaded = load(text)
    assert loaded.ok and loaded.resource == orjson.loads(OBSERVATION.read_bytes())
    assert [(i.severity, i.rule, i.line) for i in loaded.issues] == [
        ("error", "json-comment", 36),
        ("error", "json-comma", text[: text.index('"XA01",')].count("\n") + 1),
    ]
    assert loaded.text is not None and "// as reported" not in loaded.text
    assert len(loaded.text) == len(text) and loaded.text.count("\n") == text.count("\n")  # same positions


@pytest.mark.parametrize(
    "text",
    [
        '{"resourceType": "Basic", /* block */ "id": "a"}',  # the reference's lexer knows // only
        '{"resourceType": "Basic", "id": "a",, "x": 1}',
        '{"resourceType": "Basic", "x": [1,,2]}',
        '{"resourceType": "Basic", "x": NaN}',
        '{"resourceType": "Basic", "x": 1e400, "y": Infinity}',
        '{"resourceType": "Basic", "x": 1e400, "y": tru}',
    ],
)
def test_what_even_the_lenient_reading_refuses_stays_fatal(text: str) -> None:
    assert fatal(load(text)).message.startswith("invalid JSON at line 1")


def test_a_number_beyond_a_double_is_json() -> None:
    loaded = load('{"resourceType": "Basic", "x": -2.5E400, "y": 1.5}')
    assert loaded.ok and loaded.issues == [] and loaded.resource is not None
    assert loaded.resource["x"] == float("-inf") and repr(loaded.resource["x"]) == "-2.5E400"
    assert loaded.resource["y"] == 1.5


def test_unsupported_input_type() -> None:
    issue = fatal(load(42))  # type: ignore[arg-type]
    assert "cannot validate a int" in issue.message


# -- positions ------------------------------------------------------------------------------------


def test_positions_on_a_real_example() -> None:
    text = OBSERVATION.read_text()
    lines = text.splitlines()
    where = positions(text)
    assert where(()) == (1, 1)
    assert where(("resourceType",)) == (2, 19)
    assert where(("meta", "profile", 0)) == (6, 7)
    assert where(("status",)) == (36, 13)
    assert where(("effectiveDateTime",)) == (46, 24)
    assert where(("partOf", 0, "identifier", "type", "coding", 0, "system")) == (26, 25)
    for pointer, expected in [
        (("component", 0, "valueCodeableConcept", "coding", 0, "code"), '"113704"'),
        (("component", 2), "{"),
        (("device", "display"), '"XA01"'),
    ]:
        found = where(pointer)
        assert found is not None
        line, column = found
        assert lines[line - 1][column - 1 :].startswith(expected), (pointer, lines[line - 1])


def test_positions_fall_back_to_the_nearest_ancestor() -> None:
    text = OBSERVATION.read_text()
    where = positions(text)
    assert where(("subject", "identifier")) == where(("subject",)) == (37, 14)
    assert where(("component", 99, "code")) == where(("component",))
    assert where(("nothing",)) == (1, 1)


def test_positions_escaped_keys_and_unicode_columns() -> None:
    text = '{"résumé": {"a\\"b": [1, "ü", {"\\u0041": true}]}}'
    where = positions(text)
    assert where(("résumé", 'a"b', 1)) == (1, 25)
    assert where(("résumé", 'a"b', 2, "A")) == (1, 41)


def test_positions_are_computed_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    import imgfhir.validation.source as source

    calls: list[str] = []
    real = source._scan

    def counting(text: str) -> dict[tuple[str | int, ...], int]:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(source, "_scan", counting)
    text = OBSERVATION.read_text()
    unlocated = Outcome([Issue("error", "invalid", "no pointer")])
    assert with_positions(unlocated, text).issues == unlocated.issues
    where = positions(text)
    assert calls == []
    where(("status",))
    where(("id",))
    assert len(calls) == 1


def test_with_positions_fills_line_and_column() -> None:
    text = OBSERVATION.read_text()
    outcome = Outcome(
        [
            Issue("error", "code-invalid", "bad status", expression="Observation.status", pointer=("status",)),
            Issue("warning", "invalid", "kept", line=7, column=3, pointer=("id",)),
            Issue("information", "informational", "no pointer"),
        ]
    )
    located = with_positions(outcome, text)
    assert isinstance(located, Outcome)
    assert [(i.line, i.column) for i in located] == [(36, 13), (7, 3), (None, None)]
    assert located.issues[0].expression == "Observation.status"
    shifted = with_positions(outcome.issues, text, first_line=10)
    assert isinstance(shifted, list)
    assert [(i.line, i.column) for i in shifted] == [(45, 13), (16, 3), (None, None)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12,
)


def _leaves(value: Any, pointer: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], Any]]:
    if isinstance(value, dict):
        return [leaf for key, child in value.items() for leaf in _leaves(child, (*pointer, key))]
    if isinstance(value, list):
        return [leaf for index, child in enumerate(value) for leaf in _leaves(child, (*pointer, index))]
    return [(pointer, value)]


@settings(max_examples=200, deadline=None)
@given(value=st.dictionaries(st.text(max_size=4), json_values, max_size=4), indent=st.booleans())
def test_positions_point_at_every_scalar(value: dict[str, Any], indent: bool) -> None:
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else 0).decode()
    lines = text.split("\n")
    where = positions(text)
    for pointer, leaf in _leaves(value):
        found = where(pointer)
        assert found is not None
        line, column = found
        assert lines[line - 1][column - 1 :].startswith(orjson.dumps(leaf).decode()), (pointer, text)


# -- inputs ---------------------------------------------------------------------------------------


def test_iter_inputs_files_directories_ndjson(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b.json").write_bytes(b'{"resourceType": "Patient"}')
    (tmp_path / "sub" / "a.json").write_bytes(b'{"resourceType": "Device"}')
    (tmp_path / "sub" / "notes.txt").write_bytes(b"not json")
    (tmp_path / ".index.json").write_bytes(b"{}")
    (tmp_path / ".hidden" / "c.json").write_bytes(b"{}")
    (tmp_path / "bulk.ndjson").write_bytes(b'{"resourceType": "Patient"}\n\n{"resourceType": "Device"}\n')
    found = list(iter_inputs([tmp_path]))
    names = [name for name, _ in found]
    assert names == [
        str(tmp_path / "b.json"),
        f"{tmp_path / 'bulk.ndjson'}:1",
        f"{tmp_path / 'bulk.ndjson'}:3",
        str(tmp_path / "sub" / "a.json"),
    ]
    assert found[0][1] == tmp_path / "b.json"  # files are loaded (and size-checked) by load()
    assert found[2][1] == b'{"resourceType": "Device"}\n'
    assert [load(src, name=name).resource for name, src in found][3] == {"resourceType": "Device"}
    assert ndjson_line(names[2]) == (str(tmp_path / "bulk.ndjson"), 3)
    assert ndjson_line(names[0]) is None


def test_iter_inputs_keeps_names_as_given_and_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("x.json").write_bytes(b"{}")
    found = list(iter_inputs(["x.json", "missing.json"]))
    assert [name for name, _ in found] == ["x.json", "missing.json"]
    assert fatal(load(found[1][1], name=found[1][0])).code == "not-found"


def test_iter_inputs_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stdin:
        buffer = io.BytesIO(OBSERVATION.read_bytes())

    monkeypatch.setattr(sys, "stdin", Stdin())
    ((name, data),) = list(iter_inputs(["-"]))
    assert name == "<stdin>"
    assert load(data).ok


def test_stdin_over_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stdin:
        buffer = io.BytesIO(b" " * 5000)

    monkeypatch.setattr(sys, "stdin", Stdin())
    ((_, data),) = list(iter_inputs(["-"], max_bytes=100))
    assert isinstance(data, bytes) and len(data) == 101
    assert "over the limit" in fatal(load(data, max_bytes=100)).message
