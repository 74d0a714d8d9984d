"""gf.cond, gf.while_loop, gf.case: TensorFlow's v1 primitives, numpy-checked results, and
gradients through them.

    gf.cond(p, lambda: x * 2.0, lambda: x + 1.0) -> Switch/Merge graph; runs one branch
    gf.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, a * x), [0, x]) -> x ** (n + 1)
"""
from __future__ import annotations

import collections
import importlib

import numpy as np
import pytest
from conftest import run_graph

import gcc_flow as gf
from gcc_flow.grad.control_flow_grad import find_while_region
from schema.validate import check_control_flow, validate

HAS_REGIONS = hasattr(importlib.import_module("gcc_flow.gradients"),
                      "register_gradient_region")
needs_regions = pytest.mark.skipif(not HAS_REGIONS, reason="gf.gradients through while loops "
                                   "needs gcc_flow.gradients.register_gradient_region")
X = np.array([0.3, -0.2, 0.7], np.float32)


def ops_of(graph) -> dict:
    return {n.name: n for n in graph.ir.nodes.values()}


def numeric_grad(f, v: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    v = v.astype(np.float64)
    return np.array([(f(v + eps * e) - f(v - eps * e)) / (2 * eps) for e in np.eye(v.size)])


# -- cond -----------------------------------------------------------------------------------------

def test_cond_emits_tensorflows_v1_graph():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        p = gf.placeholder(gf.bool, [], name="p")
        y = gf.cond(p, lambda: x * 2.0, lambda: x + 1.0)
    nodes = ops_of(g)
    assert y.op.type == "Merge" and y.op.name == "cond/Merge"
    assert [t.op.name for t in y.op.inputs] == ["cond/AddV2", "cond/Mul"]    # false first
    assert [t.name for t in nodes["cond/Switch"].inputs] and \
        [r.name for r in nodes["cond/Switch"].inputs] == ["p:0", "p:0"]
    assert [r.name for r in nodes["cond/switch_t"].inputs] == ["cond/Switch:1"]
    assert [r.name for r in nodes["cond/pred_id"].inputs] == ["p:0"]
    mul = nodes["cond/Mul"]
    gate = mul.inputs[0]
    assert gate.node.op == "Switch" and gate.index == 1
    assert [r.name for r in gate.node.inputs] == ["x:0", "cond/pred_id:0"]
    two = mul.inputs[1].node
    assert two.op == "Const" and [c.name for c in two.control_inputs] == ["cond/switch_t"]
    validate(g.ir)


@pytest.mark.parametrize("pred", [True, False])
def test_cond_runs_one_branch(pred):
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        p = gf.placeholder(gf.bool, [], name="p")
        y = gf.cond(p, lambda: gf.sin(x) * 2.0, lambda: x + 1.0)
        pair = gf.cond(p, lambda: (x, {"k": 1.0}), lambda: (x * 0.0, {"k": 2.0}))
    got_y, got_x, got_k = run_graph(g, [y, pair[0], pair[1]["k"]], {x: X, p: pred})
    np.testing.assert_allclose(got_y, np.sin(X) * 2 if pred else X + 1, rtol=1e-6)
    np.testing.assert_allclose(got_x, X if pred else 0 * X)
    assert float(got_k) == (1.0 if pred else 2.0)


def test_cond_checks_branches_agree():
    g = gf.Graph()
    with g.as_default():
        p = gf.placeholder(gf.bool, [], name="p")
        with pytest.raises(ValueError, match="branches return int32 .* and float"):
            gf.cond(p, lambda: 1, lambda: 1.0)
        with pytest.raises(ValueError, match="different structures"):
            gf.cond(p, lambda: (1.0, 2.0), lambda: 1.0)
        with pytest.raises(TypeError, match="pred must be a bool tensor"):
            gf.cond(gf.constant(1.0), lambda: 1.0, lambda: 2.0)


@pytest.mark.parametrize("v, expected", [(0.5, 10.0), (1.5, 20.0), (9.0, -1.0)])
def test_case_takes_the_first_true_predicate(v, expected):
    g = gf.Graph()
    with g.as_default():
        a = gf.placeholder(gf.float32, [], name="a")
        out = gf.case([(a < 1.0, lambda: gf.constant(10.0)), (a < 2.0, lambda: gf.constant(20.0))],
                      default=lambda: gf.constant(-1.0))
    assert float(run_graph(g, out, {a: v})) == expected


# -- while_loop -----------------------------------------------------------------------------------

def test_while_loop_emits_tensorflows_v1_graph():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        i, a = gf.while_loop(lambda i, a: i < 5, lambda i, a: (i + 1, a * x), [0, x])
    nodes = ops_of(g)
    assert a.op.type == "Exit" and a.op.name == "while/Exit_1"
    enter = nodes["while/Enter_1"]
    assert enter.attrs["frame_name"] == "while/while_context"
    assert enter.attrs["is_constant"] is False and enter.attrs["parallel_iterations"] == 10
    merge = nodes["while/Merge_1"]
    assert [r.name for r in merge.inputs] == ["while/Enter_1:0", "while/NextIteration_1:0"]
    assert [r.name for r in nodes["while/Switch_1"].inputs] == ["while/Merge_1:0",
                                                                "while/LoopCond:0"]
    captured = nodes["while/Mul/Enter"]
    assert captured.attrs["is_constant"] is True and captured.inputs[0].name == "x:0"
    assert [c.name for c in nodes["while/Const_1"].control_inputs] == ["while/Merge"]
    frames = check_control_flow(g.ir)
    assert frames.frame_of[nodes["while/Mul"]] == "while/while_context"
    validate(g.ir)


def test_while_loop_powers():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        n = gf.placeholder(gf.int32, [], name="n")
        i, a = gf.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, a * x), [0, x])
    for count in (0, 1, 4):
        got_i, got_a = run_graph(g, [i, a], {x: X, n: count})
        assert int(got_i) == count
        np.testing.assert_allclose(got_a, X ** (count + 1), rtol=1e-6)


