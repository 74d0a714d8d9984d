"""onnx's own backend node tests (onnx.backend.test.BackendTest, 1,884 cases) on gcc-flow.

Each case must pass, fail with an explicit NotSupported ("not supported: <op> <reason>"; the
case is marked xfail with that reason), or be listed in known_failures.txt (xfail with the
listed reason). A wrong value or any other error on a case that is not listed fails the test;
an exception that is neither a gcc-flow error nor an assertion (a crash) fails it even when
listed. The last test compares the pass count with recorded_count.json and fails when it
drops; raise the record with ``count.py --record``.
"""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from conformance_harness import known_failures, node_cases, recorded_count, run_case  # noqa: E402

CASES = node_cases()
KNOWN = known_failures()
OUTCOMES: dict[str, str] = {}


@pytest.mark.parametrize("name", sorted(CASES))
def test_node_case(name: str) -> None:
    outcome = run_case(CASES[name])
    OUTCOMES[name] = outcome.kind
    if outcome.kind == "crash":
        pytest.fail(f"{name} crashed with an unexpected exception type: {outcome.message}")
    if outcome.kind in ("pass", "skipped"):
        return
    if outcome.kind == "unsupported":
        assert outcome.message.startswith("not supported: "), outcome.message
        pytest.xfail(outcome.message)
    if name in KNOWN:
        pytest.xfail(f"known failure ({KNOWN[name]}): {outcome.message}")
    pytest.fail(f"{name} {outcome.kind}: {outcome.message}")


def test_known_failures_are_real_cases() -> None:
    unknown = sorted(set(KNOWN) - set(CASES))
    assert not unknown, f"known_failures.txt names cases that do not exist: {unknown}"


def test_pass_count_not_below_recorded() -> None:
    if len(OUTCOMES) != len(CASES):
        pytest.skip(f"only {len(OUTCOMES)} of {len(CASES)} cases ran (a -k selection?)")
    passed = sum(kind == "pass" for kind in OUTCOMES.values())
    recorded = recorded_count()
    assert passed >= recorded, (f"{passed} node cases pass, fewer than the {recorded} "
                                f"recorded in recorded_count.json")
    if passed > recorded:
        print(f"\n{passed} node cases pass, above the record {recorded}: run count.py --record")
