"""Validation throughput on the imaging IGs' examples: imgfhir vs fhir.resources and fhircraft.

    python bench/validate_throughput.py              # 5 timed runs after one warm-up pass
    python bench/validate_throughput.py --runs 10
    python bench/validate_throughput.py --json out.json

The inputs are the example files of the four imaging IGs in tests/fixtures/ig-examples (each in its
IG's FHIR release), parsed once up front: parsing JSON is not timed. A Bundle's entries count as
resources too, so both files/s and resources/s are printed. Every figure is the median of the timed
runs; the ratios are also given by process CPU time, which leaves out time spent waiting for a
CPU on a busy machine. Measured, all in the same process:

  full        imgfhir, each example against the profiles it declares (as tests/validation/test_ig_examples.py)
  base-only   imgfhir, a copy of each example with meta.profile removed (every nested resource too)
  fhir.resources  pydantic models of the base resources (structure only: R4B models for R4, R5 for R5)
  fhircraft   pydantic models built by fhircraft from the declared profile (or the base type); examples
              whose model it cannot build are counted and left out, and imgfhir is also timed on the
              subset fhircraft handles, for a like-for-like ratio

The peers are optional (`pip install -e '.[bench]'`); a missing one is skipped with a message.
fhircraft gets the definitions it asks for from imgfhir's package store (its internet access is off).
Memory: the ru_maxrss growth for imgfhir (package store, compiled plans, first pass; measured before
any peer is imported), the tracemalloc peak of one warm pass over the full set, and (in a child
process, so nothing else is traced) the tracemalloc peak and held memory of store + plans + one pass.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "tests" / "fixtures" / "ig-examples"
IGS = {
    "hl7.fhir.uv.radiation-dose-summary": "R4",
    "hl7.fhir.uv.dicom-sr": "R5",
    "hl7.fhir.eu.imaging": "R4",
    "hl7.fhir.eu.imaging-r5": "R5",
}
# example files that are not FHIR resources (see tests/validation/test_ig_examples.py)
NOT_FHIR = {"hl7.fhir.uv.dicom-sr/Example-MeasurementReport.json"}
CORE_SD = "http://hl7.org/fhir/StructureDefinition/"


@dataclass
class Example:
    ig: str
    release: str
    name: str
    resource: dict[str, Any]
    resources: int  # the resource itself and its Bundle entries' resources
    base_only: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    label: str
    files: int
    resources: int
    seconds: list[float]
    note: str = ""
    cpu_seconds: list[float] = field(default_factory=list)  # process CPU time of the same runs

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu_per_resource(self) -> float:
        """Median CPU seconds per resource: steadier than wall time on a shared machine."""
        return statistics.median(self.cpu_seconds) / self.resources if self.cpu_seconds and self.resources else 0.0

    @property
    def files_per_s(self) -> float:
        return self.files / self.median if self.median else 0.0

    @property
    def resources_per_s(self) -> float:
        return self.resources / self.median if self.median else 0.0


def count_resources(res: dict[str, Any]) -> int:
    n = 1
    entries = res.get("entry") if res.get("resourceType") == "Bundle" else None
    for entry in entries if isinstance(entries, list) else []:
        inner = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(inner, dict):
            n += count_resources(inner)
    return n


def strip_profiles(node: Any) -> Any:
    """A deep copy of `node` with meta.profile removed from every resource in it."""
    out = copy.deepcopy(node)

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            meta = x.get("meta")
            if "resourceType" in x and isinstance(meta, dict):
                meta.pop("profile", None)
                if not meta:
                    del x["meta"]
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(out)
    return out


def load_examples() -> list[Example]:
    out = []
    for ig, release in IGS.items():
        for path in sorted((EXAMPLES / ig).glob("*.json")):
            if f"{ig}/{path.name}" in NOT_FHIR:
                continue
            res = orjson.loads(path.read_bytes())
            out.append(Example(ig, release, path.name, res, count_resources(res), strip_profiles(res)))
    return out


def timed(label: str, examples: list[Example], fn: Callable[[Example], object], runs: int, note: str = "") -> Result:
    for ex in examples:  # warm-up pass
        fn(ex)
    seconds, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        for ex in examples:
            fn(ex)
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return Result(label, len(examples), sum(ex.resources for ex in examples), seconds, note, cpu)


def max_rss_mb() -> float:
    divisor = 2**20 if sys.platform == "darwin" else 2**10  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / divisor


# ---------------------------------------------------------------------------------------------- imgfhir


class Imgfhir:
    def __init__(self) -> None:
        from imgfhir.packages import load_store
        from imgfhir.validation import Validator

        self.store = load_store(env=False, entry_points=False)
        self.validators: dict[str, Validator] = {}
        for ig in IGS:
            v = Validator(self.store)
            examples = (orjson.loads(p.read_bytes()) for p in (EXAMPLES / ig).glob("*.json"))
            v.add_resources(examples, fhir_version=IGS[ig])
            self.validators[ig] = v
        self.errors: dict[str, int] = {}

    def full(self, ex: Example) -> object:
        outcome = self.validators[ex.ig].validate(ex.resource, fhir_version=ex.release)
        self.errors[ex.name] = sum(i.severity in ("error", "fatal") for i in outcome.issues)
        return outcome

    def base_only(self, ex: Example) -> object:
        return self.validators[ex.ig].validate(ex.base_only, fhir_version=ex.release)


# ---------------------------------------------------------------------------------------------- peers


class FhirResources:
    """fhir.resources: R5 models at the top level, R4B for R4 (the closest release it ships; no 4.0.1 models)."""

    def __init__(self) -> None:
        start = time.perf_counter()
        r5 = importlib.import_module("fhir.resources")
        r4b = importlib.import_module("fhir.resources.R4B")
        self.import_seconds = time.perf_counter() - start
        self.version = str(getattr(r5, "__version__", "?"))
        self.lookup = {"R5": r5.get_fhir_model_class, "R4": r4b.get_fhir_model_class}
        self.rejected: dict[str, str] = {}

    def parse(self, ex: Example) -> object:
        cls = self.lookup[ex.release](ex.resource["resourceType"])
        try:
            return cls.model_validate(ex.resource)
        except Exception as exc:  # noqa: BLE001 - a rejected example is a result, not a bench failure
            self.rejected[ex.name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            return None


_NOT_FOUND = re.compile(r"Structure definition not found for (\S+?)\. Either")


class BuildTimeout(BaseException):  # not an Exception: fhircraft must not wrap it
    pass


class _deadline:
    """Raise BuildTimeout in the main thread after `seconds` (SIGALRM; no limit where there is none)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = seconds > 0 and hasattr(signal, "SIGALRM")

    def __enter__(self) -> None:
        if self.armed:
            signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)

    @staticmethod
    def _fire(signum: int, frame: object) -> None:
        raise BuildTimeout


