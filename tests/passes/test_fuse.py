"""fuse: contraction + bias + activation fusion, batch-norm folding, Pad folding.

Each test builds a graph with the frontend, runs the pass, checks the structure that matters,
validates, compares outputs with the original graph on random feeds, and checks that a second
run changes nothing.
"""
from __future__ import annotations

import numpy as np
import pytest

import gcc_flow as gf
import passes
from gcc_flow.framework import apply_op
from runtime.check import check_equivalent
from schema.serde import graph_from_graph_def
from schema.tensors import to_numpy
from schema.validate import validate


def _fuse(g, fetches, rtol=1e-5, atol=1e-6, pipeline=("fuse",)):
    graph_def = g.as_graph_def() if hasattr(g, "as_graph_def") else g
    out, report = passes.optimize(graph_def, fetches=fetches, pipeline=list(pipeline))
    validate(graph_from_graph_def(out))
    result = check_equivalent(graph_def, out, fetches, trials=2, rtol=rtol, atol=atol)
    assert result.ok, result.first_mismatch
    again, second = passes.optimize(out, fetches=fetches, pipeline=list(pipeline))
    assert not any(run.modified for run in second.runs), "a second run changed the graph"
    assert again == out
    return {n.name: n for n in out.node}, report.rewrites().get("fuse", {})


def _ops(nodes) -> list:
    return sorted(n.op for n in nodes.values())


def _fused_ops(node) -> list:
    return [s.decode() for s in node.attr["fused_ops"].list.s]


def _value(nodes, ref: str) -> np.ndarray:
    return to_numpy(nodes[ref.split(":")[0]].attr["value"].tensor)


def _const(rng, *shape, dtype=np.float32):
    return gf.constant(rng.normal(size=shape).astype(dtype))


def _conv_input(shape=(2, 6, 6, 3), dtype=gf.float32):
    return gf.placeholder(dtype, list(shape), name="x")


# -- bias + activation -----------------------------------------------------------------------

ACTIVATIONS = [(gf.nn.relu, "Relu"), (gf.nn.relu6, "Relu6"), (gf.nn.elu, "Elu"),
               (lambda t, name: gf.nn.leaky_relu(t, alpha=0.3, name=name), "LeakyRelu")]


@pytest.mark.parametrize("act,name", ACTIVATIONS, ids=[a[1] for a in ACTIVATIONS])
def test_conv_bias_activation(rng, act, name):
    g = gf.Graph()
    with g.as_default(), gf.device("/device:CPU:0"):
        w, b = _const(rng, 3, 3, 3, 4), _const(rng, 4)
        act(gf.nn.bias_add(gf.nn.conv2d(_conv_input(), w, 1, "SAME"), b), name="y")
    nodes, stats = _fuse(g, ["y:0"])
    assert _ops(nodes) == ["Const", "Const", "Placeholder", "_FusedConv2D"]
    y = nodes["y"]
    assert y.op == "_FusedConv2D" and _fused_ops(y) == ["BiasAdd", name]
    assert y.device == "/device:CPU:0" and y.attr["num_args"].i == 1
    assert list(y.input) == ["x", w.op.name, b.op.name]  # the bias Const is reused
    if name == "LeakyRelu":
        assert y.attr["leakyrelu_alpha"].f == pytest.approx(0.3)
    assert stats == {"conv_bias_activation": 1}


def test_depthwise_bias_relu6_nchw(rng):
    g = gf.Graph()
    with g.as_default():
        x = _conv_input((1, 3, 7, 7))
        w, b = _const(rng, 3, 3, 3, 2), _const(rng, 6)
        conv = gf.nn.depthwise_conv2d_native(x, w, [1, 1, 2, 2], "VALID", data_format="NCHW")
        gf.nn.relu6(gf.nn.bias_add(conv, b, data_format="NCHW"), name="y")
    nodes, stats = _fuse(g, ["y:0"])
    assert nodes["y"].op == "_FusedDepthwiseConv2dNative"
    assert _fused_ops(nodes["y"]) == ["BiasAdd", "Relu6"]
    assert stats == {"conv_bias_activation": 1}


