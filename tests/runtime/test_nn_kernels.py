"""NN and linear-algebra kernels against numpy references written here: activations, softmax,
BiasAdd, MatMul, BatchMatMulV2, FusedBatchNorm*, SpaceToBatchND, BatchToSpaceND.

Each op runs through the whole path (IR -> GraphDef -> runtime.load -> Session.run), and the
statically inferred shape is checked against the kernel's actual output shape.
"""
from __future__ import annotations

import itertools
import math

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import runtime
from schema.dtypes import DType
from schema.errors import ExecutionError, GccFlowError, ValidationError
from schema.ir import Graph, TensorRef
from schema.registry import get_op
from schema.serde import graph_to_graph_def


def run_op(op_type: str, inputs, attrs=None, feed: bool = False):
    """Runs one ``op_type`` node on numpy ``inputs`` (Consts, or unknown-shape Placeholders when
    ``feed``); returns (outputs, statically inferred output shapes)."""
    g = Graph()
    refs, feeds = [], {}
    for i, value in enumerate(inputs):
        value = np.asarray(value)
        dtype = DType.from_numpy(value.dtype)
        if feed:
            node = g.add_node("Placeholder", f"in{i}", attrs={"dtype": dtype, "shape": None},
                              infer=False)
            feeds[f"in{i}:0"] = value
        else:
            node = g.add_node("Const", f"in{i}", attrs={"value": value, "dtype": dtype},
                              infer=False)
        refs.append(TensorRef(node, 0))
    attrs = dict(attrs or {})
    if "T" in get_op(op_type).attrs and "T" not in attrs:
        attrs["T"] = DType.from_numpy(np.asarray(inputs[0]).dtype)
    g.add_node(op_type, "op", inputs=refs, attrs=attrs, infer=False)
    sess = runtime.load(graph_to_graph_def(g))
    node = sess.graph.node("op")
    outs = sess.run([f"op:{i}" for i in range(len(node.out_types))], feeds)
    return outs, node.out_shapes


def run1(op_type: str, inputs, attrs=None, feed: bool = False) -> np.ndarray:
    (out,), (shape,) = run_op(op_type, inputs, attrs, feed)
    if shape is not None:
        assert all(s is None or s == d for s, d in zip(shape, out.shape)) and len(shape) == out.ndim
    return out


# -- activations ---------------------------------------------------------------------------------

SELU_SCALE, SELU_ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
X = np.array([[-50.0, -3.0, -0.5, -1e-4, 0.0], [1e-4, 0.5, 3.0, 6.5, 50.0]], np.float32)

ACTIVATION_REFS = {
    "Relu": lambda x: np.where(x > 0, x, 0),
    "Relu6": lambda x: np.minimum(np.where(x > 0, x, 0), 6),
    "Elu": lambda x: np.array([v if v > 0 else math.exp(v) - 1 for v in x.flat]).reshape(x.shape),
    "Selu": lambda x: np.array([SELU_SCALE * v if v > 0 else SELU_SCALE * SELU_ALPHA *
                                (math.exp(v) - 1) for v in x.flat]).reshape(x.shape),
    "Softplus": lambda x: np.array([math.log1p(math.exp(v)) if v < 30 else v
                                    for v in x.flat]).reshape(x.shape),
}


@pytest.mark.parametrize("op_type", sorted(ACTIVATION_REFS))
def test_activation_matches_reference(op_type):
    out = run1(op_type, [X])
    assert out.dtype == np.float32 and out.shape == X.shape
    np.testing.assert_allclose(out, ACTIVATION_REFS[op_type](X.astype(np.float64)),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("alpha", [0.2, 0.01, 1.5])
def test_leaky_relu(alpha):
    out = run1("LeakyRelu", [X], {"alpha": alpha})
    np.testing.assert_allclose(out, np.where(X > 0, X, alpha * X), rtol=1e-6)


def test_leaky_relu_default_alpha_is_tensorflows():
    assert get_op("LeakyRelu").attrs["alpha"].default == pytest.approx(0.2)
    np.testing.assert_allclose(run1("LeakyRelu", [X]), np.where(X > 0, X, 0.2 * X), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.int32, np.int8, np.uint8, np.int64])
