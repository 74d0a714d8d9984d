"""gf.gradients: graph structure, aggregation, stops, unconnected inputs, grad_ys, broadcasting,
variables, and the registry API."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import gcc_flow as gf
from gcc_flow.framework import apply_op
from gcc_flow.gradients import (
    get_gradient_function, gradient_registry, no_gradient_ops, register_gradient,
    register_no_gradient,
)
from schema.errors import GraphError

registry_module = sys.modules["gcc_flow.gradients"]


def _run(graph, fetches, feeds=None):
    sess = gf.Session(graph)
    with graph.as_default():
        sess.run(gf.variables_initializer(graph.get_collection("variables")))
    return sess.run(fetches, feeds or {})


def _types(graph, prefix="gradients"):
    return [op.type for op in graph.get_operations() if op.name.startswith(prefix)]


def test_gradient_ops_live_under_the_gradients_scope():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2], name="x")
        y = gf.nn.relu(x, name="act")
        (dx,) = gf.gradients(y, [x])
        (dx2,) = gf.gradients(y, [x])
    assert dx.name == "gradients/act_grad/ReluGrad:0"
    assert dx2.op.name.startswith("gradients_1/")
    assert g.get_operation_by_name("gradients/grad_ys_0").type == "Fill"
    np.testing.assert_array_equal(_run(g, dx, {x: np.array([-1.0, 2.0])}), [0, 1])


def test_several_paths_are_summed_with_add_n():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float64, [3])
        y = gf.sin(x) * x + x
        (dx,) = gf.gradients(y, x)
    assert "AddN" in _types(g)
    xv = np.array([0.1, 0.5, -2.0])
    np.testing.assert_allclose(_run(g, dx, {x: xv}), np.cos(xv) * xv + np.sin(xv) + 1)


def test_single_x_returns_a_list_and_several_ys_add_up():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float64, [])
        grads = gf.gradients([x * 2.0, x * x], x)
    assert isinstance(grads, list) and len(grads) == 1
    assert _run(g, grads[0], {x: 3.0}) == pytest.approx(2 + 6)


def test_stop_gradient_op_blocks_its_path():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float64, [])
        y = x * x + gf.stop_gradient(x * 5.0)
        (dx,) = gf.gradients(y, [x])
        (none,) = gf.gradients(gf.stop_gradient(x), [x])
    assert _run(g, dx, {x: 2.0}) == pytest.approx(4.0)
    assert none is None


def test_stop_gradients_argument_treats_tensors_as_constants():
    g = gf.Graph()
    with g.as_default():
        a = gf.placeholder(gf.float64, [])
        b = a * 3.0
        y = a + b
        da, db = gf.gradients(y, [a, b], stop_gradients=[b])
    assert _run(g, [da, db], {a: 1.0}) == [pytest.approx(1.0), pytest.approx(1.0)]


def test_unconnected_and_integer_inputs_get_none():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float64, [2])
        other = gf.placeholder(gf.float64, [2])
        n = gf.placeholder(gf.int32, [2])
        y = x * gf.cast(n, gf.float64)
        grads = gf.gradients(y, [other, n, x])
        zeros = gf.gradients(y, [other], unconnected_gradients="zero")
    assert grads[0] is None and grads[1] is None
    assert _run(g, grads[2], {x: [1.0, 1.0], n: [2, 3]}).tolist() == [2.0, 3.0]
    assert _run(g, zeros[0], {x: [1.0, 1.0], n: [2, 3], other: [0.0, 0.0]}).tolist() == [0, 0]


def test_non_differentiable_ops_give_none():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float64, [3])
        y = gf.floor(x) + gf.cast(gf.argmax(x, 0), gf.float64)
        (dx,) = gf.gradients(y, [x])
    assert dx is None


def test_grad_ys_weights_the_outputs():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float64, [2])
        (dx,) = gf.gradients(x * x, [x], grad_ys=[gf.constant([10.0, -1.0], gf.float64)])
        (dx_list,) = gf.gradients([x * x], [x], grad_ys=np.array([1.0, 2.0]))
    np.testing.assert_allclose(_run(g, dx, {x: [1.0, 3.0]}), [20.0, -6.0])
    np.testing.assert_allclose(_run(g, dx_list, {x: [1.0, 3.0]}), [2.0, 12.0])


def test_default_grad_ys_are_ones_of_the_dynamic_shape():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float64, [None])
        (dx,) = gf.gradients(x * 3.0, [x])
    np.testing.assert_allclose(_run(g, dx, {x: np.zeros(4)}), [3.0] * 4)


@pytest.mark.parametrize("x_shape, y_shape", [([None, 3], [3]), ([2, 3], [None, 1, 3]),
                                              ([None, None], [None, None])])
def test_broadcasting_gradients_are_summed_back(x_shape, y_shape, rng):
    g = gf.Graph()
    with g.as_default():
        x, y = gf.placeholder(gf.float64, x_shape), gf.placeholder(gf.float64, y_shape)
        dx, dy = gf.gradients(x * y, [x, y])
    assert "BroadcastGradientArgs" in _types(g)
    xv = rng.standard_normal((2, 3))
    yv = rng.standard_normal((1, 1, 3) if len(y_shape) == 3 else (3,) if y_shape == [3]
                             else (2, 1))
    gx, gy = _run(g, [dx, dy], {x: xv, y: yv})
    ones = np.ones(np.broadcast_shapes(xv.shape, yv.shape))
    np.testing.assert_allclose(gx, (ones * yv).reshape(-1, *xv.shape).sum(0))
    axes = tuple(i for i in range(ones.ndim) if i < ones.ndim - yv.ndim or
                 yv.shape[i - ones.ndim + yv.ndim] == 1)
    np.testing.assert_allclose(gy, (ones * xv).sum(axis=axes).reshape(yv.shape))


def test_equal_static_shapes_need_no_broadcast_reduction():
    g = gf.Graph()
    with g.as_default():
        x, y = gf.placeholder(gf.float32, [2, 3]), gf.placeholder(gf.float32, [2, 3])
        gf.gradients(x * y, [x, y])
    assert "BroadcastGradientArgs" not in _types(g)


def test_resource_variable_gradient_sums_every_read():
    g = gf.Graph()
    with g.as_default():
        w = gf.Variable(np.array([1.0, 2.0]), name="w")
        unused = gf.Variable(np.array(1.0), name="unused")
        loss = gf.reduce_sum(w * 3.0) + gf.reduce_sum(gf.square(w.value()))
        dw, du = gf.gradients(loss, [w, unused])
        (dh,) = gf.gradients(loss, [w.handle])
    assert du is None
    np.testing.assert_allclose(_run(g, dw), [3 + 2, 3 + 4])
    np.testing.assert_allclose(_run(g, dh), [5, 7])


def test_reads_outside_the_loss_do_not_count():
    g = gf.Graph()
    with g.as_default():
        w = gf.Variable(np.array(2.0), name="w")
        loss = w * w
        _ = w * 100.0              # another read, not an input of loss
        (dw,) = gf.gradients(loss, [w])
    assert _run(g, dw) == pytest.approx(4.0)


def test_reference_variable_gradient_flows_through_its_read():
    g = gf.Graph()
    with g.as_default():
        v = gf.Variable(np.array([1.0, -1.0]), name="v", use_resource=False)
        (dv,) = gf.gradients(gf.reduce_sum(v * v), [v])
    np.testing.assert_allclose(_run(g, dv), [2.0, -2.0])


def test_an_op_without_registered_gradient_is_a_lookup_error_naming_it():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3])
        y = gf.sin(x, name="wave")
        saved = registry_module._GRADIENTS.pop("Sin")
        try:
            with pytest.raises(LookupError, match="'wave'.*Sin"):
                gf.gradients(y, [x])
        finally:
            registry_module._GRADIENTS["Sin"] = saved


def test_a_gradient_function_returning_the_wrong_count_is_reported():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3])
        y = gf.sin(x)
        saved = registry_module._GRADIENTS["Sin"]
        registry_module._GRADIENTS["Sin"] = lambda op, grad: [grad, grad]
        try:
            with pytest.raises(ValueError, match="returned 2 gradients for 1 inputs"):
                gf.gradients(y, [x])
        finally:
            registry_module._GRADIENTS["Sin"] = saved


def test_registry_api():
    assert get_gradient_function("Shape") is None
    assert get_gradient_function("Relu").__name__ == "_relu_grad"
    assert "Relu" in gradient_registry() and "Equal" in no_gradient_ops()
    with pytest.raises(LookupError):
        get_gradient_function("NoSuchOp")
    with pytest.raises(KeyError):
        register_gradient("Relu")(lambda op, grad: grad)
    with pytest.raises(KeyError):
        register_no_gradient("Relu")


def test_multi_output_ops_get_none_for_outputs_without_gradient():
    seen = {}
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float64, [4])
        a, b = apply_op("Split", [0, x], {"num_split": 2})
        registry_module._GRADIENTS["Split"], saved = None, registry_module._GRADIENTS["Split"]
        try:
            registry_module._GRADIENTS["Split"] = lambda op, *gs: seen.setdefault("g", gs) and \
                saved(op, *gs)
            (dx,) = gf.gradients(b * 2.0, [x])
        finally:
            registry_module._GRADIENTS["Split"] = saved
    assert seen["g"][0] is None and seen["g"][1] is not None
    np.testing.assert_allclose(_run(g, dx, {x: np.zeros(4)}), [0, 0, 2, 2])


def test_cycles_are_refused_by_name():
    from schema.ir import TensorRef
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float64, [])
        a = gf.identity(x, name="a")
        b = gf.identity(a, name="b")
        g.ir.set_input(a.op._node, 0, TensorRef(b.op._node, 0))   # a <- b <- a
        g.ir.add_node("AddV2", "y", [TensorRef(b.op._node, 0), x._ref], {"T": gf.float64})
        y = g.get_tensor_by_name("y:0")
        with pytest.raises(GraphError, match="cycle"):
            gf.gradients(y, [b])


def test_stop_gradients_accepts_a_variable():
    g = gf.Graph()
    with g.as_default():
        w = gf.Variable(np.array(3.0), name="w")
        x = gf.placeholder(gf.float64, [])
        dx, dw = gf.gradients(x * w, [x, w], stop_gradients=[w])
    assert _run(g, [dx, dw], {x: 2.0}) == [pytest.approx(3.0), pytest.approx(2.0)]


def test_colocated_gradients_take_the_forward_device():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2])
        with gf.device("/cpu:0"):
            y = gf.tanh(x, name="t")
        (dx,) = gf.gradients(y, [x], colocate_gradients_with_ops=True)
        (plain,) = gf.gradients(y, [x])
    assert dx.op.device == y.op.device != ""
    assert plain.op.device == ""


def test_small_cnn_gradients_match_finite_differences_after_serialization(rng):
    """Conv, bias, relu, pool, reshape, matmul, sparse cross-entropy and mean with a dynamic
    batch, run from the serialized GraphDef; d loss / d fc checked by central differences."""
    import runtime
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float64, [None, 6, 6, 1], name="x")
        labels = gf.placeholder(gf.int32, [None], name="labels")
        w = gf.constant(rng.standard_normal((3, 3, 1, 2)) * 0.5)
        fc = gf.placeholder(gf.float64, [18, 3], name="fc")
        h = gf.nn.relu(gf.nn.bias_add(gf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME"),
                                      gf.constant([0.1, -0.1], gf.float64)))
        flat = gf.reshape(gf.nn.max_pool2d(h, 2, 2, "VALID"), [-1, 18])
        losses, _ = apply_op("SparseSoftmaxCrossEntropyWithLogits",
                             [gf.matmul(flat, fc), labels])
        loss = gf.reduce_mean(losses, name="loss")
        (dfc,) = gf.gradients(loss, [fc])
    sess = runtime.load(g.as_graph_def())
    feeds = {"x:0": rng.standard_normal((4, 6, 6, 1)), "labels:0": np.array([0, 2, 1, 1]),
             "fc:0": rng.standard_normal((18, 3)) * 0.3}
    got = sess.run(dfc.name, feeds)
    expected = np.zeros((18, 3))
    for index in np.ndindex(18, 3):
        values = []
        for step in (1e-6, -1e-6):
            moved = feeds["fc:0"].copy()
            moved[index] += step
            values.append(sess.run("loss:0", {**feeds, "fc:0": moved}))
        expected[index] = (values[0] - values[1]) / 2e-6
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-8)


def test_grad_ys_of_the_wrong_shape_or_count_are_refused():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float64, [2, 3])
        with pytest.raises(ValueError, match=r"grad_ys .* shape \[3\]"):
            gf.gradients(x * 2.0, [x], grad_ys=[np.ones(3)])
        with pytest.raises(ValueError, match="1 ys but 2 grad_ys"):
            gf.gradients(x * 2.0, [x], grad_ys=[np.ones((2, 3)), np.ones((2, 3))])


def test_fused_batch_norm_inside_a_fused_conv_is_refused_by_name():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [1, 4, 4, 2])
        w = gf.constant(np.ones((1, 1, 2, 2), np.float32))
        params = [gf.constant(np.ones(2, np.float32)) for _ in range(4)]
        y = apply_op("_FusedConv2D", [x, w, params, []],
                     {"strides": [1, 1, 1, 1], "padding": "SAME",
                      "fused_ops": ["FusedBatchNorm"], "num_args": 4}, name="fused")
        with pytest.raises(GraphError, match="'fused'.*FusedBatchNorm"):
            gf.gradients(y, [x])
