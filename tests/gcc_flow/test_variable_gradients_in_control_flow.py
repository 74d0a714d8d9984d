"""gf.gradients and optimizers for variables read inside gf.cond branches and gf.while_loop
bodies: the gradient of a Variable is that of its resource handle (TensorFlow 1.x).

    loss = gf.cond(p, lambda: reduce_sum(x @ w), lambda: reduce_sum(x @ (w * 2)))
    gf.gradients(loss, [w]) -> AddN(Merge(zeros, g_true), Merge(g_false, zeros))
      (one Switch_grad Merge per branch that gates the handle; zeros where the branch did not run)
"""
from __future__ import annotations

import numpy as np
import pytest

import gcc_flow as gf
from schema.validate import validate

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]])
W0 = np.array([[0.2, -0.4], [0.7, 0.1], [-0.3, 0.9]])
H0 = np.array([[0.3, -0.6, 0.9], [-0.2, 0.4, 0.1]])
W_LOOP = np.array([[0.5, -0.3, 0.2], [0.1, 0.8, -0.4], [-0.6, 0.2, 0.7]])


def finite_diff(f, v: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of scalar ``f`` at ``v``, same shape as ``v``."""
    out = np.zeros_like(v)
    for idx in np.ndindex(*v.shape):
        step = np.zeros_like(v)
        step[idx] = eps
        out[idx] = (f(v + step) - f(v - step)) / (2 * eps)
    return out


def run_in_session(graph, fetches, feeds=None, train_op=None):
    """Initializes the variables, runs ``train_op`` once if given, then ``fetches``."""
    with graph.as_default(), gf.Session() as sess:
        sess.run(gf.global_variables_initializer())
        if train_op is not None:
            sess.run(train_op, feeds)
        return sess.run(fetches, feeds)


def cond_graph(one_branch: bool = False):
    """loss = cond(p, sum(x @ w), sum(x @ (w * 2)) or sum(x)); returns (graph, p, w, loss)."""
    g = gf.Graph()
    with g.as_default():
        x = gf.constant(X)
        p = gf.placeholder(gf.bool, [], name="p")
        w = gf.Variable(W0, name="w")
        false_fn = ((lambda: gf.reduce_sum(x)) if one_branch
                    else (lambda: gf.reduce_sum(gf.matmul(x, w * 2.0))))
        loss = gf.cond(p, lambda: gf.reduce_sum(gf.matmul(x, w)), false_fn)
    return g, p, w, loss


def cond_grad_np(pred: bool, one_branch: bool) -> np.ndarray:
    """d sum(X @ (c * W)) / dW = c * X^T @ ones."""
    scale = 1.0 if pred else (0.0 if one_branch else 2.0)
    return scale * X.T @ np.ones((2, 2))


# -- cond ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("one_branch", [False, True])
@pytest.mark.parametrize("pred", [True, False])
def test_cond_gradient_of_a_variable_read_in_branches(pred, one_branch):
    g, p, w, loss = cond_graph(one_branch)
    with g.as_default():
        (dw,) = gf.gradients(loss, [w])
    validate(g.ir)
    assert dw.shape == W0.shape
    np.testing.assert_allclose(run_in_session(g, dw, {p: pred}),
                               cond_grad_np(pred, one_branch), rtol=1e-12)


@pytest.mark.parametrize("pred", [True, False])
def test_cond_gradient_matches_finite_differences(pred):
    g, p, w, loss = cond_graph()
    with g.as_default():
        (dw,) = gf.gradients(loss, [w])
    want = finite_diff(lambda v: (X @ v).sum() if pred else (X @ (2 * v)).sum(), W0)
    np.testing.assert_allclose(run_in_session(g, dw, {p: pred}), want, rtol=1e-6, atol=1e-8)


def test_cond_gradient_merges_each_branch_gate():
    g, _, w, loss = cond_graph()
    with g.as_default():
        (dw,) = gf.gradients(loss, [w])
    assert dw.op.type == "AddN"
    merges = [t.op for t in dw.op.inputs]
    assert [m.type for m in merges] == ["Merge", "Merge"]
    for merge in merges:
        assert merge.name.endswith("Switch_grad/cond_grad")
        zeros = [t.op for t in merge.inputs if t.op.type == "Fill"]
        assert len(zeros) == 1      # the untaken side: zeros hanging off the Switch's other output
        anchor = zeros[0].inputs[0].op.control_inputs[0]
        assert anchor.type == "Identity" and anchor.inputs[0].op.type == "Switch"
        assert anchor.inputs[0].op.inputs[0].name == w.handle.name


@pytest.mark.parametrize("one_branch", [False, True])
@pytest.mark.parametrize("pred", [True, False])
def test_cond_minimize_updates_the_variable(pred, one_branch):
    g, p, w, loss = cond_graph(one_branch)
    with g.as_default():
        train = gf.train.GradientDescentOptimizer(0.1).minimize(loss)
        value = w.read_value()
    got = run_in_session(g, value, {p: pred}, train_op=train)
    # the learning rate is a float32 constant: 0.1 to within 1.5e-9
    np.testing.assert_allclose(got, W0 - 0.1 * cond_grad_np(pred, one_branch), rtol=1e-7,
                               atol=1e-8)


@pytest.mark.parametrize("pred", [True, False])
def test_reads_inside_and_outside_a_cond_add_up(pred):
    g = gf.Graph()
    with g.as_default():
        x = gf.constant(X)
        p = gf.placeholder(gf.bool, [])
        w = gf.Variable(W0)
        outside = gf.reduce_sum(gf.matmul(x, w) ** 2)
        inside = gf.cond(p, lambda: gf.reduce_sum(gf.matmul(x, w)), lambda: gf.constant(0.0,
                                                                                   gf.float64))
        (dw,) = gf.gradients(outside + inside, [w])
    want = 2 * X.T @ (X @ W0) + (X.T @ np.ones((2, 2)) if pred else 0.0)
    np.testing.assert_allclose(run_in_session(g, dw, {p: pred}), want, rtol=1e-12)


@pytest.mark.parametrize("pred", [True, False])
def test_nested_conds_and_case(pred):
    g = gf.Graph()
    with g.as_default():
        x = gf.constant(X)
        p = gf.placeholder(gf.bool, [])
        w = gf.Variable(W0)
        inner = lambda: gf.cond(gf.logical_not(p), lambda: gf.reduce_sum(x),  # noqa: E731
                                lambda: gf.reduce_sum(gf.matmul(x, w) ** 2))
        nested = gf.cond(p, inner, lambda: gf.reduce_sum(gf.matmul(x, w * 3.0)))
        by_case = gf.case([(p, lambda: gf.reduce_sum(gf.matmul(x, w) ** 2))],
                          default=lambda: gf.reduce_sum(gf.matmul(x, w * 3.0)))
        d_nested, d_case = gf.gradients(nested, [w])[0], gf.gradients(by_case, [w])[0]
    want = 2 * X.T @ (X @ W0) if pred else 3 * X.T @ np.ones((2, 2))
    got = run_in_session(g, [d_nested, d_case], {p: pred})
    np.testing.assert_allclose(got[0], want, rtol=1e-12)
    np.testing.assert_allclose(got[1], want, rtol=1e-12)


# -- while_loop ----------------------------------------------------------------------------------

def tanh_loop_np(w: np.ndarray, n: int = 3) -> float:
    h = H0
    for _ in range(n):
        h = np.tanh(h @ w)
    return float((h * h).sum())


def tanh_loop_graph():
    """h = tanh(h @ w) three times; loss = sum(h * h). Returns (graph, w, loss)."""
    g = gf.Graph()
    with g.as_default():
        w = gf.Variable(W_LOOP, name="w")
        _, h = gf.while_loop(lambda i, h: i < 3, lambda i, h: (i + 1, gf.tanh(gf.matmul(h, w))),
                             [0, gf.constant(H0)])
        loss = gf.reduce_sum(h * h)
    return g, w, loss


def test_while_gradient_of_a_variable_read_in_the_body():
    g, w, loss = tanh_loop_graph()
    with g.as_default():
        (dw,) = gf.gradients(loss, [w])
    assert dw.shape == W_LOOP.shape
    validate(g.ir)
    np.testing.assert_allclose(run_in_session(g, dw), finite_diff(tanh_loop_np, W_LOOP),
                               rtol=1e-6, atol=1e-9)


def test_while_minimize_updates_the_variable():
    g, w, loss = tanh_loop_graph()
    with g.as_default():
        train = gf.train.GradientDescentOptimizer(0.1).minimize(loss)
        value = w.read_value()
    got = run_in_session(g, value, train_op=train)
    np.testing.assert_allclose(got, W_LOOP - 0.1 * finite_diff(tanh_loop_np, W_LOOP),
                               rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("pred", [True, False])
def test_cond_in_a_loop_body_and_loop_in_a_branch(pred):
    g = gf.Graph()
    with g.as_default():
        w = gf.Variable(W_LOOP)
        p = gf.placeholder(gf.bool, [])
        h0 = gf.constant(H0)
        step = lambda h: gf.tanh(gf.matmul(h, w))  # noqa: E731
        _, h = gf.while_loop(lambda i, h: i < 3,
                             lambda i, h: (i + 1, gf.cond(p, lambda: step(h), lambda: h * 0.5)),
                             [0, h0])
        cond_in_loop = gf.reduce_sum(h * h)
        loop_in_cond = gf.cond(p, lambda: gf.reduce_sum(gf.square(gf.while_loop(
            lambda i, h: i < 3, lambda i, h: (i + 1, step(h)), [0, h0])[1])),
            lambda: gf.reduce_sum(h0))
        d1 = gf.gradients(cond_in_loop, [w])[0]
        d2 = gf.gradients(loop_in_cond, [w])[0]
    want = finite_diff(tanh_loop_np, W_LOOP) if pred else np.zeros_like(W_LOOP)
    got = run_in_session(g, [d1, d2], {p: pred})
    np.testing.assert_allclose(got[0], want, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got[1], want, rtol=1e-6, atol=1e-9)


# -- reads outside control flow ------------------------------------------------------------------

def test_reads_outside_control_flow_keep_the_plain_graph():
    """No control-flow ops in the gradient, and the reads' gradients summed in TensorFlow's
    order (TF 2.21, v1 graph: AddN(MatMul_1_grad, MatMul_2_grad, MatMul_grad))."""
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 3])
        w = gf.Variable(np.ones((3, 3), np.float32), name="w")
        h = gf.nn.relu(gf.matmul(x, w))
        loss = gf.reduce_mean(gf.matmul(h, w) + gf.matmul(h, w.read_value()))
        before = set(g.ir.nodes)
        (dw,) = gf.gradients(loss, [w])
    made = {n: g.ir.nodes[n].op for n in set(g.ir.nodes) - before}
    assert not set(made.values()) & {"Switch", "Merge", "Identity", "ReadVariableOp"}
    assert [n for n, op in made.items() if op == "Fill"] == ["gradients/grad_ys_0"]
    assert [t.op.name for t in dw.op.inputs] == [
        "gradients/MatMul_1_grad/MatMul_1", "gradients/MatMul_2_grad/MatMul_1",
        "gradients/MatMul_grad/MatMul_1"]


def test_unconnected_variable_gets_zeros_of_its_value():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3])
        w = gf.Variable(np.ones((2, 4), np.float32))
        none, zeros = (gf.gradients(gf.reduce_sum(x), [w])[0],
                       gf.gradients(gf.reduce_sum(x), [w], unconnected_gradients="zero")[0])
    assert none is None
    assert zeros.dtype == gf.float32 and zeros.shape == (2, 4)
    np.testing.assert_array_equal(run_in_session(g, zeros), np.zeros((2, 4), np.float32))