def test_relu_family_on_integers_keeps_dtype(dtype):
    x = np.array([-7, -1, 0, 3, 6, 9, 100], np.int64)
    x = np.clip(x, np.iinfo(dtype).min, np.iinfo(dtype).max).astype(dtype)
    assert run1("Relu", [x]).dtype == dtype
    np.testing.assert_array_equal(run1("Relu", [x]), np.maximum(x, 0))
    np.testing.assert_array_equal(run1("Relu6", [x]), np.clip(x, 0, 6))


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
def test_narrow_float_activations_round_once(dtype):
    x = np.array([-2.5, -0.25, 0.0, 0.75, 7.0], dtype)
    ref = ACTIVATION_REFS["Elu"](x.astype(np.float64)).astype(dtype)
    out = run1("Elu", [x])
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.astype(np.float32), ref.astype(np.float32))


def test_softplus_is_stable_at_extremes():
    x = np.array([-1000.0, -100.0, 100.0, 1000.0], np.float32)
    out = run1("Softplus", [x])
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [0.0, math.exp(-100.0), 100.0, 1000.0], rtol=1e-6, atol=1e-42)


# -- softmax ---------------------------------------------------------------------------------

def softmax_ref(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4)])
def test_softmax_and_log_softmax_over_last_axis(rng, shape):
    x = rng.standard_normal(shape).astype(np.float32) * 4
    np.testing.assert_allclose(run1("Softmax", [x]), softmax_ref(x), rtol=1e-5)
    np.testing.assert_allclose(run1("LogSoftmax", [x]), np.log(softmax_ref(x)), rtol=1e-5,
                               atol=1e-6)


def test_softmax_is_numerically_stable():
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.0, -1000.0]], np.float32)
    out = run1("Softmax", [x])
    np.testing.assert_allclose(out[0], softmax_ref(np.array([0.0, 1.0, 2.0])), rtol=1e-6)
    np.testing.assert_allclose(out[1], [1 / 3] * 3, rtol=1e-6)
    assert np.all(np.isfinite(run1("LogSoftmax", [x])))


def test_softmax_of_a_scalar_is_refused_at_build_time():
    with pytest.raises(ValidationError, match="at least rank 1"):
        run1("Softmax", [np.float32(1.0)])


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                  elements=st.floats(-30, 30)))
def test_softmax_rows_sum_to_one(x):
    out = run1("Softmax", [x])
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(out, softmax_ref(x), rtol=1e-10)


# -- BiasAdd ---------------------------------------------------------------------------------------

