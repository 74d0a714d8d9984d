"""simplify_arithmetic: each rule's rewrite, each guard's refusal, validity, equal outputs,
`modified`, idempotence, hit counts."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import gcc_flow as gf
import passes
from gcc_flow.framework import apply_op
from passes.base import PassContext
from runtime.check import check_equivalent
from passes.simplify_arithmetic import holds_exactly, simplify_arithmetic
from schema.dtypes import DType
from schema.serde import graph_from_graph_def, graph_to_graph_def
from schema.validate import validate


def _graph(build, dtype=gf.float32, shape=(2, 3)):
    """x = Placeholder; y = Identity(build(x)): the node under test is not fetched itself."""
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(dtype, shape, name="x")
        apply_op("Identity", [build(x)], name="y")
    return g


def _simplify(g, fetches=("y:0",), targets=(), compare=True):
    """Runs the pass; checks validity, equal outputs, `modified` and idempotence."""
    graph_def = g.as_graph_def()
    graph = graph_from_graph_def(graph_def)
    ctx = PassContext(fetches=list(fetches), targets=list(targets))
    result = simplify_arithmetic(graph, ctx)
    assert result.modified == bool(result.stats)
    assert ctx.notes == [], "a rule's own check must refuse, not the driver's safety net"
    validate(graph)
    if compare:
        check = check_equivalent(graph_def, graph_to_graph_def(graph), list(fetches), trials=2)
        assert check.ok, check.first_mismatch
    again = simplify_arithmetic(graph, PassContext(fetches=list(fetches), targets=list(targets)))
    assert not again.modified and again.stats == {}, "a second run changed the graph"
    return graph, result.stats


def _ops(graph):
    return sorted(n.op for n in graph)


def _op(name, *inputs, **attrs):
    return lambda x: apply_op(name, [x, *inputs], attrs)


def _const(value, dtype=gf.float32):
    return gf.constant(np.asarray(value), dtype)


def _second():
    return gf.placeholder(gf.float32, (2, 3), name="z")


# (rule, build(x), x dtype, x shape, ops left besides Placeholder x and Identity y)
POSITIVE = [
    ("add_zero", _op("AddV2", 0.0), gf.float32, (2, 3), []),
    ("add_zero", lambda x: apply_op("Add", [_const([0, 0, 0]), x]), gf.float32, (2, 3), []),
    ("sub_zero", _op("Sub", 0), gf.int32, (2, 3), []),
    ("mul_one", lambda x: apply_op("Mul", [x, _const([1.0, 1.0, 1.0])]), gf.float32, (None, 3),
     []),
    ("mul_one", lambda x: apply_op("Mul", [_const([[1.0]]), x]), gf.float32, (2, 3), []),
    ("div_one", _op("RealDiv", 1.0), gf.float32, (2, 3), []),
    ("div_one", _op("Div", 1), gf.int32, (2, 3), []),
    ("pow_one", _op("Pow", 1.0), gf.float32, (None, None), []),
    ("neg_neg", lambda x: gf.negative(gf.negative(x)), gf.float32, (2, 3), []),
    ("sub_self", lambda x: apply_op("Sub", [x, x]), gf.int32, (2, 3), ["ZerosLike"]),
    ("zero_sub", lambda x: apply_op("Sub", [0.0, x]), gf.float32, (2, 3), ["Neg"]),
    ("add_neg", lambda x: apply_op("AddV2", [gf.negative(_second()), x]), gf.float32, (2, 3),
     ["Placeholder", "Sub"]),
    ("neg_sub", lambda x: gf.negative(apply_op("Sub", [x, _second()])), gf.float32, (2, 3),
     ["Placeholder", "Sub"]),
    ("mul_self", lambda x: apply_op("Mul", [x, x]), gf.int32, (2, 3), ["Square"]),
    ("mul_consts", lambda x: apply_op("Mul", [3.0, apply_op("Mul", [x, 2.0])]), gf.float32,
     (2, 3), ["Const", "Mul"]),
    ("add_consts", lambda x: apply_op("Add", [apply_op("AddV2", [x, [1, 2, 3]]), 5]), gf.int32,
     (2, 3), ["Add", "Const"]),
    ("pow_two", _op("Pow", 2), gf.int32, (2, 3), ["Square"]),
    ("pow_half", _op("Pow", 0.5), gf.float32, (2, 3), ["Sqrt"]),
    ("pow_minus_one", _op("Pow", -1.0), gf.float64, (2, 3), ["Reciprocal"]),
    ("div_to_mul", _op("RealDiv", 4.0), gf.float32, (2, 3), ["Const", "Mul"]),
    ("div_to_mul", lambda x: apply_op("Div", [x, _const([2.0, -8.0, 0.5])]), gf.float32, (2, 3),
     ["Const", "Mul"]),
    ("not_compare", lambda x: gf.logical_not(gf.less(x, 1)), gf.int32, (2, 3),
     ["Const", "GreaterEqual"]),
    ("not_compare", lambda x: gf.logical_not(apply_op("Equal", [x, 1.0])), gf.float32, (2, 3),
     ["Const", "NotEqual"]),
    ("cast_same", _op("Cast", SrcT=gf.float32, DstT=gf.float32), gf.float32, (2, 3), []),
    ("cast_cast", lambda x: gf.cast(gf.cast(x, gf.int32), gf.float32), gf.int8, (2, 3), ["Cast"]),
    ("cast_cast", lambda x: gf.cast(gf.cast(x, gf.float64), gf.float32), gf.float32, (2, 3), []),
    ("addn_single", lambda x: apply_op("AddN", [[x]]), gf.float32, (2, 3), []),
    ("transpose_transpose", lambda x: apply_op("Transpose", [apply_op("Transpose", [x, [1, 0]]),
                                                            [1, 0]]), gf.float32, (2, 3), []),
    ("transpose_transpose", lambda x: apply_op("Transpose", [apply_op("Transpose", [x, [1, 2, 0]]),
                                                            [1, 2, 0]]), gf.float32, (2, 3, 4),
     ["Const", "Transpose"]),
    ("reshape_reshape", lambda x: apply_op("Reshape", [apply_op("Reshape", [x, [3, 2]]), [6]]),
     gf.float32, (2, 3), ["Const", "Reshape"]),
    ("reshape_same", _op("Reshape", [2, 3]), gf.float32, (2, 3), []),
    ("squeeze_expand_dims", lambda x: apply_op("Squeeze", [apply_op("ExpandDims", [x, 1])],
                                               {"squeeze_dims": [1]}), gf.float32, (None, 3), []),
    ("squeeze_expand_dims", lambda x: apply_op("Squeeze", [apply_op("ExpandDims", [x, -1])],
                                               {"squeeze_dims": [2]}), gf.float32, (2, 3), []),
    ("squeeze_expand_dims", lambda x: apply_op("Squeeze", [apply_op("ExpandDims", [x, 0])]),
     gf.float32, (2, 3), []),
    ("tile_ones", _op("Tile", [1, 1]), gf.float32, (None, 3), []),
    ("slice_whole", _op("Slice", [0, 0], [-1, 3]), gf.float32, (None, 3), []),
    ("strided_slice_whole", _op("StridedSlice", [5, 0], [0, 9], [1, 1], begin_mask=1, end_mask=1),
     gf.float32, (None, 3), []),
    ("pad_zero", _op("Pad", [[0, 0], [0, 0]]), gf.float32, (None, 3), []),
    ("pad_zero", _op("PadV2", [[0, 0], [0, 0]], 7.0), gf.float32, (2, 3), []),
    ("pad_zero", _op("MirrorPad", [[0, 0], [0, 0]], mode="REFLECT"), gf.float32, (2, 3), []),
    ("select_const", lambda x: apply_op("SelectV2", [True, x, _second()]), gf.float32, (2, 3),
     ["Placeholder"]),
    ("select_const", lambda x: apply_op("Select", [_const([False, False], gf.bool),
                                                   _second(), x]), gf.float32, (2, 3),
     ["Placeholder"]),
]


@pytest.mark.parametrize("rule, build, dtype, shape, left", POSITIVE,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(POSITIVE)])
def test_rule_rewrites(rule, build, dtype, shape, left):
    graph, stats = _simplify(_graph(build, dtype, shape))
    assert stats.get(rule, 0) >= 1, stats
    assert _ops(graph) == sorted(["Identity", "Placeholder"] + left)


def test_constants_are_combined_in_the_op_dtype():
    graph, stats = _simplify(_graph(lambda x: apply_op("Mul", [apply_op("Mul", [x, 2.0]), 3.0])))
    assert stats == {"mul_consts": 1}
    mul = graph.node("y").inputs[0].node
    const = next(r.node for r in mul.inputs if r.node.op == "Const")
    assert const.attrs["value"].dtype == np.float32 and const.attrs["value"] == 6.0


def test_cast_chain_keeps_the_outer_destination():
    graph, _ = _simplify(_graph(lambda x: gf.cast(gf.cast(x, gf.int32), gf.float32), gf.int8))
    cast = graph.node("y").inputs[0].node
    assert (cast.attrs["SrcT"], cast.attrs["DstT"]) == (DType.INT8, DType.FLOAT)


def test_transposes_compose_their_permutations():
    build = lambda x: apply_op("Transpose", [apply_op("Transpose", [x, [1, 2, 0]]), [0, 2, 1]])
    graph, _ = _simplify(_graph(build, shape=(2, 3, 4)))
    transpose = graph.node("y").inputs[0].node
    assert transpose.inputs[1].node.attrs["value"].tolist() == [1, 0, 2]
    assert transpose.out_shapes[0] == (3, 2, 4)


# (why it must stay, build(x), x dtype, x shape)
NEGATIVE = [
    ("ones would broadcast x to [2,3]", lambda x: apply_op("Mul", [x, _const(np.ones((2, 3)))]),
     gf.float32, (2, 1)),
    ("x's dim is unknown: ones[2] may grow it", lambda x: apply_op("Mul", [x, _const([1.] * 2)]),
     gf.float32, (None, None)),
    ("zeros of higher rank", lambda x: apply_op("AddV2", [x, _const([[[0.0]]])]), gf.float32,
     (2, 3)),
    ("float x - x is NaN for inf", lambda x: apply_op("Sub", [x, x]), gf.float32, (2, 3)),
    ("float x * 0 is NaN for inf", _op("Mul", 0.0), gf.float32, (2, 3)),
    ("unsigned 0 - x has no Neg", lambda x: apply_op("Sub", [_const(0, gf.uint8), x]),
     gf.uint8, (2, 3)),
    ("not(x < y) differs for NaN", lambda x: gf.logical_not(gf.less(x, 1.0)), gf.float32, (2, 3)),
    ("int32 -> float32 loses values", lambda x: gf.cast(gf.cast(x, gf.float32), gf.int32),
     gf.int32, (2, 3)),
    ("integer x / c is not x * (1/c)", _op("RealDiv", 4), gf.int32, (2, 3)),
    ("1/c overflows", _op("RealDiv", 1e-39), gf.float32, (2, 3)),
    ("division by zero", _op("RealDiv", 0.0), gf.float32, (2, 3)),
    ("c1*c2 overflows", lambda x: apply_op("Mul", [apply_op("Mul", [x, 1e30]), 1e30]),
     gf.float32, (2, 3)),
    ("c1*c2 underflows", lambda x: apply_op("Mul", [apply_op("Mul", [x, 1e-30]), 1e-30]),
     gf.float32, (2, 3)),
    ("partial slice", _op("Slice", [0, 1], [-1, -1]), gf.float32, (2, 3)),
    ("strided slice with step", _op("StridedSlice", [0], [2], [2]), gf.float32, (2, 3)),
    ("slice end unknown dim", _op("StridedSlice", [0], [2], [1]), gf.float32, (None, 3)),
    ("padding", _op("Pad", [[0, 1], [0, 0]]), gf.float32, (2, 3)),
    ("tiling", _op("Tile", [1, 2]), gf.float32, (2, 3)),
    ("reshape changes shape", _op("Reshape", [3, 2]), gf.float32, (2, 3)),
    ("reshape of unknown shape", _op("Reshape", [2, 3]), gf.float32, (None, 3)),
    ("squeeze of another axis", lambda x: apply_op(
        "Squeeze", [apply_op("ExpandDims", [x, 0])], {"squeeze_dims": [2]}), gf.float32, (2, 1)),
    ("condition broadcasts the branch", lambda x: apply_op(
        "SelectV2", [_const(np.ones((2, 3), bool), gf.bool), x, 1.0]), gf.float32, (3,)),
    ("mixed condition", lambda x: apply_op("SelectV2", [_const([True, False, True], gf.bool),
                                                        x, 1.0]), gf.float32, (2, 3)),
]


@pytest.mark.parametrize("why, build, dtype, shape", NEGATIVE, ids=[c[0] for c in NEGATIVE])
def test_guard_refuses(why, build, dtype, shape):
    g = _graph(build, dtype, shape)
    before = _ops(graph_from_graph_def(g.as_graph_def()))
    graph, stats = _simplify(g)
    assert stats == {}, why
    assert _ops(graph) == before


def test_integer_pow_minus_one_is_not_a_reciprocal():
    # The original fails at run time (negative integer power); Reciprocal would not.
    graph, stats = _simplify(_graph(_op("Pow", -1), gf.int32), compare=False)
    assert stats == {} and "Pow" in _ops(graph)


def test_inner_sum_with_other_users_is_not_reassociated():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.int32, (3,), name="x")
        inner = apply_op("AddV2", [x, 1])
        apply_op("AddV2", [inner, 2], name="y")
        gf.negative(inner, name="z")
    graph, stats = _simplify(g, fetches=("y:0", "z:0"))
    assert stats == {}


def test_fetched_node_keeps_its_name_as_identity():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 3), name="x")
        apply_op("Mul", [x, 1.0], name="m")
    graph, stats = _simplify(g, fetches=("m:0",))
    assert stats == {"mul_one": 1}
    assert graph.node("m").op == "Identity" and graph.node("m").inputs[0].node.name == "x"


def test_target_node_keeps_its_name():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 3), name="x")
        y = gf.negative(gf.negative(x, name="n1"), name="n2")
        apply_op("Identity", [y], name="y")
    graph, stats = _simplify(g, targets=("n2",))
    assert stats == {"neg_neg": 1}
    assert graph.node("n2").op == "Identity"
    assert graph.node("y").inputs[0].node.name == "x"


def test_hit_counts_and_chains_in_one_run():
    def build(x):
        a = gf.negative(gf.negative(gf.negative(gf.negative(x))))
        b = apply_op("Mul", [apply_op("AddV2", [a, 0.0]), 1.0])
        return apply_op("Pow", [b, 2.0])
    graph, stats = _simplify(_graph(build))
    assert stats == {"neg_neg": 2, "add_zero": 1, "mul_one": 1, "pow_two": 1}
    assert _ops(graph) == ["Identity", "Placeholder", "Square"]


def test_pipeline_reaches_a_fixed_point():
    g = _graph(lambda x: gf.negative(apply_op("Sub", [0.0, apply_op("RealDiv", [x, 2.0])])))
    graph_def = g.as_graph_def()
    out, report = passes.optimize(graph_def, fetches=["y:0"], pipeline=["simplify_arithmetic"])
    assert check_equivalent(graph_def, out, ["y:0"], trials=2).ok
    assert sorted(n.op for n in out.node) == ["Const", "Identity", "Mul", "Placeholder"]
    assert report.rewrites()["simplify_arithmetic"] == {"div_to_mul": 1, "zero_sub": 1,
                                                        "neg_neg": 1}


@pytest.mark.parametrize("src, dst, exact", [
    ("int8", "int32", True), ("int32", "float32", False), ("int8", "float32", True),
    ("int16", "float16", False), ("uint8", "int8", False), ("uint8", "int16", True),
    ("int8", "uint32", False), ("int32", "float64", True), ("int64", "float64", False),
    ("float16", "bfloat16", False), ("bfloat16", "float32", True), ("float32", "complex64", True),
    ("float64", "complex64", False), ("complex64", "complex128", True), ("bool", "float16", True),
    ("float32", "bool", False), ("float64", "float32", False),
])
def test_holds_exactly(src, dst, exact):
    assert holds_exactly(DType.parse(src), DType.parse(dst)) is exact


def test_fetched_node_replaced_by_a_new_node_takes_its_name():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, (2, 3), name="x")
        apply_op("Mul", [x, x], name="m")
    graph, stats = _simplify(g, fetches=("m:0",))
    assert stats == {"mul_self": 1}
    assert _ops(graph) == ["Placeholder", "Square"] and graph.node("m").op == "Square"


# Steps that each trigger a rule on a float32 [2, 3] tensor (hypothesis chains them).
_STEPS = [
    lambda x: apply_op("AddV2", [x, 0.0]), lambda x: apply_op("Sub", [x, 0.0]),
    lambda x: apply_op("Mul", [1.0, x]), lambda x: apply_op("RealDiv", [x, 1.0]),
    lambda x: apply_op("Pow", [x, 1.0]), lambda x: gf.negative(gf.negative(x)),
    lambda x: apply_op("Sub", [0.0, x]), lambda x: apply_op("Mul", [x, x]),
    lambda x: apply_op("Mul", [apply_op("Mul", [x, 2.0]), 0.5]),
    lambda x: apply_op("AddV2", [apply_op("Add", [x, 1.0]), -1.5]),
    lambda x: apply_op("Pow", [x, 2.0]), lambda x: apply_op("RealDiv", [x, 4.0]),
    lambda x: gf.cast(gf.cast(x, gf.float64), gf.float32),
    lambda x: apply_op("Transpose", [apply_op("Transpose", [x, [1, 0]]), [1, 0]]),
    lambda x: apply_op("Reshape", [apply_op("Reshape", [x, [3, 2]]), [2, 3]]),
    lambda x: apply_op("Squeeze", [apply_op("ExpandDims", [x, 0])], {"squeeze_dims": [0]}),
    lambda x: apply_op("Tile", [x, [1, 1]]), lambda x: apply_op("Slice", [x, [0, 0], [-1, -1]]),
    lambda x: apply_op("Pad", [x, [[0, 0], [0, 0]]]),
    lambda x: apply_op("SelectV2", [True, x, apply_op("Neg", [x])]),
    lambda x: apply_op("AddV2", [x, gf.negative(apply_op("Sin", [x]))]),
    lambda x: gf.negative(apply_op("Sub", [x, apply_op("Cos", [x])])),
]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_STEPS) - 1), st.booleans()), min_size=1,
                max_size=6))
def test_random_chains_of_rewrites(chain):
    g = gf.Graph()
    fetches = []
    with g.as_default():
        value = gf.placeholder(gf.float32, (2, 3), name="x")
        for i, (step, fetched) in enumerate(chain):
            value = apply_op("Identity", [_STEPS[step](value)], name=f"s{i}") \
                if fetched else _STEPS[step](value)
            fetches += [f"s{i}:0"] if fetched else []
        apply_op("Identity", [value], name="y")
    nodes_before = len(g.as_graph_def().node)
    graph, stats = _simplify(g, fetches=tuple(fetches) + ("y:0",))
    assert stats and len(graph) <= nodes_before
