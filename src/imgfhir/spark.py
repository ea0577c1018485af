"""Validation on Spark (`pip install 'imgfhir[spark]'`): a DataFrame column of FHIR JSON, or NDJSON files.

    from imgfhir.spark import issues_of, validate_column, validate_ndjson

    checked = validate_ndjson(spark, ["s3://exports/Observation.ndjson.gz"], packages=["my-ig.tgz"])
    checked.groupBy("valid").count().show()
    issues_of(checked).where("severity in ('fatal', 'error')").show()  # file, record_line, severity, ...

`validate_column` adds to a DataFrame the verdict of the FHIR text in one of its columns: `valid`
(no fatal or error issue), `errors`, `warnings` and `issues` (an array of structs: severity, code,
rule, expression, line, col, message). `validate_ndjson` reads NDJSON / JSON Lines files (gzip too)
as rows of (file, line, resource) first: issue lines are then lines in the file, as `imgfhir
validate` reports them. `issues_of` flattens the issues to one row per issue with the record's key.

The work is a `mapPartitions`: each executor's Python process builds one Validator (per set of
options) on first use and keeps it, so plans compile once per process. The FHIR packages come from
imgfhir as installed on the executors (the wheel ships them); extra packages (`packages=`, .tgz
files or package folders) are shipped to the executors with `SparkContext.addFile` and loaded
there. Each record is validated on its own (references between records are not resolved), as the
HL7 reference validator validates each input on its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imgfhir.bulk.check import Checker, Job
from imgfhir.bulk.reader import Record

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession
    from pyspark.sql.types import StructType

ISSUE_FIELDS = ("severity", "code", "rule", "expression", "line", "col", "message")
VERDICT_COLUMNS = ("valid", "errors", "warnings", "issues")

_CHECKERS: dict[str, Checker] = {}  # per executor process: one Checker (one Validator) per Job


def _issue_type() -> StructType:
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    kinds = {"line": IntegerType(), "col": IntegerType()}
    return StructType([StructField(name, kinds.get(name, StringType()), name != "severity") for name in ISSUE_FIELDS])


def _verdict_schema(schema: StructType) -> StructType:
    from pyspark.sql.types import ArrayType, BooleanType, IntegerType, StructField, StructType

    taken = set(VERDICT_COLUMNS) & set(schema.fieldNames())
    if taken:
        raise ValueError(f"the DataFrame already has column(s) {', '.join(sorted(taken))}")
    added = [
        StructField("valid", BooleanType(), False),
        StructField("errors", IntegerType(), False),
        StructField("warnings", IntegerType(), False),
        StructField("issues", ArrayType(_issue_type(), False), False),
    ]
    return StructType([*schema.fields, *added])


def _ship(spark: SparkSession, packages: Iterable[str | os.PathLike[str]]) -> tuple[str, ...]:
    """Send extra packages to the executors; their names there (SparkFiles)."""
    names: list[str] = []
    for package in packages:
        path = Path(package).resolve()
        spark.sparkContext.addFile(str(path), recursive=path.is_dir())
        names.append(path.name)
    return tuple(names)


def _checker(job: Job, shipped: tuple[str, ...]) -> Checker:
    key = repr((job, shipped))
    found = _CHECKERS.get(key)
    if found is None:
        from pyspark import SparkFiles

        packages = tuple(SparkFiles.get(name) for name in shipped)
        found = _CHECKERS[key] = Checker(Job(**{**_fields(job), "packages": job.packages + packages}))
    return found


def _fields(job: Job) -> dict[str, Any]:
    return {name: getattr(job, name) for name in job.__dataclass_fields__}


def _partition(
    rows: Iterable[Row], column: str, job: Job, shipped: tuple[str, ...], where: tuple[str, str] | None
) -> Iterator[tuple[Any, ...]]:
    """Validate each row's `column`; `where` names the file and line columns of NDJSON rows."""
    checker = _checker(job, shipped)
    for row in rows:
        text = row[column]
        if where is not None:
            record = Record(str(row[where[0]]), int(row[where[1]]), ndjson=True, data=_bytes(text))
        else:
            record = Record("<row>", data=_bytes(text))
        issues = checker.check(record).issues if text is not None else []
        if text is None:
            from imgfhir.outcome import Issue

            issues = [Issue("fatal", "required", f"no FHIR text: column {column} is null", rule="json")]
        errors = sum(i.severity in ("fatal", "error") for i in issues)
        warnings = sum(i.severity == "warning" for i in issues)
        found = [(i.severity, i.code, i.rule, i.expression, i.line, i.column, i.message) for i in issues]
        yield (*row, errors == 0, errors, warnings, found)


def _bytes(text: Any) -> bytes:
    if isinstance(text, bytes | bytearray):
        return bytes(text)
    return str(text).encode("utf-8")


