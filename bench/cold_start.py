"""Cold start: `imgfhir validate <one small example>` from process start to exit, and the import cost.

    python bench/cold_start.py                   # median of 10 runs each, top-10 imports
    python bench/cold_start.py --runs 20 --example path/to/resource.json

Each command runs as a fresh subprocess, once untimed first (warm disk cache, unpacked package
cache, bytecode written: PYTHONDONTWRITEBYTECODE is cleared for the children), then --runs times;
the median and min-max wall times are printed, next to `python -c pass` (the interpreter's own
start-up). The example defaults to the smallest Radiation Dose Summary
example that declares a profile, so the run loads packages, compiles a profile and validates.
The import tables come from `python -X importtime`: self and cumulative microseconds per module.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_IG = ROOT / "tests" / "fixtures" / "ig-examples" / "hl7.fhir.uv.radiation-dose-summary"


def default_example() -> Path:
    """The smallest example of the Radiation Dose Summary IG that declares a profile."""
    for path in sorted(DEFAULT_IG.glob("*.json"), key=lambda p: p.stat().st_size):
        res = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(res, dict) and res.get("meta", {}).get("profile"):
            return path
    raise SystemExit(f"no example with a declared profile in {DEFAULT_IG}")


def imgfhir_command() -> list[str]:
    """The installed console script run by this interpreter (no shell shims), else `python -m imgfhir`."""
    script = Path(sysconfig.get_path("scripts")) / "imgfhir"
    if script.is_file():
        return [sys.executable, str(script)]
    return [sys.executable, "-m", "imgfhir"]


def child_env() -> dict[str, str]:
    """The environment of the timed runs: bytecode caching on, as in an installed package (with
    PYTHONDONTWRITEBYTECODE set, every start would compile the sources again: ~0.1 s more)."""
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def wall_times(cmd: list[str], runs: int) -> tuple[list[float], int]:
    """Wall seconds of `runs` runs of cmd, after one untimed warm-up run; also the last exit code."""
    env = child_env()
    subprocess.run(cmd, capture_output=True, env=env, check=False)
    times = []
    code = 0
    for _ in range(runs):
        start = time.perf_counter()
        code = subprocess.run(cmd, capture_output=True, env=env, check=False).returncode
        times.append(time.perf_counter() - start)
    return times, code


def import_times(cmd: list[str]) -> list[tuple[int, int, str]]:
    """(self µs, cumulative µs, module) for every import of one run of cmd under -X importtime."""
    env = child_env()
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, env=env, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = (part.strip() for part in line[len("import time:") :].split("|", 2))
        rows.append((int(self_us), int(cum_us), name.strip()))
    return rows


def print_top(rows: list[tuple[int, int, str]], top: int) -> None:
    by_self = sorted(rows, key=lambda r: -r[0])[:top]
    by_cum = sorted(rows, key=lambda r: -r[1])[:top]
    print(f"  top {top} by self time{'':<34}top {top} by cumulative time")
    for (s, _, n), (_, c, m) in zip(by_self, by_cum, strict=False):
        print(f"  {s / 1000:8.1f} ms  {n[:40]:<40}{c / 1000:8.1f} ms  {m[:40]}")


def report(label: str, times: list[float], code: int | None = None) -> dict[str, float]:
    med = statistics.median(times)
    rc = f"  exit {code}" if code is not None else ""
    print(f"  {label:<52} median {med * 1000:7.0f} ms  (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}){rc}")
    return {
        "median_ms": round(med * 1000, 1),
        "min_ms": round(min(times) * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (default 10)")
    parser.add_argument("--example", type=Path, help="the resource to validate (default: a small profiled example)")
    parser.add_argument("--top", type=int, default=10, help="modules to list by import time (default 10)")
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    args = parser.parse_args(argv)
    runs = max(1, args.runs)
    example = args.example or default_example()

    cli = [*imgfhir_command(), "validate", str(example)]
    importing = [sys.executable, "-c", "import imgfhir.validation"]
    bare = [sys.executable, "-c", "pass"]
    shown = example.relative_to(ROOT) if example.is_relative_to(ROOT) else example
    print(f"{runs} runs each after one warm-up run; example {shown}")
    summary: dict[str, object] = {"runs": runs, "example": str(example)}
    t, _ = wall_times(bare, runs)
    summary["python -c pass"] = report("python -c pass (interpreter start-up)", t)
    t, _ = wall_times(importing, runs)
    summary["import imgfhir.validation"] = report('python -c "import imgfhir.validation"', t)
    t, code = wall_times(cli, runs)
    summary["imgfhir validate"] = report(f"imgfhir validate {example.name}", t, code)

    for label, cmd in (("import imgfhir.validation", importing), (f"imgfhir validate {example.name}", cli)):
        rows = import_times(cmd)
        total = sum(r[0] for r in rows)
        print()
        print(f"-X importtime, {label}: {len(rows)} modules, {total / 1000:.0f} ms of imports in all")
        print_top(rows, args.top)
        summary[f"importtime {label}"] = {
            "modules": len(rows),
            "total_ms": round(total / 1000, 1),
            "top_self": [(n, round(s / 1000, 1)) for s, _, n in sorted(rows, key=lambda r: -r[0])[: args.top]],
            "top_cumulative": [(n, round(c / 1000, 1)) for _, c, n in sorted(rows, key=lambda r: -r[1])[: args.top]],
        }
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
