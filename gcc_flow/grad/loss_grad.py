"""Gradients of the loss ops (schema/ops/losses.py) with TensorFlow's formulas, and the random
ops declared not differentiable.

    SoftmaxCrossEntropyWithLogits(logits, labels) -> (loss, backprop):
        d logits = dloss[:, None] * backprop         (+ the second-order term when backprop
                                                       itself receives a gradient)
        d labels = dloss[:, None] * -LogSoftmax(logits)
    SparseSoftmaxCrossEntropyWithLogits: d logits = dloss[:, None] * backprop; labels get none
    L2Loss(t): d t = t * dloss
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from gcc_flow.framework import Tensor, apply_op, convert_to_tensor
from gcc_flow.grad._shapes import reduce_to_inputs
from gcc_flow.gradients import gradient_registry, no_gradient_ops, register_gradient, \
    register_no_gradient

_NOT_DIFFERENTIABLE = (
    "RandomUniform", "RandomStandardNormal", "TruncatedNormal", "RandomUniformInt",
    "RandomShuffle", "StatelessRandomUniform", "StatelessRandomNormal",
    "StatelessTruncatedNormal", "StatelessRandomUniformInt",
)


def _broadcast_mul(vector: Tensor, matrix: Tensor) -> Tensor:
    """vector[:, None] * matrix (TensorFlow's _BroadcastMul)."""
    column = apply_op("ExpandDims", [vector, convert_to_tensor(np.int32(-1))])
    return apply_op("Mul", [column, matrix])


def _second_order(logits: Tensor, grad_grad: Tensor) -> Tensor:
    """The gradient reaching logits through backprop = softmax - labels:
    (grad_grad - sum(grad_grad * softmax, -1)[:, None]) * softmax."""
    softmax = apply_op("Softmax", [logits])
    row = apply_op("ExpandDims", [grad_grad, convert_to_tensor(np.int32(1))])
    col = apply_op("ExpandDims", [softmax, convert_to_tensor(np.int32(2))])
    inner = apply_op("Squeeze", [apply_op("BatchMatMulV2", [row, col])], {"squeeze_dims": [1]})
    return apply_op("Mul", [apply_op("Sub", [grad_grad, inner]), softmax])


def _add(a: Optional[Tensor], b: Optional[Tensor]) -> Optional[Tensor]:
    if a is None or b is None:
        return b if a is None else a
    return apply_op("AddV2", [a, b])


@register_gradient("SoftmaxCrossEntropyWithLogits")
def _softmax_cross_entropy_grad(op, grad_loss, grad_grad):
    logits, labels = op.inputs
    d_logits = d_labels = None
    if grad_loss is not None:
        d_logits = _broadcast_mul(grad_loss, op.outputs[1])
        d_labels = _broadcast_mul(grad_loss, apply_op("Neg", [apply_op("LogSoftmax",
                                                                       [logits])]))
    if grad_grad is not None:
        d_logits = _add(d_logits, _second_order(logits, grad_grad))
        d_labels = _add(d_labels, apply_op("Neg", [grad_grad]))
    return list(reduce_to_inputs(logits, labels, d_logits, d_labels))


@register_gradient("SparseSoftmaxCrossEntropyWithLogits")
def _sparse_softmax_cross_entropy_grad(op, grad_loss, grad_grad):
    # As TensorFlow: the backprop output is not differentiated through (PreventGradient).
    if grad_loss is None:
        return [None, None]
    return [_broadcast_mul(grad_loss, op.outputs[1]), None]


@register_gradient("L2Loss")
def _l2_loss_grad(op, grad):
    return apply_op("Mul", [op.inputs[0], grad])


def _register_not_differentiable() -> None:
    known = set(gradient_registry()) | set(no_gradient_ops())
    for op_type in _NOT_DIFFERENTIABLE:
        if op_type not in known:  # another family module may have declared it already
            register_no_gradient(op_type)


_register_not_differentiable()
