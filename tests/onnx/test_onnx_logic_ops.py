"""Comparisons, logic, Where, IsNaN/IsInf, bitwise ops and Cast/CastLike against onnx's
reference; Cast's float8 saturation checked by hand."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto, helper

from gcc_flow.onnx import NotSupported
from onnx_reference_check import check

A = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
B = np.array([3, 2, 1], np.int32)


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
@pytest.mark.parametrize("dtype", [np.int32, np.float32, np.uint8, np.int64])
def test_comparisons(op, dtype):
    check(helper.make_node(op, ["a", "b"], ["c"]), {"a": A.astype(dtype), "b": B.astype(dtype)})


def test_equal_on_bools_and_strings():
    check(helper.make_node("Equal", ["a", "b"], ["c"]),
          {"a": np.array([True, False]), "b": np.array([True, True])})


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logic(op):
    a = np.array([[True, False], [True, True]])
    check(helper.make_node(op, ["a", "b"], ["c"]), {"a": a, "b": np.array([False, True])})


def test_not_and_where():
    a = np.array([True, False, True])
    check(helper.make_node("Not", ["a"], ["c"]), {"a": a})
    check(helper.make_node("Where", ["c", "x", "y"], ["o"]),
          {"c": a, "x": np.float32([1, 2, 3]), "y": np.float32([[9], [8]])})


@pytest.mark.parametrize("positive, negative", [(1, 1), (1, 0), (0, 1), (0, 0)])
def test_is_inf_flags(positive, negative):
    x = np.array([np.inf, -np.inf, np.nan, 1.0, -1.0], np.float32)
    check(helper.make_node("IsInf", ["x"], ["y"], detect_positive=positive,
                           detect_negative=negative), {"x": x})
    check(helper.make_node("IsNaN", ["x"], ["y"]), {"x": x})


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_bit_shift(dtype, direction):
    x, y = np.array([16, 4, 1], dtype), np.array([1, 2, 3], dtype)
    check(helper.make_node("BitShift", ["x", "y"], ["z"], direction=direction), {"x": x, "y": y})


@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int32, np.uint64])
def test_bitwise(op, dtype):
    x, y = np.array([[12, 10], [3, 0]], dtype), np.array([10, 6], dtype)
    check(helper.make_node(op, ["x", "y"], ["z"]), {"x": x, "y": y})
    check(helper.make_node("BitwiseNot", ["x"], ["z"]), {"x": x})


@pytest.mark.parametrize("src, dst", [
    (np.float32, TensorProto.INT32), (np.float64, TensorProto.FLOAT16),
    (np.int64, TensorProto.UINT8), (np.float32, TensorProto.BOOL),
    (np.bool_, TensorProto.FLOAT), (np.float32, TensorProto.BFLOAT16),
    (np.float32, TensorProto.INT4), (np.int32, TensorProto.FLOAT8E5M2),
])
def test_cast(src, dst):
    x = np.array([-2.7, -0.5, 0, 0.5, 1.9, 3.0]).astype(src)
    check(helper.make_node("Cast", ["x"], ["y"], to=dst), {"x": x})


@pytest.mark.parametrize("dst, largest", [(TensorProto.FLOAT8E4M3FN, 448.0),
                                          (TensorProto.FLOAT8E5M2, 57344.0)])
def test_cast_float8_saturates_by_default(dst, largest):
    x = np.array([1e6, -1e6, np.inf, -np.inf, np.nan, 0.3], np.float32)
    y = check(helper.make_node("Cast", ["x"], ["y"], to=dst), {"x": x})["y"]
    as_float = y.astype(np.float32)
    np.testing.assert_array_equal(as_float[:4], [largest, -largest, largest, -largest])
    assert np.isnan(as_float[4])


def test_cast_float8_without_saturation_overflows():
    x = np.array([1e6, np.inf, 0.3], np.float32)
    node = helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT8E4M3FN, saturate=0)
    y = check(node, {"x": x})["y"].astype(np.float32)
    assert np.isnan(y[0]) and np.isnan(y[1])  # e4m3fn has no infinity: overflow is NaN
    assert y[2] == np.float32(ml_dtypes.float8_e4m3fn(0.3))


def test_cast_like():
    check(helper.make_node("CastLike", ["x", "t"], ["y"]),
          {"x": np.float32([1.7, -2.2]), "t": np.array([0], np.int16)})


def test_cast_to_string_is_not_supported():
    node = helper.make_node("Cast", ["x"], ["y"], to=TensorProto.STRING)
    with pytest.raises(NotSupported, match="not supported: Cast from float32 to string"):
        check(node, {"x": np.float32([1.0])})
