"""The dataflow executor: v1 control flow graphs written by TensorFlow give TensorFlow's outputs;
dead tensors, frames, iterations and the iteration cap behave as TensorFlow's executor.

    nested_while_in_cond.pb + feeds -> runtime.load(...).run(fetches) == TF's values (1e-5)
    Switch(x, false):1 fetched -> ExecutionError "dead";  Merge(dead, y) -> (y, 1)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import runtime
from runtime.dataflow import DataflowPlan
from runtime.plan import Plan
from schema import graph_pb2
from schema.dtypes import DType
from schema.errors import ExecutionError, FeedError, FetchError, ValidationError
from schema.limits import Limits
from schema.registry import get_op
from schema.serde import attr_to_proto

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tf" / "control_flow"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
F32, I32, BOOL = DType.FLOAT, DType.INT32, DType.BOOL


def graph_def(*nodes) -> graph_pb2.GraphDef:
    """graph_def(("x", "Placeholder", [], {"dtype": F32}), ...) -> a GraphDef."""
    out = graph_pb2.GraphDef()
    for name, op, inputs, attrs in nodes:
        node = out.node.add(name=name, op=op)
        node.input.extend(inputs)
        specs = get_op(op).attrs
        for key, value in attrs.items():
            node.attr[key].CopyFrom(attr_to_proto(value, specs[key].type))
    return out


def const(name, value, dtype, inputs=()):
    return (name, "Const", list(inputs), {"dtype": dtype, "value": np.asarray(value, dtype.np)})


def placeholder(name, dtype, shape=None):
    return (name, "Placeholder", [], {"dtype": dtype} | ({} if shape is None else
                                                          {"shape": shape}))


def counting_loop(frame="loop", parallel=10):
    """i = 0; while i < n: i += 1  -> exit:0 == n (a hand-written v1 loop)."""
    enter = {"T": I32, "frame_name": frame, "parallel_iterations": parallel}
    return [
        placeholder("n", I32, ()), const("zero", 0, I32), const("one", 1, I32, ["^body"]),
        ("enter", "Enter", ["zero"], enter),
        ("limit", "Enter", ["n"], enter | {"is_constant": True}),
        ("merge", "Merge", ["enter", "next"], {"T": I32, "N": 2}),
        ("less", "Less", ["merge", "limit"], {"T": I32}),
        ("cond", "LoopCond", ["less"], {}),
        ("switch", "Switch", ["merge", "cond"], {"T": I32}),
        ("body", "Identity", ["switch:1"], {"T": I32}),
        ("add", "AddV2", ["body", "one"], {"T": I32}),
        ("next", "NextIteration", ["add"], {"T": I32}),
        ("exit", "Exit", ["switch"], {"T": I32}),
    ]


def switch_graph():
    """x, p -> Switch; a = Switch:1 + 1; m = Merge(Switch:0 * 2, a)."""
    return graph_def(
        placeholder("x", F32, (3,)), placeholder("p", BOOL, ()),
        ("sw", "Switch", ["x", "p"], {"T": F32}),
        const("c1", 1.0, F32), const("c2", 2.0, F32),
        ("a", "AddV2", ["sw:1", "c1"], {"T": F32}),
        ("b", "Mul", ["sw:0", "c2"], {"T": F32}),
        ("m", "Merge", ["b", "a"], {"T": F32, "N": 2}),
        ("after_a", "Identity", ["c1", "^a"], {"T": F32}),
        ("trigger", "ControlTrigger", ["^a"], {}),
        ("after_trigger", "Identity", ["c2", "^trigger"], {"T": F32}),
    )


# -- TensorFlow's own graphs --------------------------------------------------------------------

def _steps():
    for name, entry in sorted(MANIFEST.items()):
        for i, step in enumerate([entry] + entry["sequence"]):
            yield pytest.param(name, step, id=f"{name}-step{i}")


@pytest.mark.parametrize("name, step", list(_steps()))
def test_tensorflow_fixture_matches(name, step):
    """Each step in a fresh session, after the fixture's targets (initializers)."""
    data = np.load(FIXTURES / f"{name}.npz")
    sess = runtime.load(FIXTURES / f"{name}.pb")
    targets = MANIFEST[name]["targets"]
    assert sess.run(["^" + t for t in targets]) == [None] * len(targets)
    feeds = {tensor: data[key] for tensor, key in step["feeds"].items()}
    results = sess.run(list(step["fetches"]), feeds)
    for (tensor, key), got in zip(step["fetches"].items(), results):
        want = data[key]
        assert got.dtype == want.dtype and got.shape == want.shape, tensor
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=tensor)


