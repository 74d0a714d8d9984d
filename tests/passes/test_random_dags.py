"""hypothesis-generated random DAGs of mixed ops go through the whole default pipeline: no
crash, a valid graph, and unchanged outputs on random feeds."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import passes
from gcc_flow.framework import Graph, apply_op
from gcc_flow.constant_op import constant, placeholder
from runtime.check import check_equivalent
from schema.dtypes import DType
from schema.serde import graph_from_graph_def
from schema.validate import validate

UNARY = ["Tanh", "Sigmoid", "Neg", "Abs", "Sin", "Cos", "Identity", "StopGradient", "Square"]
BINARY = ["AddV2", "Sub", "Mul", "Maximum", "Minimum", "RealDiv"]
CONSTANTS = [0.0, 1.0, 2.0, -1.0, 0.5]


@st.composite
def random_dag(draw):
    n_ops = draw(st.integers(3, 25))
    steps = []
    for i in range(n_ops):
        kind = draw(st.sampled_from(["unary", "binary", "const_binary"]))
        op = draw(st.sampled_from(UNARY if kind == "unary" else BINARY))
        a = draw(st.integers(0, i + 1))
        b = draw(st.integers(0, i + 1))
        c = draw(st.sampled_from(CONSTANTS))
        swap = draw(st.booleans())
        steps.append((kind, op, a, b, c, swap))
    n_fetch = draw(st.integers(1, 3))
    return steps, n_fetch


def _build(steps, n_fetch):
    g = Graph()
    with g.as_default():
        values = [placeholder(DType.FLOAT, [4], name="x"), placeholder(DType.FLOAT, [4], name="z")]
        for kind, op, a, b, c, swap in steps:
            x, y = values[a], values[b]
            if kind == "unary":
                out = apply_op(op, [x])
            elif kind == "binary":
                if op == "RealDiv":  # keep denominators away from zero
                    y = apply_op("AddV2", [apply_op("Square", [y]), constant(1.0)])
                out = apply_op(op, [x, y])
            else:
                const = constant(c if op != "RealDiv" or c else 2.0)
                out = apply_op(op, [const, x] if swap and op != "RealDiv" else [x, const])
            values.append(out)
    fetches = [t.name for t in values[-n_fetch:]]
    return g, fetches


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dag())
def test_default_pipeline_keeps_outputs(dag):
    steps, n_fetch = dag
    g, fetches = _build(steps, n_fetch)
    original = g.as_graph_def()
    pipeline = [p for p in passes.DEFAULT_PIPELINE if p in passes.available()]
    optimized, report = passes.optimize(original, fetches=fetches, pipeline=pipeline)
    validate(graph_from_graph_def(optimized))
    assert report.nodes_after <= report.nodes_before
    result = check_equivalent(original, optimized, fetches, trials=2, rtol=1e-4, atol=1e-4)
    assert result.ok, result.first_mismatch
    again, second = passes.optimize(optimized, fetches=fetches, pipeline=pipeline)
    assert len(again.node) == len(optimized.node)
    assert np.all([not r.modified for r in second.runs]), second.to_json()
