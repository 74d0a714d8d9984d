"""Gradients of the variable ops (schema/ops/state.py).

    ReadVariableOp:  the value's gradient passes to the handle unchanged (as TensorFlow): the
    gradient of a resource handle is that of its variable's value, so
    ``gf.gradients(loss, [var])`` differentiates with respect to ``var.handle``.
Creating, assigning and querying variables is not differentiable.

A handle's zero gradient (``variable_value_zeros``) is zeros of the variable's value:

    Switch(w, p):0 in an untaken branch -> Fill(Const [3, 2] ^Identity(Switch:0), Const 0.0)
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from gcc_flow.framework import Tensor, apply_op
from gcc_flow.gradients import register_gradient, register_no_gradient
from schema.dtypes import DType
from schema.ir import Node

__all__ = ["variable_of", "variable_value_zeros"]


@register_gradient("ReadVariableOp")
def _read_variable_grad(op, grad):
    return [grad]


for _name in ("VarHandleOp", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
              "VarIsInitializedOp", "DestroyResourceOp", "VariableV2", "Variable", "Assign",
              "AssignAdd", "AssignSub", "IsVariableInitialized"):
    register_no_gradient(_name)


# Ops that pass a resource handle through unchanged (input 0): a cond's gate, a loop's Enter.
_FORWARDING = frozenset({"Identity", "StopGradient", "Switch", "Enter"})


def variable_of(handle: Tensor) -> Optional[Node]:
    """The VarHandleOp behind a resource tensor, through Identity, Switch and Enter; or None.

    Switch(Enter(VarHandleOp w)):1 -> the node of w.
    """
    node = handle.op._node
    for _ in range(256):
        if node.op == "VarHandleOp":
            return node
        if node.op not in _FORWARDING or not node.inputs:
            return None
        node = node.inputs[0].node
    return None


def variable_value_zeros(handle: Tensor, like: Optional[Tensor] = None) -> Optional[Tensor]:
    """Zeros of the value of the variable behind ``handle``, computed only where ``handle`` is
    (they hang off an Identity of it); None when its dtype cannot be told. ``like``: a gradient
    of the same value, whose dtype and static shape fill in what the VarHandleOp lacks."""
    var = variable_of(handle)
    dtype = like.dtype.base if like is not None else (
        var.attrs.get("dtype") if var is not None else None)
    if dtype is None:
        return None
    shape = var.attrs.get("shape") if var is not None else None
    if not _fully_known(shape) and like is not None:
        shape = like.shape
    graph = handle.graph
    anchor = apply_op("Identity", [handle])
    with graph.control_dependencies([anchor.op]):
        if _fully_known(shape):
            dims = apply_op("Const", [], {"value": np.asarray(shape, np.int32),
                                          "dtype": DType.INT32})
        else:
            value = apply_op("ReadVariableOp", [handle], {"dtype": dtype})
            dims = apply_op("Shape", [value])
        zero = apply_op("Const", [], {"value": np.zeros((), dtype.np), "dtype": dtype})
    return apply_op("Fill", [dims, zero])


def _fully_known(shape) -> bool:
    return shape is not None and all(d is not None and d >= 0 for d in shape)
