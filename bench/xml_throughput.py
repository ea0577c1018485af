"""XML vs JSON validation throughput on the same resources (the imaging IGs' examples).

    python bench/xml_throughput.py            # 5 timed runs after one warm-up pass
    python bench/xml_throughput.py --runs 10

Each example file of the four imaging IGs (tests/fixtures/ig-examples, each in its IG's release) is
written once as XML by imgfhir's writer. Timed, from text each time (so parsing counts for both):
validating the JSON text, validating the XML text, and reading the XML alone (parse + conversion to the
JSON tree, no validation). Resources count a Bundle's entries too. Figures are medians of the runs, in
resources per second of this process's CPU time (on a shared machine wall time measures the neighbours
too) and of wall time.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "generated"), str(ROOT)]

from imgfhir.packages import load_store  # noqa: E402
from imgfhir.validation import Validator  # noqa: E402
from imgfhir.xml import read_xml  # noqa: E402
from imgfhir.xml.writer import write_xml  # noqa: E402

IGS = {
    "hl7.fhir.uv.radiation-dose-summary": "R4",
    "hl7.fhir.uv.dicom-sr": "R5",
    "hl7.fhir.eu.imaging": "R4",
    "hl7.fhir.eu.imaging-r5": "R5",
}


def count(res: object) -> int:
    if not isinstance(res, dict):
        return 0
    entries = res.get("entry") if res.get("resourceType") == "Bundle" else None
    return 1 + sum(count(e.get("resource")) for e in entries or [] if isinstance(e, dict))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    store = load_store()
    validator = Validator(store)
    examples: list[tuple[str, bytes, str, int]] = []
    for ig, release in IGS.items():
        for path in sorted((ROOT / "tests" / "fixtures" / "ig-examples" / ig).glob("*.json")):
            data = path.read_bytes()
            res = orjson.loads(data)
            if "resourceType" not in res:
                continue
            xml = write_xml(res, store.scope(release=release)).text
            examples.append((release, data, xml, count(res)))
    resources = sum(n for *_, n in examples)

    def run(label: str, fn: object) -> float:
        cpu, wall = [], []
        for i in range(args.runs + 1):
            gc.collect()  # each pass from the same collector state: a full collection is not one pass's luck
            start, start_cpu = time.perf_counter(), time.process_time()
            for release, data, xml, _ in examples:
                fn(release, data, xml)  # type: ignore[operator]
            if i:  # the first pass warms the plans up
                cpu.append(time.process_time() - start_cpu)
                wall.append(time.perf_counter() - start)
        rate = resources / statistics.median(cpu)
        print(f"{label:<18} {rate:8.0f} resources/s CPU {resources / statistics.median(wall):8.0f} wall")
        return rate

    print(f"{len(examples)} files, {resources} resources, {args.runs} runs")
    json_rate = run("validate JSON", lambda r, d, x: validator.validate(d, fhir_version=r))
    xml_rate = run("validate XML", lambda r, d, x: validator.validate(x, fhir_version=r))
    read_rate = run("read XML only", lambda r, d, x: read_xml(x, store.scope(release=r)))
    print(f"XML / JSON validation: {xml_rate / json_rate:.2f}x CPU (reading alone: {read_rate:.0f} resources/s)")


if __name__ == "__main__":
    main()
