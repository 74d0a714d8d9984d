"""Reduction kernels with TensorFlow's semantics.

    Sum(x f32[3,4], axis=[-1]) -> x.sum(-1);   Sum(x, axis=[]) -> x (identity)
    Max(f32[0,2], axis=0) -> [-inf, -inf]      (empty reductions give the reducer's identity)
    Mean(i32[-7, 2]) -> -2                     (integer mean truncates toward zero)

Sum and Prod accumulate in the input's dtype (integers wrap). Integer Mean accumulates in
int64/uint64 and truncates. Max/Min propagate NaN. ArgMax/ArgMin never pick a NaN and, on ties,
return the first index, as TensorFlow's CPU kernels do.
"""
from __future__ import annotations

import math

import ml_dtypes
import numpy as np

from runtime.kernels import KernelContext, kernel
from schema.ops.reduction import reduction_axes


def _axes(ctx: KernelContext, axis, rank: int) -> tuple[int, ...]:
    axes = reduction_axes(axis, rank, ctx.fail)
    seen: set[int] = set()
    for a in axes:
        if a in seen:
            raise ctx.fail(f"Invalid reduction arguments: Axes contains duplicate dimension: "
                           f"{a}")
        seen.add(a)
    return tuple(axes)


def _accumulate(ufunc):
    return lambda x, axes, keep: ufunc.reduce(x, axis=axes, dtype=x.dtype, keepdims=keep)


def _logical(ufunc):
    return lambda x, axes, keep: ufunc.reduce(x, axis=axes, keepdims=keep)


def _info(dtype: np.dtype):
    return ml_dtypes.iinfo(dtype) if dtype.kind in "iu" else ml_dtypes.finfo(dtype)


def _extreme(ufunc, start_is_lowest: bool):
    """Max/Min; the start value (-inf / lowest int for Max) is what an empty reduction gives."""
    def reduce(x, axes, keep):
        if x.dtype.kind in "iu":
            info = _info(x.dtype)
            start = info.min if start_is_lowest else info.max
        else:
            start = -np.inf if start_is_lowest else np.inf
        return ufunc.reduce(x, axis=axes, keepdims=keep, initial=np.array(start, x.dtype))
    return reduce


def _mean(x, axes, keep):
    count = math.prod(x.shape[a] for a in axes)
    if x.dtype.kind in "iu":
        wide = np.int64 if x.dtype.kind == "i" else np.uint64
        total = np.add.reduce(x, axis=axes, dtype=wide, keepdims=keep)
        if count == 0:
            return np.zeros_like(total, dtype=x.dtype)
        quotient = total // count
        # floor -> truncation toward zero for negative sums with a remainder
        quotient = quotient + ((total < 0) & (quotient * count != total))
        return quotient.astype(x.dtype)
    total = np.add.reduce(x, axis=axes, dtype=x.dtype, keepdims=keep)
    return np.asarray(total / np.float64(count)).astype(x.dtype)


def _euclidean_norm(x, axes, keep):
    squares = np.add.reduce(x * np.conj(x), axis=axes, dtype=x.dtype, keepdims=keep)
    if x.dtype.kind in "iu":
        return np.sqrt(squares.astype(np.float64)).astype(x.dtype)
    return np.sqrt(squares).astype(x.dtype)


_REDUCERS = {
    "Sum": _accumulate(np.add), "Prod": _accumulate(np.multiply), "Mean": _mean,
    "Max": _extreme(np.maximum, True), "Min": _extreme(np.minimum, False),
    "All": _logical(np.logical_and), "Any": _logical(np.logical_or),
    "EuclideanNorm": _euclidean_norm,
}


@kernel(*_REDUCERS)
def reduce_kernel(ctx: KernelContext):
    body = _REDUCERS[ctx.node.op]
    keep = bool(ctx.attr("keep_dims", False))
    out_dtype = ctx.out_np()

    def reduce(x, axis):
        x = np.asarray(x)
        axes = _axes(ctx, axis, x.ndim)
        with np.errstate(all="ignore"):
            return np.asarray(body(x, axes, keep)).astype(out_dtype, copy=False)
    return reduce


def _first_extreme(x, axis: int, is_max: bool):
    """Index of the first max (min) along ``axis``, skipping NaN; 0 when nothing beats the
    reducer's start value (TensorFlow starts at (0, lowest) for ArgMax, (0, highest) for ArgMin).
    """
    pick = np.argmax if is_max else np.argmin
    if not _is_float(x.dtype):
        return pick(x, axis=axis)
    loser = -np.inf if is_max else np.inf
    clean = np.where(np.isnan(x), np.array(loser, x.dtype), x)
    index = pick(clean, axis=axis)
    best = np.take_along_axis(clean, np.expand_dims(index, axis), axis).squeeze(axis)
    info = _info(x.dtype)
    beats = best > info.min if is_max else best < info.max
    return np.where(beats, index, 0)


def _is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f" or dtype == np.dtype(ml_dtypes.bfloat16)


_PICKS_MAX = {"ArgMax": True, "ArgMin": False}


@kernel(*_PICKS_MAX)
def arg_reduce(ctx: KernelContext):
    is_max = _PICKS_MAX[ctx.node.op]
    out_dtype = ctx.out_np()

    def arg(x, dimension):
        x, dimension = np.asarray(x), np.asarray(dimension)
        if dimension.ndim != 0:
            raise ctx.fail(f"dim must be a scalar, but received tensor of shape: "
                           f"{list(dimension.shape)}")
        axis, rank = int(dimension), x.ndim
        if not -rank <= axis < rank:
            raise ctx.fail(f"Expected dimension in the range [{-rank}, {rank}), but got {axis}")
        axis %= rank
        if x.shape[axis] == 0:
            raise ctx.fail(f"Reduction axis {axis} is empty in shape {list(x.shape)}")
        return np.asarray(_first_extreme(x, axis, is_max)).astype(out_dtype)
    return arg