def test_fixtures_hold_the_v1_primitives():
    ops = {n.op for n in graph_pb2.GraphDef.FromString(
        (FIXTURES / "while_grad.pb").read_bytes()).node}
    assert {"Enter", "Merge", "Switch", "LoopCond", "NextIteration", "Exit",
            "StackPushV2", "StackPopV2", "ControlTrigger"} <= ops


# -- dead tensors -------------------------------------------------------------------------------

@pytest.mark.parametrize("pred, index", [(True, 1), (False, 0)])
def test_merge_forwards_the_live_branch(pred, index):
    sess = runtime.load(switch_graph())
    x = np.array([1, 2, 3], np.float32)
    value, taken = sess.run(["m:0", "m:1"], {"x:0": x, "p:0": pred})
    np.testing.assert_array_equal(value, x + 1 if pred else x * 2)
    assert taken.dtype == np.int32 and int(taken) == index


@pytest.mark.parametrize("fetch", ["sw:1", "a:0", "after_a:0"])
def test_fetching_a_dead_tensor_is_an_error(fetch):
    sess = runtime.load(switch_graph())
    with pytest.raises(ExecutionError, match=f"fetch {fetch} is dead"):
        sess.run(fetch, {"x:0": np.ones(3, np.float32), "p:0": False})


def test_live_side_and_control_trigger_are_not_dead():
    sess = runtime.load(switch_graph())
    feeds = {"x:0": np.ones(3, np.float32), "p:0": False}
    np.testing.assert_array_equal(sess.run("sw:0", feeds), np.ones(3))
    assert float(sess.run("after_trigger:0", feeds)) == 2.0   # ControlTrigger is never dead


def test_merge_of_only_dead_inputs_is_dead():
    gd = graph_def(placeholder("x", F32, ()), placeholder("p", BOOL, ()),
                   ("sw", "Switch", ["x", "p"], {"T": F32}),
                   ("m", "Merge", ["sw:1", "sw:1"], {"T": F32, "N": 2}),
                   ("y", "Neg", ["m"], {"T": F32}))
    sess = runtime.load(gd)
    assert float(sess.run("y:0", {"x:0": 2.0, "p:0": True})) == -2.0
    with pytest.raises(ExecutionError, match="dead"):
        sess.run("y:0", {"x:0": 2.0, "p:0": False})


# -- loops --------------------------------------------------------------------------------------

@pytest.mark.parametrize("parallel", [1, 2, 10])
@pytest.mark.parametrize("n", [0, 1, 7])
def test_hand_written_loop_counts(n, parallel):
    sess = runtime.load(graph_def(*counting_loop(parallel=parallel)))
    assert int(sess.run("exit:0", {"n:0": n})) == n
    assert int(sess.run("exit:0", {"n:0": n + 2})) == n + 2     # a fresh frame every run


def test_iteration_cap_names_the_loop():
    sess = runtime.load(graph_def(*counting_loop("my_loop")), limits=Limits(max_loop_iterations=50))
    assert int(sess.run("exit:0", {"n:0": 50})) == 50             # exactly the cap is fine
    with pytest.raises(ExecutionError, match=r"while loop 'my_loop' ran past 50 iterations "
                                             r"\(Limits.max_loop_iterations\)"):
        sess.run("exit:0", {"n:0": 10**9})


