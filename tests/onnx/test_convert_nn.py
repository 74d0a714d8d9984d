"""The neural-network converters (gcc_flow/onnx/ops/conv.py, pool.py, nn.py, normalization.py,
resize.py, rnn.py): one-node ONNX models imported and run by gcc-flow, compared with
onnxruntime (or onnx's reference implementation where onnxruntime refuses a case) on random
inputs, plus the TensorFlow ops they map to and their refusals."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from onnx_convert_check import Init, compare, import_one_node  # noqa: E402

import gcc_flow as gf  # noqa: E402
from gcc_flow.onnx.context import NotSupported  # noqa: E402
from schema.errors import LimitExceeded  # noqa: E402

RNG = np.random.default_rng(11)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def i64(*values):
    return np.array(values, np.int64)


X = f32(2, 3, 7, 6)
W = Init(f32(4, 3, 3, 3))
TOL = {"rtol": 1e-4, "atol": 1e-4}

# (id, op, inputs, attrs); attrs may hold n_outputs, opset, reference, rtol/atol.
CONV_CASES = [
    ("conv_pads_bias", "Conv", [X, W, Init(f32(4))], {"pads": [1, 0, 2, 1]}),
    ("conv_same_upper", "Conv", [X, W], {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ("conv_same_lower_dilated", "Conv", [X, W], {"strides": [2, 1], "auto_pad": "SAME_LOWER",
                                                 "dilations": [1, 2], "reference": True}),
    ("conv_runtime_weights", "Conv", [X, f32(4, 3, 3, 3)], {"auto_pad": "VALID"}),
    ("conv_depthwise", "Conv", [X, Init(f32(6, 1, 3, 3))], {"group": 3, "pads": [1, 1, 1, 1]}),
    ("conv_grouped", "Conv", [f32(2, 4, 5, 5), Init(f32(6, 2, 3, 3)), Init(f32(6))],
     {"group": 2}),
    ("conv_1d", "Conv", [f32(2, 3, 9), Init(f32(5, 3, 3))], {"pads": [1, 2], "strides": [2]}),
    ("conv_transpose_output_padding", "ConvTranspose",
     [f32(1, 3, 4, 4), Init(f32(3, 2, 3, 3)), Init(f32(2))],
     {"strides": [2, 2], "pads": [1, 0, 1, 1], "output_padding": [1, 1]}),
    ("conv_transpose_output_shape", "ConvTranspose", [f32(1, 3, 4, 4), Init(f32(3, 2, 3, 3))],
     {"strides": [3, 2], "output_shape": [12, 8]}),
    ("conv_transpose_same", "ConvTranspose", [f32(1, 3, 4, 4), Init(f32(3, 2, 3, 3))],
     {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ("conv_transpose_group", "ConvTranspose",
     [f32(1, 4, 4, 4), Init(f32(4, 2, 3, 3)), Init(f32(4))], {"strides": [2, 2], "group": 2}),
    ("conv_transpose_1d", "ConvTranspose", [f32(1, 3, 5), Init(f32(3, 2, 3))], {"strides": [2]}),
    ("conv_transpose_3d", "ConvTranspose", [f32(1, 2, 3, 4, 5), Init(f32(2, 2, 3, 3, 3))],
     {"strides": [1, 2, 1], "dilations": [2, 1, 1]}),
]

POOL_CASES = [
    ("max_pool_pads", "MaxPool", [X], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                                       "strides": [2, 2]}),
    ("max_pool_ceil", "MaxPool", [X], {"kernel_shape": [3, 3], "strides": [2, 2],
                                       "ceil_mode": 1}),
    ("max_pool_dilated", "MaxPool", [X], {"kernel_shape": [2, 2], "dilations": [2, 2]}),
    ("max_pool_same_lower", "MaxPool", [X], {"kernel_shape": [3, 2], "auto_pad": "SAME_LOWER",
                                             "strides": [2, 2]}),
    ("max_pool_3d", "MaxPool", [f32(1, 2, 5, 5, 5)], {"kernel_shape": [2, 2, 2]}),
    ("max_pool_int8", "MaxPool", [RNG.integers(-100, 100, (1, 2, 5, 5)).astype(np.int8)],
     {"kernel_shape": [2, 2]}),
    ("max_pool_indices", "MaxPool", [X], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                                          "strides": [2, 2], "n_outputs": 2}),
    ("max_pool_indices_column_major", "MaxPool", [X],
     {"kernel_shape": [2, 2], "storage_order": 1, "strides": [1, 2], "n_outputs": 2}),
    ("avg_pool_pads", "AveragePool", [X], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                                           "strides": [2, 2]}),
    ("avg_pool_count_pads", "AveragePool", [X], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                                                 "strides": [2, 2], "count_include_pad": 1}),
    ("avg_pool_same", "AveragePool", [X], {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER",
                                           "strides": [2, 2]}),
    ("avg_pool_ceil_count_pads", "AveragePool", [X],
     {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2], "ceil_mode": 1,
      "count_include_pad": 1}),
    ("avg_pool_3d", "AveragePool", [f32(1, 2, 5, 6, 7)], {"kernel_shape": [2, 3, 2],
                                                          "pads": [1, 1, 0, 0, 1, 1]}),
    ("avg_pool_1d_dilated", "AveragePool", [f32(1, 2, 9)], {"kernel_shape": [3], "strides": [2],
                                                            "dilations": [2], "opset": 19}),
    ("lp_pool", "LpPool", [X], {"kernel_shape": [2, 2], "p": 3, "strides": [2, 2]}),
    ("global_average_pool", "GlobalAveragePool", [X], {}),
    ("global_max_pool", "GlobalMaxPool", [X], {}),
    ("global_lp_pool", "GlobalLpPool", [X], {"p": 3}),
]

DENSE_CASES = [
    ("gemm", "Gemm", [f32(3, 4), f32(5, 4), f32(5)], {"transB": 1, "alpha": 0.5, "beta": 2.0}),
    ("gemm_trans_a", "Gemm", [f32(4, 3), Init(f32(4, 5))], {"transA": 1}),
    ("matmul_batch", "MatMul", [f32(2, 3, 4), f32(4, 5)], {}),
    ("matmul_vector_left", "MatMul", [f32(4), f32(2, 4, 5)], {}),
    ("matmul_vector_right", "MatMul", [f32(3, 4), f32(4)], {}),
    ("matmul_dot", "MatMul", [f32(4), f32(4)], {}),
    ("matmul_integer", "MatMulInteger",
     [RNG.integers(0, 255, (3, 4)).astype(np.uint8), RNG.integers(0, 255, (4, 2)).astype(np.uint8),
      np.uint8(3), np.uint8(9)], {}),
    ("dropout_inference", "Dropout", [X], {"n_outputs": 2}),
    ("dropout_training_zero_ratio", "Dropout", [X, np.float32(0), np.bool_(True)],
     {"n_outputs": 2}),
    ("lrn", "LRN", [X], {"size": 3, "alpha": 1e-3, "beta": 0.8, "bias": 2.0}),
    ("depth_to_space", "DepthToSpace", [f32(2, 8, 3, 4)], {"blocksize": 2}),
    ("depth_to_space_crd", "DepthToSpace", [f32(2, 8, 3, 4)], {"blocksize": 2, "mode": "CRD"}),
    ("space_to_depth", "SpaceToDepth", [f32(2, 3, 4, 6)], {"blocksize": 2}),
]

NORM_CASES = [
    ("batch_norm_const", "BatchNormalization",
     [X, Init(f32(3)), Init(f32(3)), Init(f32(3)), Init(np.abs(f32(3)))], {}),
    ("batch_norm_runtime", "BatchNormalization", [X, f32(3), f32(3), f32(3), np.abs(f32(3))],
     {}),
    ("batch_norm_training", "BatchNormalization", [X, f32(3), f32(3), f32(3), np.abs(f32(3))],
     {"n_outputs": 3, "training_mode": 1}),
    ("instance_norm", "InstanceNormalization", [X, f32(3), f32(3)], {}),
    ("layer_norm_outputs", "LayerNormalization", [X, f32(7, 6), f32(7, 6)],
     {"n_outputs": 3, "axis": 2}),
    ("layer_norm_no_bias", "LayerNormalization", [X, f32(6)], {}),
    ("group_norm", "GroupNormalization", [f32(2, 6, 3, 2), f32(6), f32(6)],
     {"num_groups": 3, "opset": 21}),
    ("lp_norm_1", "LpNormalization", [X], {"axis": 1, "p": 1}),
    ("lp_norm_2", "LpNormalization", [X], {"axis": -1, "p": 2}),
    ("rms_norm", "RMSNormalization", [X, f32(6)], {"opset": 23}),
]

XS = f32(1, 2, 3, 4)
RESIZE_CASES = [
    ("linear_scales", "Resize", [XS, None, np.array([1, 1, 2, 1.5], np.float32)],
     {"mode": "linear"}),
    ("linear_antialias", "Resize", [XS, None, np.array([1, 1, 0.6, 0.8], np.float32)],
     {"mode": "linear", "antialias": 1}),
    ("cubic_sizes", "Resize", [XS, None, None, i64(1, 2, 7, 3)], {"mode": "cubic"}),
    ("cubic_axes_exclude", "Resize", [XS, None, None, i64(5, 9)],
     {"mode": "cubic", "axes": [2, 3], "exclude_outside": 1,
      "coordinate_transformation_mode": "align_corners"}),
    ("nearest_ceil", "Resize", [XS, None, np.array([1, 1, 2.5, 1.7], np.float32)],
     {"nearest_mode": "round_prefer_ceil", "coordinate_transformation_mode": "asymmetric"}),
    ("nearest_floor_down", "Resize", [XS, None, np.array([1, 1, 0.5, 0.7], np.float32)],
     {"nearest_mode": "floor", "coordinate_transformation_mode": "pytorch_half_pixel"}),
    ("crop_and_resize", "Resize",
     [XS, np.array([0, 0, 0.2, 0.3, 1, 1, 0.8, 0.9], np.float32), None, i64(1, 2, 5, 5)],
     {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize",
      "extrapolation_value": 7.0}),
    ("keep_aspect_ratio", "Resize", [XS, None, None, i64(5, 7)],
     {"mode": "linear", "axes": [2, 3], "keep_aspect_ratio_policy": "not_larger"}),
    ("resize_v10", "Resize", [XS, np.array([1, 1, 2, 3], np.float32)], {"opset": 10}),
    ("upsample", "Upsample", [XS, np.array([1, 1, 2, 3], np.float32)], {"opset": 9}),
]


def _rnn_cases():
    seq = f32(5, 2, 3)
    cases = []
    for op_type, gates in (("RNN", 1), ("GRU", 3), ("LSTM", 4)):
        n = 4
        w, r, b = f32(2, gates * n, 3), f32(2, gates * n, n), f32(2, 2 * gates * n)
        lstm = op_type == "LSTM"
        full = [seq, w, r, b, np.array([5, 3], np.int32), f32(2, 2, n)] + \
            ([f32(2, 2, n), f32(2, 3 * n)] if lstm else [])
        cases += [
            (f"{op_type}_bidirectional", op_type, full,
             {"hidden_size": n, "direction": "bidirectional", "n_outputs": 3 if lstm else 2}),
            (f"{op_type}_reverse_clip", op_type, [seq, w[:1], r[:1]],
             {"hidden_size": n, "direction": "reverse", "clip": 1.5, "n_outputs": 2}),
            (f"{op_type}_batch_first", op_type,
             [seq.transpose(1, 0, 2).copy(), w[:1], r[:1], b[:1]],
             {"hidden_size": n, "layout": 1, "n_outputs": 2, "reference": True}),
        ]
    cases.append(("GRU_linear_before_reset", "GRU", [seq, f32(1, 12, 3), f32(1, 12, 4),
                                                      f32(1, 24)],
                  {"hidden_size": 4, "linear_before_reset": 1, "n_outputs": 2}))
    cases.append(("RNN_relu", "RNN", [seq, f32(1, 4, 3), f32(1, 4, 4)],
                  {"hidden_size": 4, "activations": ["Relu"], "n_outputs": 2}))
    return cases


ALL_CASES = CONV_CASES + POOL_CASES + DENSE_CASES + NORM_CASES + RESIZE_CASES + _rnn_cases()


@pytest.mark.parametrize("op_type, inputs, attrs", [c[1:] for c in ALL_CASES],
                         ids=[c[0] for c in ALL_CASES])
def test_matches_onnxruntime(op_type, inputs, attrs):
    attrs = {**TOL, **attrs}
    compare(op_type, inputs, n_outputs=attrs.pop("n_outputs", 1), opset=attrs.pop("opset", 18),
            **attrs)


SYMBOLIC_CASES = ["conv_pads_bias", "conv_same_upper", "conv_same_lower_dilated",
                  "conv_depthwise", "conv_1d", "conv_transpose_output_padding",
                  "max_pool_ceil", "max_pool_same_lower", "avg_pool_same",
                  "avg_pool_count_pads", "global_average_pool", "gemm", "matmul_batch",
                  "dropout_inference", "lrn", "depth_to_space", "batch_norm_const",
                  "layer_norm_outputs", "group_norm", "linear_scales", "LSTM_bidirectional"]


@pytest.mark.parametrize("case", SYMBOLIC_CASES)
def test_matches_with_every_input_dim_unknown_at_import(case):
    """The same models with all graph-input dims symbolic: shapes resolve at run time."""
    _, op_type, inputs, attrs = next(c for c in ALL_CASES if c[0] == case)
    attrs = {**TOL, **attrs}
    compare(op_type, inputs, n_outputs=attrs.pop("n_outputs", 1), opset=attrs.pop("opset", 18),
            symbolic=True, **attrs)


def test_even_lrn_sums_the_asymmetric_channel_window():
    """onnxruntime refuses even sizes; ONNX's window for size 2 is [c, c + 1]."""
    x = f32(1, 3, 2, 2)
    result = import_one_node("LRN", [x], size=2, alpha=0.5, beta=0.75, bias=1.0)
    with gf.Session(result.graph) as sess:
        got = sess.run(result.outputs[0][1], {result.inputs[0][1]: x})
    squares = np.square(x)
    window = squares + np.concatenate([squares[:, 1:], np.zeros_like(squares[:, :1])], axis=1)
    np.testing.assert_allclose(got, x / (1.0 + 0.5 / 2 * window) ** 0.75, rtol=1e-5)