def test_bias_add_nhwc_and_nchw(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    b5, b3 = np.arange(5, dtype=np.float32), np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(run1("BiasAdd", [x, b5]), x + b5)
    np.testing.assert_array_equal(run1("BiasAddV1", [x, b5]), x + b5)
    ref = x + b3[None, :, None, None]
    np.testing.assert_array_equal(run1("BiasAdd", [x, b3], {"data_format": "NCHW"}), ref)


def test_bias_add_rank2_and_int():
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    np.testing.assert_array_equal(run1("BiasAdd", [x, np.array([10, 20, 30], np.int32)]),
                                  x + [10, 20, 30])


@pytest.mark.parametrize("shape,bias,fmt,match", [
    ((2, 3), (4,), "NHWC", "dimensions must be equal"),
    ((2, 3), (3,), "NCHW", "at least rank 3"),
    ((4,), (4,), "NHWC", "at least rank 2"),
    ((2, 3), (1, 3), "NHWC", "rank 1"),
])
def test_bias_add_bad_shapes_fail_at_build_time(shape, bias, fmt, match):
    with pytest.raises(ValidationError, match=match):
        run1("BiasAdd", [np.zeros(shape, np.float32), np.zeros(bias, np.float32)],
             {"data_format": fmt})


def test_bias_add_mismatch_with_unknown_shapes_fails_at_run_time():
    with pytest.raises(ExecutionError, match="channel dimension"):
        run1("BiasAdd", [np.zeros((2, 3), np.float32), np.zeros(4, np.float32)], feed=True)


# -- MatMul, BatchMatMulV2 ---------------------------------------------------------------------

def matmul_ref(a, b):
    out = np.zeros((a.shape[0], b.shape[1]), np.result_type(a, b))
    for i, j in itertools.product(range(a.shape[0]), range(b.shape[1])):
        out[i, j] = sum(a[i, k] * b[k, j] for k in range(a.shape[1]))
    return out


@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
def test_matmul_transposes(rng, ta, tb):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    out = run1("MatMul", [a.T.copy() if ta else a, b.T.copy() if tb else b],
               {"transpose_a": ta, "transpose_b": tb})
    assert out.shape == (3, 5)
    np.testing.assert_allclose(out, matmul_ref(a, b), rtol=1e-12)


def test_matmul_int32_and_half():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    b = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    out = run1("MatMul", [a, b])
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, matmul_ref(a, b))
    h = run1("MatMul", [a.astype(np.float16), b.astype(np.float16)])
    assert h.dtype == np.float16
    np.testing.assert_array_equal(h, matmul_ref(a, b).astype(np.float16))


def test_matmul_inner_mismatch_fails_at_build_time():
    with pytest.raises(ValidationError, match="inner dimensions.*3 and 4"):
        run1("MatMul", [np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32)])
    with pytest.raises(ValidationError, match="rank 2"):
        run1("MatMul", [np.zeros((2, 2, 3), np.float32), np.zeros((3, 5), np.float32)])


def test_matmul_inner_mismatch_with_unknown_shapes_fails_at_run_time():
    with pytest.raises(ExecutionError, match="size-incompatible"):
        run1("MatMul", [np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32)], feed=True)


@pytest.mark.parametrize("adj_x,adj_y", list(itertools.product([False, True], repeat=2)))
def test_batch_matmul_broadcasts_and_adjoints(rng, adj_x, adj_y):
    x = rng.standard_normal((2, 1, 3, 4)) + 1j * rng.standard_normal((2, 1, 3, 4))
    y = rng.standard_normal((5, 4, 6)) + 1j * rng.standard_normal((5, 4, 6))
    xin = np.conj(np.swapaxes(x, -1, -2)) if adj_x else x
    yin = np.conj(np.swapaxes(y, -1, -2)) if adj_y else y
    out = run1("BatchMatMulV2", [xin.copy(), yin.copy()], {"adj_x": adj_x, "adj_y": adj_y})
    assert out.shape == (2, 5, 3, 6)
    for i, j in itertools.product(range(2), range(5)):
        np.testing.assert_allclose(out[i, j], matmul_ref(x[i, 0], y[j]), rtol=1e-12)


@pytest.mark.parametrize("x,y,match", [
    ((2, 3, 4), (3, 5, 6), "inner dimensions"),
    ((2, 3, 4), (3, 4, 6), "cannot be broadcast"),
    ((4,), (4, 2), "at least rank 2"),
])
def test_batch_matmul_bad_shapes(x, y, match):
    with pytest.raises(ValidationError, match=match):
        run1("BatchMatMulV2", [np.zeros(x, np.float32), np.zeros(y, np.float32)])


# -- FusedBatchNorm --------------------------------------------------------------------------

def bn_params(rng, c):
    return (rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32),
            rng.standard_normal(c).astype(np.float32),
            (rng.random(c) + 0.5).astype(np.float32))


