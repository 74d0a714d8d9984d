"""If, Loop and Scan (gcc_flow/onnx/ops/control_flow.py): small ONNX models built with
onnx.helper, imported as TensorFlow v1 control flow and run by the runtime, compared with
onnxruntime on random inputs; plus the graph structure they become and their refusals."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402
from onnx_convert_check import run_gcc_flow, run_onnxruntime  # noqa: E402

from gcc_flow.onnx.context import OnnxImportError  # noqa: E402
from gcc_flow.onnx.importer import import_graph  # noqa: E402
from runtime.session import Session  # noqa: E402
from schema.errors import ExecutionError  # noqa: E402
from schema.limits import Limits  # noqa: E402
from schema.validate import validate  # noqa: E402

RNG = np.random.default_rng(5)
F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
node = helper.make_node


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def info(name, elem=F, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def const_node(name, value):
    return node("Constant", [], [name], value=helper.make_tensor(
        name, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape, value.ravel()))


def make(nodes, inputs, outputs, opset=18):
    """A model; ``outputs`` are (name, elem type[, shape]) and without a shape get an empty
    one (onnx's checker wants the field; neither runtime holds it against the values)."""
    graph = helper.make_graph(nodes, "g", inputs, [info(o[0], o[1], o[2] if len(o) > 2 else [])
                                                   for o in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def check(model, feeds, rtol=1e-5):
    """gcc-flow's outputs equal onnxruntime's (dtype, shape, values)."""
    feeds = {k: np.asarray(v) for k, v in feeds.items()}
    want = run_onnxruntime(model, feeds)
    got = run_gcc_flow(model, feeds)
    for g, w in zip(got, want):
        g = np.asarray(g)
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-5)
    return got


def ops_of(model) -> list[str]:
    return [n.op for n in import_graph(model).graph.ir.nodes.values()]


# -- If --------------------------------------------------------------------------------------

def if_model(cond_as_input=True):
    """then: x * 2 (shape [2, 3]); else: ReduceSum(x + y, axis 0) (shape [3]); both read the
    outer x, the else branch also the outer y."""
    then_branch = helper.make_graph(
        [const_node("two", np.float32(2)), node("Mul", ["x", "two"], ["t"])],
        "then", [], [info("t")])
    else_branch = helper.make_graph(
        [node("Add", ["x", "y"], ["s"]), const_node("axes", np.array([0], np.int64)),
         node("ReduceSum", ["s", "axes"], ["e"], keepdims=0)], "else", [], [info("e")])
    inputs = [info("x", F, [2, 3]), info("y", F, [2, 3])]
    nodes = [node("If", ["c"], ["out"], then_branch=then_branch, else_branch=else_branch),
             node("Neg", ["out"], ["z"])]
    inits = []
    if cond_as_input:
        inputs.append(info("c", B, []))
    else:
        inits.append(helper.make_tensor("c", B, [], [False]))
    model = make(nodes, inputs, [("z", F)])
    model.graph.initializer.extend(inits)
    return model


@pytest.mark.parametrize("cond", [True, False])
def test_if_runs_the_chosen_branch_with_its_own_shape(cond):
    x, y = f32(2, 3), f32(2, 3)
    (z,) = check(if_model(), {"x": x, "y": y, "c": np.array(cond)})
    np.testing.assert_allclose(z, -2 * x if cond else -(x + y).sum(0), rtol=1e-6)


def test_if_becomes_switch_and_merge():
    model = if_model()
    graph = import_graph(model).graph
    ops = [n.op for n in graph.ir.nodes.values()]
    assert "Switch" in ops and "Merge" in ops and "If" not in ops
    merge = next(n for n in graph.ir.nodes.values() if n.op == "Merge")
    assert merge.out_shapes[0] is None        # [2, 3] and [3] merge to an unknown shape
    validate(graph.ir)


def test_if_with_a_condition_known_at_import_takes_its_branch():
    model = if_model(cond_as_input=False)
    assert "Switch" not in ops_of(model) and "Merge" not in ops_of(model)
    x, y = f32(2, 3), f32(2, 3)
    (z,) = check(model, {"x": x, "y": y})
    np.testing.assert_allclose(z, -(x + y).sum(0), rtol=1e-6)


def test_if_branches_of_different_dtypes_are_refused():
    then_branch = helper.make_graph([const_node("a", np.float32(1))], "t", [], [info("a")])
    else_branch = helper.make_graph([const_node("b", np.int64(1))], "e", [], [info("b", I64)])
    model = make([node("If", ["c"], ["o"], then_branch=then_branch, else_branch=else_branch)],
                 [info("c", B, [])], [("o", F)])
    with pytest.raises(OnnxImportError, match="If.*branches return"):
        import_graph(model)


# -- Loop ------------------------------------------------------------------------------------

def accumulate_body():
    """(i, c, acc[3]) => (sum(acc') < limit, acc' = acc + x * i, scan acc' * 2); x and limit
    come from the enclosing graph."""
    return helper.make_graph(
        [node("Cast", ["i"], ["fi"], to=F), node("Mul", ["x", "fi"], ["step"]),
         node("Add", ["acc", "step"], ["acc_out"]),
         node("ReduceSum", ["acc_out"], ["total"], keepdims=0),
         node("Less", ["total", "limit"], ["c_out"]),
         const_node("two", np.float32(2)), node("Mul", ["acc_out", "two"], ["elem"])],
        "body", [info("i", I64, []), info("c", B, []), info("acc", F, [3])],
        [info("c_out", B, []), info("acc_out", F, [3]), info("elem", F, [3])])


def accumulate_model(trip="M", cond="c0"):
    inputs = [info("x", F, [3]), info("limit", F, []), info("acc0", F, [3])]
    inputs += [info("M", I64, [])] if trip else []
    inputs += [info("c0", B, [])] if cond else []
    loop = node("Loop", [trip, cond, "acc0"], ["acc", "scan"], body=accumulate_body())
    return make([loop], inputs, [("acc", F, [3]), ("scan", F, ["n", 3])])


@pytest.mark.parametrize("trip,limit", [(5, 1e9), (7, 4.0), (0, 1e9)])
def test_loop_with_trip_count_condition_and_scan_output(trip, limit):
    x, acc0 = np.abs(f32(3)), f32(3)
    feeds = {"x": x, "limit": np.float32(limit), "acc0": acc0, "M": np.int64(trip),
             "c0": np.array(True)}
    acc, scan = check(accumulate_model(), feeds)
    assert scan.shape[0] == (trip if limit > 1e8 else scan.shape[0]) and scan.shape[1:] == (3,)
    if trip == 0:
        np.testing.assert_array_equal(acc, acc0)


def test_loop_condition_false_at_the_start_runs_no_iteration():
    feeds = {"x": f32(3), "limit": np.float32(1), "acc0": f32(3), "M": np.int64(4),
             "c0": np.array(False)}
    acc, scan = check(accumulate_model(), feeds)
    assert scan.shape == (0, 3)


def test_loop_with_only_a_condition_or_only_a_trip_count():
    x, acc0 = np.abs(f32(3)) + 0.1, np.zeros(3, np.float32)
    base = {"x": x, "limit": np.float32(6), "acc0": acc0}
    acc, scan = check(accumulate_model(trip=""), {**base, "c0": np.array(True)})
    assert acc.sum() >= 6 and scan.shape[0] >= 1
    # without a cond input the body's condition still stops the loop (as in onnxruntime)
    acc, scan = check(accumulate_model(cond=""), {**base, "M": np.int64(50)})
    assert acc.sum() >= 6 and scan.shape[0] < 50
    acc, scan = check(accumulate_model(cond=""), {**base, "M": np.int64(2)})
    assert scan.shape == (2, 3)


def test_loop_becomes_a_v1_while_loop():
    graph = import_graph(accumulate_model()).graph
    ops = [n.op for n in graph.ir.nodes.values()]
    for op in ("Enter", "Merge", "LoopCond", "Switch", "NextIteration", "Exit", "ConcatV2"):
        assert op in ops, op
    assert "Loop" not in ops
    validate(graph.ir)


def growing_model():
    """v grows by one element per iteration (its shape changes); the scan output is its sum."""
    body = helper.make_graph(
        [node("Cast", ["i"], ["fi"], to=F), const_node("axes", np.array([0], np.int64)),
         node("Unsqueeze", ["fi", "axes"], ["fi1"]),
         node("Concat", ["v", "fi1"], ["v_out"], axis=0),
         node("ReduceSum", ["v_out"], ["s"], keepdims=0), node("Identity", ["c"], ["c_out"])],
        "body", [info("i", I64, []), info("c", B, []), info("v", F, ["k"])],
        [info("c_out", B, []), info("v_out", F, ["k2"]), info("s", F, [])])
    loop = node("Loop", ["M", "", "v0"], ["v", "sums"], body=body)
    return make([loop], [info("M", I64, []), info("v0", F, [2])],
                [("v", F, ["n"]), ("sums", F, ["m"])])


def test_loop_carried_value_whose_shape_changes():
    v0 = f32(2)
    v, sums = check(growing_model(), {"M": np.int64(4), "v0": v0})
    np.testing.assert_allclose(v, np.concatenate([v0, [0, 1, 2, 3]]), rtol=1e-6)
    graph = import_graph(growing_model()).graph
    merges = [n for n in graph.ir.nodes.values() if n.op == "Merge"]
    assert any(m.out_shapes[0] == (None,) for m in merges)   # v's shape relaxed to [?]


def test_loop_runaway_condition_hits_the_iteration_cap():
    body = helper.make_graph([node("Identity", ["c"], ["c_out"]),
                              node("Identity", ["v"], ["v_out"])], "body",
                             [info("i", I64, []), info("c", B, []), info("v", F, [1])],
                             [info("c_out", B, []), info("v_out", F, [1])])
    model = make([node("Loop", ["", "c0", "v0"], ["v"], body=body)],
                 [info("c0", B, []), info("v0", F, [1])], [("v", F, [1])])
    result = import_graph(model)
    session = Session(result.graph.ir, limits=Limits(max_loop_iterations=50))
    feeds = dict(result.inputs)
    with pytest.raises(ExecutionError, match="max_loop_iterations"):
        session.run(dict(result.outputs)["v"], {feeds["c0"]: np.array(True),
                                                 feeds["v0"]: f32(1)})


# -- nesting ---------------------------------------------------------------------------------

def test_if_inside_a_loop_body_reads_the_body_and_the_outer_graph():
    """body(i, c, v): v' = If(i < 2) then v + x else v * 0.5; x from the outer graph, v and
    i from the body (two levels of captured names)."""
    then_branch = helper.make_graph([node("Add", ["v", "x"], ["a"])], "t", [], [info("a")])
    else_branch = helper.make_graph([const_node("half", np.float32(0.5)),
                                     node("Mul", ["v", "half"], ["b"])], "e", [], [info("b")])
    body = helper.make_graph(
        [const_node("two", np.array(2, np.int64)), node("Less", ["i", "two"], ["early"]),
         node("If", ["early"], ["v_out"], then_branch=then_branch, else_branch=else_branch),
         node("Identity", ["c"], ["c_out"])],
        "body", [info("i", I64, []), info("c", B, []), info("v", F, [4])],
        [info("c_out", B, []), info("v_out", F, [4]), info("v_out_scan", F, [4])])
    body.node.append(node("Identity", ["v_out"], ["v_out_scan"]))
    model = make([node("Loop", ["M", "", "v0"], ["v", "trace"], body=body)],
                 [info("M", I64, []), info("x", F, [4]), info("v0", F, [4])],
                 [("v", F, [4]), ("trace", F, ["n", 4])])
    x, v0 = f32(4), f32(4)
    v, trace = check(model, {"M": np.int64(5), "x": x, "v0": v0})
    np.testing.assert_allclose(v, (v0 + 2 * x) * 0.125, rtol=1e-5)
    assert trace.shape == (5, 4)


def test_loop_inside_an_if_branch():
    body = helper.make_graph(
        [node("Add", ["v", "v"], ["v_out"]), node("Identity", ["c"], ["c_out"])], "body",
        [info("i", I64, []), info("c", B, []), info("v", F, [3])],
        [info("c_out", B, []), info("v_out", F, [3])])
    then_branch = helper.make_graph([node("Loop", ["M", "", "x"], ["l"], body=body)], "t", [],
                                    [info("l", F, [3])])
    else_branch = helper.make_graph([node("Neg", ["x"], ["n"])], "e", [], [info("n", F, [3])])
    model = make([node("If", ["c"], ["y"], then_branch=then_branch, else_branch=else_branch)],
                 [info("c", B, []), info("M", I64, []), info("x", F, [3])], [("y", F, [3])])
    x = f32(3)
    for cond in (True, False):
        (y,) = check(model, {"c": np.array(cond), "M": np.int64(3), "x": x})
        np.testing.assert_allclose(y, 8 * x if cond else -x, rtol=1e-6)


def test_subgraphs_nested_too_deep_are_refused():
    graph = helper.make_graph([node("Identity", ["x"], ["o0"])], "leaf", [], [info("o0")])
    leaf = helper.make_graph([node("Neg", ["x"], ["n"])], "leaf", [], [info("n")])
    for depth in range(1, 20):
        graph = helper.make_graph(
            [node("If", ["c"], [f"o{depth}"], then_branch=graph, else_branch=leaf)],
            f"level{depth}", [], [info(f"o{depth}")])
    model = make(list(graph.node), [info("c", B, []), info("x", F, [1])], [("o19", F, [1])])
    with pytest.raises(OnnxImportError, match="nest deeper than 16"):
        import_graph(model)


# -- Scan ------------------------------------------------------------------------------------

def scan_body():
    """(sum[2], a[2], b[2]) => (sum + a * b, sum', a - b)"""
    return helper.make_graph(
        [node("Mul", ["a", "b"], ["ab"]), node("Add", ["s", "ab"], ["s_out"]),
         node("Identity", ["s_out"], ["y1"]), node("Sub", ["a", "b"], ["y2"])],
        "body", [info("s", F, [2]), info("a", F, [2]), info("b", F, [2])],
        [info("s_out", F, [2]), info("y1", F, [2]), info("y2", F, [2])])


def test_scan_with_axes_and_directions():
    """a scanned along axis 0 forwards, b along axis 1 backwards; the first output stacked
    along axis 1, the second prepended (reversed)."""
    scan = node("Scan", ["s0", "a", "b"], ["s", "y1", "y2"], body=scan_body(),
                num_scan_inputs=2, scan_input_axes=[0, 1], scan_input_directions=[0, 1],
                scan_output_axes=[1, 0], scan_output_directions=[0, 1])
    model = make([scan], [info("s0", F, [2]), info("a", F, [5, 2]), info("b", F, [2, 5])],
                 [("s", F, [2]), ("y1", F, [2, 5]), ("y2", F, [5, 2])], opset=16)
    s0, a, b = f32(2), f32(5, 2), f32(2, 5)
    s, y1, y2 = check(model, {"s0": s0, "a": a, "b": b})
    np.testing.assert_allclose(s, s0 + (a * b.T[::-1]).sum(0), rtol=1e-5)
    np.testing.assert_allclose(y2, (a - b.T[::-1])[::-1], rtol=1e-6)


def test_scan_opset_8_loops_over_the_batch():
    scan = node("Scan", ["", "s0", "a", "b"], ["s", "y1", "y2"], body=scan_body(),
                num_scan_inputs=2, directions=[0, 1])
    model = make([scan], [info("s0", F, [3, 2]), info("a", F, [3, 4, 2]),
                          info("b", F, [3, 4, 2])],
                 [("s", F, [3, 2]), ("y1", F, [3, 4, 2]), ("y2", F, [3, 4, 2])], opset=8)
    s0, a, b = f32(3, 2), f32(3, 4, 2), f32(3, 4, 2)
    s, y1, y2 = run_gcc_flow(model, {"s0": s0, "a": a, "b": b})
    np.testing.assert_allclose(s, s0 + (a * b[:, ::-1]).sum(1), rtol=1e-5)
    np.testing.assert_allclose(y1, s0[:, None] + np.cumsum(a * b[:, ::-1], axis=1),
                               rtol=1e-5)
    np.testing.assert_allclose(y2, a - b[:, ::-1], rtol=1e-6)


def test_scan_opset_8_sequence_lens_are_refused():
    scan = node("Scan", ["lens", "s0", "a", "b"], ["s", "y1", "y2"], body=scan_body(),
                num_scan_inputs=2)
    model = make([scan], [info("lens", TensorProto.INT32, [1]), info("s0", F, [1, 2]),
                          info("a", F, [1, 4, 2]), info("b", F, [1, 4, 2])],
                 [("s", F, [1, 2]), ("y1", F, [1, 4, 2]), ("y2", F, [1, 4, 2])], opset=8)
    with pytest.raises(OnnxImportError, match="not supported: Scan with sequence_lens"):
        import_graph(model)


def test_loop_scan_output_of_a_shape_known_only_at_run_time():
    """The element x[:k] has a fed length: the stack is reshaped to [i, k] before each push."""
    body = helper.make_graph(
        [node("Slice", ["x", "zero", "k"], ["piece"]), node("Cast", ["i"], ["fi"], to=F),
         node("Mul", ["piece", "fi"], ["elem"]), node("Identity", ["c"], ["c_out"])],
        "body", [info("i", I64, []), info("c", B, [])], [info("c_out", B, []),
                                                        info("elem", F, ["k"])])
    model = make([node("Loop", ["M", ""], ["stack"], body=body)],
                 [info("M", I64, []), info("x", F, [6]), info("k", I64, [1])],
                 [("stack", F, ["n", "k"])])
    model.graph.initializer.append(helper.make_tensor("zero", I64, [1], [0]))
    x = f32(6)
    (stack,) = check(model, {"M": np.int64(4), "x": x, "k": np.array([3], np.int64)})
    np.testing.assert_allclose(stack, np.arange(4)[:, None] * x[:3], rtol=1e-6)
