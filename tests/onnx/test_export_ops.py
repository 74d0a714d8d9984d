"""The export emitters (gcc_flow/onnx/export_ops/): one small graph per op family, exported to
ONNX, checked by onnx.checker (full) and run by onnxruntime against gcc-flow's runtime on the
same feeds (equal dtypes, shapes, values), at the default opset and at opset 13."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from onnx_export_check import export_and_compare, ops_of  # noqa: E402

import gcc_flow as gf  # noqa: E402
from gcc_flow.framework import apply_op  # noqa: E402

RNG = np.random.default_rng(7)


def f32(*shape, low=-2.0, high=2.0):
    return RNG.uniform(low, high, shape).astype(np.float32)


def i32(*shape, low=-7, high=8):
    return RNG.integers(low, high, shape).astype(np.int32)


def ph(dtype, shape, name):
    return gf.placeholder(dtype, shape, name=name)


# Each case builds its graph in the default graph and returns the feeds.
def _unary_math() -> dict:
    x = ph(gf.float32, [3, 4], "x")
    tiny = ph(gf.float32, [5], "tiny")
    for fn in (gf.exp, gf.rsqrt, gf.square, gf.erf, gf.sign, gf.floor, gf.ceil, gf.round,
               gf.reciprocal, gf.sigmoid, gf.tanh, gf.nn.softplus, gf.nn.selu, gf.nn.elu,
               gf.nn.relu6, gf.is_finite, gf.sin, gf.cos):
        fn(gf.abs(x) + 0.5 if fn in (gf.rsqrt, gf.reciprocal) else x)
    gf.log1p(tiny), gf.expm1(tiny), gf.nn.leaky_relu(x, 0.1)
    halves = np.array([[-2.5, -1.5, -0.5, 0.5], [1.5, 2.5, 3.5, 0.49], [1, 2, 3, 4]], np.float32)
    return {"x:0": halves, "tiny:0": np.array([1e-7, -3e-6, 2e-4, 0.7, -0.9], np.float32)}


def _division() -> dict:
    a, b = ph(gf.int32, [6], "a"), ph(gf.int32, [6], "b")
    fa, fb = ph(gf.float32, [6], "fa"), ph(gf.float32, [6], "fb")
    for x, y in ((a, b), (fa, fb)):
        gf.floordiv(x, y), gf.floormod(x, y)
        apply_op("TruncateDiv", [x, y]), apply_op("TruncateMod", [x, y])
    apply_op("Div", [a, b]), gf.realdiv(fa, fb), gf.atan2(fa, fb)
    apply_op("DivNoNan", [fa, fb]), apply_op("Xlogy", [fa, gf.abs(fb)])
    ints = np.array([7, -7, 7, -7, 0, 5], np.int32), np.array([2, 2, -2, -2, 3, -5], np.int32)
    floats = np.array([7.5, -7.5, 7.5, -7.5, 0, 3], np.float32)
    other = np.array([2, 2, -2, -2, 3, 0], np.float32)
    return {"a:0": ints[0], "b:0": ints[1], "fa:0": floats, "fb:0": other}


def _compare_select() -> dict:
    x, y = ph(gf.float32, [4, 3], "x"), ph(gf.float32, [3], "y")
    c = ph(gf.bool, [4], "c")
    gf.less(x, y), gf.not_equal(x, y), gf.logical_and(gf.greater(x, y), gf.less_equal(x, 1.0))
    apply_op("Select", [c, x, -x])                 # v1: a vector condition picks rows
    gf.where(gf.greater(x, 0.0), x, y * gf.ones_like(x))
    gf.add_n([x, x, x]), gf.add_n([gf.cast(x, gf.int32), gf.cast(x, gf.int32)])
    gf.clip_by_value(x, -0.5, 0.5), gf.clip_by_value(x, -gf.abs(y), gf.abs(y))
    gf.cast(x * 3.0, gf.int32), gf.cast(x, gf.bool)
    return {"x:0": f32(4, 3), "y:0": f32(3), "c:0": np.array([True, False, True, False])}


def _matmul() -> dict:
    a, b = ph(gf.float32, [3, 4], "a"), ph(gf.float32, [5, 4], "b")
    c = ph(gf.float32, [5, 3], "c")
    gf.matmul(a, b, transpose_b=True), gf.matmul(a, c, transpose_a=True, transpose_b=True)
    ia, ib = ph(gf.int32, [3, 4], "ia"), ph(gf.int32, [3, 4], "ib")
    gf.matmul(ia, ib, transpose_b=True)
    p, q = ph(gf.float32, [2, 1, 3, 4], "p"), ph(gf.float32, [5, 3, 4], "q")
    apply_op("BatchMatMulV2", [p, q], {"adj_y": True})
    bias = gf.constant(f32(5))
    apply_op("_FusedMatMul", [a, b, [bias]], {"transpose_b": True, "num_args": 1,
                                              "fused_ops": ["BiasAdd", "Relu6"]})
    gf.nn.log_softmax(a), gf.nn.softmax(a)
    return {"a:0": f32(3, 4), "b:0": f32(5, 4), "c:0": f32(5, 3), "ia:0": i32(3, 4),
            "ib:0": i32(3, 4),
            "p:0": f32(2, 1, 3, 4), "q:0": f32(5, 3, 4)}


def _convolution() -> dict:
    x = ph(gf.float32, [2, 9, 8, 4], "x")
    w = ph(gf.float32, [3, 3, 4, 6], "w")              # a computed (fed) filter
    gf.nn.conv2d(x, w, 2, "SAME")
    gf.nn.conv2d(x, gf.constant(f32(2, 3, 2, 4)), 1, "VALID", dilations=2)  # 2 groups
    apply_op("Conv2D", [x, gf.constant(f32(3, 3, 4, 2))],
             {"strides": [1, 1, 1, 1], "padding": "EXPLICIT",
              "explicit_paddings": [0, 0, 1, 2, 0, 1, 0, 0]})
    nchw = ph(gf.float32, [1, 4, 7, 7], "nchw")
    gf.nn.bias_add(gf.nn.conv2d(nchw, gf.constant(f32(3, 3, 4, 5)), 2, "SAME",
                                data_format="NCHW"), gf.constant(f32(5)), data_format="NCHW")
    dw = ph(gf.float32, [3, 3, 4, 2], "dw")
    gf.nn.depthwise_conv2d_native(x, dw, [1, 2, 2, 1], "SAME")
    gf.nn.max_pool(x, 3, 2, "SAME"), gf.nn.avg_pool(x, 3, 2, "SAME")
    gf.nn.conv2d_transpose(x, gf.constant(f32(3, 3, 5, 4)), [2, 18, 16, 5], 2, "SAME")
    return {"x:0": f32(2, 9, 8, 4), "w:0": f32(3, 3, 4, 6), "nchw:0": f32(1, 4, 7, 7),
            "dw:0": f32(3, 3, 4, 2)}


def _unknown_spatial() -> dict:
    """Unknown image sizes: SAME becomes auto_pad SAME_UPPER (TF's rule too)."""
    x = ph(gf.float32, [None, None, None, 3], "x")
    gf.nn.max_pool(gf.nn.conv2d(x, gf.constant(f32(3, 3, 3, 4)), 2, "SAME"), 2, 2, "SAME")
    return {"x:0": f32(1, 7, 6, 3)}


def _fused_conv() -> dict:
    x = ph(gf.float32, [1, 6, 6, 3], "x")
    scale, offset = ph(gf.float32, [4], "scale"), ph(gf.float32, [4], "offset")
    mean, var = gf.constant(f32(4)), gf.constant(f32(4, low=0.5, high=2))
    apply_op("_FusedConv2D", [x, gf.constant(f32(3, 3, 3, 4)), [scale, offset, mean, var], []],
             {"num_args": 4, "fused_ops": ["FusedBatchNorm", "Relu"], "strides": [1, 1, 1, 1],
              "padding": "SAME", "epsilon": 0.001})
    apply_op("_FusedDepthwiseConv2dNative", [x, gf.constant(f32(3, 3, 3, 2)),
                                             [gf.constant(f32(6))]],
             {"num_args": 1, "fused_ops": ["BiasAdd", "LeakyRelu"], "strides": [1, 1, 1, 1],
              "padding": "VALID", "leakyrelu_alpha": 0.3})
    gf.nn.fused_batch_norm(x, scale[:3], offset[:3], gf.constant(f32(3)),
                           gf.constant(f32(3, low=0.5, high=2)), is_training=False)[0]
    return {"x:0": f32(1, 6, 6, 3), "scale:0": f32(4), "offset:0": f32(4)}


def _reductions() -> dict:
    x, b = ph(gf.float32, [3, 4, 5], "x"), ph(gf.bool, [3, 4], "b")
    axes = ph(gf.int32, [None], "axes")
    gf.reduce_sum(x, [0, -1]), gf.reduce_max(x, 1, keepdims=True), gf.reduce_prod(x, [])
    gf.reduce_mean(x), gf.reduce_min(x, -2), gf.reduce_euclidean_norm(x, 2)
    gf.reduce_all(b, 1), gf.reduce_any(b), gf.reduce_any(b[:0], 0), gf.reduce_all(b[:, :0], 1)
    gf.reduce_sum(x, axes, keepdims=True)                    # computed axes: ReduceSum's input
    gf.argmax(x, 1), gf.argmin(x, -1, output_type=gf.int32)
    return {"x:0": f32(3, 4, 5), "b:0": RNG.random((3, 4)) < 0.7,
            "axes:0": np.array([2, 0], np.int32)}


def _shapes() -> dict:
    x, z = ph(gf.float32, [2, 3, 4], "x"), ph(gf.float32, [None, 3], "z")
    dims = ph(gf.int32, [2], "dims")
    gf.reshape(x, [4, -1]), gf.reshape(z, gf.shape(z)[::-1]), gf.reshape(z, dims)
    gf.transpose(x, [2, 0, 1]), gf.squeeze(gf.expand_dims(x, -1), [3]), gf.squeeze(x[:1])
    gf.shape(z), gf.size(z), gf.rank(z), gf.shape_n([x, z])
    gf.fill(gf.shape(z), 2.5), gf.zeros_like(z), gf.ones_like(gf.cast(z, gf.int32))
    gf.range(gf.size(z)), gf.range(1.0, -2.0, -0.5)
    gf.broadcast_to(gf.constant([1.0, 2.0, 3.0]), gf.shape(z)), gf.tile(z, [2, 1])
    gf.where(gf.greater(z, 0.0)), apply_op("InvertPermutation", [gf.constant([2, 0, 3, 1])])
    gf.stack([x, x], axis=-1), gf.unstack(x, axis=1), gf.concat([z, z * 2.0], axis=-1)
    return {"x:0": f32(2, 3, 4), "z:0": f32(5, 3), "dims:0": np.array([3, 5], np.int32)}


def _slicing() -> dict:
    x = ph(gf.float32, [4, 5, 6], "x")
    begin, size = ph(gf.int32, [3], "begin"), ph(gf.int32, [3], "size")
    x[1:, ::-1, 2], x[..., gf.newaxis, 1:3], x[-1], x[:, -2:, ::-2], x[3:1], x[-10:10, 2:100]
    x[-1:-5:-2, -2, -4:], x[gf.newaxis, ..., 0]
    gf.strided_slice(x, begin, begin + 2, [1, 1, 1], shrink_axis_mask=1)  # computed begin/end
    gf.slice(x, [1, 0, 2], [-1, 3, 2]), gf.slice(x, begin, size)
    gf.split(x, 2, axis=2), gf.split(x, [1, -1, 2], axis=1)
    gf.split(x, gf.constant([2, -1]) * gf.cast(gf.size(begin) > 0, gf.int32), axis=0)
    gf.gather(x, gf.constant([3, 0, 3]), axis=-1), gf.gather_nd(x, gf.constant([[1, 2], [3, 0]]))
    gf.pad(x, [[1, 0], [0, 2], [1, 1]]), gf.pad(x, [[1, 0], [0, 2], [1, 1]], constant_values=-1.)
    gf.pad(x, [[1, 1], [2, 0], [0, 3]], "SYMMETRIC"), gf.pad(x, [[1, 1], [2, 0], [0, 3]], "REFLECT")
    gf.pad(x, gf.stack([begin, begin], axis=1))
    idx = gf.constant([2, 0, -1, 3, 5])
    gf.one_hot(idx, 4), gf.one_hot(idx, 4, 5.0, -1.0, axis=0)
    return {"x:0": f32(4, 5, 6), "begin:0": np.array([1, 2, 3], np.int32),
            "size:0": np.array([2, -1, 1], np.int32)}


def _space_depth() -> dict:
    x = ph(gf.float32, [None, 6, 4, 2], "x")
    s2b = apply_op("SpaceToBatchND", [x, gf.constant([2, 2]), gf.constant([[1, 1], [0, 2]])])
    apply_op("BatchToSpaceND", [s2b, gf.constant([2, 2]), gf.constant([[0, 1], [1, 1]])])
    apply_op("DepthToSpace", [gf.constant(f32(1, 2, 3, 8)) + 1.0], {"block_size": 2})
    apply_op("SpaceToDepth", [x], {"block_size": 2})
    return {"x:0": f32(3, 6, 4, 2)}


CASES: dict[str, Callable[[], dict]] = {
    "unary_math": _unary_math, "division": _division, "compare_select": _compare_select,
    "matmul": _matmul, "convolution": _convolution, "unknown_spatial": _unknown_spatial,
    "fused_conv": _fused_conv, "reductions": _reductions, "shapes": _shapes,
    "slicing": _slicing, "space_depth": _space_depth,
}


def build(case: str):
    g = gf.Graph()
    with g.as_default():
        feeds = CASES[case]()
    return g, feeds


@pytest.mark.parametrize("case", sorted(CASES))
def test_export_matches_our_runtime(case):
    g, feeds = build(case)
    model = export_and_compare(g, feeds, inputs=list(feeds), atol=1e-5)
    assert [i.name for i in model.graph.input] == [k[:-2] for k in feeds]


@pytest.mark.parametrize("case", ["division", "reductions", "slicing", "convolution"])
def test_export_at_opset_13(case):
    g, feeds = build(case)
    model = export_and_compare(g, feeds, inputs=list(feeds), opset=13, atol=1e-5)
    assert model.opset_import[0].version == 13


def test_log1p_and_expm1_keep_precision_for_tiny_inputs():
    g = gf.Graph()
    with g.as_default():
        x = ph(gf.float32, [3], "x")
        gf.log1p(x, name="l"), gf.expm1(x, name="e")
    x = np.array([1e-7, -2e-7, 3e-8], np.float32)
    model = export_and_compare(g, {"x:0": x}, rtol=1e-6, atol=0)
    assert "Log" in ops_of(model) and "Exp" in ops_of(model)


def test_split_of_an_unknown_dim_needs_opset_18():
    g = gf.Graph()
    with g.as_default():
        gf.split(ph(gf.float32, [None, 4], "x"), 2, axis=0)
    model = export_and_compare(g, {"x:0": f32(6, 4)}, opset=18)
    split = [n for n in model.graph.node if n.op_type == "Split"][0]
    assert [a.i for a in split.attribute if a.name == "num_outputs"] == [2]
    from gcc_flow.onnx.exporter import ExportNotSupported, export_model
    with pytest.raises(ExportNotSupported, match="opset 18"):
        export_model(g.as_graph_def(), opset=17)
