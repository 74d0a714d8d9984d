"""Kernels of the gradient-support ops against TensorFlow 2.21's outputs (values recorded from
tf.raw_ops) and numpy references."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gcc_flow as gf
from gcc_flow.framework import apply_op
from runtime.kernels.math_grad import broadcast_gradient_args
from schema.errors import ExecutionError, ValidationError


def run(build):
    """Builds ``build()`` in a fresh graph and runs it (outputs as numpy arrays)."""
    graph = gf.Graph()
    with graph.as_default():
        out = build()
    return gf.Session(graph).run(out)


# (s0, s1) -> (r0, r1) as TensorFlow's BroadcastGradientArgs returns them.
_BCAST = [
    (([1, 1], [1]), ([0, 1], [0, 1])),
    (([2, 1, 3], [1, 3]), ([1], [0, 1])),
    (([2, 3, 4], [3, 1]), ([], [0, 2])),
    (([], [2, 3]), ([0, 1], [])),
    (([1], []), ([0], [0])),
    (([1, 1], [1, 1]), ([], [])),
    (([5, 1], [1, 1]), ([1], [0, 1])),
    (([0, 1], [1, 3]), ([1], [0])),
]


@pytest.mark.parametrize("shapes, expected", _BCAST)
def test_broadcast_gradient_args_matches_tensorflow(shapes, expected):
    s0, s1 = (np.array(s, np.int32).reshape(-1) for s in shapes)
    r0, r1 = run(lambda: apply_op("BroadcastGradientArgs", [s0, s1]))
    assert (r0.tolist(), r1.tolist()) == expected
    assert r0.dtype == np.int32


def test_broadcast_gradient_args_rejects_incompatible_shapes():
    with pytest.raises(ExecutionError, match=r"Incompatible shapes: \[2, 3\] vs. \[4, 3\]"):
        run(lambda: apply_op("BroadcastGradientArgs", [np.array([2, 3], np.int32),
                                                       np.array([4, 3], np.int32)]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 3), max_size=4), st.lists(st.integers(1, 3), max_size=4))
def test_broadcast_gradient_args_sums_back_to_each_shape(a, b):
    """Summing a broadcast result over r_k and reshaping gives back input k's shape."""
    try:
        out = np.broadcast_shapes(tuple(a), tuple(b))
    except ValueError:
        return
    r0, r1 = broadcast_gradient_args(a, b)
    for shape, axes in ((a, r0), (b, r1)):
        summed = np.ones(out).sum(axis=tuple(axes))
        assert summed.size == int(np.prod(shape))


