"""The rewrite-rule driver: pattern matching, control edges, preserved nodes, dead nodes, refusals,
hit counts and the sweep cap."""
from __future__ import annotations

import numpy as np
from google.protobuf import text_format
from hypothesis import given, strategies as st

import gcc_flow as gf
from gcc_flow.framework import apply_op
from passes.base import PassContext
from runtime.check import check_equivalent
from passes.rewrite import P, Rule, apply_rules, broadcasts_into
from schema import graph_pb2
from schema.serde import graph_from_graph_def, graph_to_graph_def
from schema.validate import validate

MUL_ONE = Rule("mul_one", P("Mul", P.any("x"), P.const("one", value=1)),
               replace=lambda graph, m: m["x"],
               check=lambda m: broadcasts_into(m["one"].shape, m["x"].shape))
NEG_NEG = Rule("neg_neg", P("Neg", P("Neg", P.any("x"))), replace=lambda graph, m: m["x"])


def _ir(build):
    """(original GraphDef, IR copy) of a graph made by build() under a fresh default graph."""
    g = gf.Graph()
    with g.as_default():
        build()
    graph_def = g.as_graph_def()
    return graph_def, graph_from_graph_def(graph_def)


def _x(shape=(2, 3), name="x"):
    return gf.placeholder(gf.float32, shape, name=name)


def _run(graph, rules, fetches=("y:0",), targets=(), **kw):
    ctx = PassContext(fetches=list(fetches), targets=list(targets))
    stats = apply_rules(graph, ctx, rules, **kw)
    validate(graph)
    return stats, ctx


# -- matching ----------------------------------------------------------------------------------

def test_pattern_binds_inputs_and_tries_both_orders_of_commutative_ops():
    _, graph = _ir(lambda: (apply_op("Mul", [1.0, _x()], name="a"),
                            apply_op("Sub", [1.0, _x(name="z")], name="b")))
    pattern = P(("Mul", "Sub"), P.any("x"), P.const("c", value=1), name="root")
    found = pattern.match_root(graph.node("a"))
    assert found["x"].node.name == "x" and found["root"].node.name == "a"
    assert pattern.match_root(graph.node("b")) is None  # Sub is not commutative


def test_a_name_used_twice_binds_one_tensor():
    _, graph = _ir(lambda: (apply_op("Mul", [_x(), _x(name="z")], name="xz"),
                            apply_op("Mul", [gf.negative(_x(name="w"), name="n"),
                                             graph_node_n()], name="nn")))
    square = P("Mul", P.any("x"), P.any("x"))
    assert square.match_root(graph.node("xz")) is None
    assert square.match_root(graph.node("nn"))["x"].node.name == "n"


def graph_node_n():
    return gf.get_default_graph().get_tensor_by_name("n:0")


def test_const_pattern_checks_every_element():
    _, graph = _ir(lambda: (apply_op("Mul", [_x(), [1.0, 1.0, 2.0]], name="a"),
                            apply_op("Mul", [_x(name="z"), [1.0, 1.0, 1.0]], name="b")))
    pattern = P("Mul", P.any("x"), P.const("c", value=1))
    assert pattern.match_root(graph.node("a")) is None
    assert pattern.match_root(graph.node("b")) is not None


def test_control_inputs_of_matched_inner_nodes_are_kept():
    def build():
        x = _x()
        with gf.control_dependencies([_x(name="gate")]):
            inner = gf.negative(x, name="inner")
        apply_op("Identity", [gf.negative(inner)], name="y")
    graph_def, graph = _ir(build)
    stats, _ = _run(graph, [NEG_NEG])
    assert stats == {"neg_neg": 1} and "inner" not in graph
    assert graph.node("y").inputs[0].node.name == "x"
    assert [c.name for c in graph.node("y").control_inputs] == ["gate"]
    assert check_equivalent(graph_def, graph_to_graph_def(graph), ["y:0"]).ok


def test_new_constants_wait_for_the_matched_controls():
    double = Rule("double", P("Mul", P.any("x"), P.const("c")),
                  replace=lambda graph, m: m.add("Mul", [m["x"], m.const(m.value("c") * 2,
                                                                          m.dtype)],
                                                 {"T": m.dtype}))
    def build():
        with gf.control_dependencies([_x(name="gate")]):
            c = gf.constant(3.0, name="c")
        apply_op("Identity", [apply_op("Mul", [_x(), c])], name="y")
    _, graph = _ir(build)
    stats, _ = _run(graph, [double], max_sweeps=1)
    new_const = graph.node("y").inputs[0].node.inputs[1].node
    assert stats == {"double": 1} and new_const.attrs["value"] == 6.0
    assert [c.name for c in new_const.control_inputs] == ["gate"]