class Fhircraft:
    """fhircraft: one model per declared profile (first declared, else the base type), built on demand."""

    def __init__(self, imgfhir: Imgfhir, timeout: float) -> None:
        self.timeout = timeout
        start = time.perf_counter()
        factory_mod = importlib.import_module("fhircraft.fhir.resources.factory")
        self.import_seconds = time.perf_counter() - start
        self.version = importlib.import_module("importlib.metadata").version("fhircraft")
        self.store = imgfhir.store
        self.factories = {release: factory_mod.FHIRModelFactory(release) for release in ("R4", "R5")}
        for f in self.factories.values():
            f.disable_internet_access()
        self.models: dict[tuple[str, str], Any] = {}
        self.failed: dict[tuple[str, str], str] = {}
        self.build_seconds = 0.0
        self.registered = 0
        self.handed: set[tuple[str, str]] = set()
        self.rejected: dict[str, str] = {}

    @staticmethod
    def profile_of(ex: Example) -> str:
        meta = ex.resource.get("meta")
        declared = meta.get("profile") if isinstance(meta, dict) else None
        if isinstance(declared, list) and declared and isinstance(declared[0], str):
            return declared[0].split("|")[0]
        return CORE_SD + str(ex.resource["resourceType"])

    @staticmethod
    def closure(scope: Any, url: str) -> list[dict[str, Any]]:
        """The non-core StructureDefinitions `url` builds on: base definitions and type profiles, recursively."""
        out: list[dict[str, Any]] = []
        todo, seen = [url], {url}
        while todo:
            sd = scope.find(todo.pop())
            if not isinstance(sd, dict):
                continue
            if not str(sd.get("url", "")).startswith(CORE_SD) or sd.get("derivation") == "constraint":
                out.append(sd)
            wanted = [sd.get("baseDefinition")]
            for part in ("differential", "snapshot"):
                for ed in (sd.get(part) or {}).get("element", ()):
                    for t in ed.get("type", ()):
                        wanted += t.get("profile", [])
            for w in wanted:
                if isinstance(w, str) and w.split("|")[0] not in seen:
                    seen.add(w.split("|")[0])
                    todo.append(w.split("|")[0])
        return out

    def model_for(self, ex: Example) -> Any:
        url = self.profile_of(ex)
        key = (ex.ig, url)
        if key in self.models or key in self.failed:
            return self.models.get(key)
        factory = self.factories[ex.release]
        scope = self.store.scope(ex.ig)
        start = time.perf_counter()
        seen: set[str] = set()
        for sd in self.closure(scope, url):  # up front: each missing definition found on the way costs a rebuild
            if (ex.release, sd["url"]) not in self.handed:
                self.handed.add((ex.release, sd["url"]))
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        factory.register(sd)
                    self.registered += 1
                except Exception:  # noqa: BLE001 - fhircraft rejects some definitions; the build will say
                    continue
        try:
            while True:
                try:
                    with warnings.catch_warnings(), _deadline(self.timeout):
                        warnings.simplefilter("ignore")
                        self.models[key] = factory.build(canonical_url=url)
                    break
                except BuildTimeout:
                    self.failed[key] = f"gave up after {self.timeout} s (--fhircraft-timeout)"
                    break
                except Exception as exc:  # noqa: BLE001 - any build failure is counted, not raised
                    missing = _NOT_FOUND.search(str(exc))
                    wanted = missing.group(1).split("|")[0] if missing else None
                    found = scope.find(wanted) if wanted and wanted not in seen else None
                    if wanted is None or found is None:
                        self.failed[key] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
                        break
                    seen.add(wanted)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        factory.register(found)
                    self.registered += 1
        except Exception as exc:  # noqa: BLE001 - registering a definition can fail too
            self.failed[key] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
        took = time.perf_counter() - start
        self.build_seconds += took
        state = "built" if key in self.models else "cannot build"
        print(f"    fhircraft: {state} {url.rsplit('/', 1)[-1]} ({ex.ig}) in {took:.1f} s", file=sys.stderr, flush=True)
        return self.models.get(key)

    def validate(self, ex: Example) -> object:
        model = self.models[(ex.ig, self.profile_of(ex))]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return model.model_validate(ex.resource)
        except Exception as exc:  # noqa: BLE001 - a rejected example is a result
            self.rejected[ex.name] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:120]}"
            return None


