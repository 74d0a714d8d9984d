"""Sequences and optionals (gcc_flow/onnx/ops/sequence.py, schema/ops/onnx_ext_sequence.py):
small ONNX models with sequence and optional values, inputs and outputs, imported and run by
gcc-flow, compared with onnxruntime on random inputs; plus their runtime errors and refusals."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402
from onnx_convert_check import run_gcc_flow, run_onnxruntime  # noqa: E402

from gcc_flow.onnx.context import OnnxImportError  # noqa: E402
from gcc_flow.onnx.importer import import_graph  # noqa: E402
from runtime.kernels.onnx_ext_sequence import TensorSequence  # noqa: E402
from schema.errors import ExecutionError  # noqa: E402

RNG = np.random.default_rng(8)
F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
node = helper.make_node


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def tensor(name, elem=F, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def seq(name, elem=F):
    return helper.make_tensor_sequence_value_info(name, elem, None)


def opt(name, elem=F, shape=None):
    inner = helper.make_tensor_type_proto(elem, shape)
    return helper.make_value_info(name, helper.make_optional_type_proto(inner))


def make(nodes, inputs, outputs, opset=18):
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def assert_same(got, want):
    if isinstance(want, list):
        assert isinstance(got, TensorSequence) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_same(g, w)
        return
    got = np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape,
                                                                  want.dtype, want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def check(model, feeds):
    want = run_onnxruntime(model, feeds)
    got = run_gcc_flow(model, feeds)
    for g, w in zip(got, want):
        assert_same(g, w)
    return got


def test_sequence_ops_match_onnxruntime():
    """Construct, insert at -1, erase at 0, read at -1, length, concat and stack."""
    nodes = [node("SequenceConstruct", ["a", "b"], ["s1"]),
             node("SequenceInsert", ["s1", "c", "minus_one"], ["s2"]),
             node("SequenceErase", ["s2", "zero"], ["s3"]),
             node("SequenceAt", ["s3", "minus_one"], ["last"]),
             node("SequenceLength", ["s3"], ["n"]),
             node("ConcatFromSequence", ["s2"], ["cat"], axis=1),
             node("ConcatFromSequence", ["s2"], ["stacked"], axis=-1, new_axis=1)]
    inits = [helper.make_tensor("minus_one", I64, [], [-1]),
             helper.make_tensor("zero", I64, [1], [0])]
    model = make(nodes, [tensor("a", F, [2, 3]), tensor("b", F, [2, 3]), tensor("c", F, [2, 3])],
                 [seq("s2"), seq("s3"), tensor("last", F, [2, 3]), tensor("n", I64, []),
                  tensor("cat", F, [2, 9]), tensor("stacked", F, [2, 3, 3])])
    model.graph.initializer.extend(inits)
    a, b, c = f32(2, 3), f32(2, 3), f32(2, 3)
    s2, s3, last, n, cat, stacked = check(model, {"a": a, "b": b, "c": c})
    np.testing.assert_array_equal(last, b)     # [a, c, b] -> erase a -> [c, b]
    assert int(n) == 2 and cat.shape == (2, 9) and stacked.shape == (2, 3, 3)


@pytest.mark.parametrize("split,attrs", [(np.array(4, np.int64), {"axis": 1}),
                                         (np.array([1, 2], np.int64), {"axis": 0}),
                                         (None, {"axis": 1, "keepdims": 0})])
def test_split_to_sequence(split, attrs):
    inputs, names, feeds = [tensor("x", F, [3, 6])], ["x"], {"x": f32(3, 6)}
    if split is not None:
        inputs.append(tensor("split", I64, list(split.shape)))
        names.append("split")
        feeds["split"] = split
    model = make([node("SplitToSequence", names, ["s"], **attrs)], inputs, [seq("s")])
    (s,) = check(model, feeds)
    assert isinstance(s, TensorSequence)


def test_sequence_input_carried_through_a_loop():
    """loop13_seq's shape: s = s + [x[:i + 1]] for i < M, starting from a fed sequence."""
    body = helper.make_graph(
        [node("Identity", ["c"], ["c_out"]), helper.make_node(
            "Constant", [], ["one"], value=helper.make_tensor("one", I64, [1], [1])),
         node("Unsqueeze", ["i", "zero"], ["i1"]), node("Add", ["i1", "one"], ["end"]),
         node("Slice", ["x", "zero", "end"], ["piece"]),
         node("SequenceInsert", ["s", "piece"], ["s_out"])],
        "body", [tensor("i", I64, []), tensor("c", B, []), seq("s")],
        [tensor("c_out", B, []), seq("s_out")])
    loop = node("Loop", ["M", "", "s0"], ["s"], body=body)
    model = make([loop], [tensor("M", I64, []), tensor("x", F, [5]), seq("s0")], [seq("s")])
    model.graph.initializer.append(helper.make_tensor("zero", I64, [1], [0]))
    x = f32(5)
    (s,) = check(model, {"M": np.array(3, np.int64), "x": x, "s0": [f32(2)]})
    assert [t.shape for t in s] == [(2,), (1,), (2,), (3,)]


