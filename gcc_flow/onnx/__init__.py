"""ONNX import (and export) for gcc-flow.

    from gcc_flow import onnx as gf_onnx
    graph_def = gf_onnx.import_model("model.onnx")             # a TensorFlow GraphDef
    graph_def = gf_onnx.import_model(model_bytes, base_dir="/models/m", optimize=True)
    model = gf_onnx.export_model(graph_def)                    # an onnx.ModelProto
    gf_onnx.save_model(model, "model.onnx")                    # external data past 2 GiB

The original ONNX names of inputs and outputs are kept in the ``_alias`` attr of the input
Placeholders and output Identity nodes. docs/ONNX.md lists the mapping rules, the extension
ops and what is not supported. The onnx backend (``gcc_flow.onnx.backend``) runs ONNX models
through import -> passes -> runtime.
"""
from __future__ import annotations

from gcc_flow.onnx.context import NotSupported, OnnxImportError
from gcc_flow.onnx.importer import ALIAS_ATTR, ImportResult, import_graph, import_model

__all__ = ["import_model", "import_graph", "export_model", "save_model", "ImportResult",
           "OnnxImportError", "NotSupported", "ALIAS_ATTR"]


def __getattr__(name: str):
    if name == "export_model":  # the exporter is imported on first use
        from gcc_flow.onnx import exporter
        return exporter.export_model
    if name == "save_model":
        from gcc_flow.onnx import save
        return save.save_model
    raise AttributeError(f"module 'gcc_flow.onnx' has no attribute {name!r}")