def _op_types(op_type: str, inputs, **attrs) -> list[str]:
    graph = import_one_node(op_type, inputs, **attrs).graph
    return [op.type for op in graph.get_operations()
            if op.type not in ("Const", "Placeholder", "Identity")]


def test_conv_runs_nhwc_between_transposes():
    assert _op_types("Conv", [X, W, Init(f32(4))], pads=[1, 1, 1, 1]) == \
        ["Transpose", "Conv2D", "BiasAdd", "Transpose"]
    graph = import_one_node("Conv", [X, W], auto_pad="SAME_UPPER").graph
    conv = next(op for op in graph.get_operations() if op.type == "Conv2D")
    assert conv.get_attr("padding") == "SAME" and conv.get_attr("data_format") == "NHWC"


def test_depthwise_and_transpose_map_to_tensorflow_ops():
    assert "DepthwiseConv2dNative" in _op_types("Conv", [X, Init(f32(6, 1, 3, 3))], group=3)
    assert "Conv2DBackpropInput" in _op_types("ConvTranspose", [X, Init(f32(3, 2, 3, 3))],
                                              strides=[2, 2])


def test_pools_map_to_tensorflow_ops_when_they_can():
    assert "MaxPool" in _op_types("MaxPool", [X], kernel_shape=[2, 2], pads=[1, 1, 0, 0])
    assert "AvgPool" in _op_types("AveragePool", [X], kernel_shape=[3, 3],
                                  auto_pad="SAME_UPPER")
    assert _op_types("AveragePool", [X], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                     ceil_mode=1, strides=[2, 2]) == ["OnnxPool"]


