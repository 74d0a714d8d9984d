"""Kernels of the activation, BiasAdd and batch-norm backprop ops (schema/ops/nn_grad.py).
Convolution and pooling backprops live in runtime/kernels/conv_grad.py.

    ReluGrad(dy [1., 2.], features [-1., 3.]) -> [0., 2.]
    BiasAddGrad(dy f32[2, 3, 4]) -> dy summed over every axis but the channel one: f32[4]
    FusedBatchNormGradV3(dy, x, scale, mean, variance, _) -> dx, dscale, doffset, [], []

half and bfloat16 are computed in float32 and rounded back once, as TensorFlow's CPU kernels do.
One body serves numpy and cupy (``xp = ctx.xp``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from runtime.kernels import BOTH, KernelContext, kernel
from schema.dtypes import DType
from schema.ops.nn import batch_norm_channel_axis

_NARROW = {DType.HALF, DType.BFLOAT16}
_SELU_SCALE = 1.0507009873554804934193349852946
_SELU_ALPHA = 1.6732632423543772848170429916717


def _widened(ctx: KernelContext, fn: Callable) -> Callable:
    """fn as is, or run in float32 and rounded back when the output is half or bfloat16."""
    out, xp = ctx.out_np(0), ctx.xp
    if ctx.out_types[0] not in _NARROW:
        return lambda *xs: xp.asarray(fn(*xs)).astype(out, copy=False)
    return lambda *xs: fn(*(xp.asarray(x).astype(np.float32) for x in xs)).astype(out)


def _zero(x, xp=np):
    return xp.zeros((), x.dtype)


# backprops = gradients * f'(features) (or f' written with the forward outputs for Elu/Selu).

_SAME_SIZE_INT = {2: np.int16, 4: np.int32, 8: np.int64}


def _pass_where(cond, g, xp):
    """where(cond, g, 0), exact for inf and NaN. On numpy floats a bit mask does it about 6x
    faster than np.where (ReluGrad runs on every activation of a training step)."""
    if (xp is np and isinstance(g, np.ndarray) and g.dtype.kind == "f"
            and g.shape == np.shape(cond) and g.dtype.itemsize in _SAME_SIZE_INT):
        bits = _SAME_SIZE_INT[g.dtype.itemsize]
        return (g.view(bits) & -cond.astype(bits)).view(g.dtype)
    return xp.where(cond, g, _zero(g, xp))


_ACTIVATION_GRADS = {
    "ReluGrad": lambda g, x, xp: _pass_where(x > 0, g, xp),
    "Relu6Grad": lambda g, x, xp: _pass_where((x > 0) & (x < 6), g, xp),
    "EluGrad": lambda g, y, xp: xp.where(y < 0, g * (y + 1), g),
    "SeluGrad": lambda g, y, xp: xp.where(y < 0, g * (y + _SELU_SCALE * _SELU_ALPHA),
                                          g * _SELU_SCALE),
    "SoftplusGrad": lambda g, x, xp: g / (1 + xp.exp(-x)),
}


def _activation_grad(ctx: KernelContext):
    fn, xp = _ACTIVATION_GRADS[ctx.node.op], ctx.xp
    return _widened(ctx, lambda g, x: fn(g, x, xp))


for _op in _ACTIVATION_GRADS:
    kernel(_op, device=BOTH)(_activation_grad)


@kernel("LeakyReluGrad", device=BOTH)
def leaky_relu_grad(ctx: KernelContext):
    alpha, xp = float(ctx.attr("alpha", 0.2)), ctx.xp
    return _widened(ctx, lambda g, x: xp.where(x > 0, g, g * alpha))


@kernel("BiasAddGrad", device=BOTH)
def bias_add_grad(ctx: KernelContext):
    nchw = ctx.attr("data_format", "NHWC") == "NCHW"
    xp = ctx.xp

    def run(dy):
        if dy.ndim < (3 if nchw else 2):
            raise ctx.fail(f"out_backprop must be at least rank {3 if nchw else 2}, but has "
                           f"shape {list(dy.shape)}")
        channel = 1 if nchw else dy.ndim - 1
        axes = tuple(i for i in range(dy.ndim) if i != channel)
        return dy.sum(axis=axes, dtype=np.float32 if dy.dtype in _NARROW_NP else None)
    out = ctx.out_np(0)
    return lambda dy: xp.asarray(run(dy)).astype(out, copy=False)


_NARROW_NP = {np.dtype(DType.HALF.np), np.dtype(DType.BFLOAT16.np)}


# -- FusedBatchNormGrad ---------------------------------------------------------------------------

def _check_batch_norm_args(ctx: KernelContext, rank: int, axis: int, dy, x, params) -> None:
    if x.ndim != rank or dy.shape != x.shape:
        raise ctx.fail(f"x must be rank {rank} and y_backprop of the same shape, got "
                       f"{list(x.shape)} and {list(dy.shape)}")
    for name, p in params:
        if p.shape != (x.shape[axis],):
            raise ctx.fail(f"{name} must have shape [{x.shape[axis]}] (the channel dimension of "
                           f"x {list(x.shape)}), but has shape {list(p.shape)}")


def batch_norm_backprop(dy, x, scale, mean, variance, epsilon: float, axis: int,
                        training: bool, xp=np) -> tuple:
    """(dx, dscale, doffset) of y = (x - mean) / sqrt(variance + eps) * scale + offset.

    Training: mean and variance are the batch's own (biased) statistics, so dx also flows
    through them; inference: they are constants.
    """
    axes = tuple(i for i in range(x.ndim) if i != axis)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    inv = (1.0 / xp.sqrt(variance + epsilon)).reshape(shape)
    x_hat = (x - mean.reshape(shape)) * inv
    dscale = (dy * x_hat).sum(axis=axes)
    doffset = dy.sum(axis=axes)
    if not training:
        return dy * scale.reshape(shape) * inv, dscale, doffset
    count = max(x.size // max(x.shape[axis], 1), 1)
    centered = dy - (doffset / count).reshape(shape) - x_hat * (dscale / count).reshape(shape)
    return scale.reshape(shape) * inv * centered, dscale, doffset


@kernel("FusedBatchNormGrad", "FusedBatchNormGradV2", "FusedBatchNormGradV3", device=BOTH)
def fused_batch_norm_grad(ctx: KernelContext):
    """reserve_space_1/2: the batch mean and biased variance from the forward op (training), or
    the population mean and variance (inference). reserve_space_3 (V3) is unused here."""
    rank, axis = batch_norm_channel_axis(ctx.attr("data_format", "NHWC"))
    epsilon, training = float(ctx.attr("epsilon", 0.0001)), bool(ctx.attr("is_training", True))
    x_type, u_type, xp = ctx.out_np(0), ctx.out_np(1), ctx.xp

    def run(dy, x, scale, mean, variance, *unused):
        _check_batch_norm_args(ctx, rank, axis, dy, x, (("scale", scale), ("reserve_space_1",
                                                        mean), ("reserve_space_2", variance)))
        f64 = [xp.asarray(v, np.float64) for v in (dy, x, scale, mean, variance)]
        dx, dscale, doffset = batch_norm_backprop(*f64, epsilon, axis, training, xp)
        empty = xp.zeros((0,), u_type)
        return dx.astype(x_type), dscale.astype(u_type), doffset.astype(u_type), empty, empty
    return run
