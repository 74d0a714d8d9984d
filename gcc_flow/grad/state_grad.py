"""Gradients of the variable ops (schema/ops/state.py).

    ReadVariableOp:  the value's gradient passes to the handle unchanged (as TensorFlow); since
    a resource edge carries no gradient, ``gf.gradients(loss, [var])`` collects it at the reads.
Creating, assigning and querying variables is not differentiable.
"""
from __future__ import annotations

from gcc_flow.gradients import register_gradient, register_no_gradient


@register_gradient("ReadVariableOp")
def _read_variable_grad(op, grad):
    return [grad]


for _name in ("VarHandleOp", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
              "VarIsInitializedOp", "DestroyResourceOp", "VariableV2", "Variable", "Assign",
              "AssignAdd", "AssignSub", "IsVariableInitialized"):
    register_no_gradient(_name)