def peer(name: str, make: Callable[[], Any]) -> Any:
    try:
        return make()
    except ImportError as exc:
        print(f"[skip] {name} is not installed ({exc}); pip install -e '.[bench]'")
        return None


# ---------------------------------------------------------------------------------------------- main


def fmt(r: Result) -> str:
    spread = f"{min(r.seconds):.2f}-{max(r.seconds):.2f}"
    line = (
        f"  {r.label:<34} {r.files:>4} files {r.resources:>4} res  {r.median:7.2f} s ({spread})"
        f"  {r.files_per_s:9.1f} files/s {r.resources_per_s:9.1f} res/s"
    )
    return line + (f"  [{r.note}]" if r.note else "")


def traced_cold_pass() -> int:
    """Child-process mode: tracemalloc over store loading, plan compilation and one full pass."""
    examples = load_examples()
    tracemalloc.start()
    ours = Imgfhir()
    for ex in examples:
        ours.full(ex)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"current_mb": round(current / 2**20, 1), "peak_mb": round(peak / 2**20, 1)}))
    return 0


def traced_cold_pass_in_child() -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--traced-cold-pass"], capture_output=True, text=True, check=False)
    try:
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        print(f"[memory] the traced child failed: {proc.stderr.strip()[-300:]}")
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="timed runs after the warm-up pass (default 5)")
    parser.add_argument("--no-fhircraft", action="store_true", help="skip fhircraft (its model builds are slow)")
    parser.add_argument(
        "--fhircraft-timeout",
        type=float,
        default=60,
        help="give up building one fhircraft model after this many seconds, counted as a failure (default 60; 0: none)",
    )
    parser.add_argument("--no-fhir-resources", action="store_true", help="skip fhir.resources")
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    parser.add_argument("--no-traced-child", action="store_true", help="skip the tracemalloc child process")
    parser.add_argument("--traced-cold-pass", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.traced_cold_pass:
        return traced_cold_pass()
    runs = max(1, args.runs)

    examples = load_examples()
    total_res = sum(ex.resources for ex in examples)
    print(f"{len(examples)} example files, {total_res} resources (Bundle entries included), {runs} timed runs")
    summary: dict[str, Any] = {"files": len(examples), "resources": total_res, "runs": runs}

    # imgfhir first, before any peer is imported, so that ru_maxrss growth is imgfhir's own
    rss0 = max_rss_mb()
    start = time.perf_counter()
    ours = Imgfhir()
    for ex in examples:
        ours.full(ex)
    cold = time.perf_counter() - start
    rss_delta = max_rss_mb() - rss0
    tracemalloc.start()
    for ex in examples:
        ours.full(ex)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    traced = {} if args.no_traced_child else traced_cold_pass_in_child()
    errors = sum(ours.errors.values())
    print(f"imgfhir: store + plans + first full pass {cold:.2f} s; {errors} error issues over the examples")
    print(
        f"imgfhir memory: ru_maxrss +{rss_delta:.0f} MB (store, plans, first pass); "
        f"tracemalloc peak {peak / 2**20:.1f} MB during a warm full pass"
    )
    if traced:
        print(
            f"imgfhir memory, fresh process under tracemalloc: peak {traced.get('peak_mb')} MB, "
            f"{traced.get('current_mb')} MB held after store + plans + one full pass"
        )
    summary["imgfhir"] = {
        "cold_first_pass_s": round(cold, 3),
        "maxrss_delta_mb": round(rss_delta, 1),
        "tracemalloc_peak_mb": round(peak / 2**20, 1),
        "tracemalloc_cold_child": traced,
        "error_issues": errors,
    }

    results: dict[str, Result] = {}
    results["full"] = timed("imgfhir full (declared profiles)", examples, ours.full, runs)
    results["base"] = timed("imgfhir base-only (no meta.profile)", examples, ours.base_only, runs)

    fr = None if args.no_fhir_resources else peer("fhir.resources", FhirResources)
    if fr is not None:
        results["fhir.resources"] = timed(f"fhir.resources {fr.version} parse", examples, fr.parse, runs)
        print(f"fhir.resources: import {fr.import_seconds:.2f} s; rejected {len(fr.rejected)} examples")
        for name, why in sorted(fr.rejected.items()):
            print(f"    rejected {name}: {why}")
        summary["fhir.resources"] = {
            "version": fr.version,
            "import_s": round(fr.import_seconds, 3),
            "rejected": fr.rejected,
        }

    fc = None if args.no_fhircraft else peer("fhircraft", lambda: Fhircraft(ours, args.fhircraft_timeout))
    if fc is not None:
        buildable = [ex for ex in examples if fc.model_for(ex) is not None]
        print(
            f"fhircraft {fc.version}: import {fc.import_seconds:.2f} s; built {len(fc.models)} models, "
            f"{len(fc.failed)} profiles failed, in {fc.build_seconds:.1f} s "
            f"({fc.registered} definitions handed over from imgfhir's store)"
        )
        for (ig, url), why in sorted(fc.failed.items()):
            print(f"    cannot build {ig} {url.rsplit('/', 1)[-1]}: {why}")
        skipped = len(examples) - len(buildable)
        print(f"fhircraft: {len(buildable)} of {len(examples)} examples have a model ({skipped} left out)")
        summary["fhircraft"] = {
            "version": fc.version,
            "import_s": round(fc.import_seconds, 3),
            "build_s": round(fc.build_seconds, 2),
            "models": len(fc.models),
            "failed_profiles": {f"{ig} {url}": why for (ig, url), why in fc.failed.items()},
            "examples_with_model": len(buildable),
            "examples_without_model": skipped,
        }
        if buildable:
            results["fhircraft"] = timed(
                f"fhircraft {fc.version} model validate",
                buildable,
                fc.validate,
                runs,
                note=f"{len(buildable)}/{len(examples)} files",
            )
            results["full-subset"] = timed("imgfhir full, fhircraft's subset", buildable, ours.full, runs)
            print(f"fhircraft: rejected {len(fc.rejected)} of the examples it has a model for")
            for name, why in sorted(fc.rejected.items()):
                print(f"    rejected {name}: {why}")
            summary["fhircraft"]["rejected"] = fc.rejected

    print()
    print("throughput (median of runs; min-max in brackets)")
    for r in results.values():
        print(fmt(r))
    ratios: dict[str, float] = {}

    cpu_ratios: dict[str, float] = {}

    def ratio(name: str, a: str, b: str) -> None:
        if a in results and b in results and results[b].resources_per_s:
            ratios[name] = results[a].resources_per_s / results[b].resources_per_s
            if results[a].cpu_per_resource:
                cpu_ratios[name] = results[b].cpu_per_resource / results[a].cpu_per_resource

    ratio("full/fhircraft (same subset)", "full-subset", "fhircraft")
    ratio("full/fhir.resources", "full", "fhir.resources")
    ratio("base-only/fhir.resources", "base", "fhir.resources")
    ratio("full/base-only", "full", "base")
    print()
    print("ratios of resources/s (>1: imgfhir faster), by wall time and by process CPU time")
    for name, value in ratios.items():
        print(f"  {name:<30} {value:8.3f}   cpu {cpu_ratios.get(name, 0.0):8.3f}")
    summary["results"] = {
        k: {
            "files": r.files,
            "resources": r.resources,
            "median_s": round(r.median, 4),
            "files_per_s": round(r.files_per_s, 2),
            "resources_per_s": round(r.resources_per_s, 2),
            "seconds": [round(s, 4) for s in r.seconds],
            "cpu_seconds": [round(s, 4) for s in r.cpu_seconds],
        }
        for k, r in results.items()
    }
    summary["ratios"] = {k: round(v, 4) for k, v in ratios.items()}
    summary["cpu_ratios"] = {k: round(v, 4) for k, v in cpu_ratios.items()}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