def test_constant_batch_norm_folds_into_one_multiply_add():
    assert _op_types("BatchNormalization", [X, Init(f32(3)), Init(f32(3)), Init(f32(3)),
                                            Init(np.abs(f32(3)))]) == ["Mul", "AddV2"]


def test_three_d_conv_uses_the_extension_op():
    assert _op_types("Conv", [f32(1, 2, 3, 3, 3), Init(f32(2, 2, 1, 1, 1))]) == ["OnnxConv"]


def test_lp_normalization_of_other_orders_is_refused():
    with pytest.raises(NotSupported, match="not supported: LpNormalization p=3"):
        import_one_node("LpNormalization", [X], p=3)


def test_unknown_resize_mode_is_refused():
    with pytest.raises(NotSupported, match="Resize mode 'area'"):
        import_one_node("Resize", [XS, None, np.array([1, 1, 2, 2], np.float32)], mode="area")


def test_resize_to_a_huge_size_is_refused_before_allocating():
    scales = np.array([1, 1, 1e9, 1e9], np.float32)
    result = import_one_node("Resize", [XS, None, scales], mode="linear")
    inputs = dict(result.inputs)
    with gf.Session(result.graph) as sess, pytest.raises(LimitExceeded, match="OnnxResize"):
        sess.run(result.outputs[0][1], {inputs["in0"]: XS, inputs["in2"]: scales})


def test_pool_with_huge_pads_is_refused_before_allocating():
    result = import_one_node("AveragePool", [X], kernel_shape=[3, 3], ceil_mode=1,
                             pads=[10 ** 6, 10 ** 6, 10 ** 6, 10 ** 6])
    with gf.Session(result.graph) as sess, pytest.raises(LimitExceeded):
        sess.run(result.outputs[0][1], {result.inputs[0][1]: X})