Pair = collections.namedtuple("Pair", "total, history")


def test_nested_loop_vars_and_shape_invariants():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")

        def body(i, state):
            grown = gf.concat([state.history, gf.reshape(state.total, [1])], 0)
            return i + 1, Pair(state.total * 2.0, grown)

        start = Pair(gf.reduce_sum(x), gf.zeros([0], gf.float32))
        i, out = gf.while_loop(lambda i, s: i < 3, body, [0, start],
                               shape_invariants=[(), Pair((), (None,))])
    assert isinstance(out, Pair) and out.history.shape == (None,)
    total, history = run_graph(g, [out.total, out.history], {x: X})
    s = X.sum()
    np.testing.assert_allclose(total, s * 8, rtol=1e-6)
    np.testing.assert_allclose(history, [s, 2 * s, 4 * s], rtol=1e-6)


def test_while_loop_refuses_shape_and_dtype_changes():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        with pytest.raises(ValueError, match="enters the loop with shape \\[3\\] but has shape "
                                             "\\[4\\] after one iteration; use shape_invariants"):
            gf.while_loop(lambda a: gf.reduce_sum(a) < 1.0,
                          lambda a: gf.concat([a, a[:1]], 0), [x])
        with pytest.raises(ValueError, match="enters the loop as int32 but the body returns "
                                             "float"):
            gf.while_loop(lambda i: i < 3, lambda i: 1.0, [0])


