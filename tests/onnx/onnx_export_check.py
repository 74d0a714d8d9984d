"""Test helper for the exporter tests: export a graph, run it in onnxruntime and in gcc-flow's
runtime on the same feeds, assert equal dtypes, shapes and values.

    model = export_and_compare(g, {"x:0": x})            # every sink, default opset
    model = export_and_compare(g, {"x:0": x}, outputs=["y:0"], opset=13)
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import onnx
import onnxruntime as ort

import runtime
from gcc_flow.onnx.exporter import export_model, onnx_name, tensor_name_of

__all__ = ["export_and_compare", "run_onnxruntime", "graph_def_of", "ops_of"]


def graph_def_of(graph):
    return graph.as_graph_def() if hasattr(graph, "as_graph_def") else graph


def run_onnxruntime(model, feeds: dict) -> list:
    """Runs ``model`` (ModelProto or path) on feeds keyed by ONNX input name."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def ops_of(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def export_and_compare(graph, feeds: dict, outputs: Optional[Sequence[str]] = None,
                       opset: Optional[int] = None, inputs: Optional[Sequence[str]] = None,
                       rtol: float = 1e-5, atol: float = 1e-6) -> onnx.ModelProto:
    """Exports, checks with onnx.checker (full), compares onnxruntime with our runtime."""
    graph_def = graph_def_of(graph)
    model = export_model(graph_def, inputs=inputs, outputs=outputs, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    fetches = [tensor_name_of(o.name) for o in model.graph.output]
    want = runtime.load(graph_def).run(fetches, feeds)
    names = {i.name for i in model.graph.input}
    got = run_onnxruntime(model, {onnx_name(k): v for k, v in feeds.items()
                                  if onnx_name(k) in names})
    for name, a, b in zip(fetches, want, got):
        a, b = np.asarray(a), np.asarray(b)
        assert b.dtype == a.dtype, (name, b.dtype, a.dtype)
        assert b.shape == a.shape, (name, b.shape, a.shape)
        if a.dtype.kind in "fc":
            np.testing.assert_allclose(b, a, rtol=rtol, atol=atol, err_msg=name)
        else:
            np.testing.assert_array_equal(b, a, err_msg=name)
    return model
