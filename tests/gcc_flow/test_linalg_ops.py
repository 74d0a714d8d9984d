"""gf.matmul (gcc_flow.linalg_ops) and the @ operator: which op is built, its attrs, shapes,
values and errors."""
from __future__ import annotations

import numpy as np
import pytest

import gcc_flow as gf
from gcc_flow.linalg_ops import matmul
from schema.errors import ValidationError
from tests.conftest import run_graph


@pytest.mark.parametrize("a_shape,b_shape,kwargs,op_type,attrs,out_shape", [
    ((4, 3), (3, 2), {}, "MatMul", {"transpose_a": False, "transpose_b": False}, (4, 2)),
    ((3, 4), (2, 3), {"transpose_a": True, "transpose_b": True}, "MatMul",
     {"transpose_a": True, "transpose_b": True}, (4, 2)),
    ((3, 4), (3, 2), {"adjoint_a": True}, "MatMul", {"transpose_a": True}, (4, 2)),
    ((5, 4, 3), (3, 2), {}, "BatchMatMulV2", {"adj_x": False, "adj_y": False}, (5, 4, 2)),
    ((5, 3, 4), (5, 2, 3), {"transpose_a": True, "adjoint_b": True}, "BatchMatMulV2",
     {"adj_x": True, "adj_y": True}, (5, 4, 2)),
    (None, (3, 2), {}, "BatchMatMulV2", {}, None),
])
def test_matmul_builds_the_right_op(rng, a_shape, b_shape, kwargs, op_type, attrs, out_shape):
    g = gf.Graph()
    with g.as_default():
        a = gf.placeholder(gf.float64, a_shape, name="a")
        b = gf.placeholder(gf.float64, b_shape, name="b")
        y = matmul(a, b, **kwargs)
    assert y.op.type == op_type and y.shape == out_shape
    assert all(y.op.get_attr(k) == v for k, v in attrs.items())
    if a_shape is None:
        return
    av, bv = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    at = np.swapaxes(av, -1, -2) if kwargs.get("transpose_a") or kwargs.get("adjoint_a") else av
    bt = np.swapaxes(bv, -1, -2) if kwargs.get("transpose_b") or kwargs.get("adjoint_b") else bv
    np.testing.assert_allclose(run_graph(g, y.name, {"a:0": av, "b:0": bv}),
                               np.einsum("...ij,...jk->...ik", at, bt), rtol=1e-12)


def test_matmul_operator_both_sides():
    w = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    g = gf.Graph()
    with g.as_default():
        x = gf.constant(np.array([[1.0, 1.0]], np.float32))
        y = x @ w
        z = [[0.0, 1.0]] @ gf.constant(w)
    assert y.op.type == "MatMul" and z.op.type == "MatMul"
    got_y, got_z = run_graph(g, [y.name, z.name])
    np.testing.assert_array_equal(got_y, [[4.0, 6.0]])
    np.testing.assert_array_equal(got_z, [[3.0, 4.0]])


def test_matmul_complex_adjoint_conjugates():
    a = np.array([[[1 + 2j, 3j], [2, 1 - 1j]]], np.complex128)
    g = gf.Graph()
    with g.as_default():
        y = matmul(a, a, adjoint_a=True)
    np.testing.assert_allclose(run_graph(g, y.name), np.conj(a.transpose(0, 2, 1)) @ a)


@pytest.mark.parametrize("a,b,kwargs,match", [
    ((2, 3), (4, 5), {}, "inner dimensions"),
    ((3,), (3, 2), {}, "rank 2"),
    ((2, 3), (3, 2), {"transpose_a": True, "adjoint_a": True}, "only one of"),
])
def test_matmul_errors(a, b, kwargs, match):
    g = gf.Graph()
    with g.as_default(), pytest.raises(ValidationError, match=match):
        matmul(gf.placeholder(gf.float32, a), gf.placeholder(gf.float32, b), **kwargs)
