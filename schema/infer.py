"""Dtype and shape inference for one node, from its op's declaration.

Dtypes follow from the argument specs alone (``z: T`` -> attrs["T"]); shapes come from the op's
``shape`` function, called with an InferenceContext:

    def matmul_shape(ctx):            # ctx.shape(0) -> (None, 3); ctx.attr("transpose_a")
        ...
        return [(m, n)]

A shape function returns one shape per output (None for unknown rank). It may raise
ValidationError for shapes that can never work; any other exception means "unknown".
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from schema.dtypes import DType
from schema.errors import GccFlowError, ValidationError
from schema.registry import ArgSpec, OpDef

__all__ = ["InferenceContext", "arg_types", "infer_node", "fill_default_attrs"]


def fill_default_attrs(node) -> None:
    op_def = node.op_def
    if op_def is None:
        return
    for name, spec in op_def.attrs.items():
        if name not in node.attrs and not spec.required:
            default = spec.default
            node.attrs[name] = list(default) if isinstance(default, list) else default


def arg_types(node_name: str, op_def: OpDef, args: tuple[ArgSpec, ...], attrs: dict,
              kind: str) -> list[DType]:
    """The flat list of dtypes that ``args`` stand for, given the node's attrs."""
    out: list[DType] = []
    for arg in args:
        if arg.type_list_attr:
            types = list(_attr(node_name, op_def, attrs, arg.type_list_attr))
        else:
            single = arg.type if arg.type is not None else _attr(node_name, op_def, attrs,
                                                                 arg.type_attr)
            count = _attr(node_name, op_def, attrs, arg.number_attr) if arg.number_attr else 1
            if not isinstance(count, int) or count < 0:
                raise ValidationError(f"node {node_name!r} ({op_def.name}): attr "
                                      f"{arg.number_attr!r} must be a non-negative int")
            types = [single] * count
        if not all(isinstance(t, DType) for t in types):
            raise ValidationError(f"node {node_name!r} ({op_def.name}): {kind} {arg.name!r} has "
                                  f"a type attr that is not a dtype")
        out.extend(t.as_ref if arg.is_ref else t for t in types)
    return out


def _attr(node_name: str, op_def: OpDef, attrs: dict, name: str) -> Any:
    if name not in attrs:
        raise ValidationError(f"node {node_name!r} ({op_def.name}): missing required attr "
                              f"{name!r}")
    return attrs[name]


class InferenceContext:
    """What a shape function may look at: input shapes and dtypes, attrs, constant inputs."""

    def __init__(self, node):
        self.node = node
        self.attrs = node.attrs

    @property
    def num_inputs(self) -> int:
        return len(self.node.inputs)

    def shape(self, i: int):
        return self.node.inputs[i].shape

    def dtype(self, i: int) -> DType:
        return self.node.inputs[i].dtype

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def value(self, i: int) -> Optional[np.ndarray]:
        """The input's value when it is known statically (a Const, or Shape of a known shape)."""
        return static_value(self.node.inputs[i])

    def rank(self, i: int) -> Optional[int]:
        s = self.shape(i)
        return None if s is None else len(s)

    def fail(self, message: str) -> ValidationError:
        return ValidationError(f"node {self.node.name!r} ({self.node.op}): {message}")


def static_value(ref) -> Optional[np.ndarray]:
    producer = ref.node
    if producer.op == "Const":
        value = producer.attrs.get("value")
        return value if isinstance(value, np.ndarray) else None
    if producer.op == "Shape" and producer.inputs:
        shape = producer.inputs[0].shape
        if shape is not None and all(d is not None for d in shape):
            return np.array(shape, dtype=producer.attrs.get("out_type", DType.INT32).np)
    if producer.op in ("Identity", "StopGradient") and producer.inputs:
        return static_value(producer.inputs[0])
    return None


def infer_node(node) -> None:
    """Fills ``node.out_types`` and ``node.out_shapes``. Unknown ops keep what they have."""
    op_def = node.op_def
    if op_def is None:
        return
    fill_default_attrs(node)
    node.out_types = arg_types(node.name, op_def, op_def.outputs, node.attrs, "output")
    node.out_shapes = infer_shapes(node, op_def)


def infer_shapes(node, op_def: OpDef) -> list:
    n = len(node.out_types)
    if op_def.shape_fn is None:
        return [None] * n
    try:
        shapes = list(op_def.shape_fn(InferenceContext(node)))
    except GccFlowError:
        raise
    except Exception:  # a shape function must never crash loading: "unknown" instead
        return [None] * n
    if len(shapes) != n:
        return (shapes + [None] * n)[:n]
    return [None if s is None else tuple(None if d is None or d < 0 else int(d) for d in s)
            for s in shapes]
