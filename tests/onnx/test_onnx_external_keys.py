"""External data keys and sizes, and every tensor carrier (BAD_INPUTS.md section E)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from gcc_flow.onnx import OnnxImportError, import_graph
from schema.limits import Limits
from test_onnx_external_data import (VALUES, _entries, _external, _model, _refused,  # noqa: F401
                                     _run, folder)


@pytest.mark.parametrize("entries, match", [
    (_entries("data.bin", basepath="/etc"), "unknown external data key 'basepath'"),
    (_entries("data.bin", offset="-1"), "offset '-1' is not a non-negative integer"),
    (_entries("data.bin", offset="+8"), "not a non-negative integer"),
    (_entries("data.bin", offset="8.0"), "not a non-negative integer"),
    (_entries("data.bin", offset="99999999999999999999"), "not a non-negative integer"),
    (_entries("data.bin", offset="9223372036854775807"), "runs past the end"),
    (_entries("data.bin", length="-16"), "not a non-negative integer"),
    (_entries("data.bin", length="12"), "disagrees with dims"),
    (_entries("data.bin", length="99999999999999"), "disagrees with dims"),
    (_entries("data.bin", offset="16"), "runs past the end"),
    (_entries("data.bin", offset="0", length=None), "without a length"),
])
def test_bad_keys_and_sizes(folder, monkeypatch, entries, match):
    model_dir, secret = folder
    _refused(monkeypatch, secret, _model(_external("w", entries)), model_dir, match)


def test_duplicate_key(folder, monkeypatch):
    model_dir, secret = folder
    tensor = _external("w", _entries("data.bin"))
    extra = tensor.external_data.add()
    extra.key, extra.value = "location", "../secret.bin"
    _refused(monkeypatch, secret, _model(tensor), model_dir, "given twice")


def test_external_and_inline_data_together(folder, monkeypatch):
    model_dir, secret = folder
    tensor = _external("w", _entries("data.bin"))
    tensor.float_data.extend([1, 2, 3, 4])
    _refused(monkeypatch, secret, _model(tensor), model_dir, "both external and inline")


def test_entries_without_the_external_flag(folder, monkeypatch):
    model_dir, secret = folder
    tensor = _external("w", _entries("../secret.bin"))
    tensor.data_location = TensorProto.DEFAULT
    _refused(monkeypatch, secret, _model(tensor), model_dir, "data_location is not EXTERNAL")


def test_huge_dims_refused_before_reading(folder, monkeypatch):
    model_dir, secret = folder
    tensor = _external("w", _entries("data.bin", length=None), dims=(1 << 20, 1 << 20))
    _refused(monkeypatch, secret, _model(tensor), model_dir, "above the limit")


def test_per_tensor_budget_is_a_setting(folder):
    model_dir, _ = folder
    model = _model(_external("w", _entries("data.bin")))
    with pytest.raises(OnnxImportError, match="max_tensor_bytes"):
        import_graph(model, base_dir=str(model_dir), limits=Limits(max_tensor_bytes=8))


def test_string_tensors_cannot_be_external(folder, monkeypatch):
    model_dir, secret = folder
    tensor = _external("w", _entries("data.bin"), elem=TensorProto.STRING)
    _refused(monkeypatch, secret, _model(tensor), model_dir, "string tensors")


# -- carriers --------------------------------------------------------------------------------------

def _evil():
    return _external("v", _entries("../secret.bin", offset=None, length=None))


def test_constant_node_attr(folder, monkeypatch):
    model_dir, secret = folder
    node = helper.make_node("Constant", [], ["y"])
    node.attribute.append(helper.make_attribute("value", _evil()))
    _refused(monkeypatch, secret, _model(nodes=[node]), model_dir, "attr 'value'.*'\\.\\.'")


def test_tensors_attr(folder, monkeypatch):
    model_dir, secret = folder
    node = helper.make_node("Identity", ["x"], ["y"])
    attribute = onnx.AttributeProto(name="extra", type=onnx.AttributeProto.TENSORS)
    attribute.tensors.append(_evil())
    node.attribute.append(attribute)
    model = _model(nodes=[helper.make_node("Constant", [], ["x"], value_float=1.0), node])
    _refused(monkeypatch, secret, model, model_dir, "'\\.\\.'")


def test_sparse_initializer(folder, monkeypatch):
    model_dir, secret = folder
    indices = helper.make_tensor("i", TensorProto.INT64, [1], [0])
    sparse = helper.make_sparse_tensor(_evil(), indices, [4])
    model = _model(nodes=[helper.make_node("Constant", [], ["y"], value_float=1.0)],
                   extra=lambda g: g.sparse_initializer.append(sparse))
    _refused(monkeypatch, secret, model, model_dir, "sparse initializer.*'\\.\\.'")


def test_sparse_tensor_attr(folder, monkeypatch):
    model_dir, secret = folder
    indices = helper.make_tensor("i", TensorProto.INT64, [1], [0])
    node = helper.make_node("Constant", [], ["y"])
    node.attribute.append(helper.make_attribute(
        "sparse_value", helper.make_sparse_tensor(_evil(), indices, [4])))
    _refused(monkeypatch, secret, _model(nodes=[node]), model_dir, "'\\.\\.'")


def _if_node(branch_graph):
    plain = helper.make_graph([helper.make_node("Constant", [], ["o"], value_float=1.0)], "e",
                              [], [helper.make_tensor_value_info("o", 1, [])])
    return helper.make_node("If", ["c"], ["y"], then_branch=branch_graph, else_branch=plain)


def test_subgraph_initializer(folder, monkeypatch):
    model_dir, secret = folder
    branch = helper.make_graph([helper.make_node("Identity", ["v"], ["o"])], "b", [],
                               [helper.make_tensor_value_info("o", 1, [4])],
                               initializer=[_evil()])
    nodes = [helper.make_node("Constant", [], ["c"], value=helper.make_tensor(
        "c", TensorProto.BOOL, [], [True])), _if_node(branch)]
    _refused(monkeypatch, secret, _model(nodes=nodes), model_dir, "subgraph.*'\\.\\.'")


def test_deeply_nested_subgraphs_are_refused(folder, monkeypatch):
    model_dir, secret = folder
    monkeypatch.setattr("gcc_flow.onnx.external_data.MAX_SUBGRAPH_DEPTH", 3)
    graph = helper.make_graph([helper.make_node("Constant", [], ["o"], value_float=1.0)],
                              "b", [], [helper.make_tensor_value_info("o", 1, [])])
    for _ in range(5):
        graph = helper.make_graph([_if_node(graph)], "b", [helper.make_tensor_value_info(
            "c", TensorProto.BOOL, [])], [helper.make_tensor_value_info("y", 1, [])])
    model = _model(nodes=list(graph.node), extra=lambda g: g.input.extend(graph.input))
    _refused(monkeypatch, secret, model, model_dir, "nested deeper than 3")


def test_function_body_attr(folder, monkeypatch):
    model_dir, secret = folder
    inner = helper.make_node("Constant", [], ["o"])
    inner.attribute.append(helper.make_attribute("value", _evil()))
    function = helper.make_function("local", "F", [], ["o"], [inner],
                                    [helper.make_opsetid("", 17)])
    model = _model(nodes=[helper.make_node("F", [], ["y"], domain="local")])
    model.functions.append(function)
    model.opset_import.append(helper.make_opsetid("local", 1))
    _refused(monkeypatch, secret, model, model_dir, "function 'F'.*'\\.\\.'")


def test_valid_constant_attr_is_read(folder):
    model_dir, _ = folder
    node = helper.make_node("Constant", [], ["y"])
    node.attribute.append(helper.make_attribute("value", _external("v", _entries("data.bin"))))
    result = import_graph(_model(nodes=[node]), base_dir=str(model_dir))
    np.testing.assert_array_equal(_run(result), VALUES)
