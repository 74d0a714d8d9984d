"""ONNX op converters, one module per family; importing this package registers them all.

    @converter("Relu")
    def relu(ctx: ConvertContext, node) -> list:
        return [gf.nn.relu(ctx.input(node, 0))]

A converter receives the ConvertContext and the onnx.NodeProto and returns one gf.Tensor (or
None for an absent optional output) per ``node.output``. ``since`` is the first opset version
of the default domain the converter handles; several converters for one op type are chosen by
the model's opset (the newest ``since`` <= opset).
"""
from __future__ import annotations

from typing import Callable, Optional

from schema.plugins import LazyImport

__all__ = ["converter", "find_converter", "supported_ops", "CONVERTERS"]

# (domain, op_type) -> sorted list of (since_version, fn)
CONVERTERS: dict[tuple[str, str], list[tuple[int, Callable]]] = {}


def converter(*op_types: str, since: int = 1, domain: str = ""):
    def register(fn: Callable) -> Callable:
        for op_type in op_types:
            entries = CONVERTERS.setdefault((domain, op_type), [])
            if any(v == since for v, _ in entries):
                raise ValueError(f"converter for {domain or 'ai.onnx'}::{op_type} since "
                                 f"{since} registered twice")
            entries.append((since, fn))
            entries.sort(key=lambda e: e[0])
        return fn
    return register


_load = LazyImport(__name__)


def find_converter(op_type: str, opset: int, domain: str = "") -> Optional[Callable]:
    _load()
    chosen = None
    for since, fn in CONVERTERS.get((domain, op_type), []):
        if since <= opset:
            chosen = fn
    return chosen


def supported_ops() -> list[str]:
    _load()
    return sorted(f"{d + '::' if d else ''}{op}" for d, op in CONVERTERS)
