"""gf.Variable: the nodes TF2's graph mode writes, state across runs, collections, TF1 refs."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

import gcc_flow as gf
import runtime
from schema.dtypes import DType
from schema.errors import UninitializedVariableError, ValidationError
from schema.io import read_graph_def
from schema.serde import graph_from_graph_def

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures" / "tf"


def _inputs(node) -> list[str]:
    return [r.node.name for r in node.inputs] + ["^" + c.name for c in node.control_inputs]


def test_resource_variable_nodes_match_tensorflow():
    tf_graph = graph_from_graph_def(read_graph_def(FIXTURES / "resource_vars.pb"))
    g = gf.Graph()
    with g.as_default():
        b = gf.Variable(np.zeros(3, np.float32), name="b")
    names = ["b", "b/Initializer/initial_value", "b/IsInitialized/VarIsInitializedOp",
             "b/Assign", "b/Read/ReadVariableOp"]
    for name in names:
        ours, theirs = g.ir.nodes[name], tf_graph.nodes[name]
        assert ours.op == theirs.op and _inputs(ours) == _inputs(theirs), name
        assert ours.out_types == theirs.out_types and ours.out_shapes == theirs.out_shapes, name
    for attr in ("shared_name", "container", "dtype", "shape"):
        assert g.ir.nodes["b"].attrs[attr] == tf_graph.nodes["b"].attrs[attr], attr
    assert g.ir.nodes["b/Assign"].attrs["validate_shape"] is False
    assert b.name == "b:0" and b.dtype == DType.FLOAT and b.shape == (3,)
    assert b.op.type == "VarHandleOp" and b.initializer.type == "AssignVariableOp"


def test_assign_add_twice_keeps_state_across_runs():
    g = gf.Graph()
    with g.as_default():
        w = gf.Variable(np.ones((2, 2), np.float32), name="w")
        step = w.assign_add(np.full((2, 2), 0.5, np.float32))
        doubled = w * 2
        init = gf.global_variables_initializer()
    with gf.Session(g) as sess:
        sess.run(init)
        np.testing.assert_array_equal(sess.run(step), np.full((2, 2), 1.5))
        sess.run(step)
        np.testing.assert_array_equal(sess.run(w.read_value()), np.full((2, 2), 2.0))
        np.testing.assert_array_equal(sess.run(doubled), np.full((2, 2), 4.0))
        sess.run(w.assign_sub(np.ones((2, 2), np.float32)))
        np.testing.assert_array_equal(sess.run(w.value()), np.ones((2, 2)))


def test_uninitialized_read_names_the_variable():
    g = gf.Graph()
    with g.as_default():
        w = gf.Variable(1.0, name="weights")
        r = gf.Variable([1, 2], name="counts", use_resource=False)
    with gf.Session(g) as sess:
        with pytest.raises(UninitializedVariableError, match="weights"):
            sess.run(w.value())
        with pytest.raises(UninitializedVariableError, match="counts"):
            sess.run(r.value())
        assert sess.run([w.is_initialized(), gf.is_variable_initialized(r)]) == [False, False]


def test_variable_is_accepted_wherever_a_tensor_is():
    g = gf.Graph()
    with g.as_default():
        v = gf.Variable(np.array([1.0, 2.0], np.float32), name="v")
        outs = [v * 2, 3.0 - v, -v, gf.add(v, 1.0), gf.convert_to_tensor(v), v[1]
                if hasattr(gf.Tensor, "__getitem__") else v + 0]
        init = gf.global_variables_initializer()
    assert all(isinstance(t, gf.Tensor) for t in outs)
    assert outs[0].op.inputs[0].op.type == "ReadVariableOp"
    with gf.Session(g) as sess:
        sess.run(init)
        got = sess.run(outs[:5])
    for a, b in zip(got, [[2, 4], [2, 1], [-1, -2], [2, 3], [1, 2]]):
        np.testing.assert_array_equal(a, b)


def test_collections_and_initializers():
    g = gf.Graph()
    with g.as_default():
        a = gf.Variable(1.0, name="a")
        b = gf.Variable(2.0, name="b", trainable=False)
        assert gf.global_variables() == [a, b] and gf.trainable_variables() == [a]
        only_a = gf.variables_initializer([a], name="init_a")
        init = gf.global_variables_initializer()
    assert init.name == "init" and init.type == "NoOp"
    assert {op.name for op in init.control_inputs} == {"a/Assign", "b/Assign"}
    with gf.Session(g) as sess:
        sess.run(only_a)
        assert sess.run(a.value()) == 1.0
        with pytest.raises(UninitializedVariableError, match="'b'"):
            sess.run(b.value())


def test_names_scopes_and_control_dependencies():
    g = gf.Graph()
    with g.as_default():
        first = gf.Variable(1.0, name="w")
        second = gf.Variable(2.0, name="w")
        marker = gf.no_op(name="marker")
        with gf.name_scope("layer"), gf.control_dependencies([marker]):
            scoped = gf.Variable(3.0, name="w")
        init = gf.global_variables_initializer()
    assert (first.name, second.name, scoped.name) == ("w:0", "w_1:0", "layer/w:0")
    assert second.op.get_attr("shared_name") == "w_1"
    assert "layer/w/Assign" in g.ir.nodes
    assert not scoped.op.control_inputs and not scoped.initializer.control_inputs
    with gf.Session(g) as sess:
        sess.run(init)
        assert sess.run([first.value(), second.value(), scoped.value()]) == [1.0, 2.0, 3.0]


def test_read_inside_control_dependencies_sees_the_assignment():
    g = gf.Graph()
    with g.as_default():
        v = gf.Variable(0, name="v")
        setter = v.assign(5, read_value=False)
        with gf.control_dependencies([setter]):
            after = v.value()
        init = gf.global_variables_initializer()
    assert isinstance(setter, gf.Operation) and setter.type == "AssignVariableOp"
    with gf.Session(g) as sess:
        sess.run(init)
        assert sess.run(after) == 5 and after.dtype == DType.INT32


def test_initial_values_dtypes_and_shapes():
    g = gf.Graph()
    with g.as_default():
        start = gf.constant(np.arange(4, dtype=np.float32), name="start")
        from_tensor = gf.Variable(start, name="t")
        typed = gf.Variable([1, 2], dtype=gf.float64, name="typed")
        loose = gf.Variable(np.zeros((2, 3), np.float32), shape=(None, 3), name="loose")
        made = gf.Variable(lambda: gf.constant(7), name="made")
        with pytest.raises(ValidationError, match="shape"):
            gf.Variable(np.zeros(2, np.float32), shape=(3,), name="wrong")
        with pytest.raises(ValidationError, match="shape"):
            from_tensor.assign(np.zeros(5, np.float32))
    assert from_tensor.initializer.inputs[1].name == "start:0"
    assert typed.dtype == DType.DOUBLE and typed.op.get_attr("shape") == (2,)
    assert loose.op.get_attr("shape") == (None, 3)
    init = gf.variables_initializer([from_tensor, typed, loose, made])
    with gf.Session(g) as sess:
        sess.run(init)
        np.testing.assert_array_equal(sess.run(from_tensor.value()), [0, 1, 2, 3])
        assert sess.run(typed.value()).dtype == np.float64
        assert sess.run(made.value()) == 7


def test_reference_variables_tf1_style():
    g = gf.Graph()
    with g.as_default():
        v = gf.Variable([1.0, 2.0], name="v", use_resource=False)
        bump = gf.assign_add(v, [10.0, 10.0])
        reset = gf.assign(v, [0.0, 0.0])
        doubled = v.value() * 2
        init = gf.global_variables_initializer()
    nodes = g.ir.nodes
    assert [nodes[n].op for n in ("v", "v/initial_value", "v/Assign", "v/read")] == \
        ["VariableV2", "Const", "Assign", "Identity"]
    assert v.op.outputs[0].dtype == DType.FLOAT_REF and v.dtype == DType.FLOAT
    assert isinstance(v, gf.Variable)
    with gf.Session(g) as sess:
        sess.run(init)
        np.testing.assert_array_equal(sess.run(bump), [11, 12])
        np.testing.assert_array_equal(sess.run(bump), [21, 22])
        np.testing.assert_array_equal(sess.run(doubled), [42, 44])
        sess.run(reset)
        np.testing.assert_array_equal(sess.run(v.read_value()), [0, 0])


def test_graph_def_round_trip_runs_in_the_runtime():
    g = gf.Graph()
    with g.as_default():
        w = gf.Variable(np.float32(2.0), name="w")
        y = gf.multiply(w, 3.0, name="y")
        step = w.assign_add(np.float32(1.0), name="step", read_value=False)
        gf.global_variables_initializer()
    sess = runtime.load(g.as_graph_def())
    sess.run("init")
    sess.run(step.name)
    sess.run("step")
    assert sess.run(y.name) == 12.0