def test_depthwise_leaves_leaky_relu_as_tensorflow_has_no_such_kernel(rng):
    g = gf.Graph()
    with g.as_default():
        conv = gf.nn.depthwise_conv2d_native(_conv_input(), _const(rng, 3, 3, 3, 1), 1, "SAME")
        gf.nn.leaky_relu(gf.nn.bias_add(conv, _const(rng, 3), name="b"), name="y")
    nodes, _ = _fuse(g, ["y:0"])
    assert nodes["y"].op == "LeakyRelu" and _fused_ops(nodes["b"]) == ["BiasAdd"]


def test_matmul_bias_relu_and_add_of_vector_constant(rng):
    g = gf.Graph()
    with g.as_default():
        a = gf.placeholder(gf.float32, [None, 5], name="a")
        w, c = _const(rng, 3, 5), _const(rng, 3)
        gf.nn.relu(gf.add(gf.matmul(a, w, transpose_b=True), c), name="y")
    nodes, stats = _fuse(g, ["y:0"])
    y = nodes["y"]
    assert y.op == "_FusedMatMul" and _fused_ops(y) == ["BiasAdd", "Relu"]
    assert y.attr["transpose_b"].b and list(y.input) == ["a", w.op.name, c.op.name]
    assert stats == {"matmul_bias_activation": 1}


def test_fused_node_extends_with_a_later_activation(rng):
    g = gf.Graph()
    with g.as_default():
        w, b = _const(rng, 3, 3, 3, 4), _const(rng, 4)
        fused = apply_op("_FusedConv2D", [_conv_input(), w, [b], []],
                         {"num_args": 1, "fused_ops": ["BiasAdd"], "strides": [1, 1, 1, 1],
                          "padding": "SAME"}, name="conv")
        gf.nn.elu(fused, name="y")
    nodes, _ = _fuse(g, ["y:0"])
    assert "conv" not in nodes and _fused_ops(nodes["y"]) == ["BiasAdd", "Elu"]


# -- batch normalization -------------------------------------------------------------------

def _bn_params(rng, c):
    return (rng.uniform(0.5, 2, c).astype(np.float32), rng.normal(size=c).astype(np.float32),
            rng.normal(size=c).astype(np.float32), rng.uniform(0.5, 2, c).astype(np.float32))


def test_fused_batch_norm_folds_into_conv_weights(rng):
    g = gf.Graph()
    with g.as_default():
        w = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
        scale, offset, mean, var = _bn_params(rng, 4)
        conv = gf.nn.conv2d(_conv_input(), gf.constant(w), 2, "SAME")
        y, _, _ = gf.nn.fused_batch_norm(conv, scale, offset, mean, var, epsilon=1e-3,
                                         is_training=False, name="bn")
        gf.nn.relu(y, name="y")
    nodes, stats = _fuse(g, ["y:0"], rtol=1e-4, atol=1e-4)
    assert _ops(nodes) == ["Const", "Const", "Placeholder", "_FusedConv2D"]
    y = nodes["y"]
    assert _fused_ops(y) == ["BiasAdd", "Relu"]
    a = scale / np.sqrt(var.astype(np.float64) + 1e-3)
    np.testing.assert_allclose(_value(nodes, y.input[1]), w * a, rtol=1e-6)
    np.testing.assert_allclose(_value(nodes, y.input[2]), offset - mean * a, rtol=1e-5,
                               atol=1e-6)
    assert stats == {"conv_bias_activation": 1, "batchnorm_folded": 1}


