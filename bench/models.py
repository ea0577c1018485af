"""Generated models: import time, model_validate throughput (vs fhir.resources), codegen time.

    python bench/models.py [--repeat N] [--skip-codegen]

- import time: each IG's model module imported in a fresh interpreter (`import imgfhir.models.rds`), the
  median of three runs (target: at most 0.5 s);
- throughput: `model_validate` of every IG example into the model of its declared profile (base resource model
  otherwise), against fhir.resources on the same JSON in the same run (R5 IGs: `fhir.resources`, R4 IGs:
  `fhir.resources.R4B`, the closest release it ships) when it is installed;
- codegen: JSON Schemas and models for the four imaging IG packages into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "tests" / "fixtures" / "ig-examples"
MODULES = {
    "rds": ("hl7.fhir.uv.radiation-dose-summary", "r4"),
    "dicom_sr": ("hl7.fhir.uv.dicom-sr", "r5"),
    "eu_imaging": ("hl7.fhir.eu.imaging", "r4"),
    "eu_imaging_r5": ("hl7.fhir.eu.imaging-r5", "r5"),
}
CORE = "http://hl7.org/fhir/StructureDefinition/"


def import_time(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import imgfhir.models.{module}; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)]
    runs += [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)]
    runs += [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)]
    return statistics.median(runs)


def examples(package_id: str) -> list[dict[str, Any]]:
    found = [json.loads(p.read_bytes()) for p in sorted((EXAMPLES / package_id).glob("*.json"))]
    return [d for d in found if "resourceType" in d]


def ours(module: str, release: str) -> Any:
    import importlib

    from imgfhir.models import FhirModel

    classes: dict[str, type[FhirModel]] = {}
    for name in (f"imgfhir.models.{release}", f"imgfhir.models.{module}"):
        mod = importlib.import_module(name)
        for c in vars(mod).values():
            if isinstance(c, type) and issubclass(c, FhirModel) and c.fhir_profile:
                classes[c.fhir_profile] = c

    def load(data: dict[str, Any]) -> Any:
        declared = (data.get("meta", {}).get("profile") or [""])[0].split("|")[0]
        cls = classes.get(declared) or classes[CORE + data["resourceType"]]
        return cls.model_validate(data)

    return load


def peer(release: str) -> Any:
    try:
        if release == "r5":
            from fhir.resources import get_fhir_model_class
        else:
            from fhir.resources.R4B import get_fhir_model_class
    except ImportError:
        return None

    def load(data: dict[str, Any]) -> Any:
        return get_fhir_model_class(data["resourceType"]).model_validate(data)

    return load


def throughput(load: Any, instances: list[dict[str, Any]], repeat: int) -> tuple[float, int]:
    """Instances per second, and how many instances the loader rejected (left out of the timing)."""
    ok = []
    for data in instances:
        try:
            load(data)
            ok.append(data)
        except Exception:  # noqa: BLE001 - a peer rejecting an instance is a result, not a failure
            pass
    start = time.perf_counter()
    for _ in range(repeat):
        for data in ok:
            load(data)
    elapsed = time.perf_counter() - start
    return (len(ok) * repeat / elapsed if elapsed else 0.0), len(instances) - len(ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--skip-codegen", action="store_true")
    args = parser.parse_args()

    print("import time (fresh interpreter, median of 3; target <= 0.5 s)")
    for module in MODULES:
        print(f"  imgfhir.models.{module:<14} {import_time(module):6.3f} s")

    print(f"\nmodel_validate throughput on the IG examples (instances/s, {args.repeat} passes)")
    print(f"  {'module':<14} {'examples':>8} {'imgfhir':>10} {'fhir.resources':>15}")
    for module, (package_id, release) in MODULES.items():
        instances = examples(package_id)
        mine, mine_rejected = throughput(ours(module, release), instances, args.repeat)
        other = peer(release)
        if other is None:
            theirs_text = "not installed"
        else:
            theirs, rejected = throughput(other, instances, args.repeat)
            theirs_text = f"{theirs:,.0f}" + (f" ({rejected} rejected)" if rejected else "")
        mine_text = f"{mine:,.0f}" + (f" ({mine_rejected} rejected)" if mine_rejected else "")
        print(f"  {module:<14} {len(instances):>8} {mine_text:>10} {theirs_text:>15}")

    if not args.skip_codegen:
        from imgfhir.codegen.models import IMAGING_TARGETS, Target, generate
        from imgfhir.packages import load_store

        store = load_store(env=False, entry_points=False)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            files = generate(store, [Target(m, p) for m, p in IMAGING_TARGETS.items()], Path(tmp) / "models")
        print(f"\ncodegen, four imaging IG packages: {len(files)} files in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