def test_tensors_inside_a_frame_cannot_be_fetched_or_fed():
    sess = runtime.load(graph_def(*counting_loop()))
    with pytest.raises(FetchError, match="inside while-loop frame 'loop'"):
        sess.run("add:0", {"n:0": 3})
    with pytest.raises(FeedError, match="inside while-loop frame 'loop'"):
        sess.run("exit:0", {"n:0": 3, "body:0": 1})


def test_kernel_error_names_node_frame_and_iteration():
    nodes = counting_loop() + [const("shape", [5], I32, ["^body"]),
                               ("bad", "Reshape", ["body", "shape"], {"T": I32, "Tshape": I32}),
                               ("out", "Exit", ["bad"], {"T": I32})]
    sess = runtime.load(graph_def(*nodes))
    with pytest.raises(ExecutionError, match=r"node 'bad' \(op Reshape\) on /device:CPU:0 in "
                                             r"frame 'loop' iteration 0 with inputs "
                                             r"\[int32\[\], int32\[1\]\]"):
        sess.run("out:0", {"n:0": 3})


def test_only_control_flow_signatures_use_the_dataflow_executor():
    sess = runtime.load(switch_graph())
    feeds = {"x:0": np.ones(3, np.float32), "p:0": True}
    sess.run("c1:0")
    sess.run("m:0", feeds)
    kinds = {type(plan) for plan, _ in sess._plans.values()}
    assert kinds == {Plan, DataflowPlan}


def test_unpaired_control_flow_is_refused_at_load():
    gd = graph_def(placeholder("x", F32, ()), ("out", "Exit", ["x"], {"T": F32}))
    with pytest.raises(ValidationError, match="no Enter leads to this Exit"):
        runtime.load(gd)


def test_stack_pop_of_an_empty_stack_fails_cleanly():
    gd = graph_def(const("size", -1, I32),
                   ("s", "StackV2", ["size"], {"elem_type": F32, "stack_name": "hist"}),
                   const("v", 1.5, F32),
                   ("push", "StackPushV2", ["s", "v"], {"T": F32}),
                   ("pop", "StackPopV2", ["s", "^push"], {"elem_type": F32}),
                   ("pop2", "StackPopV2", ["s", "^pop"], {"elem_type": F32}))
    sess = runtime.load(gd)
    assert float(sess.run("pop:0")) == 1.5
    with pytest.raises(ExecutionError, match="stack 'hist' is empty"):
        sess.run("pop2:0")


def test_reference_variables_flow_through_ref_ops_and_are_read_when_used():
    """RefSwitch / RefEnter forward the VariableV2 cell; the op that uses it reads it then."""
    ref = {"T": F32, "frame_name": "loop", "is_constant": True}
    nodes = counting_loop() + [
        ("v", "VariableV2", [], {"dtype": F32, "shape": (2,)}),
        const("init", [1.5, -2.0], F32), ("assign", "Assign", ["v", "init"], {"T": F32}),
        ("v_in", "RefEnter", ["v"], ref),
        ("scaled", "Mul", ["v_in", "v_in"], {"T": F32}),
        ("gate", "Switch", ["scaled", "cond"], {"T": F32}),      # live out at the last test
        ("scaled_out", "Exit", ["gate"], {"T": F32}),
        placeholder("p", BOOL, ()),
        ("rs", "RefSwitch", ["v", "p"], {"T": F32}),
        ("rm", "RefMerge", ["rs", "rs:1"], {"T": F32, "N": 2}),
        ("read", "Identity", ["rm"], {"T": F32}),
    ]
    sess = runtime.load(graph_def(*nodes))
    sess.run("^assign")
    np.testing.assert_array_equal(sess.run("read:0", {"p:0": True}), [1.5, -2.0])
    np.testing.assert_array_equal(sess.run("scaled_out:0", {"n:0": 2}), [2.25, 4.0])
