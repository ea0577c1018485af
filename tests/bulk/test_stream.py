"""`imgfhir validate` on NDJSON: streamed reports in every format, summary, baseline, workers, references."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from imgfhir.bulk import Checker, Job, StreamOptions, iter_records, split, stream
from imgfhir.cli import app
from imgfhir.packages import PackageStore
from imgfhir.validation import Validator, report
from tests.bulk.test_workers import copies, export
from tests.support import FIXTURES

BULK = FIXTURES / "validation" / "bulk"
EXPORT = BULK / "rds-export.ndjson"
runner = CliRunner()


def run(*args: str | Path, stdin: bytes | None = None) -> Any:
    return runner.invoke(app, ["validate", *(str(a) for a in args)], input=stdin)


def outcomes(stdout: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stdout.splitlines()]


def located(oo: dict[str, Any]) -> list[tuple[str, int, str, str]]:
    """(severity, line, column, rule) of each issue of an OperationOutcome."""
    found = []
    for issue in oo["issue"]:
        ext = {e["url"].rsplit("-", 1)[-1]: next(v for k, v in e.items() if k != "url") for e in issue["extension"]}
        if ext.get("id") == "validated-against":  # what was checked, not an issue
            continue
        found.append((issue["severity"], ext["line"], ext["col"], ext["id"]))
    return found


def test_ndjson_report_is_one_outcome_per_record_with_file_lines() -> None:
    result = run(EXPORT, "--format", "ndjson")
    assert result.exit_code == 1
    found = outcomes(result.stdout)
    names = [oo["extension"][0]["valueString"] for oo in found]
    assert names == [f"{EXPORT}:{n}" for n in (1, 2, 4, 5, 6, 7, 9)]
    assert ("fatal", 7, "247", "json") in located(found[5])
    assert {("error", 6, "772", "primitive"), ("error", 6, "634", "binding")} <= set(located(found[4]))
    assert not [i for i in found[3]["issue"] if i["severity"] in ("error", "fatal")]


def test_summary_on_stderr_counts_and_says_records_stand_alone() -> None:
    result = run(EXPORT, "--format", "compact")
    summary = result.stderr
    assert "summary: 7 records" in summary and "6 valid, 1 invalid" not in summary
    assert "5 valid, 2 invalid; 3 blank lines skipped" in summary
    assert "by severity: fatal 1, error 2, warning 11" in summary
    assert "by rule: " in summary and "binding 6" in summary and "json 1" in summary
    assert "radiation-dose-summary  2, 1 invalid" in summary
    assert "slowest records:" in summary
    assert "references between records are not resolved" in summary
    assert result.stdout.splitlines()[-1] == "7 records, 3 errors, 11 warnings"
    assert run(EXPORT, "--format", "compact", "--quiet").stderr.count("summary") == 0


def test_text_report_lists_records_with_problems_at_their_lines() -> None:
    lines = run(EXPORT).stdout.splitlines()
    assert f"{EXPORT}:7" in lines and f"{EXPORT}:3" not in lines
    fatal = next(line.split() for line in lines if line.lstrip().startswith("fatal"))
    assert fatal[:3] == ["fatal", "-", "7:247"]


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_incremental_json_and_sarif_are_the_documents_of_the_whole_run(fmt: str, bundled_store: PackageStore) -> None:
    result = run(EXPORT, "--format", fmt)
    checker = Checker(Job(), Validator(bundled_store))
    results = [(c.label, c.outcome) for c in map(checker.check, iter_records([EXPORT])) if not c.empty]
    for _, outcome in results:  # the one-notice-per-run rule of the CLI
        outcome.issues[:] = [i for i in outcome.issues if i.rule != "fhir-version"]
    expected = report.render_json(results) if fmt == "json" else report.render_sarif(results)
    if fmt == "json":
        assert result.stdout == expected
    else:
        assert orjson.loads(result.stdout) == orjson.loads(expected)


def test_json_for_one_record_is_one_outcome(tmp_path: Path) -> None:
    one = export(tmp_path, copies(1))
    assert orjson.loads(run(one, "--format", "json").stdout)["resourceType"] == "OperationOutcome"


def test_stdin_jsonl_and_gzip_give_the_same_records(tmp_path: Path) -> None:
    data = EXPORT.read_bytes()
    (tmp_path / "export.jsonl").write_bytes(data)
    (tmp_path / "export.ndjson.gz").write_bytes(gzip.compress(data))

    def shape(stdout: str) -> list[list[tuple[str, int, str, str]]]:
        return [located(oo) for oo in outcomes(stdout)]

    plain = shape(run(EXPORT, "--format", "ndjson").stdout)
    assert shape(run(tmp_path / "export.jsonl", "--format", "ndjson").stdout) == plain
    assert shape(run(tmp_path / "export.ndjson.gz", "--format", "ndjson").stdout) == plain
    piped = run("-", "--input-format", "ndjson", "--format", "ndjson", stdin=data)
    assert shape(piped.stdout) == plain
    assert outcomes(piped.stdout)[0]["extension"][0]["valueString"] == "<stdin>:1"
    assert shape(run("-", "--format", "ndjson", stdin=data).stdout) == plain  # sniffed


def test_bad_gzip_and_huge_lines_are_reported_never_dropped(tmp_path: Path) -> None:
    whole = gzip.compress(EXPORT.read_bytes())
    cut = tmp_path / "cut.ndjson.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    result = run(cut, "--format", "ndjson")
    assert result.exit_code == 1 and "Traceback" not in result.output
    last = outcomes(result.stdout)[-1]["issue"][0]
    assert last["severity"] == "fatal" and last["code"] == "incomplete"


def test_baseline_accepts_streamed_issues(tmp_path: Path) -> None:
    base = tmp_path / "baseline.json"
    first = run(EXPORT, "--format", "compact", "--write-baseline", base)
    assert first.exit_code == 1
    again = run(EXPORT, "--format", "compact", "--baseline", base)
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == ["7 records, 0 errors, 0 warnings"]
    assert "14 known issue(s) accepted by the baseline" in again.stderr


def test_level_limits_what_is_printed_not_the_verdict() -> None:
    result = run(EXPORT, "--format", "compact", "--level", "error")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "7 records, 3 errors, 0 warnings"


def test_workers_give_the_report_of_one_process(tmp_path: Path) -> None:
    path = export(tmp_path, [*copies(120), EXPORT.read_bytes().split(b"\n")[6]])
    one = run(path, "--format", "ndjson", "-j", "1")
    two = run(path, "--format", "ndjson", "-j", "2")
    assert one.exit_code == two.exit_code == 1
    assert two.stdout == one.stdout
    assert "(2 workers)" in two.stderr and "(1 worker)" in one.stderr


def test_output_file_is_written_as_the_run_goes(tmp_path: Path) -> None:
    out = tmp_path / "report.ndjson"
    result = run(EXPORT, "--format", "ndjson", "-o", out)
    assert result.stdout == "" and len(out.read_text().splitlines()) == 7
    unwritable = run(EXPORT, "--format", "ndjson", "-o", tmp_path / "missing" / "x.ndjson")
    assert unwritable.exit_code == 1 and unwritable.stderr.startswith("error: cannot write")


def test_references_between_records_resolve_only_when_asked() -> None:
    def errors(*args: str | Path) -> list[str]:
        return [line for line in run(*args, "--format", "compact").stdout.splitlines() if ": error:" in line]

    folder = errors(BULK / "references")  # a small folder of files: loaded first, as in an IG build
    assert len(folder) == 1 and "does not conform to" in folder[0] and folder[0].endswith("[reference]")
    assert errors(BULK / "references.ndjson") == []  # each record on its own
    joined = errors(BULK / "references.ndjson", "--cross-references")
    assert [line.split(" error:")[0] for line in joined] == [f"{BULK / 'references.ndjson'}:2:995:"]
    assert len(errors(BULK / "references", "--no-cross-references")) == 0


def test_split_streams_ndjson_and_large_inputs(tmp_path: Path) -> None:
    batch, _ = split(iter_records([BULK / "references"]))
    assert batch is not None and len(batch) == 2
    assert split(iter_records([EXPORT]))[0] is None
    big, rest = split(iter_records([BULK / "references"]), max_bytes=100)
    assert big is None and len(list(rest)) == 2  # nothing read ahead is lost


def test_stream_api_writes_to_any_stream(capsys: pytest.CaptureFixture[str]) -> None:
    err = io.StringIO()
    code = stream(iter_records([EXPORT]), Job(), StreamOptions(format="ndjson", quiet=True), err=err)
    assert code == 1 and err.getvalue().startswith("note:")  # the release-guessed note, no summary
    assert len(capsys.readouterr().out.splitlines()) == 7
