"""TF op -> ONNX node emitters, one module per op family; importing this package registers them.

    @emitter("Relu", "Tanh")
    def unary(ctx: ExportContext, node: Node) -> list:
        return [ctx.emit(node.op, [ctx.input(node, 0)])]

An emitter receives the ExportContext and the TF node (schema.ir.Node, with inferred dtypes and
shapes) and returns one ONNX value name per TF output (None for an output without an ONNX form:
using it raises ExportNotSupported), or a single name for a one-output op. It may branch on
``ctx.opset`` (13 and up) where ONNX changed an op's attrs or inputs.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Optional

from gcc_flow.onnx.export_ops.builder import (ExportContext, ExportNotSupported,
                                              OnnxExportError, onnx_name, tensor_name_of)

__all__ = ["emitter", "find_emitter", "supported_ops", "EMITTERS", "ExportContext",
           "ExportNotSupported", "OnnxExportError", "onnx_name", "tensor_name_of"]

# TF op name -> emitter
EMITTERS: dict[str, Callable] = {}


def emitter(*op_names: str):
    def register(fn: Callable) -> Callable:
        for name in op_names:
            if name in EMITTERS:
                raise ValueError(f"export emitter for {name} registered twice")
            EMITTERS[name] = fn
        return fn
    return register


_loaded = False


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    try:
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if info.name != "builder":
                importlib.import_module(f"{__name__}.{info.name}")
    except BaseException:
        _loaded = False
        raise


def find_emitter(op_name: str) -> Optional[Callable]:
    _load()
    return EMITTERS.get(op_name)


def supported_ops() -> list[str]:
    _load()
    return sorted(EMITTERS)
