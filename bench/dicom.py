"""RDSR → validated Radiation Dose Summary Bundle: files per second, split by stage.

    python bench/dicom.py [--repeat N] [FILE_OR_DIR...]

Default input: the vendor RDSRs in tests/fixtures/dicom/rdsr/. Each run converts every file:
DICOM parsing (pydicom read + content tree + template reading, `read_rdsr`), building the Bundle
(`build_bundle`) and validating it (`Validator.validate`, one Validator for the whole run, its
profiles compiled in a warm-up pass that is not timed). The median of the runs is reported per
stage and per file, and as files per second for the whole pipeline.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from imgfhir.dicom.rdsr import build_bundle, read_rdsr
from imgfhir.validation import Validator

DEFAULT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "dicom" / "rdsr"


def files_of(args: list[str]) -> list[Path]:
    out: list[Path] = []
    for arg in args or [str(DEFAULT)]:
        path = Path(arg)
        out.extend(sorted(path.glob("*.dcm")) if path.is_dir() else [path])
    return out


def run_once(files: list[Path], validator: Validator) -> dict[str, dict[str, float]]:
    times: dict[str, dict[str, float]] = {}
    for path in files:
        t0 = time.perf_counter()
        rdsr = read_rdsr(path)
        t1 = time.perf_counter()
        bundle = build_bundle(rdsr)
        t2 = time.perf_counter()
        outcome = validator.validate(bundle, fhir_version="R4")
        t3 = time.perf_counter()
        if not outcome.ok:
            raise SystemExit(f"{path.name}: the Bundle does not validate: {outcome.at_least('error')[0]}")
        times[path.name] = {"parse": t1 - t0, "build": t2 - t1, "validate": t3 - t2}
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", help="RDSR files or folders (default: the test fixtures)")
    parser.add_argument("--repeat", type=int, default=5, help="number of timed runs (default 5)")
    args = parser.parse_args()
    files = files_of(args.paths)
    if not files:
        raise SystemExit("no .dcm files")
    t0 = time.perf_counter()
    validator = Validator()
    run_once(files, validator)  # warm-up: package store, profile plans, terminology
    print(f"warm-up (store, profile compilation, first pass): {time.perf_counter() - t0:.2f} s")
    runs = [run_once(files, validator) for _ in range(args.repeat)]
    stages = ("parse", "build", "validate")
    totals = {s: statistics.median(sum(r[f.name][s] for f in files) for r in runs) for s in stages}
    whole = sum(totals.values())
    print(f"{len(files)} files, median of {args.repeat} runs")
    print(f"{'file':40} {'parse ms':>9} {'build ms':>9} {'valid. ms':>9}")
    for f in files:
        med = [statistics.median(r[f.name][s] for r in runs) * 1000 for s in stages]
        print(f"{f.name:40} {med[0]:9.1f} {med[1]:9.1f} {med[2]:9.1f}")
    split = ", ".join(f"{s} {totals[s] / whole:.0%}" for s in stages)
    print(f"total {whole:.3f} s: {len(files) / whole:.1f} files/s ({split})")


if __name__ == "__main__":
    main()
