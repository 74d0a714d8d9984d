"""Runs onnx's node test suite against gcc-flow and prints the pass count and what is missing.

    .venv/bin/python tests/onnx_conformance/count.py            # summary
    .venv/bin/python tests/onnx_conformance/count.py --record   # also writes recorded_count.json
    .venv/bin/python tests/onnx_conformance/count.py --show failed,error,crash -k reduce

Prints: counts by outcome kind, what NotSupported errors block how many cases, the ops in no
passing case, known_failures.txt entries that now pass, and with --show the cases of the
given kinds with their messages.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from conformance_harness import (RECORDED, case_ops, known_failures, node_cases,  # noqa: E402
                                 run_case)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="write recorded_count.json")
    parser.add_argument("--show", default="", help="comma-separated kinds to list")
    parser.add_argument("-k", default="", help="only cases whose name matches this regex")
    parser.add_argument("--json", default="", help="write every outcome to this file")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    cases = node_cases()
    if args.k:
        cases = {n: c for n, c in cases.items() if re.search(args.k, n)}
    outcomes = {name: run_case(call) for name, call in cases.items()}
    seconds = time.perf_counter() - start

    kinds = collections.Counter(o.kind for o in outcomes.values())
    passed = kinds["pass"]
    print(f"{passed} of {len(outcomes)} node cases pass ({seconds:.0f} s)")
    for kind, n in kinds.most_common():
        print(f"  {kind:<12}{n:>6}")
    _print_uncovered(outcomes)
    stale = sorted(n for n in known_failures() if n in outcomes and outcomes[n].kind == "pass")
    if stale:
        print(f"known_failures.txt entries that now pass (remove them): {' '.join(stale)}")
    show = {s for s in args.show.split(",") if s}
    for name, outcome in sorted(outcomes.items()):
        if outcome.kind in show:
            print(f"{outcome.kind:<12}{name}: {outcome.message}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({n: [o.kind, o.message] for n, o in outcomes.items()}, f, indent=1)
    if args.record:
        if args.k:
            print("--record needs the whole suite (no -k)", file=sys.stderr)
            return 2
        with open(RECORDED, "w", encoding="utf-8") as f:
            json.dump({"passed": passed, "total": len(outcomes)}, f, indent=2)
            f.write("\n")
        print(f"recorded {passed} in {RECORDED}")
    return 1 if kinds["crash"] else 0


def _print_uncovered(outcomes: dict) -> None:
    """Ops that appear only in cases that do not pass, by how many cases they block."""
    passing_ops, blocked = set(), collections.Counter()
    for name, outcome in outcomes.items():
        ops = case_ops(name)
        if outcome.kind == "pass":
            passing_ops.update(ops)
    for name, outcome in outcomes.items():
        if outcome.kind == "unsupported":
            match = re.match(r"not supported: ([A-Z]\S*|\S+ \S+)", outcome.message)
            if match:
                blocked[match.group(1)] += 1
    if blocked:
        print("not supported (op: cases):")
        print("  " + ", ".join(f"{op}: {n}" for op, n in blocked.most_common()))
    never = sorted({op for n in outcomes for op in case_ops(n)} - passing_ops)
    print(f"ops in no passing case ({len(never)}): {' '.join(never)}")


if __name__ == "__main__":
    sys.exit(main())