def test_sequence_map_over_two_sequences_and_a_tensor():
    body = helper.make_graph([node("Add", ["p", "q"], ["pq"]), node("Mul", ["pq", "w"], ["y"]),
                              node("Shape", ["p"], ["shape"])], "body",
                             [tensor("p", F, ["n"]), tensor("q", F, ["n"]), tensor("w", F, [1])],
                             [tensor("y", F, ["n"]), tensor("shape", I64, [1])])
    model = make([node("SequenceMap", ["s", "t", "w"], ["ys", "shapes"], body=body)],
                 [seq("s"), seq("t"), tensor("w", F, [1])], [seq("ys"), seq("shapes", I64)],
                 opset=17)
    feeds = {"s": [f32(3), f32(1), f32(4)], "t": [f32(3), f32(1), f32(4)], "w": f32(1)}
    ys, shapes = check(model, feeds)
    assert [int(s[0]) for s in shapes] == [3, 1, 4]


def optional_model():
    """has = OptionalHasElement(o); value = OptionalGetElement(If(has) o's value else zeros)."""
    then_branch = helper.make_graph([node("OptionalGetElement", ["o"], ["v"])], "t", [],
                                    [tensor("v", F, [3])])
    else_branch = helper.make_graph([node("Constant", [], ["z"], value=helper.make_tensor(
        "z", F, [3], [0, 0, 0]))], "e", [], [tensor("z", F, [3])])
    nodes = [node("OptionalHasElement", ["o"], ["has"]),
             node("If", ["has"], ["value"], then_branch=then_branch, else_branch=else_branch),
             node("Optional", ["value"], ["wrapped"]),
             node("OptionalHasElement", ["wrapped"], ["has_wrapped"])]
    return make(nodes, [opt("o", F, [3])], [tensor("has", B, []), tensor("value", F, [3]),
                                            tensor("has_wrapped", B, [])], opset=18)


@pytest.mark.parametrize("present", [True, False])
def test_optional_input_present_or_empty(present):
    x = f32(3)
    has, value, has_wrapped = run_gcc_flow(optional_model(), {"o": x if present else None})
    assert bool(has) == present and bool(has_wrapped)
    np.testing.assert_array_equal(value, x if present else np.zeros(3, np.float32))
    if present:
        check(optional_model(), {"o": x})


def test_empty_optional_of_a_declared_type():
    empty = node("Optional", [], ["o"], type=helper.make_tensor_type_proto(F, [2]))
    model = make([empty, node("OptionalHasElement", ["o"], ["has"])], [],
                 [tensor("has", B, [])])
    (has,) = check(model, {})
    assert not bool(has)


def test_sequence_errors_name_the_node():
    model = make([node("SequenceAt", ["s", "p"], ["y"], name="pick")],
                 [seq("s"), tensor("p", I64, [])], [tensor("y", F, ["n"])])
    with pytest.raises(ExecutionError, match="pick.*position 5 is out of range"):
        run_gcc_flow(model, {"s": [f32(2)], "p": np.array(5, np.int64)})
    with pytest.raises(ExecutionError, match="holds a float64 tensor, expected float32"):
        run_gcc_flow(model, {"s": [np.zeros(2)], "p": np.array(0, np.int64)})
    bad = make([node("SequenceInsert", ["s", "x"], ["t"])],
               [seq("s"), tensor("x", I64, [2])], [seq("t")])
    with pytest.raises(OnnxImportError, match="inserts a int64 tensor into a sequence of float32"):
        import_graph(bad)


def test_fetched_sequences_are_copies():
    model = make([node("Identity", ["s"], ["t"])], [seq("s")], [seq("t")])
    fed = [f32(2), f32(3)]
    (got,) = run_gcc_flow(model, {"s": fed})
    assert isinstance(got, TensorSequence) and [g.shape for g in got] == [(2,), (3,)]
    got[0][0] = 99.0
    assert fed[0][0] != 99.0