def validate_column(
    df: DataFrame,
    column: str,
    *,
    profiles: Sequence[str] = (),
    fhir_version: str | None = None,
    packages: Sequence[str | os.PathLike[str]] = (),
    extension_domains: Sequence[str] = (),
    best_practice: str = "warning",
    rules: Sequence[str] = (),
    _ndjson: tuple[str, str] | None = None,
) -> DataFrame:
    """`df` with the verdict of the FHIR JSON (or XML) text in `column`: valid, errors, warnings,
    issues. `rules`: extra rule lists as `module:ATTRIBUTE`, importable on the executors."""
    if column not in df.columns:
        raise ValueError(f"no column {column!r} in the DataFrame (columns: {', '.join(df.columns)})")
    spark = df.sparkSession
    job = Job(
        profiles=tuple(profiles),
        fhir_version=fhir_version,
        extension_domains=tuple(extension_domains),
        best_practice=best_practice,
        rules=tuple(rules),
    )
    shipped = _ship(spark, packages)
    schema = _verdict_schema(df.schema)

    def run(rows: Iterable[Row]) -> Iterator[tuple[Any, ...]]:
        return _partition(rows, column, job, shipped, _ndjson)

    return spark.createDataFrame(df.rdd.mapPartitions(run), schema)


def read_ndjson(spark: SparkSession, paths: Sequence[str | os.PathLike[str]]) -> DataFrame:
    """Rows of (file, line, resource): the non-blank lines of NDJSON / JSON Lines files (gzip too),
    with their line numbers in the file. A path may be a file, a folder (its .ndjson / .jsonl files,
    gzipped too, recursively) or a glob, on any file system Spark reads (`file` is then the URI)."""
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    schema = StructType(
        [
            StructField("file", StringType(), False),
            StructField("line", IntegerType(), False),
            StructField("resource", StringType(), False),
        ]
    )
    rdds = []
    for name in _files(spark, paths):
        lines = spark.sparkContext.textFile(name).zipWithIndex()  # in file order, across partitions
        rdds.append(lines.filter(lambda pair: bool(pair[0].strip())).map(_row_of(name)))
    rdd = spark.sparkContext.union(rdds) if rdds else spark.sparkContext.emptyRDD()
    return spark.createDataFrame(rdd, schema)


def _files(spark: SparkSession, paths: Sequence[str | os.PathLike[str]]) -> Iterator[str]:
    """The files that paths name, on any file system Spark reads (globs and folders expanded through
    Hadoop's FileSystem, so that each file is read on its own and its lines are numbered from 1)."""
    from imgfhir.bulk.reader import NDJSON_SUFFIXES

    jvm: Any = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    for raw in paths:
        path = jvm.org.apache.hadoop.fs.Path(os.fspath(raw))
        fs = path.getFileSystem(conf)
        for status in fs.globStatus(path) or []:
            if not status.isDirectory():  # a file named as given keeps that name; a glob's files their URIs
                plain = not any(c in os.fspath(raw) for c in "*?[{")
                yield os.fspath(raw) if plain else str(status.getPath().toString())
                continue
            listed = fs.listFiles(status.getPath(), True)
            found = []
            while listed.hasNext():
                name = str(listed.next().getPath().toString())
                if name.lower().endswith(NDJSON_SUFFIXES) and not name.rsplit("/", 1)[-1].startswith((".", "_")):
                    found.append(name)
            yield from sorted(found)


def _row_of(name: str) -> Any:
    def row(pair: tuple[str, int]) -> tuple[str, int, str]:
        return name, pair[1] + 1, pair[0]

    return row


def validate_ndjson(spark: SparkSession, paths: Sequence[str | os.PathLike[str]], **options: Any) -> DataFrame:
    """`read_ndjson` then `validate_column`: (file, line, resource, valid, errors, warnings, issues)."""
    return validate_column(read_ndjson(spark, paths), "resource", _ndjson=("file", "line"), **options)


def issues_of(checked: DataFrame, key: Sequence[str] | None = None, *, text: str = "resource") -> DataFrame:
    """One row per issue: the record's key columns and severity, code, rule, expression, line, col,
    message. The key defaults to every column but the FHIR text (`text`) and the verdict: (file,
    line) for `validate_ndjson`. A key column named like an issue field gets a `record_` prefix
    (`record_line`: the record's line; `line`: the issue's)."""
    from pyspark.sql import functions as F

    if key is None:
        key = [c for c in checked.columns if c not in VERDICT_COLUMNS and c != text]
    renamed = [F.col(k).alias(f"record_{k}" if k in ISSUE_FIELDS else k) for k in key]
    exploded = checked.select(*renamed, F.explode("issues").alias("issue"))
    return exploded.select(*[F.col(c) for c in exploded.columns if c != "issue"], "issue.*")
