"""Static shape inference of the NN ops, as seen through graph building: TensorFlow's output
sizes (SAME -> ceil(in / stride), VALID -> ceil((in - (k - 1) * d) / stride)), unknown dims
kept unknown, and impossible shapes refused at build time."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import gcc_flow as gf
from gcc_flow.framework import apply_op
from schema.errors import ValidationError
from schema.ops.nn_conv import window_output


def build(op_type: str, shapes, attrs=None, values=None):
    """The output shapes of one op fed by placeholders (or Consts for ``values``)."""
    g = gf.Graph()
    with g.as_default():
        inputs = [gf.constant(values[i]) if values and i in values
                  else gf.placeholder(gf.float32, s) for i, s in enumerate(shapes)]
        out = apply_op(op_type, inputs, attrs or {})
    return [t.shape for t in out] if isinstance(out, list) else out.shape


CONV = {"strides": [1, 1, 1, 1], "padding": "SAME"}


@pytest.mark.parametrize("x,w,attrs,expected", [
    ((2, 32, 32, 3), (3, 3, 3, 8), {"strides": [1, 2, 2, 1], "padding": "SAME"},
     (2, 16, 16, 8)),
    ((2, 31, 30, 3), (3, 3, 3, 8), {"strides": [1, 2, 2, 1], "padding": "SAME"},
     (2, 16, 15, 8)),
    ((2, 10, 11, 3), (3, 3, 3, 8), {"strides": [1, 2, 3, 1], "padding": "VALID",
                                    "dilations": [1, 2, 1, 1]}, (2, 3, 3, 8)),
    ((None, 10, None, 3), (3, 3, 3, 8), CONV, (None, 10, None, 8)),
    ((2, 3, 10, 11), (3, 3, 3, 8), {"strides": [1, 1, 2, 3], "padding": "VALID",
                                    "data_format": "NCHW"}, (2, 8, 4, 3)),
    ((1, 5, 5, 3), (3, 3, 3, 8), {"strides": [1, 1, 1, 1], "padding": "EXPLICIT",
                                  "explicit_paddings": [0, 0, 1, 2, 0, 4, 0, 0]}, (1, 6, 7, 8)),
    ((1, 5, 5, 4), (3, 3, 2, 6), CONV, (1, 5, 5, 6)),       # 2 groups
    (None, (3, 3, 3, 8), CONV, None),
    ((1, 5, 5, 3), None, CONV, (1, None, None, None)),
])
def test_conv2d_shapes(x, w, attrs, expected):
    assert build("Conv2D", [x, w], attrs) == expected


@pytest.mark.parametrize("x,w,attrs,expected", [
    ((2, 9, 9, 3), (3, 3, 3, 2), {"strides": [1, 2, 2, 1], "padding": "SAME"}, (2, 5, 5, 6)),
    ((2, 9, 9, 3), (3, 3, 3, 2), {"strides": [1, 1, 1, 1], "padding": "VALID",
                                  "dilations": [1, 2, 2, 1]}, (2, 5, 5, 6)),
    ((2, 3, 9, 9), (3, 3, 3, 1), {"strides": [1, 1, 1, 1], "padding": "SAME",
                                  "data_format": "NCHW"}, (2, 3, 9, 9)),
    ((2, 9, 9, None), (3, 3, 3, 2), CONV, (2, 9, 9, 6)),
])
def test_depthwise_shapes(x, w, attrs, expected):
    assert build("DepthwiseConv2dNative", [x, w], attrs) == expected


@pytest.mark.parametrize("op_type", ["MaxPool", "AvgPool"])
@pytest.mark.parametrize("x,attrs,expected", [
    ((2, 16, 16, 8), {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID"},
     (2, 8, 8, 8)),
    ((2, 3, 3, 12), {"ksize": [1, 3, 3, 1], "strides": [1, 1, 1, 1], "padding": "SAME"},
     (2, 3, 3, 12)),
    ((2, 8, 7, 5), {"ksize": [1, 1, 3, 2], "strides": [1, 1, 2, 2], "padding": "SAME",
                    "data_format": "NCHW"}, (2, 8, 4, 3)),
])
def test_pool_shapes(op_type, x, attrs, expected):
    assert build(op_type, [x], attrs) == expected


@pytest.mark.parametrize("op_type,shapes,attrs,expected", [
    ("MatMul", [(4, 3), (3, 2)], {}, (4, 2)),
    ("MatMul", [(3, 4), (2, 3)], {"transpose_a": True, "transpose_b": True}, (4, 2)),
    ("MatMul", [(None, 3), None], {}, (None, None)),
    ("BatchMatMulV2", [(5, 1, 2, 3), (7, 3, 4)], {}, (5, 7, 2, 4)),
    ("BatchMatMulV2", [(2, 3), (6, 3, 4)], {}, (6, 2, 4)),
    ("BatchMatMulV2", [(2, 4, 3), (2, 5, 4)], {"adj_x": True, "adj_y": True}, (2, 3, 5)),
    ("BiasAdd", [(None, 5), (5,)], {}, (None, 5)),
    ("BiasAdd", [(2, None, 4, 4), (3,)], {"data_format": "NCHW"}, (2, 3, 4, 4)),
    ("Softmax", [(None, 10)], {}, (None, 10)),
    ("Relu6", [(2, None)], {}, (2, None)),
])
def test_dense_shapes(op_type, shapes, attrs, expected):
    assert build(op_type, shapes, attrs) == expected


def test_fused_batch_norm_shapes():
    shapes = build("FusedBatchNormV3", [(2, None, 4, None), (5,), (5,), (5,), (5,)],
                   {"is_training": False, "data_format": "NHWC"})
    assert shapes == [(2, None, 4, 5), (5,), (5,), (5,), (5,), None]
    shapes = build("FusedBatchNorm", [(2, 4, 4, 5), (5,), (5,), (0,), (0,)])
    assert shapes == [(2, 4, 4, 5)] + [(5,)] * 4


def test_space_to_batch_shapes_from_constant_arguments():
    block, pads = np.array([2, 3], np.int32), np.array([[1, 0], [0, 2]], np.int32)
    assert build("SpaceToBatchND", [(2, 5, 7, 3), None, None], values={1: block, 2: pads}) == \
        (12, 3, 3, 3)
    assert build("BatchToSpaceND", [(12, 3, 3, 3), None, None], values={1: block, 2: pads}) == \
        (2, 5, 7, 3)
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 5, 7, 3])
        y = apply_op("SpaceToBatchND", [x, gf.placeholder(gf.int32, [2]),
                                        gf.placeholder(gf.int32, [2, 2])])
    assert y.shape == (None,) * 4


@pytest.mark.parametrize("op_type,shapes,attrs,match", [
    ("Conv2D", [(1, 5, 5, 3), (3, 3, 4, 8)], CONV, "not a multiple of input depth"),
    ("Conv2D", [(1, 5, 5, 4), (3, 3, 2, 7)], CONV, "not a multiple of the number of groups"),
    ("Conv2D", [(5, 5, 3), (3, 3, 3, 8)], CONV, "input must be rank 4"),
    ("Conv2D", [(1, 5, 5, 3), (3, 3, 3, 8)], {"strides": [1, 0, 0, 1], "padding": "SAME"},
     "strides must be > 0"),
    ("Conv2D", [(1, 5, 5, 3), (3, 3, 3, 8)], {"strides": [1, 1, 1, 1], "padding": "SAME",
                                             "data_format": "NCHW"}, "not a multiple"),
    ("DepthwiseConv2dNative", [(1, 5, 5, 3), (3, 3, 2, 1)], CONV, "must equal"),
    ("MaxPool", [(1, 5, 5, 3)], {"ksize": [1, 2, 2, 1], "strides": [1, 0, 1, 1],
                                 "padding": "VALID"}, "strides must be > 0"),
    ("MaxPool", [(1, 5, 5, 3)], {"ksize": [1, 0, 2, 1], "strides": [1, 1, 1, 1],
                                 "padding": "VALID"}, "ksize must be > 0"),
    ("AvgPool", [(1, 5, 5, 3)], {"ksize": [1, 7, 2, 1], "strides": [1, 1, 1, 1],
                                 "padding": "VALID"}, "negative"),
    ("MatMul", [(4, 3), (4, 2)], {}, "inner dimensions"),
    ("BatchMatMulV2", [(2, 4, 3), (3, 3, 2)], {}, "broadcast"),
    ("FusedBatchNormV3", [(1, 2, 2, 3), (3,), (3,), (4,), (3,)], {"is_training": False},
     "mean length"),
])
def test_impossible_shapes_fail_at_build_time(op_type, shapes, attrs, match):
    with pytest.raises(ValidationError, match=match):
        build(op_type, shapes, attrs)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 40), k=st.integers(1, 6), stride=st.integers(1, 5),
       dilation=st.integers(1, 3))
def test_window_output_sizes_follow_tensorflow(size, k, stride, dilation):
    eff = (k - 1) * dilation + 1
    out, before, after = window_output(size, k, stride, dilation, "SAME")
    assert out == math.ceil(size / stride)
    assert before + after == max((out - 1) * stride + eff - size, 0) and after - before in (0, 1)
    if size >= eff:
        assert window_output(size, k, stride, dilation, "VALID") == (
            math.ceil((size - eff + 1) / stride), 0, 0)
