"""gcc_flow.onnx.backend as an onnx.backend.base.Backend: feeding, output order, devices."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.backend.base import Backend, BackendRep

from gcc_flow.onnx import OnnxImportError, backend


def _model(initializers=()):
    nodes = [helper.make_node("Add", ["a", "b"], ["sum"]),
             helper.make_node("Mul", ["a", "b"], ["prod"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("a", 1, [2]),
                     helper.make_tensor_value_info("b", 1, [2])],
        [helper.make_tensor_value_info("prod", 1, [2]),
         helper.make_tensor_value_info("sum", 1, [2])], initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


A, B = np.float32([1, 2]), np.float32([3, 4])


def test_is_an_onnx_backend():
    assert issubclass(backend.GccFlowBackend, Backend)
    assert isinstance(backend.prepare(_model()), BackendRep)


def test_outputs_in_onnx_order_and_by_name():
    out = backend.prepare(_model()).run([A, B])
    np.testing.assert_array_equal(out[0], A * B)
    np.testing.assert_array_equal(out[1], A + B)
    np.testing.assert_array_equal(out.sum, A + B)
    np.testing.assert_array_equal(out["prod"], A * B)


def test_inputs_by_onnx_name():
    out = backend.prepare(_model()).run({"b": B, "a": A})
    np.testing.assert_array_equal(out.prod, A * B)


def test_inputs_with_defaults_may_be_left_out_or_given():
    rep = backend.prepare(_model([numpy_helper.from_array(np.float32([10, 10]), "b")]))
    np.testing.assert_array_equal(rep.run([A]).sum, A + 10)
    np.testing.assert_array_equal(rep.run([A, B]).sum, A + B)


def test_wrong_inputs():
    rep = backend.prepare(_model())
    with pytest.raises(OnnxImportError, match="takes 2 inputs"):
        rep.run([A])
    with pytest.raises(OnnxImportError, match="unknown input names \\['c'\\]"):
        rep.run({"c": A})


def test_devices():
    assert backend.supports_device("CPU")
    assert not backend.supports_device("CUDA")
    assert not backend.supports_device("TPU")
    with pytest.raises(OnnxImportError, match="device 'CUDA'"):
        backend.prepare(_model(), "CUDA")


def test_run_model_and_run_node():
    np.testing.assert_array_equal(backend.run_model(_model(), [A, B])[1], A + B)
    node = helper.make_node("Sub", ["x", "y"], ["z"])
    np.testing.assert_array_equal(backend.run_node(node, [A, B])[0], A - B)


def test_strings_in_and_out_as_str():
    graph = helper.make_graph([helper.make_node("Identity", ["s"], ["t"])], "g",
                              [helper.make_tensor_value_info("s", TensorProto.STRING, [2])],
                              [helper.make_tensor_value_info("t", TensorProto.STRING, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    out = backend.prepare(model).run([np.array(["ab", "ü"], dtype=object)])[0]
    assert out.dtype == object and list(out) == ["ab", "ü"]


def test_prepared_model_runs_repeatedly_without_recompiling():
    rep = backend.prepare(_model())
    for k in range(3):
        np.testing.assert_array_equal(rep.run([A * k, B]).sum, A * k + B)
    assert len(rep._callables) == 1


def test_unoptimized_preparation_gives_the_same_values():
    plain = backend.prepare(_model(), optimize=False).run([A, B])
    np.testing.assert_array_equal(plain.prod, backend.prepare(_model()).run([A, B]).prod)
