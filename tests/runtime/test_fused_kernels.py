"""Kernels of _FusedConv2D, _FusedDepthwiseConv2dNative and _FusedMatMul against the same
computation written with the plain ops, plus the declarations' checks."""
from __future__ import annotations

import numpy as np
import pytest

import gcc_flow as gf
import runtime
from gcc_flow.framework import apply_op
from schema.errors import ExecutionError, ValidationError

CONV = {"strides": [1, 1, 1, 1], "padding": "SAME"}


def _run(g, fetches, feeds):
    return runtime.load(g.as_graph_def()).run(fetches, feeds)


def _fused(op, x, w, args, fused_ops, name="fused", **attrs):
    inputs = [x, w, list(args)] + ([[]] if op == "_FusedConv2D" else [])
    return apply_op(op, inputs, {"num_args": len(args), "fused_ops": fused_ops, **attrs},
                    name=name)


_REFERENCE_ACTIVATIONS = {
    "Relu": gf.nn.relu, "Relu6": gf.nn.relu6, "Elu": gf.nn.elu, "Tanh": gf.nn.tanh,
    "Sigmoid": gf.nn.sigmoid, "LeakyRelu": lambda t: gf.nn.leaky_relu(t, alpha=0.1),
}


@pytest.mark.parametrize("activation", [None] + sorted(_REFERENCE_ACTIVATIONS))
def test_fused_conv2d_bias_activation(rng, activation):
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2, 7, 7, 3], name="x")
        w = gf.constant(rng.normal(size=(3, 3, 3, 5)).astype(np.float32))
        b = gf.constant(rng.normal(size=5).astype(np.float32))
        ops = ["BiasAdd"] + ([activation] if activation else [])
        _fused("_FusedConv2D", x, w, [b], ops, leakyrelu_alpha=0.1, **CONV)
        ref = gf.nn.bias_add(gf.nn.conv2d(x, w, 1, "SAME"), b)
        ref = _REFERENCE_ACTIVATIONS[activation](ref) if activation else ref
    feeds = {"x:0": rng.normal(size=(2, 7, 7, 3)).astype(np.float32)}
    got, want = _run(g, ["fused:0", ref.name], feeds)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_fused_conv2d_batch_norm_nchw_explicit(rng):
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [1, 3, 6, 6], name="x")
        w = gf.constant(rng.normal(size=(3, 3, 3, 4)).astype(np.float32))
        params = [gf.constant(rng.uniform(0.5, 2, 4).astype(np.float32)) for _ in range(4)]
        pads = [0, 0, 0, 0, 1, 2, 0, 1]
        _fused("_FusedConv2D", x, w, params, ["FusedBatchNorm", "Relu"], epsilon=0.01,
               strides=[1, 1, 2, 1], padding="EXPLICIT", explicit_paddings=pads,
               data_format="NCHW")
        conv = gf.nn.conv2d(x, w, [1, 1, 2, 1], [[0, 0], [0, 0], [1, 2], [0, 1]],
                            data_format="NCHW")
        y, _, _ = gf.nn.fused_batch_norm(conv, *params, epsilon=0.01, data_format="NCHW",
                                         is_training=False)
        ref = gf.nn.relu(y)
    feeds = {"x:0": rng.normal(size=(1, 3, 6, 6)).astype(np.float32)}
    got, want = _run(g, ["fused:0", ref.name], feeds)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_fused_depthwise_with_multiplier(rng):
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [1, 8, 8, 3], name="x")
        w = gf.constant(rng.normal(size=(3, 3, 3, 2)).astype(np.float32))
        b = gf.constant(rng.normal(size=6).astype(np.float32))
        _fused("_FusedDepthwiseConv2dNative", x, w, [b], ["BiasAdd", "Relu6"],
               strides=[1, 2, 2, 1], padding="VALID")
        ref = gf.nn.relu6(gf.nn.bias_add(
            gf.nn.depthwise_conv2d_native(x, w, 2, "VALID"), b))
    feeds = {"x:0": rng.normal(size=(1, 8, 8, 3)).astype(np.float32) * 3}
    got, want = _run(g, ["fused:0", ref.name], feeds)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [gf.float32, gf.float16, gf.bfloat16])
def test_fused_matmul_transposed(rng, dtype):
    g = gf.Graph()
    with g.as_default():
        a = gf.placeholder(dtype, [6, 4], name="a")
        b = gf.constant(rng.normal(size=(3, 6)).astype(dtype.np))
        c = gf.constant(rng.normal(size=3).astype(dtype.np))
        _fused("_FusedMatMul", a, b, [c], ["BiasAdd", "Elu"], transpose_a=True,
               transpose_b=True)
        wide = [gf.cast(t, gf.float32) for t in (a, b, c)]
        ref = gf.nn.elu(gf.nn.bias_add(gf.matmul(wide[0], wide[1], transpose_a=True,
                                                 transpose_b=True), wide[2]))
    feeds = {"a:0": rng.normal(size=(6, 4)).astype(dtype.np)}
    got, want = _run(g, ["fused:0", ref.name], feeds)
    assert got.dtype == dtype.np and got.shape == (4, 3)
    tol = 1e-6 if dtype == gf.float32 else 2e-2  # rounded once, from float32
    np.testing.assert_allclose(got.astype(np.float32), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("fused_ops,num_args,message", [
    (["Relu"], 1, "must start with"),
    (["BiasAdd", "Relu", "Relu"], 1, "only one activation"),
    (["BiasAdd", "Softmax"], 1, "only one activation"),
    (["BiasAdd"], 2, "takes 1 args"),
])
def test_bad_fused_ops_are_refused_when_built(rng, fused_ops, num_args, message):
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [1, 4, 4, 3])
        w = gf.constant(np.ones((1, 1, 3, 2), np.float32))
        args = [gf.constant(np.ones(2, np.float32))] * num_args
        with pytest.raises(ValidationError, match=message):
            _fused("_FusedConv2D", x, w, args, fused_ops, **CONV)


def test_depthwise_does_not_take_batch_norm_and_bias_must_match_channels():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [1, 4, 4, 3])
        w = gf.constant(np.ones((1, 1, 3, 1), np.float32))
        with pytest.raises(ValidationError, match="must start with"):
            _fused("_FusedDepthwiseConv2dNative", x, w,
                   [gf.constant(np.ones(3, np.float32))] * 4, ["FusedBatchNorm"], **CONV)
        with pytest.raises(ValidationError, match="vector of the output's 3 channels"):
            _fused("_FusedDepthwiseConv2dNative", x, w, [gf.constant(np.ones(4, np.float32))],
                   ["BiasAdd"], **CONV)


def test_runtime_checks_bias_length_and_filter_format():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [1, 4, 4, 3], name="x")
        w = gf.constant(np.ones((1, 1, 3, 2), np.float32))
        bias = gf.placeholder(gf.float32, None, name="bias")
        _fused("_FusedConv2D", x, w, [bias], ["BiasAdd"], name="bad_bias", **CONV)
        _fused("_FusedConv2D", x, w, [gf.constant(np.ones(2, np.float32))], ["BiasAdd"],
               name="oihw", filter_format="OIHW", **CONV)
    sess = runtime.load(g.as_graph_def())
    feeds = {"x:0": np.ones((1, 4, 4, 3), np.float32), "bias:0": np.ones(3, np.float32)}
    with pytest.raises(ExecutionError, match="bad_bias.*vector of the output's 2 channels"):
        sess.run(["bad_bias:0"], feeds)
    with pytest.raises(ExecutionError, match="oihw.*filter_format"):
        sess.run(["oihw:0"], feeds)
