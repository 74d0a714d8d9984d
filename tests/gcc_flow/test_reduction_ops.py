"""gf.reduce_* / gf.argmax / gf.argmin: graph structure as TensorFlow writes it, and values."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

import gcc_flow as gf
from schema.dtypes import DType
from schema.errors import ValidationError
from schema.io import read_graph_def
from schema.serde import graph_from_graph_def
from tests.conftest import run_graph

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures" / "tf"


def _node_summary(node):
    attrs = {k: v for k, v in node.attrs.items() if k in ("T", "Tidx", "keep_dims",
                                                          "output_type")}
    return node.op, [f"{r.node.name}:{r.index}" for r in node.inputs], attrs


def test_structure_matches_tensorflow_fixture():
    tf_graph = graph_from_graph_def(read_graph_def(FIXTURES / "reductions.pb"))
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3, 4, 5], name="x")
        xi = gf.placeholder(gf.int32, [3, 4, 5], name="xi")
        mask = gf.placeholder(gf.bool, [3, 4, 5], name="mask")
        gf.reduce_sum(x, axis=1, name="sum_ax1")
        gf.reduce_sum(x, name="sum_all")
        gf.reduce_sum(xi, axis=[-1, 0], keepdims=True, name="sum_i_axm1_0_keep")
        gf.reduce_mean(x, axis=[1, -1], keepdims=True, name="mean_ax1m1_keep")
        gf.reduce_all(mask, axis=[0, 2], keepdims=True, name="all_ax02_keep")
        gf.argmax(x, axis=-1, output_type=gf.int32, name="argmax_axm1")
    ours = g.ir
    for name in ("sum_ax1", "sum_all", "sum_i_axm1_0_keep", "mean_ax1m1_keep",
                 "all_ax02_keep", "argmax_axm1"):
        op, inputs, attrs = _node_summary(ours.nodes[name])
        tf_op, tf_inputs, tf_attrs = _node_summary(tf_graph.nodes[name])
        assert (op, attrs, inputs[0]) == (tf_op, tf_attrs, tf_inputs[0]), name
        ours_axis = ours.nodes[inputs[1][:-2]].attrs["value"]
        tf_axis = tf_graph.nodes[tf_inputs[1][:-2]].attrs["value"]
        np.testing.assert_array_equal(ours_axis, tf_axis)
        assert ours_axis.dtype == tf_axis.dtype
        assert ours.nodes[name].out_shapes == tf_graph.nodes[name].out_shapes, name
    assert "sum_ax1/reduction_indices" in ours.nodes and "argmax_axm1/dimension" in ours.nodes
    assert ours.nodes["sum_all"].inputs[1].node.name == "Const"


def test_values_match_numpy(rng):
    x_value = rng.normal(size=(2, 3, 4)).astype(np.float32)
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 3, 4], name="x")
        fetches = [gf.reduce_sum(x, axis=[0, -1]), gf.reduce_mean(x, keepdims=True),
                   gf.reduce_max(x, axis=1), gf.reduce_min(x, axis=-2, keepdims=True),
                   gf.reduce_prod(x, axis=[]), gf.reduce_any(x > 0.0, axis=2),
                   gf.reduce_all(x > -10.0), gf.argmax(x, axis=2), gf.argmin(x),
                   gf.reduce_euclidean_norm(x, axis=1)]
    got = run_graph(g, fetches, {"x:0": x_value})
    want = [x_value.sum((0, 2)), x_value.mean(keepdims=True), x_value.max(1),
            x_value.min(1, keepdims=True), x_value, (x_value > 0).any(2),
            (x_value > -10).all(), x_value.argmax(2), x_value.argmin(0),
            np.sqrt((x_value ** 2).sum(1))]
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.shape == b.shape, i
        np.testing.assert_allclose(a, b, rtol=1e-5, err_msg=str(i))
    assert got[7].dtype == np.int64 and fetches[7].dtype == DType.INT64


def test_unknown_rank_with_axis_none_reduces_everything():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.int32, None, name="x")
        total = gf.reduce_sum(x)
    assert total.op.inputs[1].op.type == "Range"
    value = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert run_graph(g, total, {"x:0": value}) == 66
    assert run_graph(g, total, {"x:0": np.int32(5)}) == 5


def test_axis_as_a_tensor_and_int64_axes():
    g = gf.Graph()
    with g.as_default():
        x = gf.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
        axis = gf.placeholder(gf.int64, [], name="axis")
        out = gf.reduce_max(x, axis=axis)
    assert out.op.get_attr("Tidx") == DType.INT64
    np.testing.assert_array_equal(run_graph(g, out, {"axis:0": np.int64(0)}), [3, 4, 5])


def test_integer_mean_and_variable_input():
    g = gf.Graph()
    with g.as_default():
        v = gf.Variable(np.array([[-7, 2], [5, 4]], np.int32), name="v")
        mean = gf.reduce_mean(v, axis=1)
        init = gf.global_variables_initializer()
    with gf.Session(g) as sess:
        sess.run(init)
        np.testing.assert_array_equal(sess.run(mean), [-2, 4])


def test_bad_axes_raise_validation_errors_naming_the_node():
    g = gf.Graph()
    with g.as_default():
        x = gf.constant(np.ones((2, 3), np.float32))
        with pytest.raises(ValidationError, match="'too_far'"):
            gf.reduce_min(x, axis=2, name="too_far")
        with pytest.raises(ValidationError, match="'vector_dim'.*scalar"):
            gf.argmax(x, axis=[0], name="vector_dim")
        with pytest.raises(ValidationError, match="'arg_far'.*range"):
            gf.argmin(x, axis=-3, name="arg_far")
        with pytest.raises(ValidationError, match="bool"):
            gf.reduce_all(x, name="not_bool")
        with pytest.raises(TypeError, match="integers"):
            gf.reduce_sum(x, axis=0.5)
