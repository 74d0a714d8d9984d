"""fold_constants: build a graph -> fold -> assert the structure -> validate -> compare outputs
with the unfolded graph on random feeds; a second run changes nothing."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import gcc_flow as gf
import passes
import runtime
from gcc_flow.framework import apply_op
from passes.base import PassContext
from runtime.check import check_equivalent
from passes.fold_constants import fold_constants
from schema.dtypes import DType
from schema.errors import ExecutionError
from schema.registry import find_op
from schema.serde import attr_to_proto, graph_from_graph_def
from schema.validate import validate


def fold(graph_def, fetches, targets=(), check=True, **settings):
    """Runs the pass on an IR copy of ``graph_def`` with the five checks of a pass test."""
    ir = graph_from_graph_def(graph_def)
    ctx = PassContext(fetches=list(fetches), targets=list(targets), **settings)
    result = fold_constants(ir, ctx)
    validate(ir)
    again = fold_constants(ir, ctx)
    assert not again.modified, f"second run changed the graph: {again.stats}"
    if check:
        outcome = check_equivalent(graph_def, ir, list(fetches), trials=2, targets=targets)
        assert outcome.ok, outcome.first_mismatch
    return ir, result, ctx


def ops(ir) -> dict:
    return {n.name: n.op for n in ir}


def value(ir, name):
    node = ir.node(name)
    assert node.op == "Const", f"{name} is {node.op}"
    return node.attrs["value"]


# -- whole nodes ------------------------------------------------------------------------------

def test_add_of_constants_becomes_one_const_named_after_it():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2], name="x")
        with gf.device("/cpu:0"):
            s = gf.add(gf.constant(2.0), gf.constant(3.0), name="sum")
        gf.multiply(x, s, name="y")
    ir, result, _ = fold(g.as_graph_def(), ["y:0"])
    assert result.modified and result.stats == {"folded": 1}
    assert value(ir, "sum").dtype == np.float32 and value(ir, "sum") == 5.0
    assert ir.node("sum").device == g.get_operation_by_name("sum").node_def.device != ""
    assert ops(ir) == {"x": "Placeholder", "sum": "Const", "y": "Mul"}  # inputs dropped


def test_chains_and_multi_output_nodes_fold_in_one_run():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float64, [2], name="x")
        t = gf.subtract(gf.multiply(gf.add(1.0, 2.0), 4.0), 2.0, name="t")
        parts = gf.split(gf.constant(np.arange(6.0)), 3, name="sp")
        gf.add(x * gf.cast(t, gf.float64, name="t64") - parts[0], parts[2], name="y")
    ir, result, _ = fold(g.as_graph_def(), ["y:0"])
    assert value(ir, "t64") == 10.0 and "t" not in ir  # t was folded, then read by t64
    assert value(ir, "sp/folded_0").tolist() == [0.0, 1.0]
    assert value(ir, "sp/folded_2").tolist() == [4.0, 5.0]
    assert "sp" not in ir and "sp/folded_1" not in ir
    assert result.stats == {"folded": 5}  # Add, Mul, Sub, Cast, Split


def test_shape_size_and_shape_n_of_static_shapes_are_materialized():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2, 3], name="x")
        p = gf.placeholder(gf.float32, [None, 3], name="p")
        sh = apply_op("Shape", [x], {"out_type": gf.int64}, name="sh")
        size = apply_op("Size", [x], name="size")
        shn = apply_op("ShapeN", [[x, p]], name="shn")
        gf.identity(sh, name="o1")
        gf.identity(size, name="o2")
        gf.add(shn[0], shn[1], name="o3")
    ir, result, _ = fold(g.as_graph_def(), ["o1:0", "o2:0", "o3:0"])
    assert value(ir, "sh").tolist() == [2, 3] and value(ir, "sh").dtype == np.int64
    assert ir.node("sh").control_inputs == [ir.node("x")]  # still waits for x, like Grappler
    assert value(ir, "size") == 6
    assert value(ir, "shn/folded_0").tolist() == [2, 3]
    assert ir.node("shn").op == "ShapeN"  # output 1 (p's shape) is only known at run time
    assert result.stats["materialized_shape"] == 3


def test_rank_needs_only_the_rank():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, None, 3], name="x")
        u = gf.placeholder(gf.float32, None, name="u")
        r = apply_op("Rank", [x], name="r")
        ru = apply_op("Rank", [u], name="ru")
        sh = apply_op("Shape", [x], name="sh")
        gf.add(gf.reduce_sum(sh) + r, ru, name="y")
    ir, result, _ = fold(g.as_graph_def(), ["y:0"])
    assert value(ir, "r") == 3 and value(ir, "r").dtype == np.int32
    assert ops(ir)["ru"] == "Rank" and ops(ir)["sh"] == "Shape"
    assert result.stats == {"materialized_shape": 1}


def test_shape_not_representable_in_out_type_is_left_to_the_runtime():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.int8, [2**31], name="x")
        gf.identity(apply_op("Shape", [x], name="s32"), name="y32")
        gf.identity(apply_op("Shape", [x], {"out_type": gf.int64}, name="s64"), name="y64")
    ir, result, _ = fold(g.as_graph_def(), ["y32:0", "y64:0"], check=False)  # 2 GiB feeds
    assert ops(ir)["s32"] == "Shape" and value(ir, "s64").tolist() == [2**31]
    assert result.stats == {"materialized_shape": 1}


# -- partial folds ----------------------------------------------------------------------------

def test_add_n_sums_its_constants_into_one():
    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.full((2, 3), 0.5, np.float32)
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2, 3], name="x")
        gf.add_n([x, gf.constant(a), gf.square(x), gf.constant(b)], name="n")
    ir, result, _ = fold(g.as_graph_def(), ["n:0"])
    node = ir.node("n")
    assert node.op == "AddN" and node.attrs["N"] == 3 and len(node.inputs) == 3
    assert [r.node.op for r in node.inputs] == ["Placeholder", "Const", "Square"]
    np.testing.assert_array_equal(node.inputs[1].node.attrs["value"], a + b)
    assert result.stats == {"partial_addn": 1}  # applies to the fetched node: it stays


def test_concat_folds_each_run_of_adjacent_constants():
    c = [np.full((2, k), k, np.float32) for k in range(1, 7)]
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2, 2], name="x")
        gf.concat([gf.constant(c[0]), gf.constant(c[1]), x, gf.constant(c[2]),
                   gf.constant(c[3]), gf.constant(c[4]), x, gf.constant(c[5])], 1, name="cat")
    ir, result, _ = fold(g.as_graph_def(), ["cat:0"])
    node = ir.node("cat")
    assert node.attrs["N"] == 5 and len(node.inputs) == 6
    kinds = [r.node.op for r in node.inputs[:-1]]
    assert kinds == ["Const", "Placeholder", "Const", "Placeholder", "Const"]
    np.testing.assert_array_equal(node.inputs[0].node.attrs["value"], np.hstack(c[:2]))
    np.testing.assert_array_equal(node.inputs[2].node.attrs["value"], np.hstack(c[2:5]))
    np.testing.assert_array_equal(node.inputs[4].node.attrs["value"], c[5])
    assert result.stats == {"partial_concat": 2}


def test_mul_and_add_chains_are_reassociated():
    c1 = np.array([1.0, 2.0, 3.0], np.float32)
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 3], name="x")
        m = gf.multiply(gf.multiply(gf.multiply(x, 2.0, name="m1"), c1, name="m2"), 4.0, name="m3")
        gf.add(gf.add(gf.constant(1.5), x, name="a1"), gf.constant(c1), name="a2")
        gf.identity(m, name="y")
    ir, result, _ = fold(g.as_graph_def(), ["y:0", "a2:0"])
    m3 = ir.node("m3")
    assert m3.inputs[0].node.name == "x"
    np.testing.assert_array_equal(m3.inputs[1].node.attrs["value"], 2.0 * c1 * 4.0)
    assert "m1" not in ir and "m2" not in ir
    a2 = ir.node("a2")
    assert a2.inputs[0].node.name == "x" and "a1" not in ir
    np.testing.assert_array_equal(a2.inputs[1].node.attrs["value"], 1.5 + c1)
    assert result.stats == {"reassociated": 3}


@pytest.mark.parametrize("x_shape, c2", [
    ((3,), np.ones((2, 3), np.float32)),      # c1 * c2 would broadcast x to [2, 3]
    ((None, 2), np.ones((2, 2), np.float32)),  # x's dim 0 is unknown: not provably unchanged
])
def test_reassociation_refused_when_the_shape_could_change(x_shape, c2):
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, x_shape, name="x")
        gf.multiply(gf.multiply(x, 2.0, name="inner"), c2, name="y")
    ir, result, _ = fold(g.as_graph_def(), ["y:0"])
    assert not result.modified and ir.node("y").inputs[0].node.name == "inner"


# -- never folded -----------------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["is_stateful", "is_random", "is_side_effecting"])
def test_ops_flagged_stateful_random_or_side_effecting_are_not_folded(flag, monkeypatch):
    monkeypatch.setattr(find_op("Sin"), flag, True)
    g = gf.Graph()
    with g.as_default():
        gf.add(gf.sin(gf.constant(1.0), name="s"), 1.0, name="y")
    ir, result, _ = fold(g.as_graph_def(), ["y:0"])
    assert ops(ir)["s"] == "Sin" and ops(ir)["y"] == "AddV2" and not result.modified


@pytest.mark.parametrize("use_resource", [True, False])
def test_variables_are_not_folded(use_resource):
    g = gf.Graph()
    with g.as_default():
        v = gf.Variable(np.ones(3, np.float32), name="v", use_resource=use_resource)
        gf.multiply(v, gf.add(2.0, 3.0, name="k"), name="y")
        gf.global_variables_initializer()
    before = graph_from_graph_def(g.as_graph_def())
    kept = {n.name: n.op for n in before if n.op_def.has_side_effects or n.op == "Identity"}
    ir, result, _ = fold(g.as_graph_def(), ["y:0"], targets=["init"])
    assert ops(ir)["k"] == "Const" and result.stats == {"folded": 1}
    assert kept and {name: ops(ir).get(name) for name in kept} == kept


def test_fetched_and_target_nodes_are_not_folded():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.int32, [2], name="x")
        f = gf.add(gf.constant(2), gf.constant(3), name="fetched")
        t = gf.multiply(gf.constant(2), gf.constant(3), name="target")
        gf.add(x * f, t, name="y")
    ir, result, _ = fold(g.as_graph_def(), ["fetched:0", "y:0"], targets=["target"])
    assert ops(ir)["fetched"] == "AddV2" and ops(ir)["target"] == "Mul"
    assert not result.modified


def test_placeholder_with_default_and_ops_without_kernel_are_not_folded(monkeypatch):
    import passes.fold_constants as module
    g = gf.Graph()
    with g.as_default():
        d = gf.placeholder_with_default(gf.constant([1.0, 2.0]), [2], name="d")
        gf.add(gf.negative(gf.constant(1.0), name="neg"), d, name="y")
    real = module.KERNELS.lookup
    with monkeypatch.context() as patch:
        patch.setattr(module.KERNELS, "lookup",
                      lambda op, device="cpu": None if op == "Neg" else real(op, device))
        ir, result, _ = fold(g.as_graph_def(), ["y:0"], check=False)
    assert ops(ir)["d"] == "PlaceholderWithDefault" and ops(ir)["neg"] == "Neg"
    assert not result.modified
    assert check_equivalent(g.as_graph_def(), ir, ["y:0"]).ok


def test_nodes_inside_cond_branches_and_loops_are_not_folded():
    g = gf.Graph()
    with g.as_default():
        pred = gf.placeholder(gf.bool, [], name="pred")
        gf.identity(gf.cond(pred, lambda: gf.add(gf.constant(4.0), gf.constant(7.0),
                                                 name="inside"),
                            lambda: gf.constant(1.0)), name="z")
        gf.identity(gf.while_loop(lambda i: i < 5, lambda i: i + gf.constant(2) * 3,
                                  [gf.constant(0)]), name="w")
        gf.identity(gf.add(gf.constant(2.0), gf.constant(3.0), name="outside"), name="y")
    gd = g.as_graph_def()
    ir = graph_from_graph_def(gd)
    ctx = PassContext(fetches=["z:0", "w:0", "y:0"])
    result = fold_constants(ir, ctx)
    inside = [n for n in ir if n.name.endswith("inside")]
    assert inside and inside[0].op == "AddV2"              # in a branch: may be dead
    loop_ops = {n.op for n in ir if n.name.startswith("while")}
    assert {"Enter", "Merge", "Switch", "NextIteration", "Exit", "Mul"} <= loop_ops
    assert ops(ir)["outside"] == "Const" and result.stats.get("folded") == 1
    assert not fold_constants(ir, ctx).modified
    for pred_value in (True, False):
        want = runtime.load(gd).run(["z:0", "w:0", "y:0"], {"pred:0": pred_value})
        got = runtime.Session(ir).run(["z:0", "w:0", "y:0"], {"pred:0": pred_value})
        for a, b in zip(want, got):
            np.testing.assert_array_equal(a, b)


def test_control_dependencies_are_kept():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2], name="x")
        first = gf.no_op(name="first")
        second = gf.no_op(name="second")
        with gf.control_dependencies([first]):
            a = gf.constant(2.0, name="a")
        with gf.control_dependencies([second]):
            s = gf.add(a, gf.constant(3.0), name="s")
        with gf.control_dependencies([s.op]):
            w = gf.identity(x, name="w")
        gf.multiply(w, s, name="y")
    ir, _, _ = fold(g.as_graph_def(), ["y:0"])
    s_node = ir.node("s")
    assert s_node.op == "Const" and {c.name for c in s_node.control_inputs} == {"first", "second"}
    assert [c.name for c in ir.node("w").control_inputs] == ["s"]
    assert "a" not in ir


# -- limits and errors ------------------------------------------------------------------------

def test_huge_fill_stays_unfolded_and_allocates_nothing():
    g = gf.Graph()
    with g.as_default():
        gf.reduce_sum(gf.fill([100000, 10000], 1.0, name="big"), name="total")
    gd = g.as_graph_def()
    tracemalloc.start()
    try:
        ir, result, ctx = fold(gd, ["total:0"], check=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 << 20, f"folding allocated {peak} bytes"
    assert ops(ir)["big"] == "Fill" and not result.modified
    assert result.stats == {"skipped_too_large": 1}
    assert ctx.notes == ["fold_constants: kept big (Fill): result of 4000000000 bytes is over "
                         "max_folded_bytes=10485760"]
    _, report = passes.optimize(gd, ["total:0"], pipeline=["fold_constants"])
    assert report.notes == ctx.notes


@pytest.mark.parametrize("build", [
    lambda: gf.fill([64, 64], 1.0, name="n"),                       # the kernel's byte budget
    lambda: gf.add(gf.ones([64, 1]), gf.ones([1, 64]), name="n"),   # the check on the result
])
def test_results_over_the_cap_are_refused_without_a_static_shape(build):
    g = gf.Graph()
    with g.as_default():
        gf.identity(build(), name="y")
    ir = graph_from_graph_def(g.as_graph_def())
    ir.node("n").out_shapes = [None]  # as if shape inference knew nothing
    ctx = PassContext(fetches=["y:0"], max_folded_bytes=1024)
    result = fold_constants(ir, ctx)
    assert ops(ir)["n"] != "Const" and result.stats.get("skipped_too_large") == 1
    assert "over max_folded_bytes=1024" in ctx.notes[-1]


def test_integer_division_by_zero_is_left_to_the_runtime():
    g = gf.Graph()
    with g.as_default():
        d = gf.floordiv(gf.constant([1, 2]), gf.constant([0, 1]), name="d")
        gf.identity(d, name="y")
    gd = g.as_graph_def()
    ir, result, ctx = fold(gd, ["y:0"], check=False)
    assert ops(ir)["d"] == "FloorDiv" and result.stats == {"skipped_error": 1}
    assert ctx.notes[0].startswith("fold_constants: kept d (FloorDiv): evaluation failed")
    for model in (gd, ir):
        with pytest.raises(ExecutionError, match="division by zero"):
            runtime.load(model).run("y:0")


def test_float_division_by_zero_folds_to_inf_as_the_runtime_computes():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2], name="x")
        q = gf.realdiv(gf.constant([1.0, -1.0]), gf.constant([0.0, 0.0]), name="q")
        gf.add(x, q, name="y")
    ir, result, _ = fold(g.as_graph_def(), ["y:0"])
    assert value(ir, "q").tolist() == [np.inf, -np.inf] and result.stats == {"folded": 1}
