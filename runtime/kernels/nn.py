"""Neural-network and linear-algebra kernels: activations, softmax, BiasAdd, MatMul,
BatchMatMulV2, FusedBatchNorm (V1-V3), SpaceToBatchND, BatchToSpaceND. Convolution and pooling
kernels live in runtime/kernels/nn_conv.py.

half and bfloat16 inputs are computed in float32 and rounded back once, as TensorFlow's CPU
kernels accumulate them. One body serves numpy and cupy (``xp = ctx.xp``); on the GPU, MatMul and
BatchMatMulV2 are cuBLAS calls through cupy.matmul.

    Softmax([[1, 2, 3]]) -> [[0.090, 0.245, 0.665]];  Relu6([-1, 3, 9]) -> [0, 3, 6]
"""
from __future__ import annotations

from typing import Callable

import ml_dtypes
import numpy as np

from runtime.kernels import BOTH, KernelContext, kernel
from runtime.kernels import nn_conv  # noqa: F401  (registers the convolution and pool kernels)
from schema.dtypes import DType
from schema.ops.nn import batch_norm_channel_axis, batch_to_space_shape, space_to_batch_shape
from schema.tensors import check_byte_budget

_NARROW = {DType.HALF, DType.BFLOAT16}
# TensorFlow's SELU constants (Klambauer et al., 2017).
_SELU_SCALE = 1.0507009873554804934193349852946
_SELU_ALPHA = 1.6732632423543772848170429916717


def _widened(ctx: KernelContext, fn: Callable) -> Callable:
    """fn as is, or run in float32 and rounded back when the output is half or bfloat16."""
    if ctx.out_types[0] not in _NARROW:
        return fn
    out, xp = ctx.out_np(0), ctx.xp
    return lambda *xs: fn(*(xp.asarray(x).astype(np.float32) for x in xs)).astype(out)


# -- activations ---------------------------------------------------------------------------------

def _relu(x, xp=np):
    return xp.maximum(x, xp.zeros((), x.dtype))


def _relu6(x, xp=np):
    return xp.minimum(xp.maximum(x, xp.zeros((), x.dtype)), xp.asarray(6, x.dtype))


def _elu(x, xp=np):
    # exp only of the negative part, so large positive inputs do not overflow.
    return xp.where(x < 0, xp.expm1(xp.minimum(x, 0)), x).astype(x.dtype, copy=False)


def _selu(x, xp=np):
    negative = (_SELU_SCALE * _SELU_ALPHA) * xp.expm1(xp.minimum(x, 0))
    return xp.where(x < 0, negative, _SELU_SCALE * x).astype(x.dtype, copy=False)


# Activation -> fn(x, xp); fused.py reuses them.
ACTIVATIONS = {"Relu": _relu, "Relu6": _relu6, "Elu": _elu, "Selu": _selu}


def activation_body(op: str, xp) -> Callable:
    """The activation's function of x alone: activation_body("Relu", np)(x) -> max(x, 0)."""
    fn = ACTIVATIONS[op]
    return fn if xp is np else (lambda x: fn(x, xp))


def _activation(ctx: KernelContext):
    return _widened(ctx, activation_body(ctx.node.op, ctx.xp))


for _op in ACTIVATIONS:
    kernel(_op, device=BOTH)(_activation)


@kernel("LeakyRelu", device=BOTH)
def leaky_relu(ctx: KernelContext):
    alpha, xp = float(ctx.attr("alpha", 0.2)), ctx.xp
    return _widened(ctx, lambda x: xp.where(x > 0, x, x * x.dtype.type(alpha)))


@kernel("Softplus", device=BOTH)
def softplus(ctx: KernelContext):
    """TensorFlow's thresholds: x when x > -t, exp(x) when x < t, log1p(exp(x)) between, where
    t = log(epsilon of the dtype) + 2."""
    threshold = float(np.log(ml_dtypes.finfo(ctx.out_np(0)).eps) + 2.0)
    xp = ctx.xp

    def run(x):
        e = xp.exp(xp.minimum(x, -threshold))
        return xp.where(x > -threshold, x, xp.where(x < threshold, e, xp.log1p(e))).astype(
            x.dtype, copy=False)
    return _widened(ctx, run)


# -- softmax -------------------------------------------------------------------------------------

def _check_rank(ctx: KernelContext, x: np.ndarray, rank: int, what: str) -> None:
    if x.ndim < rank:
        raise ctx.fail(f"{what} must be at least rank {rank}, but has shape {list(x.shape)}")


