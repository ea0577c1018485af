"""The `imgfhir-validate` pre-commit hook, run by the real pre-commit against this repository.

`pre-commit try-repo` installs this repository (its committed HEAD) with pip into a fresh virtual
environment, which takes a minute or more: the test runs when IMGFHIR_PRECOMMIT=1 or in the nightly
profile (IMGFHIR_HYPOTHESIS=nightly). It needs PyPI (or a mirror) for imgfhir's dependencies only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "tests" / "fixtures" / "ig-examples" / "hl7.fhir.uv.radiation-dose-summary" / "Observation-122.json"
ENABLED = os.environ.get("IMGFHIR_PRECOMMIT") == "1" or os.environ.get("IMGFHIR_HYPOTHESIS") == "nightly"

SLOW = [
    pytest.mark.skipif(not ENABLED, reason="slow (pip installs the repository): set IMGFHIR_PRECOMMIT=1"),
    pytest.mark.skipif(shutil.which("pre-commit") is None, reason="pre-commit is not installed"),
]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_manifest_declares_the_hook() -> None:
    text = (REPO / ".pre-commit-hooks.yaml").read_text()
    assert "id: imgfhir-validate" in text and "entry: imgfhir validate --skip-non-fhir" in text
    assert "types: [json]" in text


@SLOW[0]
@SLOW[1]
def test_hook_fails_on_a_bad_file_and_passes_a_good_one(tmp_path: Path) -> None:
    good = json.loads(EXAMPLE.read_text())
    bad = {k: v for k, v in good.items() if k != "status"}
    _git(tmp_path, "init", "-q")
    (tmp_path / "good.json").write_text(json.dumps(good, indent=2))
    (tmp_path / "bad.json").write_text(json.dumps(bad, indent=2))
    _git(tmp_path, "add", "good.json", "bad.json")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / ".cache"), "IMGFHIR_CACHE_DIR": str(tmp_path / ".imgfhir")}
    head = _git(REPO, "rev-parse", "HEAD")  # the committed hook, not the working tree

    def run(*files: str) -> subprocess.CompletedProcess[str]:
        cmd = ["pre-commit", "try-repo", str(REPO), "imgfhir-validate", "--ref", head, "--verbose", "--files", *files]
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)

    failed = run("bad.json")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Failed" in failed.stdout and "bad.json" in failed.stdout
    assert "cardinality" in failed.stdout or "status" in failed.stdout, failed.stdout
    passed = run("good.json")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
    # a repository's other JSON (no resourceType) is not a FHIR resource: skipped, not failed
    (tmp_path / "package.json").write_text('{"name": "site", "version": "1.0.0"}')
    _git(tmp_path, "add", "package.json")
    skipped = run("package.json", "good.json")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