def test_keras_mul_add_decomposition_folds_into_depthwise(rng):
    g = gf.Graph()
    with g.as_default():
        w = rng.normal(size=(3, 3, 3, 2)).astype(np.float32)
        s, t = rng.uniform(0.5, 2, 6).astype(np.float32), rng.normal(size=6).astype(np.float32)
        conv = gf.nn.depthwise_conv2d_native(_conv_input(), gf.constant(w), 1, "SAME")
        gf.nn.relu6(gf.add(gf.multiply(conv, s), t), name="y")
    nodes, stats = _fuse(g, ["y:0"], rtol=1e-4, atol=1e-4)
    y = nodes["y"]
    assert y.op == "_FusedDepthwiseConv2dNative" and _fused_ops(y) == ["BiasAdd", "Relu6"]
    np.testing.assert_allclose(_value(nodes, y.input[1]), w * s.reshape(3, 2), rtol=1e-6)
    assert "Mul" not in _ops(nodes) and "AddV2" not in _ops(nodes)
    assert stats == {"conv_bias_activation": 1, "batchnorm_folded": 1}


def test_sub_div_sub_after_bias_add_compose(rng):
    g = gf.Graph()
    with g.as_default():
        w, b = _const(rng, 1, 1, 3, 4), rng.normal(size=4).astype(np.float32)
        conv = gf.nn.bias_add(gf.nn.conv2d(_conv_input(), w, 1, "VALID"), b)
        scaled = gf.divide(gf.subtract(conv, rng.normal(size=(1, 1, 4)).astype(np.float32)),
                           np.float32([1.5, 2, -1, 4]))
        gf.subtract(rng.normal(size=4).astype(np.float32), scaled, name="y")
    nodes, stats = _fuse(g, ["y:0"], rtol=1e-4, atol=1e-4)
    assert _ops(nodes) == ["Const", "Const", "Placeholder", "_FusedConv2D"]
    assert _fused_ops(nodes["y"]) == ["BiasAdd"]


def test_matmul_scale_folds_into_transposed_b(rng):
    g = gf.Graph()
    with g.as_default():
        a = gf.placeholder(gf.float32, [4, 5], name="a")
        w = rng.normal(size=(3, 5)).astype(np.float32)
        gf.multiply(gf.matmul(a, gf.constant(w), transpose_b=True), np.float32([1, 2, 3]),
                    name="y")
    nodes, stats = _fuse(g, ["y:0"], rtol=1e-5, atol=1e-5)
    assert nodes["y"].op == "MatMul"  # only a scale: no fused op needed
    np.testing.assert_allclose(_value(nodes, nodes["y"].input[1]), w * [[1], [2], [3]])
    assert stats == {"batchnorm_folded": 1}


def test_non_constant_batch_norm_params_use_tensorflows_fused_form(rng):
    g = gf.Graph()
    with g.as_default():
        w = _const(rng, 3, 3, 3, 4)
        scale = gf.placeholder(gf.float32, [4], name="scale")
        _, offset, mean, var = _bn_params(rng, 4)
        y, _, _ = gf.nn.fused_batch_norm(gf.nn.conv2d(_conv_input(), w, 1, "SAME"), scale,
                                         offset, mean, var, is_training=False)
        gf.nn.relu6(y, name="y")
    nodes, stats = _fuse(g, ["y:0"], rtol=1e-4, atol=1e-4)
    y = nodes["y"]
    assert _fused_ops(y) == ["FusedBatchNorm", "Relu6"] and y.input[1] == w.op.name
    assert y.attr["num_args"].i == 4 and y.input[2] == "scale"
    assert stats == {"conv_bias_activation": 1, "conv_batchnorm": 1}


def test_batch_norm_after_depthwise_with_placeholder_filter_is_left(rng):
    g = gf.Graph()
    with g.as_default():
        w = gf.placeholder(gf.float32, [3, 3, 3, 1], name="w")
        conv = gf.nn.depthwise_conv2d_native(_conv_input(), w, 1, "SAME")
        gf.nn.fused_batch_norm(conv, *_bn_params(rng, 3), is_training=False, name="bn")
    nodes, stats = _fuse(g, ["bn:0"])
    assert "FusedBatchNormV3" in _ops(nodes) and stats == {}