@kernel("Softmax", device=BOTH)
def softmax(ctx: KernelContext):
    xp = ctx.xp

    def run(x):
        _check_rank(ctx, x, 1, "logits")
        if x.size == 0:
            return x.copy()
        e = xp.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return _widened(ctx, run)


@kernel("LogSoftmax", device=BOTH)
def log_softmax(ctx: KernelContext):
    xp = ctx.xp

    def run(x):
        _check_rank(ctx, x, 1, "logits")
        if x.size == 0:
            return x.copy()
        shifted = x - x.max(axis=-1, keepdims=True)
        return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))
    return _widened(ctx, run)


# -- BiasAdd -----------------------------------------------------------------------------------

@kernel("BiasAdd", "BiasAddV1", device=BOTH)
def bias_add(ctx: KernelContext):
    nchw = ctx.attr("data_format", "NHWC") == "NCHW"

    def run(value, bias):
        _check_rank(ctx, value, 3 if nchw else 2, "value")
        axis = 1 if nchw else value.ndim - 1
        if bias.ndim != 1 or bias.shape[0] != value.shape[axis]:
            raise ctx.fail(f"bias of shape {list(bias.shape)} must be a vector of the value's "
                           f"channel dimension {value.shape[axis]} (value shape "
                           f"{list(value.shape)})")
        return value + bias.reshape((-1,) + (1,) * (value.ndim - 1 - axis))
    return _widened(ctx, run)


# -- MatMul, BatchMatMulV2 ---------------------------------------------------------------------