@pytest.mark.parametrize("parallel", [1, 10])
def test_nested_loops_and_cond_inside(parallel):
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")

        def outer(i, acc):
            _, inner = gf.while_loop(lambda j, b: j < i, lambda j, b: (j + 1, b * 0.5 + x),
                                     [0, acc], parallel_iterations=parallel)
            flip = gf.cond(gf.equal(i % 2, 0), lambda: inner, lambda: -inner)
            return i + 1, flip

        _, out = gf.while_loop(lambda i, a: i < 4, outer, [0, x],
                               parallel_iterations=parallel)
    acc = X.astype(np.float64)
    for i in range(4):
        for _ in range(i):
            acc = acc * 0.5 + X
        acc = acc if i % 2 == 0 else -acc
    np.testing.assert_allclose(run_graph(g, out, {x: X}), acc, rtol=1e-5)


@pytest.mark.parametrize("pred", [True, False])
def test_while_inside_cond(pred):
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        p = gf.placeholder(gf.bool, [], name="p")
        y = gf.cond(p, lambda: gf.while_loop(lambda a: gf.reduce_sum(a) < 10.0,
                                             lambda a: a * 2.0 + x, x),
                    lambda: x * 3.0)
    want = X.astype(np.float64)
    if pred:
        while want.sum() < 10.0:
            want = want * 2 + X
    else:
        want = want * 3
    np.testing.assert_allclose(run_graph(g, y, {x: X, p: pred}), want, rtol=1e-5)


def test_maximum_iterations_stops_the_loop():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        y = gf.while_loop(lambda a: gf.constant(True), lambda a: a + 1.0, x,
                          maximum_iterations=7)
    assert y.op.type == "Exit"
    np.testing.assert_allclose(run_graph(g, y, {x: X}), X + 7)


def test_outside_control_dependency_in_a_body_goes_through_an_enter():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        marker = gf.no_op(name="marker")

        def body(a):
            with gf.control_dependencies([marker]):
                return gf.identity(a, name="held") + 1.0

        y = gf.while_loop(lambda a: gf.reduce_sum(a) < 5.0, body, x)
    held = ops_of(g)["while/held"]
    (ctl,) = held.control_inputs
    assert ctl.op == "Enter" and ctl.attrs["is_constant"] is True
    assert [c.name for c in ctl.inputs[0].node.control_inputs] == ["marker"]
    want = X.astype(np.float64)
    while want.sum() < 5.0:
        want = want + 1
    np.testing.assert_allclose(run_graph(g, y, {x: X}), want, rtol=1e-6)


# -- gradients ------------------------------------------------------------------------------------

@pytest.mark.parametrize("pred", [True, False])
def test_cond_gradient(pred):
    w0 = np.array([0.5, 1.0, 1.5], np.float32)
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        p = gf.placeholder(gf.bool, [], name="p")
        w = gf.constant(w0, name="w")
        y = gf.cond(p, lambda: gf.sin(x) * w, lambda: x * x)
        dx, dw = gf.gradients(gf.reduce_sum(y * y), [x, w])
    assert {n.op for n in g.ir.nodes.values()} >= {"Switch", "Merge", "ZerosLike"}
    got_dx, got_dw = run_graph(g, [dx, dw], {x: X, p: pred})
    if pred:
        want_dx = 2 * np.sin(X) * w0 * w0 * np.cos(X)
        want_dw = 2 * np.sin(X) ** 2 * w0
    else:
        want_dx, want_dw = 4 * X ** 3, np.zeros(3)
    np.testing.assert_allclose(got_dx, want_dx, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got_dw, want_dw, rtol=1e-5, atol=1e-7)


def _tanh_loop(x, w, n):
    return gf.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, gf.tanh(a * w) + x),
                         [0, x])[1]


def _tanh_loop_np(x, w, n):
    a = x.copy()
    for _ in range(n):
        a = np.tanh(a * w) + x
    return (a * a).sum()