def test_max_pool_grad_goes_to_the_first_maximum():
    x = np.array([[1, 3, 3, 2], [3, 0, 1, 3], [2, 2, 2, 2], [0, 2, 2, 1]],
                 np.float32).reshape(1, 4, 4, 1)
    attrs = {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID"}
    y = np.zeros((1, 2, 2, 1), np.float32)
    dy = np.arange(1, 5, dtype=np.float32).reshape(1, 2, 2, 1)
    got = run(lambda: apply_op("MaxPoolGrad", [x, y, dy], attrs))
    expected = [[0, 1, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(got.reshape(4, 4), expected)


def test_max_pool_grad_overlapping_same_windows_match_tensorflow():
    x = np.array([[1, 3, 3, 2], [3, 0, 1, 3], [2, 2, 2, 2], [0, 2, 2, 1]],
                 np.float32).reshape(1, 4, 4, 1)
    attrs = {"ksize": [1, 3, 3, 1], "strides": [1, 1, 1, 1], "padding": "SAME"}
    got = run(lambda: apply_op("MaxPoolGrad", [x, x, np.ones_like(x)], attrs))
    expected = [[0, 6, 2, 0], [2, 0, 0, 2], [2, 1, 1, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(got.reshape(4, 4), expected)


def test_avg_pool_grad_divides_by_valid_counts():
    attrs = {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "SAME"}
    got = run(lambda: apply_op("AvgPoolGrad", [np.array([1, 3, 3, 1], np.int32),
                                               np.ones((1, 2, 2, 1), np.float32)], attrs))
    expected = [[0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.5, 0.5, 1.0]]
    np.testing.assert_allclose(got.reshape(3, 3), expected)


def test_unsorted_segment_sum_drops_negative_ids():
    got = run(lambda: apply_op("UnsortedSegmentSum", [np.array([1.0, 2, 3, 4]),
                                                      np.array([0, -1, 2, 0], np.int32),
                                                      np.int32(3)]))
    np.testing.assert_array_equal(got, [5, 0, 3])


def test_unsorted_segment_sum_rejects_ids_out_of_range():
    with pytest.raises(ExecutionError, match="out of range"):
        run(lambda: apply_op("UnsortedSegmentSum", [np.array([1.0, 2]),
                                                    np.array([0, 5], np.int32), np.int32(3)]))


@pytest.mark.parametrize("mode, paddings, expected", [
    ("REFLECT", [[2, 2]], [10, 12, 6]),
    ("SYMMETRIC", [[2, 1]], [5, 5, 5, 13]),
])
def test_mirror_pad_grad_matches_tensorflow(mode, paddings, expected):
    g = np.arange(1, 8, dtype=np.float32)
    got = run(lambda: apply_op("MirrorPadGrad", [g, np.array(paddings, np.int32)],
                               {"mode": mode}))
    np.testing.assert_array_equal(got, expected)


def test_mirror_pad_grad_is_the_transpose_of_mirror_pad(rng):
    """<MirrorPad(x), g> == <x, MirrorPadGrad(g)> for random x and g (adjointness)."""
    x, pads = rng.standard_normal((3, 4)), np.array([[2, 1], [1, 3]], np.int32)
    for mode in ("REFLECT", "SYMMETRIC"):
        if mode == "REFLECT":
            pads = np.array([[2, 1], [1, 2]], np.int32)
        padded = run(lambda: apply_op("MirrorPad", [x, pads], {"mode": mode}))
        g = rng.standard_normal(padded.shape)
        back = run(lambda: apply_op("MirrorPadGrad", [g, pads], {"mode": mode}))
        assert np.isclose(np.sum(padded * g), np.sum(x * back))


def test_strided_slice_grad_matches_tensorflow():
    dy = np.array([[1.0, 2], [3, 4]], np.float32)
    got = run(lambda: apply_op("StridedSliceGrad", [np.array([3, 4], np.int32),
                                                    np.array([1, 3], np.int32),
                                                    np.array([0, 0], np.int32),
                                                    np.array([1, -2], np.int32), dy],
                               {"end_mask": 1}))
    np.testing.assert_array_equal(got, [[0, 0, 0, 0], [0, 2, 0, 1], [0, 4, 0, 3]])


def test_scatter_nd_accumulates_duplicates_and_checks_indices():
    got = run(lambda: apply_op("ScatterNd", [np.array([[1], [1], [3]], np.int32),
                                             np.array([1.0, 2, 3]), np.array([4], np.int32)]))
    np.testing.assert_array_equal(got, [0, 3, 0, 3])
    with pytest.raises(ExecutionError, match="does not index"):
        run(lambda: apply_op("ScatterNd", [np.array([[4]], np.int32), np.array([1.0]),
                                           np.array([4], np.int32)]))


def test_bias_add_grad_nchw_sums_all_but_channel_axis():
    got = run(lambda: apply_op("BiasAddGrad", [np.arange(12.0).reshape(2, 3, 2)],
                               {"data_format": "NCHW"}))
    np.testing.assert_array_equal(got, [14, 22, 30])


def test_invert_permutation_and_its_errors():
    np.testing.assert_array_equal(
        run(lambda: apply_op("InvertPermutation", [np.array([2, 0, 1], np.int32)])), [1, 2, 0])
    with pytest.raises(ExecutionError, match="not a permutation"):
        run(lambda: apply_op("InvertPermutation", [np.array([0, 0], np.int32)]))


@pytest.mark.parametrize("op_type, formula", [
    ("TanhGrad", lambda y, dy: dy * (1 - y * y)),
    ("SigmoidGrad", lambda y, dy: dy * y * (1 - y)),
    ("SqrtGrad", lambda y, dy: dy * 0.5 / y),
    ("RsqrtGrad", lambda y, dy: -0.5 * dy * y ** 3),
    ("ReciprocalGrad", lambda y, dy: -dy * y * y),
])
def test_y_based_gradient_ops(op_type, formula, rng):
    y, dy = rng.uniform(0.5, 2, (2, 3)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(run(lambda: apply_op(op_type, [y, dy])), formula(y, dy))


def test_grad_op_shape_functions_name_the_node():
    with gf.Graph().as_default():
        with pytest.raises(ValidationError, match="BiasAddGrad"):
            apply_op("BiasAddGrad", [gf.placeholder(gf.float32, [3])], {"data_format": "NCHW"})
        sizes = apply_op("Conv2DBackpropFilter",
                         [gf.placeholder(gf.float32, [1, 4, 4, 2]), np.array([3, 3, 2, 5],
                                                                             np.int32),
                          gf.placeholder(gf.float32, [1, 4, 4, 5])],
                         {"strides": [1, 1, 1, 1], "padding": "SAME"})
        assert sizes.shape == (3, 3, 2, 5)


def test_polygamma_matches_tensorflow():
    n = np.array([1.0, 1.0, 2.0, 0.0, 3.0, 1.5, 1.0])
    x = np.array([1.0, 0.5, 1.0, 1.0, 2.5, 1.0, -1.5])
    expected = [1.644934, 4.934802, -2.404114, -0.5772159, 0.22390586, np.nan, 9.379247]
    np.testing.assert_allclose(run(lambda: apply_op("Polygamma", [n, x])), expected, rtol=1e-6)
