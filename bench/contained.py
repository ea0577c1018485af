"""Resources with many contained resources: validation time against their number (dom-3 and the rest).

    python bench/contained.py                        # 150, 300, 600 and 1,000 contained resources
    python bench/contained.py --sizes 1000 2000 --runs 5
    python bench/contained.py --engine-up-to 300     # also time dom-3 through the FHIRPath engine

The input is the R4 core example Observation-1minute-apgar-score (tests/fixtures/validation/
contained-scale) grown to N contained Patients, each referenced from `performer` (see that folder's
README). Evaluated as written, the core invariant dom-3 walks the whole resource once per contained
resource: quadratic (600 contained resources, 43 kB, took about two minutes). The shortcut in
validation/shortcuts.py does it in one pass; this prints, per N, the median wall time of a full
validation, of the dom-3 shortcut alone, and (with --engine-up-to) of dom-3 in the engine, with
the growth factor from one size to the next (2x the resources: ~2x the time is linear, ~4x quadratic).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "generated")]

from imgfhir import fhirpath  # noqa: E402
from imgfhir.fhirpath.budget import Budget  # noqa: E402
from imgfhir.packages import load_store  # noqa: E402
from imgfhir.validation import Validator  # noqa: E402
from imgfhir.validation.shortcuts import shortcut  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "validation" / "contained-scale" / "Observation-many-contained.json"
DOMAIN_RESOURCE = "http://hl7.org/fhir/StructureDefinition/DomainResource"
UNBOUNDED = Budget(steps=10**12, seconds=10**6)  # the default budget would stop the engine's dom-3 in seconds


def scaled(n: int) -> dict[str, Any]:
    res: dict[str, Any] = orjson.loads(FIXTURE.read_bytes())
    template = res["contained"][0]
    res["contained"] = [orjson.loads(orjson.dumps({**template, "id": f"c{i}"})) for i in range(n)]  # no sharing
    res["subject"] = {"reference": "#c0"}
    res["performer"] = [{"reference": f"#c{i}"} for i in range(n)]
    return res


def dom_3(store: Any) -> str:
    hit = store.scope(release="R4").entry(DOMAIN_RESOURCE)
    sd = hit[0].load(hit[1].filename)
    return next(c["expression"] for c in sd["snapshot"]["element"][0]["constraint"] if c["key"] == "dom-3")


def timed(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[150, 300, 600, 1000])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per size (median)")
    parser.add_argument("--engine-up-to", type=int, default=0, help="time dom-3 in the engine up to this size")
    args = parser.parse_args()

    store = load_store(env=False, entry_points=False)
    validator = Validator(store)
    expression = dom_3(store)
    fast = shortcut(expression)
    assert fast is not None
    compiled = fhirpath.compile(expression, "R4")
    validator.validate(scaled(10), fhir_version="R4")  # plans compiled, caches warm
    print(f"{'contained':>9} {'kB':>6} {'validate s':>11} {'x':>5} {'dom-3 shortcut ms':>18} {'engine s':>9} {'x':>5}")
    previous: tuple[float, float | None] | None = None
    for n in args.sizes:
        res = scaled(n)
        size = len(orjson.dumps(res)) / 1000
        outcome = validator.validate(res, fhir_version="R4")
        assert not [i for i in outcome.issues if i.rule == "dom-3"], "every contained resource is referenced"
        full = timed(lambda res=res: validator.validate(res, fhir_version="R4"), args.runs)
        short = timed(lambda res=res: fast(res), args.runs)
        engine = None
        if n <= args.engine_up_to:
            engine = timed(lambda res=res: compiled.evaluate(res, lenient=True, limits=UNBOUNDED), 1)
        growth = f"{full / previous[0]:5.2f}" if previous else "    -"
        engine_growth = f"{engine / previous[1]:5.2f}" if previous and engine and previous[1] else "    -"
        engine_text = f"{engine:9.2f}" if engine is not None else "        -"
        print(f"{n:9d} {size:6.0f} {full:11.3f} {growth} {short * 1000:18.2f} {engine_text} {engine_growth}")
        previous = (full, engine)


if __name__ == "__main__":
    main()