# -- what must not be fused ------------------------------------------------------------------

def test_batch_norm_with_a_fetched_statistic_is_kept(rng):
    g = gf.Graph()
    with g.as_default():
        conv = gf.nn.conv2d(_conv_input(), _const(rng, 3, 3, 3, 4), 1, "SAME")
        y, _, _ = gf.nn.fused_batch_norm(conv, *_bn_params(rng, 4), is_training=False,
                                         name="bn")
        gf.nn.relu(y, name="y")
    nodes, stats = _fuse(g, ["y:0", "bn:1"])
    assert nodes["bn"].op == "FusedBatchNormV3" and stats == {}


def _conv_bias_relu(rng, dtype=gf.float32, np_dtype=np.float32):
    x = _conv_input(dtype=dtype)
    w, b = _const(rng, 3, 3, 3, 4, dtype=np_dtype), _const(rng, 4, dtype=np_dtype)
    conv = gf.nn.conv2d(x, w, 1, "SAME", name="conv")
    return gf.nn.relu(gf.nn.bias_add(conv, b, name="bias"), name="y")


def test_fetched_intermediate_ends_the_chain(rng):
    g = gf.Graph()
    with g.as_default():
        _conv_bias_relu(rng)
    nodes, _ = _fuse(g, ["y:0", "bias:0"])
    assert nodes["bias"].op == "_FusedConv2D" and _fused_ops(nodes["bias"]) == ["BiasAdd"]
    assert nodes["y"].op == "Relu" and "conv" not in nodes
    nodes, stats = _fuse(g, ["y:0", "conv:0"])
    assert nodes["conv"].op == "Conv2D" and stats == {}


def test_intermediate_with_another_user_is_not_fused(rng):
    g = gf.Graph()
    with g.as_default():
        y = _conv_bias_relu(rng)
        gf.add(y.op.inputs[0].op.inputs[0], 1.0, name="z")  # conv read twice
    nodes, stats = _fuse(g, ["y:0", "z:0"])
    assert nodes["bias"].op == "BiasAdd" and stats == {}


def test_integer_and_bfloat16_convolutions_are_not_fused(rng):
    for dtype, np_dtype in ((gf.int32, np.int32), (gf.bfloat16, gf.bfloat16.np)):
        g = gf.Graph()
        with g.as_default():
            x = _conv_input(dtype=dtype)
            w = gf.constant(rng.integers(-2, 3, (3, 3, 3, 4)).astype(np_dtype))
            b = gf.constant(rng.integers(-2, 3, 4).astype(np_dtype))
            gf.nn.relu(gf.nn.bias_add(gf.nn.conv2d(x, w, 1, "SAME"), b), name="y")
        nodes, stats = _fuse(g, ["y:0"], rtol=1e-2)
        assert "Conv2D" in _ops(nodes) and stats == {}


def test_half_convolution_is_fused(rng):
    g = gf.Graph()
    with g.as_default():
        _conv_bias_relu(rng, gf.float16, np.float16)
    nodes, _ = _fuse(g, ["y:0"], rtol=1e-2, atol=1e-2)
    assert nodes["y"].op == "_FusedConv2D" and nodes["y"].attr["T"].type == gf.float16


def test_nodes_on_different_devices_are_not_fused(rng):
    g = gf.Graph()
    with g.as_default():
        with gf.device("/device:CPU:0"):
            conv = gf.nn.conv2d(_conv_input(), _const(rng, 3, 3, 3, 4), 1, "SAME")
        with gf.device("/device:CPU:1"):
            gf.nn.bias_add(conv, _const(rng, 4), name="y")
    nodes, stats = _fuse(g, ["y:0"])
    assert nodes["y"].op == "BiasAdd" and stats == {}


