"""Bulk validation throughput: `imgfhir validate` on a generated NDJSON corpus, -j 1 against -j N.

    python bench/bulk.py                         # 1,000,000 records; -j 1 and -j <cores>
    python bench/bulk.py --records 20000         # a quick run
    python bench/bulk.py --records 20000 --spark # also imgfhir.spark in local[<cores>] mode
    python bench/bulk.py --json out.json

The corpus (written once to a temporary folder, gzip with --gzip) cycles through the example files
of the four imaging IGs (tests/fixtures/ig-examples), the core examples in tests/fixtures/
core-examples and instances generated from the imaging profiles by `imgfhir.strategies` (the
strategies extra), each record with a fresh id. Each configuration runs `imgfhir validate
CORPUS --format ndjson -o /dev/null --quiet -j N` in a child process, timed from start to exit
(start-up, store, plan compilation included); peak RSS is the largest process of that run (the
main one or a worker: each worker holds its own store and plans). fhir.resources (the bench extra)
parses the same records (R4B models for R4, R5 for R5; structure only) in this process, for a
ratio. The figures vary from run to run on a shared machine; the ratio -j N / -j 1 is the target
(>= 1.8 on 2 cores).
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
IG_EXAMPLES = ROOT / "tests" / "fixtures" / "ig-examples"
CORE_EXAMPLES = ROOT / "tests" / "fixtures" / "core-examples"
IGS = {
    "hl7.fhir.uv.radiation-dose-summary": "R4",
    "hl7.fhir.uv.dicom-sr": "R5",
    "hl7.fhir.eu.imaging": "R4",
    "hl7.fhir.eu.imaging-r5": "R5",
}
NOT_FHIR = {"Example-MeasurementReport.json"}
GENERATED = {  # profile → release: instances from imgfhir.strategies
    "http://hl7.org/fhir/uv/radiation-dose-summary/StructureDefinition/radiation-dose-summary": "R4",
    "http://hl7.org/fhir/uv/radiation-dose-summary/StructureDefinition/modality-device": "R4",
    "http://hl7.org/fhir/StructureDefinition/Patient": "R4",
}


def base_resources(generated: int) -> list[tuple[dict[str, Any], str]]:
    """(resource, release) of the examples and `generated` instances per profile in GENERATED."""
    found: list[tuple[dict[str, Any], str]] = []
    for ig, release in IGS.items():
        for path in sorted((IG_EXAMPLES / ig).glob("*.json")):
            if path.name not in NOT_FHIR:
                found.append((orjson.loads(path.read_bytes()), release))
    for release in ("r4", "r5"):
        for path in sorted((CORE_EXAMPLES / release).glob("*.json")):
            found.append((orjson.loads(path.read_bytes()), release.upper()))
    try:
        from imgfhir.strategies import example_instances
    except ImportError:
        print("imgfhir.strategies needs hypothesis (pip install -e '.[strategies]'): no generated instances")
        return found
    for canonical, release in GENERATED.items():
        for n, instance in enumerate(example_instances(canonical, generated, seed=n_seed(canonical), release=release)):
            labelled = {"resourceType": instance["resourceType"], "id": f"gen-{n}", **instance}
            labelled["meta"] = {"profile": [canonical]}
            found.append((labelled, release))
    return found


def n_seed(canonical: str) -> int:
    return sum(canonical.encode()) % 1000


def corpus(bases: list[tuple[dict[str, Any], str]], records: int) -> Iterator[tuple[bytes, str]]:
    """`records` NDJSON lines (with their release), cycling through `bases` with fresh ids."""
    for n, (res, release) in zip(range(records), itertools.cycle(bases), strict=False):
        yield orjson.dumps({**res, "id": f"bulk-{n}"}), release


def write_corpus(path: Path, bases: list[tuple[dict[str, Any], str]], records: int) -> None:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as out:
        for line, _ in corpus(bases, records):
            out.write(line + b"\n")


def _tree(root: int) -> dict[int, tuple[float, int]]:
    """(CPU seconds, RSS bytes) of `root` and its descendants, read from /proc."""
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        stats[int(entry)] = fields
    tick, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
    found: dict[int, tuple[float, int]] = {}
    for pid, fields in stats.items():
        node = pid
        while node not in (0, 1) and node != root:
            node = parents.get(node, 0)
        if node == root:  # fields from the state on: utime is the 12th, stime the 13th, rss the 22nd
            found[pid] = ((int(fields[11]) + int(fields[12])) / tick, int(fields[21]) * page)
    return found


def run_cli(corpus_path: Path, workers: int) -> dict[str, float]:
    """One `imgfhir validate` run in a child process: wall seconds, CPU seconds of all its processes
    (the main one, the fork server, the workers; sampled from /proc every 0.1 s), peak RSS in MB of
    all of them together and of the largest one."""
    command = [sys.executable, "-m", "imgfhir", "validate", str(corpus_path), "--format", "ndjson", "-o",
               os.devnull, "--quiet", "-j", str(workers)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "generated")])}
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env)
    cpu: dict[int, float] = {}
    peak_total = peak_one = 0
    while child.poll() is None:
        seen = _tree(child.pid)
        for pid, (seconds, _) in seen.items():
            cpu[pid] = max(cpu.get(pid, 0.0), seconds)
        if seen:
            peak_total = max(peak_total, sum(rss for _, rss in seen.values()))
            peak_one = max(peak_one, max(rss for _, rss in seen.values()))
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    mb = 2**20
    return {"seconds": seconds, "cpu_seconds": sum(cpu.values()), "peak_rss_mb": peak_total / mb,
            "largest_rss_mb": peak_one / mb}


def fhir_resources(bases: list[tuple[dict[str, Any], str]], records: int) -> dict[str, float] | None:
    try:
        r5 = importlib.import_module("fhir.resources")
        r4b = importlib.import_module("fhir.resources.R4B")
    except ImportError:
        print("fhir.resources not installed (pip install -e '.[bench]'): no ratio")
        return None
    lookup = {"R5": r5.get_fhir_model_class, "R4": r4b.get_fhir_model_class}
    rejected = 0
    start, cpu = time.perf_counter(), time.process_time()
    for line, release in corpus(bases, records):
        try:
            lookup[release](orjson.loads(line)["resourceType"]).model_validate_json(line)
        except Exception:  # noqa: BLE001 - a rejected record is a result
            rejected += 1
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    version = str(getattr(r5, "__version__", "?"))
    return {"seconds": seconds, "cpu_seconds": cpu, "rejected": rejected, "version": version}  # type: ignore[dict-item]


def spark_run(corpus_path: Path, workers: int) -> dict[str, float]:
    from pyspark.sql import SparkSession

    from imgfhir.spark import validate_ndjson

    session = (
        SparkSession.builder.master(f"local[{workers}]").config("spark.ui.enabled", "false").getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    start = time.perf_counter()
    checked = validate_ndjson(session, [str(corpus_path)])
    invalid = checked.where("not valid").count()
    seconds = time.perf_counter() - start
    session.stop()
    return {"seconds": seconds, "invalid": invalid}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="records in the corpus (default 1,000,000)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="N of -j N (default: cores)")
    parser.add_argument("--generated", type=int, default=20, help="generated instances per profile (default 20)")
    parser.add_argument("--gzip", action="store_true", help="write the corpus as .ndjson.gz")
    parser.add_argument("--spark", action="store_true", help="also imgfhir.spark in local[N] mode")
    parser.add_argument("--no-fhir-resources", action="store_true", help="skip fhir.resources")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    bases = base_resources(args.generated)
    figures: dict[str, Any] = {"records": args.records, "distinct_resources": len(bases), "workers": args.workers}
    with tempfile.TemporaryDirectory(prefix="imgfhir-bulk-") as tmp:
        path = Path(tmp, "corpus.ndjson.gz" if args.gzip else "corpus.ndjson")
        start = time.perf_counter()
        write_corpus(path, bases, args.records)
        size = path.stat().st_size
        print(f"corpus: {args.records:,} records ({len(bases)} distinct resources, fresh ids), "
              f"{size / 2**20:,.0f} MB, written in {time.perf_counter() - start:.0f} s")
        for workers in dict.fromkeys([1, args.workers]):
            got = run_cli(path, workers)
            figures[f"j{workers}"] = got
            rate = args.records / got["seconds"]
            print(f"imgfhir validate -j {workers}: {got['seconds']:,.1f} s, {rate:,.0f} records/s; CPU "
                  f"{got['cpu_seconds']:,.1f} s; peak RSS {got['peak_rss_mb']:,.0f} MB (largest process "
                  f"{got['largest_rss_mb']:,.0f} MB)")
        if args.workers > 1:
            one, many = figures["j1"], figures[f"j{args.workers}"]
            figures["speedup"] = one["seconds"] / many["seconds"]
            # what N cores would give if nothing else ran: the extra CPU of -j N (per-worker start-up and
            # plan compilation, the main process's reading and writing) is the only loss
            figures["speedup_by_cpu"] = args.workers * one["cpu_seconds"] / many["cpu_seconds"]
            print(f"speed-up -j {args.workers} / -j 1: {figures['speedup']:.2f}x by wall time, "
                  f"{figures['speedup_by_cpu']:.2f}x by CPU time (N x CPU(-j 1) / CPU(-j N))")
        if args.spark:
            got = spark_run(path, args.workers)
            figures["spark"] = got
            print(f"imgfhir.spark local[{args.workers}]: {got['seconds']:,.1f} s, "
                  f"{args.records / got['seconds']:,.0f} records/s ({got['invalid']:,} invalid)")
    if not args.no_fhir_resources:
        got = fhir_resources(bases, args.records)
        if got is not None:
            figures["fhir.resources"] = got
            rate = args.records / got["seconds"]
            many, one = figures[f"j{args.workers}"], figures["j1"]
            print(f"fhir.resources {got['version']} parse (one process): {got['seconds']:,.1f} s, {rate:,.0f} records/s"
                  f", CPU {got['cpu_seconds']:,.1f} s ({got['rejected']:,} rejected)")
            print(f"  imgfhir / fhir.resources by wall time: -j 1 {got['seconds'] / one['seconds']:.2f}x, "
                  f"-j {args.workers} {got['seconds'] / many['seconds']:.2f}x; by CPU time (-j 1, one process each): "
                  f"{got['cpu_seconds'] / one['cpu_seconds']:.2f}x")
    print(f"bench process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
