"""imgfhir.spark in Spark local mode (local[2]): verdicts, issues, NDJSON lines, shipped packages.

Needs the spark extra (PySpark and a Java runtime); skipped without them. CI runs it in a step of
its own (.ci/run).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover - PySpark needs a JVM
    pytest.skip("no Java runtime for Spark", allow_module_level=True)

from imgfhir.bulk import Checker, Job, iter_records
from imgfhir.spark import issues_of, validate_column, validate_ndjson
from imgfhir.validation import Validator
from tests.support import BASE_FIXTURE, FIXTURE_CANONICAL, FIXTURES, PROFILES_FIXTURE

EXPORT = FIXTURES / "validation" / "bulk" / "rds-export.ndjson"


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("imgfhir-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def cli_issues() -> dict[int, list[tuple[str, str | None, int | None, int | None]]]:
    """The issues `imgfhir validate` finds in the fixture export, by line: the oracle of the Spark run."""
    checker = Checker(Job(), Validator())
    found = {}
    for checked in map(checker.check, iter_records([EXPORT])):
        if not checked.empty:
            found[checked.line] = sorted((i.severity, i.rule, i.line, i.column) for i in checked.issues)
    return found


def test_ndjson_files_are_validated_line_by_line(spark: Any) -> None:
    checked = validate_ndjson(spark, [str(EXPORT)]).cache()
    verdicts = {r["line"]: (r["valid"], r["errors"]) for r in checked.select("line", "valid", "errors").collect()}
    assert verdicts == {1: (True, 0), 2: (True, 0), 4: (True, 0), 5: (True, 0), 6: (False, 2), 7: (False, 1),
                        9: (True, 0)}
    rows = issues_of(checked).collect()
    assert set(rows[0].asDict()) == {"file", "record_line", "severity", "code", "rule", "expression", "line", "col",
                                     "message"}
    by_line: dict[int, list[tuple[str, str | None, int | None, int | None]]] = {}
    for r in rows:
        by_line.setdefault(r["record_line"], []).append((r["severity"], r["rule"], r["line"], r["col"]))
    assert {k: sorted(v) for k, v in by_line.items()} == cli_issues()
    (fatal,) = [r for r in rows if r["severity"] == "fatal"]
    assert (fatal["file"], fatal["line"], fatal["col"], fatal["code"]) == (str(EXPORT), 7, 247, "structure")


def test_a_column_of_json_gets_a_verdict_and_keyed_issues(spark: Any) -> None:
    lines = [line for line in EXPORT.read_text().splitlines() if line.strip()]
    rows = [(f"r{n}", text) for n, text in enumerate(lines)] + [("none", None)]
    df = spark.createDataFrame(rows, "id string, fhir string")
    checked = validate_column(df, "fhir", fhir_version="R4")
    verdicts = {r["id"]: r["valid"] for r in checked.collect()}
    assert [k for k, ok in verdicts.items() if not ok] == ["r4", "r5", "none"]
    issues = issues_of(checked, text="fhir")
    assert issues.columns[:2] == ["id", "severity"]
    missing = issues.where("id = 'none'").collect()
    assert [(r["severity"], r["rule"]) for r in missing] == [("fatal", "json")]
    with pytest.raises(ValueError, match="no column 'text'"):
        validate_column(df, "text")


def test_extra_packages_are_shipped_to_the_executors(spark: Any) -> None:
    resource = {"resourceType": "Observation", "meta": {"profile": [FIXTURE_CANONICAL]}, "status": "final",
                "code": {"text": "x"}}
    df = spark.createDataFrame([("a", orjson.dumps(resource).decode())], "id string, fhir string")
    without = {r["rule"] for r in issues_of(validate_column(df, "fhir"), text="fhir").collect()}
    assert "profile" in without  # not known: not checked against it
    shipped = validate_column(df, "fhir", packages=[PROFILES_FIXTURE, BASE_FIXTURE])
    rules = {r["rule"] for r in issues_of(shipped, text="fhir").collect()}
    assert {"pattern", "cardinality"} <= rules and "profile" not in rules


def test_folders_and_globs_are_read_file_by_file(spark: Any, tmp_path: Any) -> None:
    lines = EXPORT.read_bytes().split(b"\n")
    (tmp_path / "a.ndjson").write_bytes(lines[0] + b"\n" + lines[1] + b"\n")
    (tmp_path / "b.ndjson").write_bytes(b"\n" + lines[3] + b"\n")
    (tmp_path / "notes.txt").write_bytes(b"not ndjson")
    for given in (tmp_path, tmp_path / "*.ndjson"):
        rows = validate_ndjson(spark, [str(given)]).select("file", "line").collect()
        assert sorted((r["file"].rsplit("/", 1)[-1], r["line"]) for r in rows) == [
            ("a.ndjson", 1), ("a.ndjson", 2), ("b.ndjson", 2)
        ]