@pytest.mark.parametrize("op_type", ["FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"])
@pytest.mark.parametrize("fmt", ["NHWC", "NCHW"])
def test_fused_batch_norm_inference(rng, op_type, fmt):
    scale, offset, mean, var = bn_params(rng, 5)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    xin = x if fmt == "NHWC" else x.transpose(0, 3, 1, 2).copy()
    attrs = {"is_training": False, "epsilon": 0.01, "data_format": fmt}
    if op_type != "FusedBatchNorm":
        attrs["U"] = DType.FLOAT
    outs, shapes = run_op(op_type, [xin, scale, offset, mean, var], attrs)
    ref = (x - mean) / np.sqrt(var + 0.01) * scale + offset
    np.testing.assert_allclose(outs[0], ref if fmt == "NHWC" else ref.transpose(0, 3, 1, 2),
                               rtol=1e-5, atol=1e-6)
    for got, want in zip(outs[1:5], [mean, var, mean, var]):
        np.testing.assert_array_equal(got, want)
    assert shapes[:5] == [xin.shape] + [(5,)] * 4
    assert len(outs) == (6 if op_type == "FusedBatchNormV3" else 5)


@pytest.mark.parametrize("factor", [1.0, 0.25])
def test_fused_batch_norm_training_uses_batch_statistics(rng, factor):
    scale, offset, mean, var = bn_params(rng, 3)
    x = rng.standard_normal((4, 2, 2, 3)).astype(np.float32) * 3 + 1
    if factor == 1.0:
        mean = var = np.zeros(0, np.float32)   # TF allows empty running stats then
    outs, _ = run_op("FusedBatchNormV3", [x, scale, offset, mean, var],
                     {"U": DType.FLOAT, "epsilon": 0.001, "exponential_avg_factor": factor})
    flat = x.reshape(-1, 3).astype(np.float64)
    bm, bv = flat.mean(axis=0), flat.var(axis=0)
    unbiased = bv * 16 / 15
    np.testing.assert_allclose(outs[0], (x - bm) / np.sqrt(bv + 0.001) * scale + offset,
                               rtol=1e-4, atol=1e-5)
    run_mean = bm if factor == 1.0 else (1 - factor) * mean + factor * bm
    run_var = unbiased if factor == 1.0 else (1 - factor) * var + factor * unbiased
    np.testing.assert_allclose(outs[1], run_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[2], run_var, rtol=1e-5)
    np.testing.assert_allclose(outs[3], bm, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[4], bv, rtol=1e-5)
    assert outs[5].shape == (0,)


def test_fused_batch_norm_half_input():
    x = np.linspace(-2, 2, 24, dtype=np.float16).reshape(1, 2, 3, 4)
    ones, zeros = np.ones(4, np.float32), np.zeros(4, np.float32)
    outs, _ = run_op("FusedBatchNormV3", [x, ones * 2, zeros + 1, zeros, ones],
                     {"U": DType.FLOAT, "is_training": False, "epsilon": 0.0})
    assert outs[0].dtype == np.float16 and outs[1].dtype == np.float32
    np.testing.assert_array_equal(outs[0], (x.astype(np.float32) * 2 + 1).astype(np.float16))


def test_fused_batch_norm_channel_mismatch_fails_at_build_time(rng):
    scale, offset, mean, var = bn_params(rng, 4)
    with pytest.raises(ValidationError, match="scale length"):
        run_op("FusedBatchNormV3", [np.zeros((1, 2, 2, 3), np.float32), scale, offset, mean,
                                    var], {"U": DType.FLOAT, "is_training": False})
    with pytest.raises(ValidationError, match="rank 4"):
        run_op("FusedBatchNormV3", [np.zeros((2, 4), np.float32), scale, offset, mean, var],
               {"U": DType.FLOAT, "is_training": False})


# -- SpaceToBatchND, BatchToSpaceND ------------------------------------------------------------

