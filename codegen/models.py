"""Regenerate generated/imgfhir_models: JSON Schemas and pydantic v2 models of the imaging IG profiles.

Run after changing the generators (src/imgfhir/codegen/) or the shipped packages:  python codegen/models.py
Needs the codegen extra (pip install -e '.[codegen]'); tests/codegen/test_models.py checks freshness.
Only the bundled packages are read (no $IMGFHIR_PACKAGES, no entry points), so the output is reproducible.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from imgfhir.codegen.models import IMAGING_TARGETS, Target, generate
from imgfhir.packages import load_store

OUT = Path(__file__).resolve().parent.parent / "generated" / "imgfhir_models"


def targets() -> list[Target]:
    return [Target(module, package_id) for module, package_id in IMAGING_TARGETS.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args()
    start = time.perf_counter()
    store = load_store(env=False, entry_points=False)
    files = generate(store, targets(), args.out)
    print(f"{len(files)} files in {args.out} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
