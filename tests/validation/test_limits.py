"""Hostile inputs are refused or bounded: issue caps, echoed values, FHIRPath budgets, shared dicts, FIFOs.

Each attack is small here (the caps are set low), and the tests assert on the issues, not on time.
The fixtures (tests/fixtures/validation/hostile/README.md) derive from the R4 core Patient example.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from imgfhir.fhirpath.budget import Budget
from imgfhir.packages import load_store
from imgfhir.validation import Validator
from imgfhir.validation.limits import IssueLimits

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HOSTILE = FIXTURES / "validation" / "hostile"
PATIENT = FIXTURES / "core-examples" / "r4" / "Patient-example.json"
COSTLY = FIXTURES / "packages" / "example.imaging.hostile"


@pytest.fixture(scope="module")
def store() -> Any:
    return load_store(env=False, entry_points=False)


def _validator(store: Any, **limits: Any) -> Validator:
    return Validator(store, issue_limits=IssueLimits(**limits))


def test_issues_over_the_cap_are_counted_in_one_issue(store: Any) -> None:
    validator = _validator(store, per_resource=10, stop_factor=500)
    outcome = validator.validate(HOSTILE / "Patient-empty-arrays.json", fhir_version="R4")
    *kept, notice = outcome.issues
    assert len(kept) == 10
    assert kept[0].rule == "json-shape" and (kept[0].line, kept[0].column) == (31, 5)  # the first `[]`
    assert (notice.severity, notice.rule) == ("error", "issue-limit")  # the highest suppressed severity
    assert notice.message.startswith("1990 more issues not reported (1990 error)")


def test_a_validation_that_keeps_finding_issues_is_stopped(store: Any) -> None:
    outcome = _validator(store, per_resource=10, stop_factor=5).validate(
        HOSTILE / "Patient-empty-arrays.json", fhir_version="R4"
    )
    *kept, notice = outcome.issues
    assert len(kept) == 10 and all(i.rule == "json-shape" for i in kept)
    assert (notice.severity, notice.rule) == ("error", "issue-limit")
    assert notice.message.startswith("validation stopped after 51 issues (over 50")


def test_the_real_example_is_not_capped(store: Any) -> None:
    outcome = _validator(store, per_resource=10, stop_factor=5).validate(PATIENT, fhir_version="R4")
    assert not [i for i in outcome.issues if i.rule == "issue-limit"]


def test_issues_are_capped_per_run_until_a_new_run(store: Any) -> None:
    validator = _validator(store, per_resource=None, per_run=15)
    first = validator.validate(HOSTILE / "Patient-empty-arrays.json", fhir_version="R4")
    *kept, notice = first.issues
    assert len(kept) == 15 and notice.rule == "issue-limit" and "per run" in notice.message
    assert notice.message.startswith("1985 more issues not reported (1985 error)")  # 2,000 shape errors
    second = validator.validate(HOSTILE / "Patient-empty-arrays.json", fhir_version="R4")
    assert [i.rule for i in second.issues] == ["issue-limit"] and second.issues[0].severity == "error"
    validator.new_run()
    assert len(validator.validate(HOSTILE / "Patient-empty-arrays.json", fhir_version="R4").issues) == 16


def test_huge_keys_and_values_are_cut_in_messages(store: Any) -> None:
    outcome = _validator(store).validate(HOSTILE / "Patient-huge-key-and-value.json", fhir_version="R4")
    key = next(i for i in outcome.issues if i.line == 4)
    gender = next(i for i in outcome.issues if i.rule == "binding")
    assert (key.severity, key.rule, key.column) == ("error", "unknown-element", 20007)  # at the value
    assert (gender.severity, gender.line, gender.column) == ("error", 83, 13)
    for found in (key, gender):
        assert len(found.message) < 400 and "...(20002 characters)" in found.message  # the quoted value
        assert found.expression is not None and len(found.expression) < 400
    # the near miss: an ordinary message is left as it is
    plain = _validator(store).validate(HOSTILE / "Patient-empty-arrays.json", fhir_version="R4").issues[0]
    assert plain.message == "expected a JSON object for HumanName"


@pytest.mark.parametrize(
    ("name", "rule"),
    [("Patient-costly-regex.json", "cost-1"), ("Patient-costly-quadratic.json", "cost-2")],
)
def test_a_costly_constraint_is_not_evaluated_and_validation_goes_on(name: str, rule: str) -> None:
    validator = Validator(packages=[str(COSTLY)], fhirpath_budget=Budget(steps=50_000, seconds=0.2))
    outcome = validator.validate(HOSTILE / name, fhir_version="R4")
    found = [i for i in outcome.issues if i.rule == rule]
    assert [(i.severity, i.expression, i.line, i.column) for i in found] == [("information", "Patient", 1, 1)]
    assert "not evaluated: budget exceeded" in found[0].message
    if name == "Patient-costly-regex.json":  # the rest of the resource is still checked
        assert [(i.rule, i.line) for i in outcome.issues if i.severity == "error"] == [("binding", 65)]
    near = validator.validate(HOSTILE / "Patient-costly-within-budget.json", fhir_version="R4")
    assert not [i for i in near.issues if i.rule in ("cost-1", "cost-2")]


def _patient() -> dict[str, Any]:
    res: dict[str, Any] = orjson.loads(PATIENT.read_bytes())
    return res


def test_a_cyclic_dict_is_refused(store: Any) -> None:
    res = _patient()
    res["contact"][0]["extension"] = [res]  # the resource inside itself
    issues = Validator(store).validate(res, fhir_version="R4").issues
    assert [(i.severity, i.rule) for i in issues] == [("fatal", "json")]
    assert "contains itself" in issues[0].message


def test_a_dict_sharing_objects_exponentially_is_refused(store: Any) -> None:
    res = _patient()
    node: dict[str, Any] = {"url": "http://example.org/leaf", "valueString": "x"}
    for _ in range(60):  # 2^60 objects once expanded: a tree walk would never end
        node = {"url": "http://example.org/x", "extension": [node, node]}
    res["extension"] = [node]
    issues = Validator(store).validate(res, fhir_version="R4").issues
    assert [(i.severity, i.rule) for i in issues] == [("fatal", "json")]
    assert "more than 1000000 JSON objects" in issues[0].message


def test_a_dict_sharing_a_small_object_is_validated_as_its_tree(store: Any) -> None:
    res = _patient()
    shared = res["name"][0]
    res["name"] = [shared, shared, {"family": 5}]  # the same HumanName twice, then a broken one
    validator = Validator(store)
    as_tree = orjson.loads(orjson.dumps(res))
    found = validator.validate(res, fhir_version="R4").issues
    assert found == validator.validate(as_tree, fhir_version="R4").issues
    assert [i.expression for i in found if i.severity == "error"] == ["Patient.name[2].family"]
    assert res["name"][0] is res["name"][1]  # the caller's dict is left as it was
    assert copy.deepcopy(res) == res


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_is_refused_without_blocking(store: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "Patient.json"
    os.mkfifo(fifo)
    issues = Validator(store).validate(fifo).issues
    assert [(i.severity, i.code, i.rule) for i in issues] == [("fatal", "not-supported", "json")]
    assert issues[0].message == f"{fifo} is not a regular file (a FIFO)"


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_character_device_is_refused(store: Any) -> None:
    issues = Validator(store).validate(Path("/dev/zero")).issues
    expected = [("fatal", "/dev/zero is not a regular file (a character device)")]
    assert [(i.severity, i.message) for i in issues] == expected


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="per_resource"):
        IssueLimits(per_resource=0)


def test_the_command_line_caps_issues_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from imgfhir import cli
    from imgfhir.validation import limits

    monkeypatch.setattr(limits, "RUN_LIMITS", IssueLimits(per_run=5))
    arrays = HOSTILE / "Patient-empty-arrays.json"
    args = ["validate", "--format", "compact", "--fhir-version", "R4", str(arrays), str(PATIENT)]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len([line for line in lines if "[json-shape]" in line]) == 5
    notices = [line.split(": ", 1)[1].split("): ")[0] for line in lines if "[issue-limit]" in line]
    assert notices == [
        "error: 1000 more issues not reported (1000 error",  # over the per-resource cap
        "error: 995 more issues not reported (995 error",  # over the run's, of the 1,000 kept for the resource
    ]
