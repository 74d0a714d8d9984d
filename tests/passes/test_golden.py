"""Golden-graph tests: tests/golden/<pass>/<case>.in.pbtxt -> the pass -> <case>.out.pbtxt.

An input file names what must survive in header comments:
    # fetches: y:0, z:0
    # targets: init
    # check: skip        (only for graphs too big to execute, e.g. a refused 10^9-element Fill)
    # devices: cpu:0, cpu:1   (ctx.devices; a result with _Send/_Recv runs on these devices)
Refresh the expected files with `pytest tests/passes/test_golden.py --update-golden` and read the
diff in review. A mismatch prints a unified diff of the two .pbtxt texts.
"""
from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from google.protobuf import text_format

import passes
from runtime.check import check_equivalent
from schema import graph_pb2

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CASES = sorted(GOLDEN.glob("*/*.in.pbtxt"))


def _header(text: str, key: str) -> list[str]:
    for line in text.splitlines():
        if line.startswith(f"# {key}:"):
            return [v.strip() for v in line.split(":", 1)[1].split(",") if v.strip()]
    return []


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name[:-9]}" for c in CASES])
def test_golden(case: Path, update_golden: bool):
    text = case.read_text()
    graph_def = text_format.Parse(text, graph_pb2.GraphDef())
    fetches, targets = _header(text, "fetches"), _header(text, "targets")
    devices = _header(text, "devices")
    assert fetches or targets, f"{case} names no fetches or targets in its header"
    pipeline = [case.parent.name]
    optimized, _ = passes.optimize(graph_def, fetches=fetches, pipeline=pipeline,
                                   targets=targets, validate=True, devices=devices)
    got = text_format.MessageToString(optimized)
    expected_path = case.with_name(case.name.replace(".in.pbtxt", ".out.pbtxt"))
    if update_golden:
        expected_path.write_text(got)
    assert expected_path.exists(), f"{expected_path} is missing: run with --update-golden"
    expected = expected_path.read_text()
    if got != expected:
        diff = "\n".join(difflib.unified_diff(expected.splitlines(), got.splitlines(),
                                             "expected", "got", lineterm=""))
        pytest.fail(f"{case.parent.name}/{case.name}: pass output differs from "
                    f"{expected_path.name} (refresh with --update-golden):\n{diff}")
    if fetches and _header(text, "check") != ["skip"]:
        result = check_equivalent(graph_def, _runnable(optimized, devices), fetches, trials=2)
        assert result.ok, result.first_mismatch


def _runnable(graph_def, devices: list[str]):
    """A partitioned result (_Send/_Recv) runs on its devices; any other graph on one."""
    if devices and any(node.op in ("_Send", "_Recv") for node in graph_def.node):
        from runtime.multi_device import load_multi_device
        return load_multi_device(graph_def, devices)
    return graph_def