# -- edges ---------------------------------------------------------------------------------------

def test_root_control_inputs_reach_its_users_and_control_users_wait_on():
    def build():
        x = _x()
        gate = _x(name="gate")
        with gf.control_dependencies([gate]):
            m = apply_op("Mul", [x, 1.0], name="m")
        apply_op("Identity", [m], name="y")
        with gf.control_dependencies([m]):
            apply_op("Identity", [x], name="after")
    graph_def, graph = _ir(build)
    stats, _ = _run(graph, [MUL_ONE], fetches=("y:0", "after:0"))
    assert stats == {"mul_one": 1} and "m" not in graph
    assert graph.node("y").inputs[0].node.name == "x"
    assert [c.name for c in graph.node("y").control_inputs] == ["gate"]
    assert {c.name for c in graph.node("after").control_inputs} == {"gate", "x"}
    assert check_equivalent(graph_def, graph_to_graph_def(graph), ["y:0", "after:0"]).ok


def test_preserved_root_becomes_identity_with_its_name_device_and_controls():
    def build():
        x = _x()
        with gf.device("/cpu:0"), gf.control_dependencies([_x(name="gate")]):
            m = apply_op("Mul", [x, 1.0], name="m")
        apply_op("Identity", [m], name="y")
        with gf.control_dependencies([m]):
            apply_op("Identity", [x], name="after")
    graph_def, graph = _ir(build)
    device = graph.node("m").device
    stats, _ = _run(graph, [MUL_ONE], fetches=("y:0", "m:0", "after:0"))
    m = graph.node("m")
    assert stats == {"mul_one": 1}
    assert m.op == "Identity" and m.inputs[0].node.name == "x" and m.device == device
    assert [c.name for c in m.control_inputs] == ["gate"]
    assert graph.node("y").inputs[0].node.name == "x"
    assert [c.name for c in graph.node("after").control_inputs] == ["m"]
    fetches = ["y:0", "m:0", "after:0"]
    assert check_equivalent(graph_def, graph_to_graph_def(graph), fetches).ok
    assert _run(graph, [MUL_ONE], fetches=fetches)[0] == {}  # an Identity is left alone


# -- dead nodes ----------------------------------------------------------------------------------

TO_ZEROS = Rule("to_zeros", P("Mul", P.any("x"), P.any("c")),
                replace=lambda graph, m: m.const(np.zeros((2, 3)), m.dtype))


def test_dead_nodes_go_but_placeholders_stateful_and_unrelated_nodes_stay():
    def build():
        x = _x()
        apply_op("Mul", [gf.negative(_x(name="unused"), name="neg"), 2.0], name="old_dead")
        var = apply_op("VariableV2", [], {"dtype": gf.float32, "shape": (2, 3)}, name="var")
        read = apply_op("Identity", [var], name="read")
        apply_op("Identity", [apply_op("Mul", [x, read], name="m")], name="y")
    _, graph = _ir(build)
    stats, _ = _run(graph, [TO_ZEROS], max_sweeps=1)
    assert stats == {"to_zeros": 1}
    assert "m" not in graph and "read" not in graph  # made dead by the rewrite
    assert {"x", "var", "old_dead", "neg", "unused"} <= set(graph.nodes)


def test_nodes_made_dead_are_removed_transitively():
    _, graph = _ir(lambda: apply_op("Identity", [apply_op("Mul", [_x(), 1.0], name="m")],
                                    name="y"))
    stats, _ = _run(graph, [MUL_ONE])
    assert stats == {"mul_one": 1}
    assert sorted(n.op for n in graph) == ["Identity", "Placeholder"]


# -- refusals ------------------------------------------------------------------------------------

