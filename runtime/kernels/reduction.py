"""Reduction kernels with TensorFlow's semantics.

    Sum(x f32[3,4], axis=[-1]) -> x.sum(-1);   Sum(x, axis=[]) -> x (identity)
    Max(f32[0,2], axis=0) -> [-inf, -inf]      (empty reductions give the reducer's identity)
    Mean(i32[-7, 2]) -> -2                     (integer mean truncates toward zero)

Sum and Prod accumulate in the input's dtype (integers wrap). Integer Mean accumulates in
int64/uint64 and truncates. Max/Min propagate NaN. ArgMax/ArgMin never pick a NaN and, on ties,
return the first index, as TensorFlow's CPU kernels do.

One body serves numpy and cupy (``xp = ctx.xp``); the axes input stays in host memory.
"""
from __future__ import annotations

import math

import ml_dtypes
import numpy as np

from runtime.kernels import BOTH, KernelContext, kernel
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


def _accumulate(name: str):
    """Sum/Prod in the input's dtype: numpy's add/multiply.reduce, cupy's sum/prod."""
    def reduce(x, axes, keep, xp=np):
        if xp is np:
            return getattr(np, name).reduce(x, axis=axes, dtype=x.dtype, keepdims=keep)
        total = xp.sum if name == "add" else xp.prod
        return total(x, axis=axes, dtype=x.dtype, keepdims=keep)
    return reduce


def _logical(name: str):
    """All/Any: logical_and/or.reduce on numpy, all/any on cupy."""
    def reduce(x, axes, keep, xp=np):
        if xp is np:
            return getattr(np, name).reduce(x, axis=axes, keepdims=keep)
        return (xp.all if name == "logical_and" else xp.any)(x, axis=axes, keepdims=keep)
    return reduce


def _info(dtype: np.dtype):
    return ml_dtypes.iinfo(dtype) if dtype.kind in "iu" else ml_dtypes.finfo(dtype)


def _reduced_shape(shape: tuple, axes: tuple, keep: bool) -> tuple:
    """(3, 0, 4) over (1,) -> (3, 4), or (3, 1, 4) keeping dims."""
    if keep:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _extreme(name: str, start_is_lowest: bool):
    """Max/Min; the start value (-inf / lowest int for Max) is what an empty reduction gives.
    (cupy's max has no ``initial``: an empty reduction is filled with it instead.)"""
    def reduce(x, axes, keep, xp=np):
        if x.dtype.kind in "iu":
            info = _info(x.dtype)
            start = info.min if start_is_lowest else info.max
        else:
            start = -np.inf if start_is_lowest else np.inf
        if xp is np:
            return getattr(np, name).reduce(x, axis=axes, keepdims=keep,
                                            initial=np.array(start, x.dtype))
        if any(x.shape[a] == 0 for a in axes):
            return xp.full(_reduced_shape(x.shape, axes, keep), start, x.dtype)
        return (xp.max if start_is_lowest else xp.min)(x, axis=axes, keepdims=keep)
    return reduce


def _mean(x, axes, keep, xp=np):
    count = math.prod(x.shape[a] for a in axes)
    if x.dtype.kind in "iu":
        wide = np.int64 if x.dtype.kind == "i" else np.uint64
        total = _accumulate("add")(x.astype(wide, copy=False), axes, keep, xp)
        if count == 0:
            return xp.zeros_like(total, dtype=x.dtype)
        quotient = total // count
        # floor -> truncation toward zero for negative sums with a remainder
        quotient = quotient + ((total < 0) & (quotient * count != total))
        return quotient.astype(x.dtype)
    total = _accumulate("add")(x, axes, keep, xp)
    return xp.asarray(total / np.float64(count)).astype(x.dtype)


def _euclidean_norm(x, axes, keep, xp=np):
    squares = _accumulate("add")(x * xp.conj(x), axes, keep, xp)
    if x.dtype.kind in "iu":
        return xp.sqrt(squares.astype(np.float64)).astype(x.dtype)
    return xp.sqrt(squares).astype(x.dtype)


_REDUCERS = {
    "Sum": _accumulate("add"), "Prod": _accumulate("multiply"), "Mean": _mean,
    "Max": _extreme("maximum", True), "Min": _extreme("minimum", False),
    "All": _logical("logical_and"), "Any": _logical("logical_or"),
    "EuclideanNorm": _euclidean_norm,
}


@kernel(*_REDUCERS, device=BOTH, host_inputs=(1,))
def reduce_kernel(ctx: KernelContext):
    body = _REDUCERS[ctx.node.op]
    keep = bool(ctx.attr("keep_dims", False))
    out_dtype, xp = ctx.out_np(), ctx.xp

    def reduce(x, axis):
        x = xp.asarray(x)
        axes = _axes(ctx, axis, x.ndim)
        with np.errstate(all="ignore"):
            return xp.asarray(body(x, axes, keep, xp)).astype(out_dtype, copy=False)
    return reduce


def _first_extreme(x, axis: int, is_max: bool, xp=np):
    """Index of the first max (min) along ``axis``, skipping NaN; 0 when nothing beats the
    reducer's start value (TensorFlow starts at (0, lowest) for ArgMax, (0, highest) for ArgMin).
    """
    pick = xp.argmax if is_max else xp.argmin
    if not _is_float(x.dtype):
        return pick(x, axis=axis)
    loser = -np.inf if is_max else np.inf
    clean = xp.where(xp.isnan(x), xp.asarray(loser, x.dtype), x)
    index = pick(clean, axis=axis)
    best = xp.take_along_axis(clean, xp.expand_dims(index, axis), axis).squeeze(axis)
    info = _info(x.dtype)
    beats = best > info.min if is_max else best < info.max
    return xp.where(beats, index, 0)


def _is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f" or dtype == np.dtype(ml_dtypes.bfloat16)


_PICKS_MAX = {"ArgMax": True, "ArgMin": False}


@kernel(*_PICKS_MAX, device=BOTH, host_inputs=(1,))
def arg_reduce(ctx: KernelContext):
    is_max = _PICKS_MAX[ctx.node.op]
    out_dtype, xp = ctx.out_np(), ctx.xp

    def arg(x, dimension):
        x, dimension = xp.asarray(x), np.asarray(dimension)
        if dimension.ndim != 0:
            raise ctx.fail(f"dim must be a scalar, but received tensor of shape: "
                           f"{list(dimension.shape)}")
        axis, rank = int(dimension), x.ndim
        if not -rank <= axis < rank:
            raise ctx.fail(f"Expected dimension in the range [{-rank}, {rank}), but got {axis}")
        axis %= rank
        if x.shape[axis] == 0:
            raise ctx.fail(f"Reduction axis {axis} is empty in shape {list(x.shape)}")
        return xp.asarray(_first_extreme(x, axis, is_max, xp)).astype(out_dtype)
    return arg
