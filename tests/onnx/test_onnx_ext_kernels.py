"""The ops of schema/ops/onnx_ext.py: declarations (shapes, validation) and kernels (values)
against numpy written in the test."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gcc_flow as gf
from gcc_flow.framework import apply_op
from runtime.kernels.onnx_ext import einsum_output_shape
from schema.errors import ExecutionError, LimitExceeded, ValidationError
from schema.limits import Limits
from runtime.session import Session


def run_ops(build, *arrays, limits: Limits = Limits()):
    """Placeholders for ``arrays``, ``build(*placeholders)`` -> tensors, run with the runtime."""
    g = gf.Graph()
    with g.as_default():
        holders = [gf.placeholder(gf.DType.from_numpy(a.dtype), np.shape(a)) for a in arrays]
        outputs = build(*holders)
    sess = Session(g.ir, limits=limits)
    return sess.run([t.name for t in outputs], {h.name: a for h, a in zip(holders, arrays)})


def test_bitwise_and_invert():
    x, y = np.array([12, 10, 255], np.uint8), np.array([10, 6, 1], np.uint8)
    got = run_ops(lambda a, b: [apply_op("BitwiseAnd", [a, b]), apply_op("BitwiseOr", [a, b]),
                                apply_op("BitwiseXor", [a, b]), apply_op("Invert", [a])], x, y)
    np.testing.assert_array_equal(got[0], x & y)
    np.testing.assert_array_equal(got[1], x | y)
    np.testing.assert_array_equal(got[2], x ^ y)
    np.testing.assert_array_equal(got[3], ~x)


def test_shifts_outside_the_width_are_defined():
    x = np.array([1, -8, 5, -8], np.int8)
    y = np.array([8, 1, 9, 20], np.int8)
    left, right = run_ops(lambda a, b: [apply_op("LeftShift", [a, b]),
                                        apply_op("RightShift", [a, b])], x, y)
    np.testing.assert_array_equal(left, [0, -16, 0, 0])
    np.testing.assert_array_equal(right, [0, -4, 0, -1])  # sign fill for negative values


def test_bitwise_refuses_floats():
    g = gf.Graph()
    with g.as_default(), pytest.raises(ValidationError, match="not one of"):
        apply_op("BitwiseAnd", [gf.constant([1.0]), gf.constant([2.0])])


def _scan_reference(x, axis, exclusive, reverse, body=np.cumsum, identity=0):
    values = np.flip(x, axis) if reverse else x
    out = body(values, axis=axis)
    if exclusive:
        out = np.concatenate([np.full_like(np.take(out, [0], axis), identity),
                              np.take(out, range(out.shape[axis] - 1), axis)], axis)
    return np.flip(out, axis) if reverse else out


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=6, max_size=6), st.integers(-2, 1),
       st.booleans(), st.booleans(), st.sampled_from(["Cumsum", "Cumprod"]))
def test_scans_match_numpy(values, axis, exclusive, reverse, op):
    x = np.array(values, np.int64).reshape(2, 3)
    (got,) = run_ops(lambda a: [apply_op(op, [a, np.int32(axis)],
                                         {"exclusive": exclusive, "reverse": reverse})], x)
    body, identity = (np.cumsum, 0) if op == "Cumsum" else (np.cumprod, 1)
    want = _scan_reference(x, axis % 2, exclusive, reverse, body, identity)
    np.testing.assert_array_equal(got, want)


def test_scan_axis_out_of_range_fails_at_run_time():
    with pytest.raises(ExecutionError, match="axis 5 is out of range"):
        run_ops(lambda a, k: [apply_op("Cumsum", [a, k])], np.ones(3, np.float32), np.int32(5))


def test_einsum_shapes_and_values():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    g = gf.Graph()
    with g.as_default():
        out = apply_op("Einsum", [[gf.constant(a), gf.constant(b)]], {"equation": "ij,jk->ik"})
        assert out.shape == (2, 4)
        with pytest.raises(ValidationError, match="2 operand terms for 1 inputs"):
            apply_op("Einsum", [[gf.constant(a)]], {"equation": "ij,jk->ik"})
    (got,) = run_ops(lambda x, y: [apply_op("Einsum", [[x, y]], {"equation": "ij,jk"})], a, b)
    np.testing.assert_allclose(got, a @ b)


@pytest.mark.parametrize("equation, shapes, expected", [
    ("ij,jk->ik", [(2, 3), (3, 4)], (2, 4)),
    ("...ij,jk->...ik", [(5, 2, 3), (3, 4)], (5, 2, 4)),
    ("i,i", [(3,), (3,)], ()),
    ("ba", [(2, 3)], (3, 2)),
    ("...i,...i->...", [(4, 1, 3), (5, 3)], (4, 5)),
])
def test_einsum_output_shape(equation, shapes, expected):
    assert einsum_output_shape(equation, shapes) == expected
    arrays = [np.zeros(s) for s in shapes]
    assert np.einsum(equation, *arrays).shape == expected


def test_einsum_checks_the_byte_budget_before_allocating():
    big = np.zeros(20000, np.float32)
    with pytest.raises(LimitExceeded, match="Einsum output"):
        run_ops(lambda a, b: [apply_op("Einsum", [[a, b]], {"equation": "i,j->ij"})], big, big,
                limits=Limits(max_tensor_bytes=1 << 20))


def test_matrix_determinant():
    x = np.array([[[1, 2], [3, 4]], [[2, 0], [0, 2]]], np.float32)
    (got,) = run_ops(lambda a: [apply_op("MatrixDeterminant", [a])], x)
    np.testing.assert_allclose(got, [-2, 4], rtol=1e-6)
    g = gf.Graph()
    with g.as_default(), pytest.raises(ValidationError, match="square"):
        apply_op("MatrixDeterminant", [gf.constant(np.zeros((2, 3), np.float32))])
