"""`imgfhir validate`: inputs, formats, exit codes (0 / 1 / 2) and one-line usage errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from imgfhir.cli import app
from tests.support import FIXTURES, RDS_CANONICAL, RDS_ID

runner = CliRunner()
VALIDATION = FIXTURES / "validation"
GOOD = VALIDATION / "Observation-545.json"
BROKEN = VALIDATION / "Observation-545-broken.json"
DEVICE = VALIDATION / "Device-12.json"
SARIF_SCHEMA = VALIDATION / "sarif-schema-2.1.0.json"


def run(*args: str | Path, stdin: bytes | None = None) -> Any:
    return runner.invoke(app, [str(a) for a in args], input=stdin)


def assert_one_line_error(result: Any, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return str(lines[0])


def issue_lines(stdout: str) -> list[list[str]]:
    """The issue lines of a text report, split into severity, location, line:col and message."""
    return [line.split(None, 3) for line in stdout.splitlines() if line.startswith("  ")]


# -- usage errors (exit 2) --------------------------------------------------------------------


def test_help() -> None:
    result = run("validate", "--help")
    assert result.exit_code == 0
    for option in ("--profile", "--ig", "--fhir-version", "--format", "--fail-on", "--output", "meta.profile"):
        assert option in result.stdout
    assert "validate" in run("--help").stdout


def test_no_paths_is_a_usage_error() -> None:
    result = run("validate")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_missing_file_is_a_usage_error() -> None:
    line = assert_one_line_error(run("validate", GOOD, "no-such-file.json"))
    assert line == "error: no such file or directory: no-such-file.json"


def test_folder_without_json_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    assert "no JSON or XML files in" in assert_one_line_error(run("validate", tmp_path))


def test_unknown_profile_suggests_close_matches() -> None:
    line = assert_one_line_error(run("validate", GOOD, "--profile", RDS_CANONICAL + "x"))
    assert line.startswith(f"error: unknown profile {RDS_CANONICAL}x")
    assert f"did you mean {RDS_CANONICAL}" in line


def test_unknown_profile_in_an_ig() -> None:
    line = assert_one_line_error(run("validate", GOOD, "--ig", RDS_ID, "--profile", "radiation-dose-sumary"))
    assert f"unknown profile radiation-dose-sumary in {RDS_ID}#" in line
    assert "radiation-dose-summary" in line


def test_profile_of_another_release_is_unknown() -> None:
    line = assert_one_line_error(run("validate", GOOD, "--fhir-version", "R5", "--profile", RDS_CANONICAL))
    assert line.startswith(f"error: unknown profile {RDS_CANONICAL} in FHIR R5")


def test_unknown_ig() -> None:
    assert "unknown package" in assert_one_line_error(run("validate", GOOD, "--ig", "hl7.fhir.uv.radiation-dose"))


def test_fhir_version_must_match_the_ig() -> None:
    line = assert_one_line_error(run("validate", GOOD, "--ig", RDS_ID, "--fhir-version", "5.0.0"))
    assert "does not match" in line and "R4" in line


@pytest.mark.parametrize("option", [["--format", "xml"], ["--fail-on", "information"], ["--fhir-version", "R6"]])
def test_bad_option_values(option: list[str]) -> None:
    assert_one_line_error(run("validate", GOOD, *option))


# -- inputs that cannot be loaded (no engine needed) ------------------------------------------------


def test_bad_json_is_reported_with_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "resourceType": "Patient",\n  "active": tru\n}\n')
    result = run("validate", bad)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[0] == str(bad)
    ((severity, location, position, message),) = issue_lines(result.stdout)
    assert (severity, location, position) == ("fatal", "-", "3:13")
    assert message.startswith("invalid JSON at line 3, column 13")
    assert result.stdout.splitlines()[-1] == "1 file, 1 error, 0 warnings"


def test_unloadable_inputs(tmp_path: Path) -> None:
    (tmp_path / "array.json").write_bytes(b"[]")
    (tmp_path / "latin1.json").write_bytes(b'{"resourceType": "Patient", "name": [{"text": "J\xfcrgen"}]}')
    (tmp_path / "deep.json").write_text('{"resourceType": "Basic", "a": ' + "[" * 10_000 + "]" * 10_000 + "}")
    (tmp_path / "type.json").write_text('{"resourceType": 1}')
    result = run("validate", tmp_path)
    assert result.exit_code == 1
    messages = [parts[3].removesuffix(" [json]") for parts in issue_lines(result.stdout)]
    assert messages[0] == "expected a JSON object (a FHIR resource), found an array"  # array.json
    assert messages[1] == "JSON nested deeper than 1024 levels"  # deep.json
    assert messages[2].startswith("invalid UTF-8 at line 1, column 49")  # latin1.json
    assert messages[3] == "resourceType must be a string, found number"  # type.json
    assert result.stdout.splitlines()[-1] == "4 files, 4 errors, 0 warnings"


def test_stdin(tmp_path: Path) -> None:
    result = run("validate", "-", stdin=b'{"resourceType": 1}')
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "<stdin>"


def test_ndjson_lines_are_inputs_with_file_lines(tmp_path: Path) -> None:
    bulk = tmp_path / "bulk.ndjson"
    bulk.write_bytes(b'[]\n\n{"resourceType": tru}\n')
    result = run("validate", bulk, "--format", "sarif")
    assert result.exit_code == 1
    results = orjson.loads(result.stdout)["runs"][0]["results"]
    regions = [r["locations"][0]["physicalLocation"]["region"] for r in results]
    assert regions == [{"startLine": 1, "startColumn": 1}, {"startLine": 3, "startColumn": 18}]
    text = run("validate", bulk).stdout
    assert f"{bulk}:3" in text.splitlines()
    assert issue_lines(text)[1][2] == "3:18"


# -- with the engine ----------------------------------------------------------------------------


def test_valid_example_passes() -> None:
    result = run("validate", GOOD)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("1 file, 0 errors")
    assert not [parts for parts in issue_lines(result.stdout) if parts[0] in ("error", "fatal")]


def test_broken_example_fails_with_positions() -> None:
    result = run("validate", BROKEN, GOOD)
    assert result.exit_code == 1, result.output
    errors = [parts for parts in issue_lines(result.stdout) if parts[0] == "error"]
    assert ["error", "Observation.effectiveDateTime", "46:24"] in [parts[:3] for parts in errors]
    assert "2019-13-45" in result.stdout
    base = "http://hl7.org/fhir/StructureDefinition/Observation|4.0.1"
    assert result.stdout.splitlines()[0] == f"{BROKEN}  (validated against {base}, {RDS_CANONICAL}|1.0.0)"
    assert str(GOOD) not in result.stdout or "warning" in result.stdout  # listed only for warnings


def test_extension_domain_accepts_unknown_extensions() -> None:
    unknown = VALIDATION / "invalid" / "extension-unknown.json"
    assert run("validate", unknown, "--fhir-version", "R4").exit_code == 1
    allowed = run("validate", unknown, "--fhir-version", "R4", "--extension-domain", "http://example.org/fhir/")
    assert allowed.exit_code == 0, allowed.output
    assert "unknown extension http://example.org/fhir/StructureDefinition/unknown" in allowed.stdout


def test_fail_on_warning() -> None:
    result = run("validate", GOOD, "--format", "json")
    oo = orjson.loads(result.stdout)
    warnings = [i for i in oo["issue"] if i["severity"] == "warning"]
    strict = run("validate", GOOD, "--fail-on", "warning")
    assert strict.exit_code == (1 if warnings else 0)
    assert run("validate", GOOD, "--fail-on", "error").exit_code == 0


def test_json_formats() -> None:
    one = orjson.loads(run("validate", BROKEN, "--format", "json").stdout)
    assert one["resourceType"] == "OperationOutcome"
    assert one["extension"][0]["valueString"] == str(BROKEN)
    assert any(i.get("expression") == ["Observation.effectiveDateTime"] for i in one["issue"])
    bundle = orjson.loads(run("validate", BROKEN, GOOD, DEVICE, "--format", "json").stdout)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    assert [e["resource"]["extension"][0]["valueString"] for e in bundle["entry"]] == [
        str(BROKEN),
        str(GOOD),
        str(DEVICE),
    ]
    lines = run("validate", BROKEN, GOOD, "--format", "ndjson").stdout.splitlines()
    assert [orjson.loads(line)["resourceType"] for line in lines] == ["OperationOutcome"] * 2


def test_sarif_output_validates_against_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "report.sarif"
    result = run("validate", BROKEN, GOOD, "--format", "sarif", "-o", out)
    assert result.exit_code == 1
    assert result.stdout == ""
    log = orjson.loads(out.read_bytes())
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft4Validator(orjson.loads(SARIF_SCHEMA.read_bytes())).validate(log)
    (run_,) = log["runs"]
    hits = [
        r
        for r in run_["results"]
        if r["locations"][0].get("logicalLocations", [{}])[0].get("fullyQualifiedName")
        == "Observation.effectiveDateTime"
    ]
    assert hits and hits[0]["level"] == "error"
    assert hits[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 46, "startColumn": 24}
    assert hits[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == BROKEN.as_uri()


def test_profile_by_id_within_an_ig_and_fhir_version_aliases() -> None:
    by_id = run("validate", GOOD, "--ig", RDS_ID, "--profile", "radiation-dose-summary", "--format", "json")
    by_url = run("validate", GOOD, "--profile", RDS_CANONICAL, "--fhir-version", "4.0.1", "--format", "json")
    assert by_id.exit_code == by_url.exit_code == 0, by_id.output + by_url.output
    assert orjson.loads(by_id.stdout)["issue"] == orjson.loads(by_url.stdout)["issue"]


def test_explicit_profile_applies_to_every_input() -> None:
    result = run("validate", DEVICE, "--profile", RDS_CANONICAL, "--format", "json")
    assert result.exit_code == 1
    issues = orjson.loads(result.stdout)["issue"]
    assert any(RDS_CANONICAL in i["diagnostics"] and i["severity"] == "error" for i in issues), issues


def test_ndjson_positions_are_file_lines(tmp_path: Path) -> None:
    bulk = tmp_path / "bulk.ndjson"
    lines = [orjson.dumps(orjson.loads(path.read_bytes())) for path in (GOOD, DEVICE, BROKEN)]
    bulk.write_bytes(b"\n".join(lines) + b"\n")
    result = run("validate", bulk, "--format", "sarif")
    assert result.exit_code == 1, result.output
    results = orjson.loads(result.stdout)["runs"][0]["results"]
    hits = [
        r["locations"][0]
        for r in results
        if r["locations"][0].get("logicalLocations", [{}])[0].get("fullyQualifiedName")
        == "Observation.effectiveDateTime"
    ]
    assert len(hits) == 1
    region = hits[0]["physicalLocation"]["region"]
    assert region["startLine"] == 3
    assert lines[2].decode()[region["startColumn"] - 1 :].startswith('"2019-13-45')
    assert hits[0]["physicalLocation"]["artifactLocation"]["uri"] == bulk.as_uri()


def test_stdin_resource() -> None:
    result = run("validate", "-", stdin=GOOD.read_bytes())
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("1 file, 0 errors")


# -- start-up -------------------------------------------------------------------------------------


def test_importing_the_cli_stays_light() -> None:
    code = (
        "import sys, imgfhir.cli; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('rich', 'orjson', 'fhirpathpy') "
        "or m.startswith(('imgfhir.validation', 'imgfhir.packages', 'imgfhir.snapshot'))]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_validating_without_the_fhirpath_engine_does_not_load_it() -> None:
    """An example whose invariants all have native equivalents never imports fhirpathpy or pydantic."""
    code = (
        "import sys; from imgfhir.validation import validate; "
        f"outcome = validate({str(GOOD)!r}); "
        "print(outcome.ok, [m for m in sys.modules if m.split('.')[0] in ('fhirpathpy', 'pydantic', 'antlr4')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True []"


@pytest.mark.skipif(shutil.which("imgfhir") is None, reason="console script not installed")
def test_console_script_exit_codes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "IMGFHIR_PACKAGES"}
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    done = subprocess.run(["imgfhir", "validate", str(bad)], capture_output=True, text=True, env=env)
    assert done.returncode == 1
    assert "expected a JSON object" in done.stdout
    done = subprocess.run(
        ["imgfhir", "validate", str(bad), "--profile", "nope"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: unknown profile nope")
    assert "Traceback" not in done.stderr


# -- --skip-non-fhir (the pre-commit hook) -------------------------------------------------------


def _repo_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "package.json": '{"name": "site", "version": "1.0.0", "devDependencies": {"fsh-sushi": "^3.0.0"}}',
        "tsconfig.json": '{\n  // comments, as TypeScript allows\n  "compilerOptions": {"strict": true}\n}\n',
        "list.json": '[1, 2, 3]',
        "broken-fhir.json": '{"resourceType": "Observation", "status": }',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return {name: tmp_path / name for name in files}


def test_skip_non_fhir_skips_json_without_resource_type(tmp_path: Path) -> None:
    files = _repo_files(tmp_path)
    result = run("validate", "--skip-non-fhir", files["package.json"], files["tsconfig.json"], files["list.json"], GOOD)
    assert result.exit_code == 0, result.output
    assert "package.json" not in result.stdout and "tsconfig.json" not in result.stdout


def test_skip_non_fhir_still_reports_broken_fhir(tmp_path: Path) -> None:
    files = _repo_files(tmp_path)
    result = run("validate", "--skip-non-fhir", files["package.json"], files["broken-fhir.json"])
    assert result.exit_code == 1
    assert "broken-fhir.json" in result.stdout and "invalid JSON" in result.stdout


def test_skipped_files_are_information_in_verbose(tmp_path: Path) -> None:
    files = _repo_files(tmp_path)
    result = run("validate", "--skip-non-fhir", "--verbose", files["package.json"])
    assert result.exit_code == 0
    assert "package.json" in result.stdout and "not a FHIR resource" in result.stdout


def test_without_skip_non_fhir_package_json_is_fatal(tmp_path: Path) -> None:
    files = _repo_files(tmp_path)
    result = run("validate", files["package.json"])
    assert result.exit_code == 1
    assert "missing resourceType" in result.stdout


# -- the FHIR release without options ----------------------------------------------------------



def test_r5_core_examples_need_no_fhir_version() -> None:
    """The R5 examples give the same report without --fhir-version as with it (their releases are told)."""
    r5 = FIXTURES / "core-examples" / "r5"
    plain = run("validate", "--format", "compact", r5)
    told = run("validate", "--format", "compact", "--fhir-version", "R5", r5)
    assert plain.stdout == told.stdout
    assert "unknown resourceType" not in plain.stdout


def test_mixed_releases_in_one_run_match_separate_runs() -> None:
    """EU imaging R4 and R5 examples share ids: validated together, references stay within a release."""
    r4, r5 = FIXTURES / "ig-examples" / "hl7.fhir.eu.imaging", FIXTURES / "ig-examples" / "hl7.fhir.eu.imaging-r5"
    together = run("validate", "--format", "compact", r4, r5).stdout.splitlines()[:-1]
    apart = [*run("validate", "--format", "compact", r4).stdout.splitlines()[:-1]]
    apart += run("validate", "--format", "compact", r5).stdout.splitlines()[:-1]
    assert sorted(together) == sorted(apart)
