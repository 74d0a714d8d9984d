"""QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear and BitCast
(gcc_flow/onnx/ops/quantize.py, schema/ops/onnx_ext_quant.py): one-node ONNX models imported
and run by gcc-flow, compared with onnxruntime (or onnx's reference implementation where
onnxruntime lacks the opset) on random inputs; the TensorFlow ops they become; refusals."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from onnx import TensorProto  # noqa: E402
from onnx_convert_check import (Init, compare, import_one_node, make_model,  # noqa: E402
                                run_reference)

from gcc_flow.framework import Graph, apply_op  # noqa: E402
from gcc_flow.onnx.context import NotSupported, OnnxImportError  # noqa: E402
from runtime.session import Session  # noqa: E402
from schema.dtypes import DType  # noqa: E402
from schema.errors import ValidationError  # noqa: E402

RNG = np.random.default_rng(3)


def f32(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def ops_of(result) -> set[str]:
    return {n.op for n in result.graph.ir.nodes.values()}


# -- QuantizeLinear --------------------------------------------------------------------------

X = f32(2, 3, 4, scale=60.0)
QUANTIZE_CASES = [
    ("uint8_per_tensor", [X, Init(np.float32(0.7)), Init(np.uint8(120))], {}),
    ("int8_per_tensor_fed_params", [X, np.float32(0.9), np.int8(-3)], {}),
    ("uint8_no_zero_point", [X, Init(np.float32(0.5))], {}),
    ("int8_per_axis", [X, Init(np.array([0.5, 1.0, 2.0], np.float32)),
                       Init(np.array([-4, 0, 9], np.int8))], {"axis": 1}),
    ("uint8_per_axis_negative_axis", [X, Init(np.array([0.3, 0.4, 0.5, 0.6], np.float32)),
                                      Init(np.array([1, 50, 128, 250], np.uint8))],
     {"axis": -1}),
    ("int16", [f32(16, scale=3e4), Init(np.float32(2.0)), Init(np.int16(256))], {"opset": 21}),
    ("uint16", [f32(16, scale=3e4), Init(np.float32(2.0)), Init(np.uint16(32767))], {"opset": 21}),
    ("blocked_uneven", [f32(2, 5, scale=20.0), Init(np.abs(f32(2, 3)) + 0.5),
                        Init(np.array([[1, 2, 3], [4, 5, 6]], np.uint8))],
     {"axis": 1, "block_size": 2, "opset": 21}),
    ("int4_per_axis", [f32(3, 4, scale=10.0), Init(np.array([2, 3, 4], np.float32)),
                       Init(np.array([1, -1, 0], ml_dtypes.int4))],
     {"axis": 0, "opset": 21, "reference": True}),
    ("uint4", [f32(3, 4, scale=10.0), Init(np.float32(1.5)),
               Init(np.array(3, ml_dtypes.uint4))], {"opset": 21, "reference": True}),
    ("output_dtype_int16", [f32(6, scale=100.0), Init(np.float32(0.25))],
     {"output_dtype": TensorProto.INT16, "opset": 21}),
]


@pytest.mark.parametrize("case", QUANTIZE_CASES, ids=[c[0] for c in QUANTIZE_CASES])
def test_quantize_linear_matches_onnxruntime(case):
    _, inputs, attrs = case
    compare("QuantizeLinear", inputs, **{"opset": 19, **attrs})


def test_quantize_rounds_half_to_even_and_saturates():
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 1e10, -1e10, 300.0], np.float32)
    (y,) = compare("QuantizeLinear", [x, Init(np.float32(1.0)), Init(np.int8(0))], opset=19)
    np.testing.assert_array_equal(y, [0, 2, 2, 0, -2, 127, -128, 127])


@pytest.mark.parametrize("target", [ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2])
@pytest.mark.parametrize("saturate", [1, 0])
def test_quantize_to_float8(target, saturate):
    """Bit for bit as onnx's reference (out of range: the largest finite value when
    saturating, else what the cast gives: NaN for e4m3fn, infinity for e5m2)."""
    x = np.array([0.0, 1.0, -3.3, 1e6, -1e6, 200.0, 0.013, np.inf], np.float32)
    inputs = [x, Init(np.float32(2.0)), Init(np.zeros(1, target))]
    (got,) = compare("QuantizeLinear", inputs, opset=19, saturate=saturate, check=(),
                     reference=True)
    model, feeds = make_model("QuantizeLinear", inputs, opset=19, saturate=saturate)
    (want,) = run_reference(model, feeds)
    assert got.dtype == want.dtype == target
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
    largest = float(ml_dtypes.finfo(target).max)
    assert (float(got[3]) == largest) == bool(saturate)


def test_quantize_is_built_from_tensorflow_ops():
    result = import_one_node("QuantizeLinear", [X, Init(np.float32(0.7)), Init(np.uint8(1))],
                             out_types=[TensorProto.UINT8])
    assert {"RealDiv", "Round", "ClipByValue", "Cast"} <= ops_of(result)


def test_quantize_refusals():
    with pytest.raises(OnnxImportError, match="output_dtype int8 differs"):
        import_one_node("QuantizeLinear", [X, Init(np.float32(1)), Init(np.uint8(0))],
                        opset=21, output_dtype=TensorProto.INT8, out_types=[TensorProto.UINT8])
    with pytest.raises(OnnxImportError, match="per-axis parameters must be 1-D"):
        import_one_node("QuantizeLinear", [X, Init(np.ones((3, 1), np.float32))],
                        out_types=[TensorProto.UINT8])


# -- DequantizeLinear ------------------------------------------------------------------------

Q = RNG.integers(0, 256, (2, 3, 4)).astype(np.uint8)
DEQUANTIZE_CASES = [
    ("uint8_per_tensor", [Q, Init(np.float32(0.7)), Init(np.uint8(120))], {}),
    ("int8_fed", [Q.astype(np.int8), np.float32(0.3), np.int8(-7)], {}),
    ("int32_no_zero_point", [RNG.integers(-9999, 9999, 5).astype(np.int32),
                             Init(np.float32(0.01))], {}),
    ("per_axis", [Q, Init(np.array([0.5, 1.0, 2.0], np.float32)),
                  Init(np.array([4, 0, 9], np.uint8))], {"axis": 1}),
    ("float16_scale", [Q, Init(np.float16(0.1)), Init(np.uint8(3))], {}),
    ("blocked", [Q, Init(np.abs(f32(2, 3, 2)) + 0.1), Init(np.full((2, 3, 2), 7, np.uint8))],
     {"axis": 2, "block_size": 2, "opset": 21}),
    ("int4", [np.array([-8, -1, 0, 7], ml_dtypes.int4), Init(np.float32(2.0)),
              Init(np.array(1, ml_dtypes.int4))], {"opset": 21, "reference": True}),
    ("float8", [np.array([0, 1.5, -448, 96], ml_dtypes.float8_e4m3fn), Init(np.float32(0.5))],
     {"reference": True}),
]


@pytest.mark.parametrize("case", DEQUANTIZE_CASES, ids=[c[0] for c in DEQUANTIZE_CASES])
def test_dequantize_linear_matches_onnxruntime(case):
    _, inputs, attrs = case
    compare("DequantizeLinear", inputs, **{"opset": 19, **attrs})


def test_dynamic_quantize_linear_expands_into_quantize_linear():
    x = f32(3, 5, scale=4.0)
    compare("DynamicQuantizeLinear", [x], n_outputs=3, opset=11)
    compare("DynamicQuantizeLinear", [np.abs(x)], n_outputs=3, opset=11)


# -- BitCast ---------------------------------------------------------------------------------

BITCAST_CASES = [
    (np.array([1.0, -2.5, 3.75], np.float32), TensorProto.INT32, np.int32),
    (np.array([[1.0, np.pi]], np.float64), TensorProto.UINT64, np.uint64),
    (np.array([-1, -128, 127], np.int8), TensorProto.UINT8, np.uint8),
    (np.array([1, 32768, 65535], np.uint16), TensorProto.FLOAT16, np.float16),
    (np.array([True, False]), TensorProto.UINT8, np.uint8),
    (np.array(7, np.int32), TensorProto.FLOAT, np.float32),
]


@pytest.mark.parametrize("x,to,np_type", BITCAST_CASES,
                         ids=[f"{c[0].dtype}_{c[2].__name__}" for c in BITCAST_CASES])
def test_bitcast_reinterprets_the_bits(x, to, np_type):
    (y,) = compare("BitCast", [x], opset=26, to=to, reference=True)
    assert y.dtype == np_type and y.shape == x.shape
    np.testing.assert_array_equal(y.reshape(-1).view(np.uint8), x.reshape(-1).view(np.uint8))


def test_bitcast_of_another_width_is_refused():
    with pytest.raises(NotSupported, match="BitCast from float32 to int64"):
        import_one_node("BitCast", [np.ones(2, np.float32)], opset=26, to=TensorProto.INT64,
                        out_types=[TensorProto.INT64])


def test_tensorflow_bitcast_changes_the_last_dim_with_the_width():
    g = Graph()
    with g.as_default():
        wide = apply_op("Const", [], {"value": np.array([1.0, -2.0]), "dtype": DType.DOUBLE})
        halves = apply_op("Bitcast", [wide], {"type": DType.INT32})
        narrow = apply_op("Const", [], {"value": np.arange(8, dtype=np.uint8).reshape(2, 4),
                                        "dtype": DType.UINT8})
        words = apply_op("Bitcast", [narrow], {"type": DType.FLOAT})
    assert halves.shape == (2, 2) and words.shape == (2,)
    got_halves, got_words = Session(g.ir).run([halves.name, words.name])
    np.testing.assert_array_equal(got_halves, np.array([1.0, -2.0]).view(np.int32).reshape(2, 2))
    np.testing.assert_array_equal(got_words, np.arange(8, dtype=np.uint8).view(np.float32))
    with g.as_default(), pytest.raises(ValidationError, match="needs a last dim of 4"):
        apply_op("Bitcast", [apply_op("Const", [], {"value": np.zeros(3, np.uint8),
                                                    "dtype": DType.UINT8})], {"type": DType.FLOAT})
