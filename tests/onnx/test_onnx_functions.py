"""Ops without a converter run through their ONNX function body; a converter's NotSupported
falls back to the body and leaves no stray nodes; model-local functions are inlined."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from gcc_flow.onnx import NotSupported, import_graph
from gcc_flow.onnx.ops import CONVERTERS
from onnx_reference_check import check, node_model

X = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)


def _fn_nodes(node, feeds, opset):
    model = node_model(node, feeds, opset, {"y": X})
    return [n for n in import_graph(model).graph.ir.nodes if n.startswith("_fn/")]


def test_op_without_converter_uses_its_function_body(monkeypatch):
    monkeypatch.setitem(CONVERTERS, ("", "Swish"), [])
    node = helper.make_node("Swish", ["x"], ["y"], alpha=0.5)
    got = check(node, {"x": X}, opset=24)["y"]
    np.testing.assert_allclose(got, X / (1 + np.exp(-0.5 * X)), rtol=1e-6)
    assert _fn_nodes(node, {"x": X}, 24), "expected nodes of the expanded body"


def test_context_dependent_function_body(monkeypatch):
    monkeypatch.setitem(CONVERTERS, ("", "Gelu"), [])
    node = helper.make_node("Gelu", ["x"], ["y"], approximate="tanh")
    check(node, {"x": X}, opset=20, rtol=1e-5)
    assert _fn_nodes(node, {"x": X}, 20)


def test_not_supported_falls_back_and_rolls_back(monkeypatch):
    def half_done(ctx, node):
        ctx.const(np.float32(1), name="stray")
        raise ctx.unsupported(node, "on purpose")
    monkeypatch.setitem(CONVERTERS, ("", "Shrink"), [(9, half_done)])
    node = helper.make_node("Shrink", ["x"], ["y"], lambd=1.0, bias=0.5)
    check(node, {"x": X}, opset=18)
    model = node_model(node, {"x": X}, 18, {"y": X})
    names = list(import_graph(model).graph.ir.nodes)
    assert not any("stray" in n for n in names), names


def test_no_converter_and_no_body_names_the_op(monkeypatch):
    monkeypatch.setitem(CONVERTERS, ("", "Hardmax"), [])
    with pytest.raises(NotSupported, match="not supported: Hardmax \\(domain ai.onnx, opset 13"):
        check(helper.make_node("Hardmax", ["x"], ["y"]), {"x": X}, opset=13)


def test_converter_not_supported_without_body_keeps_its_message(monkeypatch):
    def refuse(ctx, node):
        raise ctx.unsupported(node, "for this test")
    monkeypatch.setitem(CONVERTERS, ("", "Hardmax"), [(1, refuse)])
    with pytest.raises(NotSupported, match="not supported: Hardmax for this test"):
        check(helper.make_node("Hardmax", ["x"], ["y"]), {"x": X}, opset=13)


def test_model_local_functions_are_inlined():
    body = [helper.make_node("Mul", ["a", "a"], ["sq"]), helper.make_node("Neg", ["sq"], ["o"])]
    function = helper.make_function("local", "NegSquare", ["a"], ["o"], body,
                                    [helper.make_opsetid("", 17)])
    graph = helper.make_graph([helper.make_node("NegSquare", ["x"], ["y"], domain="local")], "g",
                              [helper.make_tensor_value_info("x", 1, [3, 4])],
                              [helper.make_tensor_value_info("y", 1, [3, 4])])
    model = helper.make_model(graph, functions=[function], opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])
    from gcc_flow.onnx.backend import prepare
    np.testing.assert_allclose(prepare(model).run([X])[0], -X * X)


def test_recursive_local_functions_are_refused():
    from gcc_flow.onnx import OnnxImportError
    inner = helper.make_node("F", ["x"], ["o"], domain="local")
    function = helper.make_function("local", "F", ["x"], ["o"], [inner],
                                    [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])
    graph = helper.make_graph([helper.make_node("F", ["x"], ["y"], domain="local")], "g",
                              [helper.make_tensor_value_info("x", 1, [2])],
                              [helper.make_tensor_value_info("y", 1, [2])])
    model = helper.make_model(graph, functions=[function], opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])
    with pytest.raises(OnnxImportError, match="[Cc]ycle|recursive"):
        import_graph(model)
