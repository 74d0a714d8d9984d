"""Validation of v1 control flow: loops are no cycles, and control flow that does not pair is
refused with an error naming the node (BAD_INPUTS B, CVE-2021-41217).

    Exit(x) with no Enter before it -> ValidationError "... no Enter leads to this Exit"
    Enter -> Merge <- NextIteration   -> valid; the back edge is left out of topological orders
"""
from __future__ import annotations


import numpy as np
import pytest

from schema import graph_pb2
from schema.dtypes import DType
from schema.errors import GraphError, ValidationError
from schema.ir import Graph
from schema.registry import get_op
from schema.serde import attr_to_proto, graph_from_graph_def
from schema.validate import check_control_flow, topological_order, validate

F32, I32, BOOL = DType.FLOAT, DType.INT32, DType.BOOL


def load(*nodes, check: bool = True) -> Graph:
    """A graph loaded (and checked node by node) from ("name", "Op", [inputs], {attrs})."""
    out = graph_pb2.GraphDef()
    for name, op, inputs, attrs in nodes:
        node = out.node.add(name=name, op=op)
        node.input.extend(inputs)
        for key, value in attrs.items():
            node.attr[key].CopyFrom(attr_to_proto(value, get_op(op).attrs[key].type))
    return graph_from_graph_def(out, validate=check)


def const(name, value, dtype, inputs=()):
    return (name, "Const", list(inputs), {"dtype": dtype, "value": np.asarray(value, dtype.np)})


def enter(name, data, frame="loop", constant=False, dtype=I32):
    return (name, "Enter", [data], {"T": dtype, "frame_name": frame, "is_constant": constant})


def loop(next_input="add", merge_inputs=("enter", "next")):
    """i = 0; while i < 5: i += 1"""
    return [
        const("zero", 0, I32), const("five", 5, I32), const("one", 1, I32, ["^body"]),
        enter("enter", "zero"), enter("limit", "five", constant=True),
        ("merge", "Merge", list(merge_inputs), {"T": I32, "N": len(merge_inputs)}),
        ("less", "Less", ["merge", "limit"], {"T": I32}),
        ("cond", "LoopCond", ["less"], {}),
        ("switch", "Switch", ["merge", "cond"], {"T": I32}),
        ("body", "Identity", ["switch:1"], {"T": I32}),
        ("add", "AddV2", ["body", "one"], {"T": I32}),
        ("next", "NextIteration", [next_input], {"T": I32}),
        ("exit", "Exit", ["switch"], {"T": I32}),
    ]


def test_a_loop_is_no_cycle_and_has_frames():
    graph = load(*loop())
    validate(graph)
    order = [n.name for n in topological_order(graph)]
    assert order.index("merge") < order.index("next") < len(order)
    frames = check_control_flow(graph)
    assert frames.frame_of[graph.node("add")] == "loop"
    assert frames.frame_of[graph.node("enter")] == ""          # an Enter runs outside
    assert frames.frame_of[graph.node("exit")] == "loop"       # an Exit runs inside ...
    assert frames.inner_frame(graph.node("exit")) == ""        # ... and delivers outside
    assert frames.parent == {"loop": ""}


def test_merge_of_a_loop_has_its_shape_relaxed_by_the_back_edge():
    graph = load(*loop())
    assert graph.node("enter").out_shapes == [None]             # a loop variable: unknown
    assert graph.node("limit").out_shapes == [()]               # a constant Enter: its input's
    assert graph.node("merge").out_shapes == [None, ()]


def test_a_cycle_without_a_merge_is_still_a_cycle():
    with pytest.raises(GraphError, match="cycle"):
        load(const("c", 1, I32), ("a", "AddV2", ["c", "b"], {"T": I32}),
             ("b", "NextIteration", ["a"], {"T": I32}))


