"""Snapshot oracle: regenerate every published snapshot in the bundled packages and report agreement.

    python bench/snapshot_agreement.py                        # all cases
    python bench/snapshot_agreement.py --package hl7.fhir.r4.core --limit 50
    python bench/snapshot_agreement.py --json results.json
    python bench/snapshot_agreement.py --show http://hl7.org/fhir/StructureDefinition/bodyweight

The logic lives in imgfhir.snapshot.oracle (shared with tests/snapshot/test_agreement.py);
this file only parses options and prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from imgfhir.snapshot.oracle import Report, bundled_store, discover_cases, run

TOP_CLASSES = 20
SHOWN_ERRORS = 10


def print_report(report: Report) -> None:
    print("agreement per package (elements matching / published elements):")
    for line in report.per_package_lines():
        print(f"  {line}")
    print(f"overall: {report.summary_line()}")

    errors = report.errors
    if errors:
        kinds: dict[str, int] = {}
        for r in errors:
            kind = (r.error or "").split(":", 1)[0]
            kinds[kind] = kinds.get(kind, 0) + 1
        print(f"\nerrors: {len(errors)} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
        for r in errors[:SHOWN_ERRORS]:
            print(f"  {r.case.url} [{r.case.package}]: {r.error}")
        if len(errors) > SHOWN_ERRORS:
            print(f"  … {len(errors) - SHOWN_ERRORS} more")

    classes = report.difference_classes()
    if classes:
        print(f"\ntop difference classes (of {len(classes)}), by count:")
        for c in classes[:TOP_CLASSES]:
            examples = "; ".join(f"{url.rsplit('/', 1)[-1]}: {element}" for url, element in c.examples)
            print(f"  {c.count:6d}  {c.field:28s} {c.kind:8s} in {len(c.profiles):4d} profiles  e.g. {examples}")


def show(report: Report) -> None:
    for r in report.results:
        print(f"{r.case.url} [{r.case.package}] {r.matched}/{r.expected} matching, {r.extra} extra, {r.seconds:.3f} s")
        if r.error:
            print(f"  error: {r.error}")
        for d in r.differences:
            print(f"  {d.element}  {d.field} ({d.kind}): expected {d.expected!r}, actual {d.actual!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", action="append", help="package id or id#version (repeatable)")
    parser.add_argument("--limit", type=int, help="only the first N cases")
    parser.add_argument("--json", type=Path, help="write machine-readable results to FILE")
    parser.add_argument("--show", metavar="URL", help="print every difference for one profile")
    args = parser.parse_args(argv)

    store = bundled_store()
    cases = discover_cases(store, args.package)
    if args.show:
        cases = [c for c in cases if c.url == args.show.split("|", 1)[0]]
        if not cases:
            print(f"no oracle case with url {args.show}", file=sys.stderr)
            return 2
    report = run(store, cases=cases, limit=args.limit)

    if args.show:
        show(report)
    else:
        print_report(report)
    if args.json:
        args.json.write_bytes(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