def _check_inner(ctx: KernelContext, a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[-1] != b.shape[-2]:
        raise ctx.fail(f"Matrix size-incompatible: In[0]: {list(a.shape)}, In[1]: "
                       f"{list(b.shape)} (after transposes)")


@kernel("MatMul", device=BOTH)
def matmul(ctx: KernelContext):
    transpose_a, transpose_b = bool(ctx.attr("transpose_a")), bool(ctx.attr("transpose_b"))
    xp = ctx.xp

    def run(a, b):
        if a.ndim != 2 or b.ndim != 2:
            raise ctx.fail(f"MatMul takes matrices, got shapes {list(a.shape)} and "
                           f"{list(b.shape)}")
        a, b = (a.T if transpose_a else a), (b.T if transpose_b else b)
        _check_inner(ctx, a, b)
        return xp.matmul(a, b)
    return _widened(ctx, run)


def _adjoint(x: np.ndarray, xp=np) -> np.ndarray:
    x = xp.swapaxes(x, -1, -2)
    return xp.conj(x) if xp.iscomplexobj(x) else x


@kernel("BatchMatMulV2", device=BOTH)
def batch_matmul(ctx: KernelContext):
    adj_x, adj_y = bool(ctx.attr("adj_x")), bool(ctx.attr("adj_y"))
    xp = ctx.xp

    def run(x, y):
        if x.ndim < 2 or y.ndim < 2:
            raise ctx.fail(f"BatchMatMulV2 takes tensors of rank >= 2, got shapes "
                           f"{list(x.shape)} and {list(y.shape)}")
        x, y = (_adjoint(x, xp) if adj_x else x), (_adjoint(y, xp) if adj_y else y)
        _check_inner(ctx, x, y)
        try:
            batch = np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
        except ValueError:
            raise ctx.fail(f"batch dimensions of {list(x.shape)} and {list(y.shape)} cannot be "
                           f"broadcast") from None
        check_byte_budget(batch + (x.shape[-2], y.shape[-1]), x.dtype.itemsize, ctx.limits)
        return xp.matmul(x, y)
    return _widened(ctx, run)


# -- FusedBatchNorm ---------------------------------------------------------------------------

@kernel("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", device=BOTH)
def fused_batch_norm(ctx: KernelContext):
    """y = (x - mean) / sqrt(variance + epsilon) * scale + offset, over the channel axis.

    Inference (is_training=False) uses the given mean/variance and returns them as batch_mean,
    batch_variance and reserve spaces 1/2. Training normalizes with the batch's mean and biased
    variance; batch_variance is the unbiased one, blended into the inputs when
    exponential_avg_factor != 1; reserve spaces 1/2 hold the batch mean and biased variance.
    """
    rank, axis = batch_norm_channel_axis(ctx.attr("data_format", "NHWC"))
    epsilon, training = float(ctx.attr("epsilon")), bool(ctx.attr("is_training"))
    factor = float(ctx.attr("exponential_avg_factor", 1.0))
    y_type, u_type, n_out = ctx.out_np(0), ctx.out_np(1), len(ctx.out_types)
    xp = ctx.xp

    def run(x, scale, offset, mean, variance):
        if x.ndim != rank:
            raise ctx.fail(f"x must be rank {rank}, but has shape {list(x.shape)}")
        channels = x.shape[axis]
        needed = ("scale", scale), ("offset", offset)
        if not training or factor != 1.0:
            needed += ("mean", mean), ("variance", variance)
        for name, param in needed:
            if param.shape != (channels,):
                raise ctx.fail(f"{name} must have shape [{channels}] (the channel dimension of "
                               f"x {list(x.shape)}), but has shape {list(param.shape)}")
        xf = x.astype(np.float32)
        scale, offset, mean, variance = (p.astype(np.float32)
                                         for p in (scale, offset, mean, variance))
        stats = (_batch_stats(xf, axis, mean, variance, factor, xp) if training
                 else (mean, variance, mean, variance))
        shape = [1] * rank
        shape[axis] = channels
        inv = scale / xp.sqrt(stats[3] + np.float32(epsilon))
        y = (xf - stats[2].reshape(shape)) * inv.reshape(shape) + offset.reshape(shape)
        outs = [y.astype(y_type)] + [s.astype(u_type) for s in stats]
        return outs + [xp.zeros((0,), u_type)] * (n_out - 5)
    return run


def _batch_stats(x: np.ndarray, axis: int, mean, variance, factor: float, xp=np) -> tuple:
    """(running mean, running unbiased variance, batch mean, biased batch variance)."""
    axes = tuple(i for i in range(x.ndim) if i != axis)
    count = x.size // max(x.shape[axis], 1)
    if count == 0:
        nan = xp.full((x.shape[axis],), np.nan, np.float32)
        return nan, nan, nan, nan
    batch_mean = x.mean(axis=axes)
    batch_var = x.var(axis=axes)
    unbiased = batch_var * (count / max(count - 1, 1))
    if factor != 1.0:
        return ((1 - factor) * mean + factor * batch_mean,
                (1 - factor) * variance + factor * unbiased, batch_mean, batch_var)
    return batch_mean, unbiased, batch_mean, batch_var


# -- SpaceToBatchND, BatchToSpaceND ------------------------------------------------------------

def _ints(values) -> list[int]:
    return [int(v) for v in np.asarray(values).reshape(-1)]


@kernel("SpaceToBatchND", device=BOTH, host_inputs=(1, 2))
def space_to_batch(ctx: KernelContext):
    """Pads the M spatial dims, then moves each block offset into the batch (offset-major).

    [1, 4, 4, 1] with block [2, 2], no padding -> [4, 2, 2, 1]; batch b' = (i*2 + j)*1 + b
    """
    def run(x, block_shape, paddings):
        out_shape = space_to_batch_shape(x.shape, block_shape, paddings, ctx.fail)
        check_byte_budget(out_shape, x.dtype.itemsize, ctx.limits)
        block, m = _ints(block_shape), len(_ints(block_shape))
        pads = np.asarray(paddings).reshape(m, 2).tolist()
        padded = ctx.xp.pad(x, [(0, 0)] + pads + [(0, 0)] * (x.ndim - 1 - m))
        split = [x.shape[0]]
        for i, b in enumerate(block):
            split += [padded.shape[1 + i] // b, b]
        split += list(x.shape[1 + m:])
        perm = ([2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)]
                + list(range(1 + 2 * m, len(split))))
        return padded.reshape(split).transpose(perm).reshape(out_shape)
    return run


@kernel("BatchToSpaceND", device=BOTH, host_inputs=(1, 2))
def batch_to_space(ctx: KernelContext):
    """The inverse of SpaceToBatchND: batch blocks back into space, then crops.

    [4, 2, 2, 1] with block [2, 2], no crops -> [1, 4, 4, 1]
    """
    def run(x, block_shape, crops):
        out_shape = batch_to_space_shape(x.shape, block_shape, crops, ctx.fail)
        block, m = _ints(block_shape), len(_ints(block_shape))
        crop = np.asarray(crops).reshape(m, 2).tolist()
        split = block + [x.shape[0] // int(np.prod(block, dtype=object))] + list(x.shape[1:])
        perm = [m] + [a for i in range(m) for a in (m + 1 + i, i)] + list(
            range(2 * m + 1, len(split)))
        full = [split[m]] + [x.shape[1 + i] * b for i, b in enumerate(block)]
        y = x.reshape(split).transpose(perm).reshape(full + list(x.shape[1 + m:]))
        index = (slice(None),) + tuple(slice(c0, c0 + out_shape[1 + i])
                                       for i, (c0, _) in enumerate(crop))
        return ctx.xp.ascontiguousarray(y[index])
    return run