@pytest.mark.parametrize("nodes, message", [
    ([const("x", 1.0, F32), ("out", "Exit", ["x"], {"T": F32})],
     "node 'out' \\(Exit\\) is outside every while-loop frame: no Enter leads to this Exit"),
    ([const("x", 1, I32), ("n", "NextIteration", ["x"], {"T": I32}),
      ("m", "Merge", ["x", "n"], {"T": I32, "N": 2})],
     "node 'n' \\(NextIteration\\) is outside every while-loop frame"),
    ([const("x", True, BOOL), ("c", "LoopCond", ["x"], {})],
     "node 'c' \\(LoopCond\\) is outside every while-loop frame"),
    ([const("x", 1, I32), enter("e", "x"), enter("e2", "x", frame="other"),
      ("a", "AddV2", ["e", "e2"], {"T": I32})],
     "node 'a' \\(AddV2\\) has inputs from different frames: 'e' is in frame 'loop' and 'e2' "
     "is in frame 'other'"),
    ([const("x", 1, I32), enter("e", "x"), ("a", "AddV2", ["e", "x"], {"T": I32})],
     "node 'a' \\(AddV2\\) has inputs from different frames: 'e' is in frame 'loop' and 'x' "
     "is in the root frame"),
    ([const("x", 1, I32), enter("e", "x"), enter("inner", "e", frame="in"),
      enter("again", "x", frame="in")],
     "node 'inner' \\(Enter\\) enters frame 'in' from frame 'loop', but 'again' enters it "
     "from the root frame"),
])
def test_unpaired_control_flow_is_refused(nodes, message):
    # Refused when loading (graph_from_graph_def checks frames), and by validate() on an IR
    # graph built without that check.
    with pytest.raises(ValidationError, match=message):
        load(*nodes)
    with pytest.raises(ValidationError, match=message):
        validate(load(*nodes, check=False))


def test_next_iteration_may_only_feed_a_merge():
    nodes = loop() + [("stray", "Identity", ["next"], {"T": I32})]
    with pytest.raises(ValidationError, match="node 'next' \\(NextIteration\\) feeds 'stray' "
                                              "\\(Identity\\): a NextIteration may only feed"):
        validate(load(*nodes))


def test_loop_merge_without_back_edge_is_refused():
    nodes = [n for n in loop(merge_inputs=("enter", "enter")) if n[0] != "next"]
    with pytest.raises(ValidationError, match="node 'merge' \\(Merge\\) merges the loop entry "
                                              "'enter' but has no NextIteration input"):
        validate(load(*nodes))


def test_merge_of_only_next_iterations_is_refused():
    nodes = loop(merge_inputs=("next", "next"))
    with pytest.raises(ValidationError, match="only NextIteration inputs|different frames"):
        validate(load(*nodes))


@pytest.mark.parametrize("node, message", [
    (("e", "Enter", ["x"], {"T": I32, "frame_name": ""}), "attr 'frame_name' is empty"),
    (("e", "Enter", ["x"], {"T": I32, "frame_name": "f", "parallel_iterations": 0}),
     "attr 'parallel_iterations' = 0 is below its minimum 1"),
    (("s", "Switch", ["x", "p"], {"T": I32}), "pred must be a scalar, got shape \\[2\\]"),
])
def test_bad_attrs_and_shapes_are_refused_at_load(node, message):
    with pytest.raises(ValidationError, match=message):
        load(const("x", 1, I32), const("p", [True, False], BOOL), node)


def test_back_edge_dtype_is_checked():
    nodes = loop()
    nodes[nodes.index(("next", "NextIteration", ["add"], {"T": I32}))] = \
        ("next", "NextIteration", ["fl"], {"T": F32})
    nodes.append(const("fl", 1.0, F32, ["^body"]))
    with pytest.raises(ValidationError, match="node 'merge' \\(Merge\\) input 1 expects int32 "
                                              "but next:0 is float"):
        load(*nodes)


def test_frame_check_handles_a_long_loop_body():
    """A loop body of 60,000 nodes (iterative walk: no recursion limit, no quadratic blow-up)."""
    graph = load(*loop())
    body = graph.node("body")
    previous = body.output(0)
    for i in range(60_000):
        previous = graph.add_node("Identity", f"chain{i}", [previous], {"T": I32}).output(0)
    graph.set_input(graph.node("add"), 0, previous)
    frames = check_control_flow(graph)
    assert frames.frame_of[graph.node("chain59999")] == "loop"
