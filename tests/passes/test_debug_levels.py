"""GCC_FLOW_DEBUG: 1 prints pass names and timings, 2 adds per-pass stats, 3 dumps the graph
before and after each pass (to stderr)."""
from __future__ import annotations

import pytest

import gcc_flow as gf
import passes


def _graph_def():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2], name="x")
        gf.add(gf.tanh(x), gf.tanh(x), name="y")
    return g.as_graph_def()


@pytest.mark.parametrize("level, present, absent", [
    ("1", ["[gcc-flow] cse: 4 -> 3 nodes"], ["{'merged': 1}", "--- before cse"]),
    ("2", ["[gcc-flow] cse: 4 -> 3 nodes", "{'merged': 1}"], ["--- before cse"]),
    ("3", ["--- before cse (round 1)", "--- after cse", "%y:0 f32[2] = AddV2(%Tanh:0, %Tanh:0)"],
     []),
])
def test_debug_levels(level, present, absent, monkeypatch, capsys):
    monkeypatch.setenv("GCC_FLOW_DEBUG", level)
    passes.optimize(_graph_def(), ["y:0"], ["cse"])
    err = capsys.readouterr().err
    for text in present:
        assert text in err
    for text in absent:
        assert text not in err


def test_no_output_without_the_variable(monkeypatch, capsys):
    monkeypatch.delenv("GCC_FLOW_DEBUG", raising=False)
    passes.optimize(_graph_def(), ["y:0"], ["cse"])
    assert capsys.readouterr().err == ""
