"""gf.nn: the graphs it builds (ops and attrs as TensorFlow writes them), their values, and its
errors. The TF fixtures mlp, cnn and depthwise are rebuilt with gf.nn from their own weights
and must reproduce TensorFlow's structure and outputs."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

import gcc_flow as gf
from gcc_flow.linalg_ops import matmul
from schema.errors import ValidationError
from schema.io import read_graph_def
from schema.serde import graph_from_graph_def
from tests.conftest import run_graph

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures" / "tf"
WINDOW_ATTRS = ("T", "strides", "padding", "explicit_paddings", "data_format", "dilations",
                "ksize", "transpose_a", "transpose_b")


def fixture(name: str):
    graph = graph_from_graph_def(read_graph_def(FIXTURES / f"{name}.pb"))
    return graph, np.load(FIXTURES / f"{name}.npz")


def weight(graph, name: str) -> np.ndarray:
    return graph.node(name).attrs["value"]


def assert_same_nodes(ours, theirs, names) -> None:
    for name in names:
        a, b = ours.node(name), theirs.node(name)
        assert a.op == b.op, name
        assert {k: v for k, v in a.attrs.items() if k in WINDOW_ATTRS} == \
               {k: v for k, v in b.attrs.items() if k in WINDOW_ATTRS}, name
        assert a.out_shapes == b.out_shapes, name


# -- fixtures rebuilt -------------------------------------------------------------------------

def test_mlp_rebuilt_matches_tensorflow():
    tf_graph, data = fixture("mlp")
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 8], name="x")
        h = x
        for layer, act in (("dense1", gf.nn.relu), ("dense2", None)):
            with gf.name_scope(layer):
                h = matmul(h, weight(tf_graph, f"{layer}/kernel"), name="matmul")
                h = gf.nn.bias_add(h, weight(tf_graph, f"{layer}/bias"), name="bias_add")
                h = act(h, name="relu") if act else h
        gf.nn.softmax(h, name="probs")
    assert_same_nodes(g.ir, tf_graph, ["dense1/matmul", "dense1/bias_add", "dense1/relu",
                                       "dense2/matmul", "probs"])
    probs, relu = run_graph(g, ["probs:0", "dense1/relu:0"], {"x:0": data["feed_0"]})
    np.testing.assert_allclose(probs, data["fetch_1"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(relu, data["fetch_2"], rtol=1e-5, atol=1e-7)


def test_cnn_rebuilt_matches_tensorflow():
    tf_graph, data = fixture("cnn")
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2, 16, 16, 3], name="x")
        with gf.name_scope("conv1"):
            c1 = gf.nn.conv2d(x, weight(tf_graph, "conv1/kernel"), 1, "SAME", name="conv")
            c1 = gf.nn.relu6(gf.nn.bias_add(c1, weight(tf_graph, "conv1/bias"),
                                            name="bias_add"), name="relu6")
        p = gf.nn.max_pool2d(c1, 2, 2, "VALID", name="maxpool")
        with gf.name_scope("conv2"):
            c2 = gf.nn.conv2d(p, weight(tf_graph, "conv2/kernel"), [2, 2], "VALID", name="conv")
            c2 = gf.nn.relu(gf.nn.bias_add(c2, weight(tf_graph, "conv2/bias"),
                                           name="bias_add"), name="relu")
        gf.nn.avg_pool2d(c2, 3, 1, "SAME", name="avgpool")
    assert_same_nodes(g.ir, tf_graph, ["conv1/conv", "conv1/relu6", "maxpool", "conv2/conv",
                                       "conv2/relu", "avgpool"])
    outs = run_graph(g, ["conv1/relu6:0", "conv2/relu:0", "avgpool:0"], {"x:0": data["feed_0"]})
    for got, key in zip(outs, ["fetch_1", "fetch_2", "fetch_3"]):
        np.testing.assert_allclose(got, data[key], rtol=1e-5, atol=1e-6)


def test_depthwise_rebuilt_matches_tensorflow():
    tf_graph, data = fixture("depthwise")
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2, 9, 9, 3], name="x")
        s2 = gf.nn.depthwise_conv2d(x, weight(tf_graph, "dw1_kernel"), [1, 2, 2, 1], "SAME",
                                    name="dw_same_s2")
        d2 = gf.nn.depthwise_conv2d(x, weight(tf_graph, "dw2_kernel"), [1, 1, 1, 1], "VALID",
                                    dilations=[2, 2], name="dw_valid_d2")
        chain = gf.nn.depthwise_conv2d_native(s2, weight(tf_graph, "dw3_kernel"), 1, "SAME",
                                              name="dw_chain_same_even")
    assert d2.op.type == "DepthwiseConv2dNative"
    assert d2.op.get_attr("dilations") == [1, 2, 2, 1]
    outs = run_graph(g, [s2.name, d2.name, chain.name], {"x:0": data["feed_0"]})
    for got, key in zip(outs, ["fetch_0", "fetch_1", "fetch_2"]):
        np.testing.assert_allclose(got, data[key], rtol=1e-5, atol=1e-6)


# -- attrs the wrappers write --------------------------------------------------------------------

@pytest.mark.parametrize("strides,fmt,expected", [
    (2, "NHWC", [1, 2, 2, 1]), ([3], "NHWC", [1, 3, 3, 1]), ([2, 3], "NHWC", [1, 2, 3, 1]),
    ([2, 3], "NCHW", [1, 1, 2, 3]), ([1, 1, 2, 2], "NCHW", [1, 1, 2, 2]),
])
def test_conv2d_stride_forms(strides, fmt, expected):
    g = gf.Graph()
    with g.as_default():
        shape = [1, 8, 8, 3] if fmt == "NHWC" else [1, 3, 8, 8]
        y = gf.nn.conv2d(gf.placeholder(gf.float32, shape), np.zeros((3, 3, 3, 4), np.float32),
                         strides, "SAME", data_format=fmt)
    assert y.op.get_attr("strides") == expected
    assert y.op.get_attr("dilations") == [1, 1, 1, 1]


def test_conv2d_explicit_padding_pairs():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [1, 3, 8, 8])
        y = gf.nn.conv2d(x, np.zeros((3, 3, 3, 4), np.float32), 1,
                         [[0, 0], [0, 0], [1, 2], [3, 0]], data_format="NCHW")
    assert y.op.get_attr("padding") == "EXPLICIT"
    assert y.op.get_attr("explicit_paddings") == [0, 0, 0, 0, 1, 2, 3, 0]
    assert y.shape == (1, 4, 9, 9)


@pytest.mark.parametrize("build,match", [
    (lambda x, w: gf.nn.conv2d(x, w, [1, 0, 1, 1], "SAME"), "strides must be > 0"),
    (lambda x, w: gf.nn.conv2d(x, w, 0, "VALID"), "strides must be > 0"),
    (lambda x, w: gf.nn.conv2d(x, w[:, :, :2], 1, "SAME"), "not a multiple"),
    (lambda x, w: gf.nn.conv2d(x, w, 1, [[1, 0], [0, 0], [0, 0], [0, 0]]), "batch and channel"),
    (lambda x, w: gf.nn.conv2d(x, w, 1, [[0, 0], [1, 1]]), "4 \\[before, after\\] pairs"),
    (lambda x, w: gf.nn.conv2d(x, w, [1, 2, 3], "SAME"), "1, 2 or 4"),
    (lambda x, w: gf.nn.depthwise_conv2d(x, w, [1, 2, 2, 1], "SAME", dilations=2),
     "must be 1 when dilations"),
    (lambda x, w: gf.nn.max_pool2d(x, [1, 2, 2, 2], 1, "SAME"), "batch and depth"),
    (lambda x, w: gf.nn.avg_pool2d(x, 2, 1, [[0, 0], [1, 1], [1, 1], [0, 0]]), "SAME"),
])
def test_bad_arguments_fail_at_build_time(build, match):
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [1, 6, 6, 3])
        with pytest.raises(ValidationError, match=match):
            build(x, np.zeros((3, 3, 3, 4), np.float32))
        assert {op.type for op in g.get_operations()} <= {"Placeholder", "Const"}


# -- values ---------------------------------------------------------------------------------

def test_pools_and_activations_values():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1) - 8
    g = gf.Graph()
    with g.as_default():
        t = gf.constant(x)
        outs = [gf.nn.max_pool(t, 2, 2, "VALID"), gf.nn.avg_pool(t, 2, 2, "VALID"),
                gf.nn.relu(t), gf.nn.relu6(t), gf.nn.leaky_relu(t, 0.5), gf.nn.elu(t)]
    maxp, avgp, relu, relu6, leaky, elu = run_graph(g, [o.name for o in outs])
    np.testing.assert_array_equal(maxp[0, :, :, 0], [[-3, -1], [5, 7]])
    np.testing.assert_array_equal(avgp[0, :, :, 0], [[-5.5, -3.5], [2.5, 4.5]])
    np.testing.assert_array_equal(relu, np.maximum(x, 0))
    np.testing.assert_array_equal(relu6, np.clip(x, 0, 6))
    np.testing.assert_array_equal(leaky, np.where(x > 0, x, 0.5 * x))
    np.testing.assert_allclose(elu, np.where(x > 0, x, np.expm1(x)), rtol=1e-6)


@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_softmax_along_any_axis(rng, axis):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    g = gf.Graph()
    with g.as_default():
        s = gf.nn.softmax(gf.constant(x), axis=axis)
        ls = gf.nn.log_softmax(gf.constant(x), axis=axis)
    assert s.shape == (3, 4)
    got, got_log = run_graph(g, [s.name, ls.name])
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    ref = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    np.testing.assert_allclose(got_log, np.log(ref), rtol=1e-5, atol=1e-6)


def test_bias_add_channel_first():
    x = np.zeros((2, 3, 2, 2), np.float32)
    g = gf.Graph()
    with g.as_default():
        y = gf.nn.bias_add(x, np.array([1, 2, 3], np.float32), data_format="NCHW")
    assert y.op.get_attr("data_format") == "NCHW"
    np.testing.assert_array_equal(run_graph(g, y.name)[0, :, 0, 0], [1, 2, 3])


def test_fused_batch_norm_inference_and_training(rng):
    x = rng.standard_normal((2, 3, 3, 4)).astype(np.float32)
    scale, offset = np.full(4, 2.0, np.float32), np.full(4, 0.5, np.float32)
    mean, var = np.arange(4, dtype=np.float32), np.full(4, 4.0, np.float32)
    g = gf.Graph()
    with g.as_default():
        y, m, v = gf.nn.fused_batch_norm(x, scale, offset, mean, var, epsilon=0.0,
                                         is_training=False)
        yt, mt, vt = gf.nn.fused_batch_norm(x, scale, offset)
    assert y.op.type == "FusedBatchNormV3" and y.op.get_attr("epsilon") == pytest.approx(1.001e-5)
    assert yt.op.get_attr("is_training") is True and yt.shape == (2, 3, 3, 4) and mt.shape == (4,)
    got = run_graph(g, [y.name, m.name, v.name, yt.name, mt.name, vt.name])
    np.testing.assert_allclose(got[0], (x - mean) / np.sqrt(4 + 1.001e-5) * 2 + 0.5, rtol=1e-5)
    np.testing.assert_array_equal(got[1], mean)
    np.testing.assert_array_equal(got[2], var)
    flat = x.reshape(-1, 4).astype(np.float64)
    np.testing.assert_allclose(got[3], (x - flat.mean(0)) / np.sqrt(flat.var(0) + 0.001) * 2
                               + 0.5, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[4], flat.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[5], flat.var(0) * 18 / 17, rtol=1e-5)


def test_fused_batch_norm_inference_needs_statistics():
    g = gf.Graph()
    with g.as_default(), pytest.raises(ValidationError, match="mean"):
        gf.nn.fused_batch_norm(np.zeros((1, 2, 2, 3), np.float32), np.ones(3), np.zeros(3),
                               is_training=False)


def test_batch_normalization_formula(rng):
    x = rng.standard_normal((5, 3)).astype(np.float32)
    mean, var = x.mean(0), x.var(0)
    g = gf.Graph()
    with g.as_default():
        y = gf.nn.batch_normalization(x, mean, var, offset=1.0, scale=3.0, variance_epsilon=1e-3)
        z = gf.nn.batch_normalization(x, mean, var, None, None, 1e-3)
    got_y, got_z = run_graph(g, [y.name, z.name])
    np.testing.assert_allclose(got_y, (x - mean) / np.sqrt(var + 1e-3) * 3 + 1, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(got_z, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-5, atol=1e-6)


def test_conv2d_transpose_is_the_adjoint_of_conv2d(rng):
    x = rng.standard_normal((1, 7, 7, 2)).astype(np.float64)
    w = rng.standard_normal((3, 3, 2, 4)).astype(np.float64)
    g = gf.Graph()
    with g.as_default():
        y = gf.nn.conv2d(x, w, 2, "SAME")
        dy = gf.constant(rng.standard_normal((1, 4, 4, 4)))
        dx = gf.nn.conv2d_transpose(dy, w, [1, 7, 7, 2], 2, "SAME")
    assert y.shape == (1, 4, 4, 4) and dx.shape == (1, 7, 7, 2)
    got_y, got_dy, got_dx = run_graph(g, [y.name, dy.name, dx.name])
    np.testing.assert_allclose(np.vdot(got_y, got_dy), np.vdot(x, got_dx), rtol=1e-10)
