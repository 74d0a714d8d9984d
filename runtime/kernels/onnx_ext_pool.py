"""Kernels of OnnxPool and OnnxMaxPoolWithIndices: N-D pooling over [N, C, D1, ...] with ONNX's
options (auto_pad, explicit pads, dilations, ceil_mode, count_include_pad, p, storage_order).

The input is padded once (by ``pad before`` and up to the extent the last window reaches); then
each kernel tap is one strided view of it, folded into the output with a maximum or a sum.

    OnnxPool(x[1,1,4], mode='avg', kernel_shape=[2], strides=[2], ceil_mode=false)
        -> taps x[:, :, 0:3:2] and x[:, :, 1:4:2], summed and divided by the counts [2, 2]

Average counts: the input elements of each window, plus the explicit padding with
count_include_pad (never the extra reach of ceil_mode). MaxPool indices are flat positions in
the input: ((n * C + c) * D1 + d1) * D2 + d2 ... (storage_order=0) or with the spatial dims in
column-major order (storage_order=1).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from runtime.kernels import KernelContext, kernel
from runtime.kernels.array import check_budget
from schema.ops.onnx_ext_nn import pool_window, window_attrs


def _plan(ctx: KernelContext, x: np.ndarray) -> tuple:
    """(kernel, strides, dilations, [(out, before, after)] per spatial dim)."""
    if x.ndim < 3:
        raise ctx.fail(f"input must be [N, C, D1, ...], got shape {list(x.shape)}")
    spatial = x.ndim - 2
    kernel_shape, strides, dilations, pads = window_attrs(ctx.attr, spatial, ctx.fail)
    auto_pad, ceil_mode = ctx.attr("auto_pad", "NOTSET"), ctx.attr("ceil_mode", False)
    plans = [pool_window(x.shape[2 + i], kernel_shape[i], strides[i], dilations[i], pads[i],
                         auto_pad, ceil_mode, ctx.fail) for i in range(spatial)]
    check_budget(ctx, x.shape[:2] + tuple(p[0] for p in plans), x.dtype)
    return kernel_shape, strides, dilations, plans


def _reach(plan: tuple, k: int, stride: int, dilation: int) -> int:
    """How far the windows reach, in padded coordinates."""
    return (plan[0] - 1) * stride + (k - 1) * dilation + 1


def _pad(ctx: KernelContext, x: np.ndarray, plans: list, reaches: list, fill) -> np.ndarray:
    widths = [(0, 0), (0, 0)]
    for (_, before, _), reach, size in zip(plans, reaches, x.shape[2:]):
        widths.append((before, max(reach - before - size, 0)))
    check_budget(ctx, [d + b + a for d, (b, a) in zip(x.shape, widths)], x.dtype)
    return np.pad(x, widths, constant_values=fill)


def _taps(kernel_shape, strides, dilations, plans):
    """(tap, index): x_padded[index] is what kernel position ``tap`` sees at every output."""
    for tap in itertools.product(*[range(k) for k in kernel_shape]):
        index = tuple(slice(t * d, t * d + (p[0] - 1) * s + 1, s)
                      for t, d, s, p in zip(tap, dilations, strides, plans))
        yield tap, (slice(None), slice(None)) + index


def _lowest(dtype: np.dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _counts(x_shape, plans, reaches, include_pad: bool, dtype) -> np.ndarray:
    """1 where a padded position counts toward an average: input elements, and with
    include_pad the explicit padding too (never the extra reach of ceil_mode)."""
    mask = np.ones((1, 1), dtype)
    for (_, before, after), reach, size in zip(plans, reaches, x_shape[2:]):
        line = np.zeros(max(reach, before + size), dtype)
        lo, hi = (0, before + size + after) if include_pad else (before, before + size)
        line[lo:hi] = 1
        mask = mask[..., None] * line
    return mask


@kernel("OnnxPool")
def pool(ctx: KernelContext):
    mode, p = ctx.attr("mode"), ctx.attr("p", 2)
    include_pad = ctx.attr("count_include_pad", False)

    def run(x):
        kernel_shape, strides, dilations, plans = _plan(ctx, x)
        reaches = [_reach(pl, k, s, d) for pl, k, s, d in zip(plans, kernel_shape, strides,
                                                               dilations)]
        out_shape = x.shape[:2] + tuple(pl[0] for pl in plans)
        if mode == "max":
            padded = _pad(ctx, x, plans, reaches, _lowest(x.dtype))
            out = np.full(out_shape, _lowest(x.dtype), x.dtype)
            for _, index in _taps(kernel_shape, strides, dilations, plans):
                np.maximum(out, padded[index], out=out)
            return out
        compute = np.float64 if x.dtype == np.float64 else np.float32
        values = x.astype(compute)
        values = np.abs(values) ** p if mode == "lp" else values
        padded = _pad(ctx, values, plans, reaches, 0)
        total = np.zeros(out_shape, compute)
        for _, index in _taps(kernel_shape, strides, dilations, plans):
            total += padded[index]
        if mode == "lp":
            return (total ** (1.0 / p)).astype(x.dtype)
        counted = _counts(x.shape, plans, reaches, include_pad, compute)
        count = np.zeros((1, 1) + out_shape[2:], compute)
        for _, index in _taps(kernel_shape, strides, dilations, plans):
            count += counted[index]
        return (total / np.maximum(count, 1)).astype(x.dtype)
    return run


def _flat_strides(spatial_dims: tuple, column_major: bool) -> list:
    dims = list(spatial_dims)
    order = range(len(dims)) if column_major else range(len(dims) - 1, -1, -1)
    strides, step = [0] * len(dims), 1
    for i in order:
        strides[i], step = step, step * dims[i]
    return strides


@kernel("OnnxMaxPoolWithIndices")
def max_pool_with_indices(ctx: KernelContext):
    column_major = ctx.attr("storage_order", 0) == 1

    def run(x):
        kernel_shape, strides, dilations, plans = _plan(ctx, x)
        reaches = [_reach(pl, k, s, d) for pl, k, s, d in zip(plans, kernel_shape, strides,
                                                               dilations)]
        n, c, in_dims = x.shape[0], x.shape[1], x.shape[2:]
        out_dims = tuple(pl[0] for pl in plans)
        padded = _pad(ctx, x, plans, reaches, _lowest(x.dtype))
        best = np.full((n, c) + out_dims, _lowest(x.dtype), x.dtype)
        best_index = np.zeros((n, c) + out_dims, np.int64)
        base = (np.arange(n * c, dtype=np.int64) * math.prod(in_dims)).reshape(
            (n, c) + (1,) * len(in_dims))
        flat = _flat_strides(in_dims, column_major)
        for tap, index in _taps(kernel_shape, strides, dilations, plans):
            where = base
            for axis, (t, d, s, pl, step) in enumerate(zip(tap, dilations, strides, plans, flat)):
                position = np.arange(pl[0], dtype=np.int64) * s + t * d - pl[1]
                shape = [1] * (2 + len(in_dims))
                shape[2 + axis] = pl[0]
                where = where + (position * step).reshape(shape)
            values = padded[index]
            better = values > best
            best = np.where(better, values, best)
            best_index = np.where(better, where, best_index)
        return best, best_index
    return run