def space_to_batch_ref(x, block, pads):
    """TensorFlow's definition, element by element, for two spatial dims."""
    padded = np.pad(x, [(0, 0), tuple(pads[0]), tuple(pads[1])] + [(0, 0)] * (x.ndim - 3))
    b0, b1 = block
    out = np.zeros((x.shape[0] * b0 * b1, padded.shape[1] // b0, padded.shape[2] // b1)
                   + x.shape[3:], x.dtype)
    for ob in range(out.shape[0]):
        offset, b = divmod(ob, x.shape[0])
        o0, o1 = divmod(offset, b1)
        for i, j in itertools.product(range(out.shape[1]), range(out.shape[2])):
            out[ob, i, j] = padded[b, i * b0 + o0, j * b1 + o1]
    return out


@pytest.mark.parametrize("shape,block,pads", [
    ((2, 4, 6, 3), [2, 2], [[0, 0], [0, 0]]),
    ((2, 5, 7, 3), [2, 3], [[1, 0], [0, 2]]),
    ((2, 3, 4, 3), [1, 2], [[2, 2], [1, 1]]),
])
def test_space_to_batch_matches_definition_and_round_trips(rng, shape, block, pads):
    x = rng.standard_normal(shape).astype(np.float32)
    block_np, pads_np = np.array(block, np.int32), np.array(pads, np.int32)
    out = run1("SpaceToBatchND", [x, block_np, pads_np])
    np.testing.assert_array_equal(out, space_to_batch_ref(x, block, pads))
    back = run1("BatchToSpaceND", [out, block_np, pads_np])
    np.testing.assert_array_equal(back, x)


def test_space_to_batch_one_block_dim_int64():
    x = np.arange(2 * 6 * 2, dtype=np.int32).reshape(2, 6, 2)
    out = run1("SpaceToBatchND", [x, np.array([3], np.int64), np.array([[1, 2]], np.int64)],
               {"Tblock_shape": DType.INT64, "Tpaddings": DType.INT64})
    padded = np.pad(x, [(0, 0), (1, 2), (0, 0)])
    ref = np.concatenate([padded[:, o::3] for o in range(3)], axis=0)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("op_type,x,block,pairs,match", [
    ("SpaceToBatchND", (1, 5, 4, 1), [2, 2], [[0, 0], [0, 0]], "not divisible"),
    ("SpaceToBatchND", (1, 4, 4, 1), [0, 2], [[0, 0], [0, 0]], "positive"),
    ("SpaceToBatchND", (1, 4, 4, 1), [2, 2], [[-2, 0], [0, 0]], "non-negative"),
    ("SpaceToBatchND", (1, 4, 4, 1), [2, 2], [[0, 0]], r"shape \[2, 2\]"),
    ("BatchToSpaceND", (3, 2, 2, 1), [2, 2], [[0, 0], [0, 0]], "not divisible"),
    ("BatchToSpaceND", (4, 2, 2, 1), [2, 2], [[3, 2], [0, 0]], "exceed"),
    ("BatchToSpaceND", (4, 2), [2, 2], [[0, 0], [0, 0]], "input rank"),
    ("SpaceToBatchND", (1, 4, 4, 1), [2 ** 32, 1], [[0, 0], [0, 0]], "not divisible"),
])
def test_space_batch_bad_arguments_fail_at_build_time(op_type, x, block, pairs, match):
    with pytest.raises(ValidationError, match=match):
        run1(op_type, [np.zeros(x, np.float32), np.array(block, np.int64),
                       np.array(pairs, np.int64).reshape(-1, 2)],
             {"Tblock_shape": DType.INT64,
              ("Tpaddings" if op_type == "SpaceToBatchND" else "Tcrops"): DType.INT64})


def test_space_to_batch_huge_padding_hits_the_byte_budget():
    with pytest.raises(GccFlowError, match="limit"):
        run1("SpaceToBatchND", [np.zeros((1, 2, 2, 1), np.float32), np.array([1, 1], np.int64),
                                np.array([[2 ** 40, 0], [0, 0]], np.int64)],
             {"Tblock_shape": DType.INT64, "Tpaddings": DType.INT64}, feed=True)
