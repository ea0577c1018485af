"""FHIRPath conformance: imgfhir's layer vs fhirpathpy alone on the official R4/R5 suites.

    python bench/fhirpath_suite.py                     # pass rates per release and per group, both engines
    python bench/fhirpath_suite.py --failures          # also list imgfhir's failing tests with the reason
    python bench/fhirpath_suite.py --json summary.json
    python bench/fhirpath_suite.py --write-known-failures   # regenerate tests/fhirpath/known_failures.txt

The logic lives in imgfhir.fhirpath.suite (shared with tests/fhirpath/test_conformance.py); the suites
are the copies in tests/fixtures/fhirpath. Both engines run in this process: imgfhir's overrides of
fhirpathpy internals are active only inside imgfhir's evaluations, so the peer runs as shipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from imgfhir.fhirpath.suite import ENGINES, Report, format_known_failures, read_known_failures, run_suite

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "tests" / "fixtures" / "fhirpath"
KNOWN_FAILURES = ROOT / "tests" / "fhirpath" / "known_failures.txt"
RELEASES = ("R4", "R5")


def _pct(ok: int, n: int) -> str:
    return f"{ok:>4}/{n:<4} {100 * ok / n if n else 0:5.1f} %"


def print_groups(ours: Report, peer: Report) -> None:
    peer_groups = peer.per_group()
    print(f"  {'group':<40} {'imgfhir':>16}   {'fhirpathpy':>16}")
    for group, (ok, n) in ours.per_group().items():
        pok, pn = peer_groups.get(group, (0, 0))
        marker = "" if ok == n and pok == pn else "  *"
        print(f"  {group[:40]:<40} {_pct(ok, n):>16}   {_pct(pok, pn):>16}{marker}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", choices=RELEASES, action="append", help="only this release (repeatable)")
    parser.add_argument("--failures", action="store_true", help="list imgfhir's failing tests")
    parser.add_argument("--json", type=Path, help="write a summary as JSON")
    parser.add_argument("--write-known-failures", action="store_true", help="rewrite known_failures.txt")
    args = parser.parse_args(argv)

    summary: dict[str, dict[str, object]] = {}
    ours_all: list[Report] = []
    for release in args.release or RELEASES:
        reports: dict[str, Report] = {}
        for engine in ENGINES:
            start = time.perf_counter()
            reports[engine] = run_suite(SUITES / release.lower(), release, engine)
            summary.setdefault(release, {})[engine] = {
                "passed": reports[engine].passed,
                "total": reports[engine].total,
                "rate": round(reports[engine].rate, 4),
                "seconds": round(time.perf_counter() - start, 2),
                "groups": reports[engine].per_group(),
            }
        ours, peer = reports["imgfhir"], reports["fhirpathpy"]
        ours_all.append(ours)
        print(f"== {release} ({ours.total} tests; * = a group not fully passed by both)")
        print_groups(ours, peer)
        print(f"  {ours.summary_line()}")
        print(f"  {peer.summary_line()}")
        if args.failures:
            for o in ours.failures():
                print(f"  FAIL {o.test.group}/{o.test.name}: {o.test.expression.strip()[:80]!r} -> {o.detail[:160]}")
        print()

    if args.json:
        args.json.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    if args.write_known_failures:
        previous = read_known_failures(KNOWN_FAILURES) if KNOWN_FAILURES.exists() else {}
        KNOWN_FAILURES.write_text(format_known_failures(ours_all, previous), encoding="utf-8")
        print(f"wrote {KNOWN_FAILURES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