def test_control_edges_move_to_the_fused_node(rng):
    g = gf.Graph()
    with g.as_default():
        gate = gf.placeholder(gf.float32, [], name="gate")
        with gf.control_dependencies([gate]):
            y = _conv_bias_relu(rng)
        with gf.control_dependencies([y.op.inputs[0].op]):
            gf.identity(gf.constant(1.0), name="after")
    nodes, _ = _fuse(g, ["y:0", "after:0"])
    assert "^gate" in nodes["y"].input and "^y" in nodes["after"].input


# -- Pad ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("pads,padding", [
    ([[0, 0], [1, 1], [1, 1], [0, 0]], "SAME"),
    ([[0, 0], [2, 0], [0, 3], [0, 0]], "EXPLICIT"),
])
def test_zero_pad_folds_into_conv(rng, pads, padding):
    g = gf.Graph()
    with g.as_default():
        x = gf.pad(_conv_input(), pads)
        gf.nn.conv2d(x, _const(rng, 3, 3, 3, 4), 1, "VALID", name="y")
    nodes, stats = _fuse(g, ["y:0"])
    assert "Pad" not in _ops(nodes) and nodes["y"].attr["padding"].s.decode() == padding
    assert stats == {"pad_folded": 1}


def test_depthwise_takes_only_same_equivalent_pads(rng):
    g = gf.Graph()
    with g.as_default():
        x = _conv_input((1, 8, 8, 3))
        w = _const(rng, 3, 3, 3, 1)
        gf.nn.depthwise_conv2d_native(gf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]), w, 2,
                                      "VALID", name="same")
        gf.nn.depthwise_conv2d_native(gf.pad(x, [[0, 0], [2, 2], [0, 1], [0, 0]]), w, 2,
                                      "VALID", name="other")
    nodes, stats = _fuse(g, ["same:0", "other:0"])
    assert nodes["same"].attr["padding"].s == b"SAME" and nodes["other"].input[0] != "x"
    assert stats == {"pad_folded": 1}


# -- the real model ------------------------------------------------------------------------------

FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "tf"


def test_mobilenet_v2_default_pipeline_folds_every_batch_norm():
    import json

    import runtime
    from schema.io import read_graph_def
    graph_def = read_graph_def(FIXTURES / "mobilenet_v2.pb")
    pipeline = [p for p in passes.DEFAULT_PIPELINE if p in passes.available()]
    out, report = passes.optimize(graph_def, fetches=["Identity:0"], pipeline=pipeline)
    ops = [n.op for n in out.node]
    for gone in ("Rsqrt", "Mul", "Sub", "Pad", "Relu6", "Conv2D", "DepthwiseConv2dNative",
                 "FusedBatchNormV3", "BiasAdd", "MatMul", "Identity", "NoOp"):
        assert gone not in ops, f"{gone} left after fuse"
    counts = {op: ops.count(op) for op in ("_FusedConv2D", "_FusedDepthwiseConv2dNative",
                                           "_FusedMatMul")}
    assert counts == {"_FusedConv2D": 35, "_FusedDepthwiseConv2dNative": 17, "_FusedMatMul": 1}
    assert report.rewrites()["fuse"]["batchnorm_folded"] == 52
    data = np.load(FIXTURES / "mobilenet_v2.npz")
    got = runtime.load(out).run(["Identity:0"], {"input:0": data["feed_0"]})[0]
    np.testing.assert_allclose(got, data["fetch_0"], rtol=1e-4, atol=1e-6)
    grappler = json.loads((FIXTURES / "grappler_count.json").read_text())["nodes_after"]
    print(f"mobilenet_v2: {len(graph_def.node)} -> {len(out.node)} nodes; Grappler: {grappler}")
    assert len(out.node) < grappler
    # No foldable arithmetic is left: a second run of the whole pipeline changes nothing.
    _, second = passes.optimize(out, fetches=["Identity:0"], pipeline=pipeline)
    assert not any(run.modified for run in second.runs)