def test_replacement_of_another_shape_or_dtype_is_refused_and_its_nodes_discarded():
    wrong_shape = Rule("wrong_shape", P("Neg", P.any("x")),
                       replace=lambda graph, m: m.add("Reshape", [m["x"], m.const(
                           np.array([3, 2]), gf.int32)], {"T": m.dtype}))
    wrong_dtype = Rule("wrong_dtype", P("Neg", P.any("x")),
                       replace=lambda graph, m: m.const(np.zeros((2, 3)), gf.float64))
    graph_def, graph = _ir(lambda: apply_op("Identity", [gf.negative(_x())], name="y"))
    before = sorted(graph.nodes)
    stats, ctx = _run(graph, [wrong_shape, wrong_dtype])
    assert stats == {} and sorted(graph.nodes) == before
    assert any("shape [2, 3] would become [3, 2]" in n for n in ctx.notes)
    assert any("dtype float32 would become float64" in n for n in ctx.notes)


def test_replace_returning_none_declines():
    decline = Rule("decline", P("Neg", P.any("x")), replace=lambda graph, m: None)
    _, graph = _ir(lambda: apply_op("Identity", [gf.negative(_x())], name="y"))
    assert _run(graph, [decline])[0] == {}


def test_check_false_declines():
    refused = Rule("refused", NEG_NEG.pattern, NEG_NEG.replace, check=lambda m: False)
    _, graph = _ir(lambda: apply_op("Identity", [gf.negative(gf.negative(_x()))], name="y"))
    assert _run(graph, [refused])[0] == {} and len(graph) == 4


# -- counting and the cap ------------------------------------------------------------------------

def test_hits_are_counted_per_rule_and_chains_fold_in_one_call():
    def build():
        x = _x()
        four = gf.negative(gf.negative(gf.negative(gf.negative(x))))
        apply_op("Identity", [apply_op("Mul", [four, 1.0])], name="y")
        apply_op("Identity", [apply_op("Mul", [1.0, x])], name="z")
    graph_def, graph = _ir(build)
    stats, _ = _run(graph, [MUL_ONE, NEG_NEG], fetches=("y:0", "z:0"))
    assert stats == {"neg_neg": 2, "mul_one": 2}
    assert sorted(n.op for n in graph) == ["Identity", "Identity", "Placeholder"]
    assert check_equivalent(graph_def, graph_to_graph_def(graph), ["y:0", "z:0"]).ok


def test_sweeps_stop_at_the_cap_with_a_note():
    churn = Rule("churn", P("Neg", P.any("x")),
                 replace=lambda graph, m: m.add("Neg", [m["x"]], {"T": m.dtype}))
    _, graph = _ir(lambda: apply_op("Identity", [gf.negative(_x())], name="y"))
    stats, ctx = _run(graph, [churn], max_sweeps=3)
    assert stats == {"churn": 3} and len(graph) == 3
    assert ctx.notes == ["rewrite rules still firing after 3 sweeps; stopped there"]


# -- broadcasts_into -----------------------------------------------------------------------------

def test_broadcasts_into_examples():
    assert broadcasts_into((), None) and broadcasts_into((1, 3), (None, 3))
    assert not broadcasts_into((3,), (None, 1)) and not broadcasts_into((3,), (None,))
    assert not broadcasts_into((1, 1), (3,)) and not broadcasts_into(None, (3,))


_dims = st.lists(st.integers(0, 3), max_size=4).map(tuple)


@given(_dims, _dims)
def test_broadcasts_into_is_never_wrong(small, big):
    if broadcasts_into(small, big):
        assert np.broadcast_shapes(small, big) == big


def test_reference_and_unknown_op_outputs_are_never_forwarded():
    def build():
        var = apply_op("VariableV2", [], {"dtype": gf.float32, "shape": (2, 3)}, name="var")
        apply_op("Identity", [apply_op("Mul", [var, 1.0], name="snapshot")], name="y")
    _, graph = _ir(build)
    stats, ctx = _run(graph, [MUL_ONE])
    assert stats == {} and "snapshot" in graph and ctx.notes == []
    text = """
    node { name: "u" op: "MysteryOp" }
    node { name: "one" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } }
           attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 1 } } } }
    node { name: "m" op: "Mul" input: "u" input: "one" attr { key: "T" value { type: DT_FLOAT } } }
    node { name: "y" op: "Identity" input: "m" attr { key: "T" value { type: DT_FLOAT } } }
    """
    graph = graph_from_graph_def(text_format.Parse(text, graph_pb2.GraphDef()),
                                 allow_unknown=True)
    ctx = PassContext(fetches=["y:0"])
    assert apply_rules(graph, ctx, [MUL_ONE]) == {} and "m" in graph and ctx.notes == []
