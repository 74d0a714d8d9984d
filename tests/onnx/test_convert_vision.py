"""The vision and quantized converters (gcc_flow/onnx/ops/vision.py, the 3-D, integer and
quantized convolutions of conv.py, QLinearMatMul, TensorScatter, training Dropout): one-node
ONNX models run by gcc-flow and compared with onnxruntime or onnx's reference implementation."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

pytest.importorskip("onnxruntime")

from onnx_convert_check import Init, compare, import_one_node  # noqa: E402

import gcc_flow as gf  # noqa: E402

RNG = np.random.default_rng(5)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def u8(*shape):
    return RNG.integers(0, 255, shape).astype(np.uint8)


X = f32(2, 3, 6, 5)
GRID = RNG.uniform(-1.2, 1.2, (2, 4, 3, 2)).astype(np.float32)
BOXES = np.array([[[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, -0.1, 1, 0.9], [0, 10, 1, 11],
                   [0, 10.1, 1, 11.1], [0, 100, 1, 101]]], np.float32)
SCORES = np.array([[[0.9, 0.75, 0.6, 0.95, 0.5, 0.3], [0.1, 0.9, 0.3, 0.2, 0.8, 0.4]]],
                  np.float32)
TOL = {"rtol": 1e-4, "atol": 1e-4}
BOOL_MASK = (onnx.TensorProto.FLOAT, onnx.TensorProto.BOOL)

CASES = [
    ("grid_sample_bilinear_zeros", "GridSample", [X, GRID], {"opset": 16}),
    ("grid_sample_nearest_border", "GridSample", [X, GRID],
     {"mode": "nearest", "padding_mode": "border", "opset": 16}),
    ("grid_sample_cubic_reflection", "GridSample", [X, GRID],
     {"mode": "bicubic", "padding_mode": "reflection", "align_corners": 1, "opset": 16}),
    ("grid_sample_linear_20", "GridSample", [X, GRID], {"mode": "linear", "opset": 20}),
    ("affine_grid_2d", "AffineGrid", [f32(2, 2, 3), np.array([2, 3, 4, 5], np.int64)],
     {"opset": 20, "reference": True}),
    ("affine_grid_3d_corners", "AffineGrid", [f32(1, 3, 4), np.array([1, 1, 2, 3, 4], np.int64)],
     {"opset": 20, "align_corners": 1, "reference": True}),
    ("roi_align_avg", "RoiAlign",
     [X, np.array([[0, 0, 4, 3], [1, 1.5, 3.2, 4.8]], np.float32), np.array([0, 1], np.int64)],
     {"output_height": 2, "output_width": 3, "sampling_ratio": 2, "spatial_scale": 0.9,
      "opset": 16}),
    ("roi_align_max_adaptive", "RoiAlign",
     [X, np.array([[0.5, 0, 4, 5], [1, 1, 3, 3]], np.float32), np.array([1, 0], np.int64)],
     {"output_height": 3, "output_width": 2, "mode": "max", "opset": 16}),
    ("nms", "NonMaxSuppression", [BOXES, SCORES, np.array([3], np.int64),
                                  np.array([0.5], np.float32), np.array([0.0], np.float32)], {}),
    ("nms_center_no_threshold", "NonMaxSuppression",
     [BOXES[:, :, [1, 0, 3, 2]], SCORES, np.array([2], np.int64)], {"center_point_box": 1}),
    ("max_unpool", "MaxUnpool", [np.array([[[[1, 2], [3, 4]]]], np.float32),
                                 np.array([[[[5, 7], [13, 15]]]], np.int64)],
     {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ("col2im", "Col2Im", [f32(1, 6, 9), np.array([5, 4], np.int64), np.array([2, 3], np.int64)],
     {"pads": [1, 0, 0, 1], "strides": [2, 1], "reference": True}),
    ("deform_conv", "DeformConv", [f32(1, 4, 5, 5), f32(2, 2, 2, 2), f32(1, 16, 4, 4) * 0.7,
                                   f32(2), RNG.uniform(0, 1, (1, 8, 4, 4)).astype(np.float32)],
     {"group": 2, "offset_group": 2, "opset": 19, "reference": True}),
    ("conv_3d", "Conv", [f32(1, 2, 5, 4, 6), Init(f32(3, 2, 3, 2, 3)), Init(f32(3))],
     {"pads": [1, 0, 1, 1, 0, 1], "strides": [2, 1, 1]}),
    ("conv_3d_groups_same", "Conv", [f32(1, 4, 5, 4, 6), f32(2, 2, 3, 3, 3)],
     {"group": 2, "auto_pad": "SAME_UPPER", "strides": [2, 2, 1]}),
    ("conv_integer", "ConvInteger", [u8(1, 3, 5, 5), u8(2, 3, 3, 3), np.uint8(12),
                                     np.uint8(120)], {"pads": [1, 1, 1, 1]}),
    ("qlinear_matmul", "QLinearMatMul",
     [u8(2, 4), np.float32(0.05), np.uint8(113), u8(4, 3), np.float32(0.02), np.uint8(114),
      np.float32(0.3), np.uint8(118)], {"opset": 10}),
    ("qlinear_conv", "QLinearConv",
     [u8(1, 2, 4, 4), np.float32(0.05), np.uint8(100), u8(3, 2, 2, 2),
      np.array([0.02, 0.03, 0.01], np.float32), np.uint8(110), np.float32(0.2), np.uint8(120),
      Init(np.array([5, -20, 40], np.int32))], {"opset": 10}),
    ("tensor_scatter_circular", "TensorScatter",
     [f32(2, 3, 5, 4), f32(2, 3, 3, 4), np.array([1, 4], np.int64)],
     {"mode": "circular", "opset": 24, "reference": True}),
]


@pytest.mark.parametrize("op_type, inputs, attrs", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_matches_the_reference(op_type, inputs, attrs):
    attrs = {**TOL, **attrs}
    compare(op_type, inputs, n_outputs=attrs.pop("n_outputs", 1), opset=attrs.pop("opset", 22),
            **attrs)


def _run(result, feeds: dict) -> list:
    by_name = dict(result.inputs)
    with gf.Session(result.graph) as sess:
        return sess.run([t for _, t in result.outputs],
                        {by_name[f"in{i}"]: v for i, v in feeds.items()})


def test_training_dropout_is_reproducible_from_its_seed():
    x = f32(3, 4)
    result = import_one_node("Dropout", [x, np.float32(0.4), np.bool_(True)], n_outputs=2,
                             out_types=BOOL_MASK, seed=3)
    out, mask = _run(result, {0: x, 1: np.float32(0.4), 2: np.bool_(True)})
    expected_mask = np.random.RandomState(3).uniform(0, 1, x.shape) >= 0.4
    np.testing.assert_array_equal(mask, expected_mask)
    np.testing.assert_allclose(out, x * expected_mask / 0.6, rtol=1e-6)
    again = _run(result, {0: x, 1: np.float32(0.4), 2: np.bool_(True)})
    np.testing.assert_array_equal(again[1], mask)


def test_dropout_outside_training_mode_is_the_identity():
    x = f32(3, 4)
    result = import_one_node("Dropout", [x, np.float32(0.4), np.bool_(False)], n_outputs=2,
                             out_types=BOOL_MASK)
    out, mask = _run(result, {0: x, 1: np.float32(0.4), 2: np.bool_(False)})
    np.testing.assert_array_equal(out, x)
    assert mask.dtype == np.bool_ and mask.all()
