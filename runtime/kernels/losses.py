"""Loss kernels with TensorFlow's semantics.

    SoftmaxCrossEntropyWithLogits(logits, labels):
        loss = sum(labels * (logsumexp(logits) - logits), -1);  backprop = softmax(logits) - labels
    SparseSoftmaxCrossEntropyWithLogits(logits, [2, 0]):   the same with one-hot labels; a label
        outside [0, classes) is an error naming the value and the range
    L2Loss(t) = sum(t ** 2) / 2

half and bfloat16 are computed in float32 and rounded back, as TensorFlow's CPU kernels do.
One body serves numpy and cupy (``xp = ctx.xp``); the label range check synchronizes on a GPU.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from runtime.kernels import BOTH, KernelContext, kernel
from schema.dtypes import DType
from schema.ops.array_rules import fmt_shape

_NARROW = {DType.HALF, DType.BFLOAT16}


def _widened(ctx: KernelContext, fn: Callable) -> Callable:
    """fn as is, or run in float32 with every output rounded back to half / bfloat16."""
    if ctx.out_types[0] not in _NARROW:
        return fn
    out, xp = ctx.out_np(0), ctx.xp

    def run(x, *rest):
        results = fn(xp.asarray(x, np.float32), *rest)
        if isinstance(results, tuple):
            return tuple(r.astype(out) for r in results)
        return results.astype(out)
    return run


def _log_softmax_parts(logits: np.ndarray, xp=np) -> tuple[np.ndarray, np.ndarray]:
    """(logits - max, log of the sum of exp of that): log_softmax = first - second."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted, xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def _xent(logits: np.ndarray, labels: np.ndarray, xp=np) -> tuple[np.ndarray, np.ndarray]:
    if logits.shape[-1] == 0:
        return xp.zeros(logits.shape[:-1], logits.dtype), xp.zeros_like(logits)
    shifted, log_sum = _log_softmax_parts(logits, xp)
    loss = xp.sum(labels * (log_sum - shifted), axis=-1)
    backprop = xp.exp(shifted - log_sum) - labels
    return loss.astype(logits.dtype, copy=False), backprop.astype(logits.dtype, copy=False)


@kernel("SoftmaxCrossEntropyWithLogits", device=BOTH)
def softmax_cross_entropy(ctx: KernelContext):
    xp = ctx.xp

    def run(features, labels):
        try:
            shape = np.broadcast_shapes(np.shape(features), np.shape(labels))
        except ValueError:
            raise ctx.fail(f"logits and labels must be broadcastable: logits_size="
                           f"{fmt_shape(np.shape(features))} labels_size="
                           f"{fmt_shape(np.shape(labels))}") from None
        if len(shape) != 2:
            raise ctx.fail(f"logits and labels must be either 2-dimensional, or broadcasted to "
                           f"be 2-dimensional, but got shape {fmt_shape(shape)}")
        logits = xp.broadcast_to(features, shape)
        return _xent(logits, xp.broadcast_to(xp.asarray(labels, logits.dtype), shape), xp)
    return _widened(ctx, run)


def _check_sparse(ctx: KernelContext, features, labels) -> None:
    if np.ndim(features) != 2:
        raise ctx.fail(f"logits must be 2-D, but got shape {fmt_shape(np.shape(features))}")
    if np.ndim(labels) != 1:
        raise ctx.fail(f"labels must be 1-D, but got shape {fmt_shape(np.shape(labels))}")
    if np.shape(features)[0] != np.shape(labels)[0]:
        raise ctx.fail(f"logits and labels must have the same first dimension, got logits shape "
                       f"{fmt_shape(np.shape(features))} and labels shape "
                       f"{fmt_shape(np.shape(labels))}")
    batch, classes = np.shape(features)
    if batch and classes == 0:
        raise ctx.fail(f"Must have at least one class, but got logits shape "
                       f"{fmt_shape(np.shape(features))}")
    bad = (labels < 0) | (labels >= classes)
    if bad.any():
        value = int(labels[np.argmax(bad)])
        shown = " ".join(str(int(v)) for v in labels[:10])
        raise ctx.fail(f"Received a label value of {value} which is outside the valid range of "
                       f"[0, {classes}).  Label values: {shown}")


@kernel("SparseSoftmaxCrossEntropyWithLogits", device=BOTH)
def sparse_softmax_cross_entropy(ctx: KernelContext):
    xp = ctx.xp

    def run(features, labels):
        labels = xp.asarray(labels)
        _check_sparse(ctx, features, labels)
        one_hot = xp.zeros(np.shape(features), features.dtype)
        one_hot[xp.arange(labels.shape[0]), labels] = 1
        return _xent(features, one_hot, xp)
    return _widened(ctx, run)


@kernel("L2Loss", device=BOTH)
def l2_loss(ctx: KernelContext):
    xp = ctx.xp

    def run(t):
        return xp.asarray(xp.sum(xp.square(t)) / 2, dtype=t.dtype)
    return _widened(ctx, run)
