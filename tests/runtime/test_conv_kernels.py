"""Conv2D, DepthwiseConv2dNative, Conv2DBackpropInput, MaxPool and AvgPool against loop
references written here, over NHWC/NCHW, SAME/VALID/EXPLICIT, strides and dilations.

The references recompute TensorFlow's padding rule on their own: SAME gives ceil(in / stride)
outputs and puts the odd padding element after (bottom/right).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import runtime
from schema.dtypes import DType
from schema.errors import ExecutionError, GccFlowError, ValidationError
from schema.ir import Graph, TensorRef
from schema.serde import graph_to_graph_def


def run1(op_type: str, inputs, attrs, feed: bool = False) -> np.ndarray:
    """Runs one node on numpy inputs; checks the inferred static shape against the result."""
    g = Graph()
    refs, feeds = [], {}
    for i, value in enumerate(inputs):
        value = np.asarray(value)
        dtype = DType.from_numpy(value.dtype)
        kind = "Placeholder" if feed else "Const"
        node_attrs = ({"dtype": dtype, "shape": None} if kind == "Placeholder"
                      else {"value": value, "dtype": dtype})
        node = g.add_node(kind, f"in{i}", attrs=node_attrs, infer=False)
        if kind == "Placeholder":
            feeds[f"in{i}:0"] = value
        refs.append(TensorRef(node, 0))
    attrs = {"T": DType.from_numpy(np.asarray(inputs[-1]).dtype), **attrs}
    g.add_node(op_type, "op", inputs=refs, attrs=attrs, infer=False)
    sess = runtime.load(graph_to_graph_def(g))
    out = sess.run("op:0", feeds)
    static = sess.graph.node("op").out_shapes[0]
    if static is not None:
        assert len(static) == out.ndim
        assert all(s is None or s == d for s, d in zip(static, out.shape)), (static, out.shape)
    return out


def pads_for(padding: str, size: int, k: int, stride: int, dilation: int, explicit=(0, 0)):
    eff = (k - 1) * dilation + 1
    if padding == "SAME":
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + eff - size, 0)
        return total // 2, total - total // 2
    return tuple(explicit) if padding == "EXPLICIT" else (0, 0)


def windows(x, k_hw, strides, dilations, padding, explicit):
    """Yields (oy, ox, [(i, j, iy, ix) for taps inside the unpadded input]) for NHWC x."""
    pads = [pads_for(padding, x.shape[1 + a], k_hw[a], strides[a], dilations[a], explicit[a])
            for a in range(2)]
    sizes = [(x.shape[1 + a] + sum(pads[a]) - (k_hw[a] - 1) * dilations[a] - 1) // strides[a]
             + 1 for a in range(2)]
    for oy, ox in itertools.product(range(sizes[0]), range(sizes[1])):
        taps = []
        for i, j in itertools.product(range(k_hw[0]), range(k_hw[1])):
            iy = oy * strides[0] + i * dilations[0] - pads[0][0]
            ix = ox * strides[1] + j * dilations[1] - pads[1][0]
            if 0 <= iy < x.shape[1] and 0 <= ix < x.shape[2]:
                taps.append((i, j, iy, ix))
        yield oy, ox, sizes, taps


def conv_ref(x, w, strides, dilations, padding, explicit, depthwise=False):
    out = None
    for oy, ox, sizes, taps in windows(x, w.shape[:2], strides, dilations, padding, explicit):
        if out is None:
            channels = w.shape[2] * w.shape[3] if depthwise else w.shape[3]
            out = np.zeros((x.shape[0], sizes[0], sizes[1], channels))
        for i, j, iy, ix in taps:
            if depthwise:
                out[:, oy, ox] += (x[:, iy, ix, :, None] * w[i, j]).reshape(x.shape[0], -1)
            else:
                out[:, oy, ox] += x[:, iy, ix] @ w[i, j]
    return out


def pool_ref(x, k_hw, strides, padding, explicit, reduce):
    out = None
    for oy, ox, sizes, taps in windows(x, k_hw, strides, (1, 1), padding, explicit):
        if out is None:
            out = np.zeros((x.shape[0], sizes[0], sizes[1], x.shape[3]))
        values = np.stack([x[:, iy, ix] for _, _, iy, ix in taps])
        out[:, oy, ox] = reduce(values, axis=0)
    return out


def to_layout(x, fmt):
    return x if fmt == "NHWC" else np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def four(pair, fmt):
    return [1, *pair, 1] if fmt == "NHWC" else [1, 1, *pair]


def explicit_attr(explicit, fmt):
    pairs = [(0, 0), explicit[0], explicit[1], (0, 0)]
    if fmt == "NCHW":
        pairs = [pairs[0], pairs[3], pairs[1], pairs[2]]
    return [v for p in pairs for v in p]


def window_attrs(fmt, strides, padding, explicit, dilations=None):
    attrs = {"data_format": fmt, "strides": four(strides, fmt), "padding": padding,
             "explicit_paddings": explicit_attr(explicit, fmt) if padding == "EXPLICIT" else []}
    if dilations is not None:
        attrs["dilations"] = four(dilations, fmt)
    return attrs


EXPLICIT = ((1, 2), (0, 3))
CASES = [(fmt, padding, strides, dilations)
         for fmt in ("NHWC", "NCHW") for padding in ("SAME", "VALID", "EXPLICIT")
         for strides, dilations in (((1, 1), (1, 1)), ((2, 3), (1, 1)), ((1, 1), (2, 3)),
                                    ((2, 1), (1, 2)))]


@pytest.mark.parametrize("fmt,padding,strides,dilations", CASES)
def test_conv2d(rng, fmt, padding, strides, dilations):
    x = rng.standard_normal((2, 9, 10, 3))
    w = rng.standard_normal((3, 2, 3, 4))
    out = run1("Conv2D", [to_layout(x, fmt), w],
               window_attrs(fmt, strides, padding, EXPLICIT, dilations))
    ref = conv_ref(x, w, strides, dilations, padding, EXPLICIT)
    np.testing.assert_allclose(out, to_layout(ref, fmt), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fmt,padding,strides,dilations", CASES)
def test_depthwise_conv2d(rng, fmt, padding, strides, dilations):
    x = rng.standard_normal((2, 9, 10, 3))
    w = rng.standard_normal((3, 2, 3, 2))
    out = run1("DepthwiseConv2dNative", [to_layout(x, fmt), w],
               window_attrs(fmt, strides, padding, EXPLICIT, dilations))
    ref = conv_ref(x, w, strides, dilations, padding, EXPLICIT, depthwise=True)
    np.testing.assert_allclose(out, to_layout(ref, fmt), rtol=1e-10, atol=1e-12)


def test_conv2d_float32_and_grouped(rng):
    x = rng.standard_normal((1, 5, 5, 4)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 6)).astype(np.float32)   # 2 groups of 2 -> 3 channels
    out = run1("Conv2D", [x, w], window_attrs("NHWC", (1, 1), "SAME", EXPLICIT))
    assert out.dtype == np.float32 and out.shape == (1, 5, 5, 6)
    ref = np.concatenate([conv_ref(x[..., :2].astype(np.float64), w[..., :3], (1, 1), (1, 1),
                                   "SAME", EXPLICIT),
                          conv_ref(x[..., 2:].astype(np.float64), w[..., 3:], (1, 1), (1, 1),
                                   "SAME", EXPLICIT)], axis=-1)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fmt,padding,strides", [
    (fmt, padding, strides) for fmt in ("NHWC", "NCHW") for padding in ("SAME", "VALID")
    for strides in ((1, 1), (2, 3), (3, 2))])
def test_conv2d_backprop_input_is_the_adjoint_of_conv2d(rng, fmt, padding, strides):
    """<conv(x), dy> == <x, backprop_input(dy)> for every x and dy."""
    x = rng.standard_normal((2, 7, 8, 3))
    w = rng.standard_normal((3, 2, 3, 4))
    attrs = window_attrs(fmt, strides, padding, EXPLICIT)
    y = run1("Conv2D", [to_layout(x, fmt), w], attrs)
    dy = rng.standard_normal(y.shape)
    sizes = np.array(to_layout(x, fmt).shape, np.int32)
    dx = run1("Conv2DBackpropInput", [sizes, w, dy], attrs)
    assert dx.shape == tuple(sizes)
    np.testing.assert_allclose(np.vdot(y, dy), np.vdot(to_layout(x, fmt), dx), rtol=1e-10)


@pytest.mark.parametrize("fmt,padding,strides", [
    (fmt, padding, strides) for fmt in ("NHWC", "NCHW")
    for padding in ("SAME", "VALID", "EXPLICIT") for strides in ((1, 1), (2, 3))])
def test_max_and_avg_pool(rng, fmt, padding, strides):
    x = rng.standard_normal((2, 7, 8, 3))
    k, explicit = (3, 2), ((1, 2), (0, 1))
    attrs = {**window_attrs(fmt, strides, padding, explicit), "ksize": four(k, fmt)}
    out = run1("MaxPool", [to_layout(x, fmt)], attrs)
    ref = pool_ref(x, k, strides, padding, explicit, np.max)
    np.testing.assert_array_equal(out, to_layout(ref, fmt))
    if padding != "EXPLICIT":   # AvgPool has no EXPLICIT padding in TensorFlow
        attrs.pop("explicit_paddings")
        out = run1("AvgPool", [to_layout(x, fmt)], attrs)
        ref = pool_ref(x, k, strides, padding, explicit, np.mean)
        np.testing.assert_allclose(out, to_layout(ref, fmt), rtol=1e-12)


def test_avg_pool_same_divides_by_valid_count():
    x = np.ones((1, 3, 3, 1), np.float32)
    x[0, 0, 0, 0] = 10.0
    out = run1("AvgPool", [x], {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1],
                                "padding": "SAME"})
    # Windows: {10,1,1,1} -> 3.25; right column {1, 1} -> 1; bottom-right {1} -> 1.
    np.testing.assert_array_equal(out[0, :, :, 0], [[3.25, 1.0], [1.0, 1.0]])


def test_max_pool_integers_and_negative_values_ignore_padding():
    x = -np.arange(1, 10, dtype=np.int32).reshape(1, 3, 3, 1)
    out = run1("MaxPool", [x], {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1],
                                "padding": "SAME"})
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out[0, :, :, 0], [[-1, -3], [-7, -9]])


# -- errors ---------------------------------------------------------------------------------

CONV_X, CONV_W = np.zeros((1, 5, 5, 3), np.float32), np.zeros((3, 3, 3, 4), np.float32)


@pytest.mark.parametrize("attrs,match", [
    ({"strides": [1, 0, 1, 1], "padding": "SAME"}, "strides must be > 0"),
    ({"strides": [1, 1, 1], "padding": "SAME"}, "4 values"),
    ({"strides": [2, 1, 1, 1], "padding": "SAME"}, "batch and depth"),
    ({"strides": [1, 1, 1, 1], "padding": "SAME", "dilations": [1, 0, 1, 1]}, "dilations"),
    ({"strides": [1, 1, 1, 1], "padding": "EXPLICIT", "explicit_paddings": [0] * 6}, "8 values"),
    ({"strides": [1, 1, 1, 1], "padding": "EXPLICIT",
      "explicit_paddings": [0, 0, -1, 0, 0, 0, 0, 0]}, "non-negative"),
    ({"strides": [1, 1, 1, 1], "padding": "EXPLICIT",
      "explicit_paddings": [1, 0, 0, 0, 0, 0, 0, 0]}, "batch and depth"),
    ({"strides": [1, 1, 1, 1], "padding": "SAME", "explicit_paddings": [0] * 8}, "empty"),
    ({"strides": [1, 1, 1, 1], "padding": "FULL"}, "not one of"),
])
def test_conv2d_bad_attrs_fail_at_build_time(attrs, match):
    with pytest.raises(ValidationError, match=match):
        run1("Conv2D", [CONV_X, CONV_W], attrs)


def test_conv2d_mismatched_channels_fail_at_build_time_and_run_time():
    w = np.zeros((3, 3, 2, 4), np.float32)
    with pytest.raises(ValidationError, match="not a multiple of input depth of filter"):
        run1("Conv2D", [CONV_X, w], {"strides": [1, 1, 1, 1], "padding": "SAME"})
    with pytest.raises(ExecutionError, match="not a multiple of input depth of filter"):
        run1("Conv2D", [CONV_X, w], {"strides": [1, 1, 1, 1], "padding": "SAME"}, feed=True)
    with pytest.raises(ValidationError, match="input depth"):
        run1("DepthwiseConv2dNative", [CONV_X, w], {"strides": [1, 1, 1, 1], "padding": "SAME"})


def test_valid_window_larger_than_input_is_refused():
    with pytest.raises(ValidationError, match="output size would be negative"):
        run1("Conv2D", [CONV_X, np.zeros((7, 1, 3, 1), np.float32)],
             {"strides": [1, 1, 1, 1], "padding": "VALID"})


def test_pool_explicit_padding_as_large_as_the_window_is_refused():
    with pytest.raises(ValidationError, match="smaller than the window"):
        run1("MaxPool", [np.zeros((1, 4, 4, 1), np.float32)],
             {"ksize": [1, 2, 2, 1], "strides": [1, 1, 1, 1], "padding": "EXPLICIT",
              "explicit_paddings": [0, 0, 0, 2, 0, 0, 0, 0]})


def test_pool_over_batch_or_depth_is_refused():
    x = np.zeros((1, 4, 4, 2), np.float32)
    with pytest.raises(ValidationError, match="batch and depth"):
        run1("MaxPool", [x], {"ksize": [1, 2, 2, 2], "strides": [1, 1, 1, 1], "padding": "SAME"})
    with pytest.raises(ValidationError, match="ksize"):
        run1("AvgPool", [x], {"ksize": [1, 2, 2, 1, 1], "strides": [1, 1, 1, 1],
                              "padding": "SAME"})


def test_huge_explicit_padding_hits_the_byte_budget():
    attrs = {"strides": [1, 1, 1, 1], "padding": "EXPLICIT",
             "explicit_paddings": [0, 0, 2 ** 40, 0, 0, 0, 0, 0]}
    with pytest.raises(GccFlowError, match="limit"):
        run1("Conv2D", [CONV_X, CONV_W], attrs, feed=True)
