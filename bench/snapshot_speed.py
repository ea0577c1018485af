"""Snapshot generation speed over the imaging IG set.

    python bench/snapshot_speed.py [--repeat N]

For every StructureDefinition of the four imaging IG packages (and the IG packages they build
on), snapshots are generated from scratch in a fresh scope ("cold": includes unfolding the core
datatypes they need) and then fetched again ("warm": the per-scope cache). The peer, run in the
same process on the same output, is a plain deep copy of every generated snapshot (orjson
round trip): the floor any generator that returns fresh JSON has to pay.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import orjson

from imgfhir.packages import PackageStore, load_store
from imgfhir.snapshot.generator import SnapshotGenerator

IGS = [
    "hl7.fhir.uv.radiation-dose-summary",
    "hl7.fhir.uv.dicom-sr",
    "hl7.fhir.eu.imaging",
    "hl7.fhir.eu.imaging-r5",
    "hl7.fhir.eu.base",
    "hl7.fhir.eu.base-r5",
    "hl7.fhir.eu.extensions",
    "hl7.fhir.eu.extensions.r4",
]


def targets(store: PackageStore) -> list[tuple[str, str]]:
    out = []
    for ig in IGS:
        pkg = store.get(ig)
        if pkg is not None:
            out += [(ig, e.url) for e in pkg.entries if e.resource_type == "StructureDefinition" and e.url]
    return out


def generate_all(store: PackageStore, cases: list[tuple[str, str]]) -> tuple[float, float, list[dict[str, Any]]]:
    gens = {ig: SnapshotGenerator(store.scope(ig)) for ig in IGS if store.get(ig) is not None}
    t0 = time.perf_counter()
    results = [gens[ig].snapshot(url) for ig, url in cases]
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    for ig, url in cases:
        gens[ig].snapshot(url)
    warm = time.perf_counter() - t0
    return cold, warm, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    t0 = time.perf_counter()
    store = load_store(env=False, entry_points=False)
    cases = targets(store)
    for ig in IGS:  # index loading is the store's cost, not the generator's
        if store.get(ig) is not None:
            store.scope(ig).entry("http://hl7.org/fhir/StructureDefinition/Observation")
    setup = time.perf_counter() - t0
    colds, warms, peers = [], [], []
    elements = 0
    for _ in range(args.repeat):
        cold, warm, results = generate_all(store, cases)
        colds.append(cold)
        warms.append(warm)
        elements = sum(len(r["snapshot"]["element"]) for r in results)
        t0 = time.perf_counter()
        for r in results:
            orjson.loads(orjson.dumps(r))
        peers.append(time.perf_counter() - t0)
    cold, warm, peer = (statistics.median(x) for x in (colds, warms, peers))
    print(f"profiles: {len(cases)} in {len(IGS)} packages, {elements} snapshot elements")
    print(f"store setup (load + index): {setup:.2f} s")
    rate = f"{len(cases) / cold:8.0f} profiles/s, {elements / cold:9.0f} elements/s"
    print(f"cold generation:  {cold * 1000:8.1f} ms  ({rate})")
    print(f"warm (cached):    {warm * 1000:8.3f} ms")
    print(f"peer deep copy:   {peer * 1000:8.1f} ms  (cold generation = {cold / peer:.1f}x a deep copy of its output)")


if __name__ == "__main__":
    main()