def test_while_region_gradient_matches_numeric():
    """The loop's region gradient (counter, stacks, backward loop recomputing the body)."""
    w0 = np.array([0.5, 1.0, 1.5], np.float32)
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        n = gf.placeholder(gf.int32, [], name="n")
        w = gf.constant(w0, name="w")
        a = _tanh_loop(x, w, n)
        region = find_while_region(a.op._node)
        assert [t.name for t in region.outputs][1] == a.name
        grads = region.gradient([None, a * 2.0])       # d sum(a^2) / d a = 2a
    by_input = dict(zip([t.name for t in region.inputs], grads))
    assert {"StackV2", "StackPushV2", "StackPopV2"} <= {n.op for n in g.ir.nodes.values()}
    validate(g.ir)
    for count in (0, 1, 5):
        dx, dw = run_graph(g, [by_input["x:0"], by_input["w:0"]], {x: X, n: count})
        x64, w64 = X.astype(np.float64), w0.astype(np.float64)
        np.testing.assert_allclose(dx, numeric_grad(lambda v: _tanh_loop_np(v, w64, count), x64),
                                   rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(dw, numeric_grad(lambda v: _tanh_loop_np(x64, v, count), w64),
                                   rtol=1e-4, atol=1e-6)


@needs_regions
def test_gradients_through_while_loop():
    w0 = np.array([0.5, 1.0, 1.5], np.float32)
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        w = gf.constant(w0, name="w")
        a = _tanh_loop(x, w, 4)
        dx, dw = gf.gradients(gf.reduce_sum(a * a), [x, w])
    got_dx, got_dw = run_graph(g, [dx, dw], {x: X})
    x64, w64 = X.astype(np.float64), w0.astype(np.float64)
    np.testing.assert_allclose(got_dx, numeric_grad(lambda v: _tanh_loop_np(v, w64, 4), x64),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got_dw, numeric_grad(lambda v: _tanh_loop_np(x64, v, 4), w64),
                               rtol=1e-4, atol=1e-6)


@needs_regions
@pytest.mark.parametrize("pred", [True, False])
def test_gradients_through_nested_loops_in_a_cond(pred):
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        p = gf.placeholder(gf.bool, [], name="p")

        def outer(i, acc):
            _, inner = gf.while_loop(lambda j, b: j < i, lambda j, b: (j + 1, gf.sin(b) * x),
                                     [0, acc])
            return i + 1, inner

        y = gf.cond(p, lambda: gf.while_loop(lambda i, a: i < 3, outer, [0, x])[1],
                    lambda: x * x)
        (dx,) = gf.gradients(gf.reduce_sum(y), [x])

    def f(v):
        if not pred:
            return (v * v).sum()
        acc = v.copy()
        for i in range(3):
            for _ in range(i):
                acc = np.sin(acc) * v
        return acc.sum()
    np.testing.assert_allclose(run_graph(g, dx, {x: X, p: pred}),
                               numeric_grad(f, X.astype(np.float64)), rtol=1e-4, atol=1e-6)


def test_gradient_of_a_loop_without_region_support_explains_itself():
    if HAS_REGIONS:
        pytest.skip("the gradient walk differentiates loops as regions")
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        a = _tanh_loop(x, gf.constant(np.ones(3, np.float32)), 2)
        with pytest.raises(LookupError, match="no gradient defined for operation "
                                               "'while/Exit_1' \\(op type: Exit\\)"):
            gf.gradients(gf.reduce_sum(a), [x])


def test_a_loop_that_fails_to_build_leaves_nothing_behind():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        before = set(g.ir.nodes)
        with pytest.raises(ValueError, match="after one iteration"):
            gf.while_loop(lambda a: gf.reduce_sum(a) < 1.0,
                          lambda a: gf.while_loop(lambda b: b[0] < 1.0,
                                                  lambda b: b * 2.0, a)[:2], [x])
        assert set(g.ir.nodes) == before
        y = gf.while_loop(lambda a: gf.reduce_sum(a) < 1.0, lambda a: a + 1.0, [x])
    validate(g.ir)
    np.testing.assert_allclose(run_graph(g, y, {x: X}), X + 1)
