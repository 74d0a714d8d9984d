"""If, Loop and Scan (gcc_flow/onnx/ops/control_flow.py): small ONNX models built with
onnx.helper, imported as TensorFlow v1 control flow and run by the runtime, compared with
onnxruntime on random inputs; plus the graph structure they become and their refusals."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402
from onnx_convert_check import run_gcc_flow, run_onnxruntime  # noqa: E402

from gcc_flow.onnx.backend import prepare  # noqa: E402
from gcc_flow.onnx.context import OnnxImportError  # noqa: E402
from gcc_flow.onnx.importer import import_graph  # noqa: E402
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
