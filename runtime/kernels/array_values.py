"""Kernels of the array ops that read or make values: GatherV2, GatherNd, Shape/ShapeN/Size/Rank,
Fill, ZerosLike/OnesLike, Range, OneHot, Where. (Registered from runtime/kernels/array.py.)

    GatherV2(params f32[2,3], indices [2, 0], axis 1) -> params[:, [2, 0]]
    Range(0., 1., 0.25) -> [0., 0.25, 0.5, 0.75];  Where([[0, 1], [1, 0]]) -> [[0, 1], [1, 0]]

Out-of-range gather indices are an error, as in TensorFlow's CPU kernels. Outputs sized by input
values are checked against the byte budget before anything is allocated.

One body serves numpy and cupy (``xp = ctx.xp``). Shape, ShapeN, Size and Rank read only their
inputs' shapes and answer in host memory, as TensorFlow's GPU kernels do; index checks on a GPU
synchronize (the values must be read to name a bad one).
"""
from __future__ import annotations

import math

import numpy as np

from runtime.kernels import BOTH, KernelContext, kernel
from runtime.kernels.array import check_budget, ints, require_scalar, rule, scalar_int
from schema.ops import array_rules as rules

_INT32_MAX = 2 ** 31 - 1


def _position(flat_index: int, shape) -> str:
    """Flat index 5 in shape (2, 3) -> '[1,2]' (how TensorFlow names a bad index)."""
    return "[" + ",".join(str(int(i)) for i in np.unravel_index(flat_index, shape)) + "]"


# -- gathers ------------------------------------------------------------------------------------

def _check_indices(ctx: KernelContext, indices: np.ndarray, limit: int) -> None:
    bad = (indices < 0) | (indices >= limit)
    if bad.any():
        k = int(ctx.xp.argmax(bad.reshape(-1)))
        raise ctx.fail(f"indices{_position(k, indices.shape)} = "
                       f"{int(indices.reshape(-1)[k])} is not in [0, {limit})")


def _batched_take(params, indices, axis: int, batch_dims: int, out_shape, xp=np):
    """np.take per batch: the first ``batch_dims`` dims of params and indices go together."""
    n = math.prod(params.shape[:batch_dims])
    if n == 0 or math.prod(out_shape) == 0:
        return xp.zeros(out_shape, params.dtype)
    p = params.reshape((n,) + params.shape[batch_dims:])
    ix = indices.reshape((n,) + indices.shape[batch_dims:])
    parts = [xp.take(p[k], ix[k], axis=axis - batch_dims) for k in range(n)]
    return xp.stack(parts).reshape(out_shape)


@kernel("GatherV2", device=BOTH, host_inputs=(2,))
def gather_v2(ctx: KernelContext):
    batch_dims, xp = ctx.attr("batch_dims", 0), ctx.xp

    def run(params, indices, axis):
        axis = scalar_int(ctx, axis, "axis")
        axis, b, out_shape = rule(ctx, rules.gather_dims, params.shape, indices.shape, axis,
                                  batch_dims)
        _check_indices(ctx, indices, params.shape[axis])
        check_budget(ctx, out_shape, params.dtype)
        if b == 0:
            return xp.take(params, indices, axis=axis)
        return _batched_take(params, indices, axis, b, out_shape, xp)
    return run


@kernel("GatherNd", device=BOTH)
def gather_nd(ctx: KernelContext):
    policy = ctx.attr("bad_indices_policy", "") or "DEFAULT"
    if policy not in ("DEFAULT", "ERROR", "IGNORE"):
        raise ctx.fail(f"bad_indices_policy must be DEFAULT, ERROR or IGNORE, got {policy!r}")
    xp = ctx.xp

    def run(params, indices):
        out_shape = rule(ctx, rules.gather_nd_dims, params.shape, indices.shape)
        check_budget(ctx, out_shape, params.dtype)
        depth = indices.shape[-1]
        flat = indices.reshape(math.prod(indices.shape[:-1]), depth).astype(np.int64)
        bad = ((flat < 0) | (flat >= xp.asarray(params.shape[:depth], np.int64))).any(axis=1)
        if bad.any() and policy != "IGNORE":
            k = int(xp.argmax(bad))
            raise ctx.fail(f"indices{_position(k, indices.shape[:-1])} = "
                           f"[{', '.join(str(int(v)) for v in flat[k])}] does not index into "
                           f"param shape {rules.fmt_shape(params.shape)}")
        if len(flat) == 0 or bad.all():
            return xp.zeros(out_shape, params.dtype)
        picked = params[tuple(xp.where(bad[:, None], 0, flat).T)] if depth else \
            xp.repeat(params[None], len(flat), axis=0)
        if bad.any():
            picked[bad] = b"" if params.dtype == object else 0
        return picked.reshape(out_shape)
    return run


# -- shape queries ------------------------------------------------------------------------------

def _as_index(ctx: KernelContext, values, dtype):
    if dtype == np.int32 and any(v > _INT32_MAX for v in np.atleast_1d(values)):
        raise ctx.fail(f"{values} does not fit in int32; use out_type=int64")
    return np.array(values, dtype=dtype)


@kernel("Shape", "ShapeN", device=BOTH, host_outputs=True, shape_only=True)
def shape(ctx: KernelContext):
    out = ctx.out_np(0)
    if ctx.node.op == "Shape":
        return lambda x: _as_index(ctx, np.shape(x), out)
    return lambda *xs: [_as_index(ctx, np.shape(x), out) for x in xs]


@kernel("Size", device=BOTH, host_outputs=True, shape_only=True)
def size(ctx: KernelContext):
    out = ctx.out_np(0)
    return lambda x: _as_index(ctx, np.size(x), out)


@kernel("Rank", device=BOTH, host_outputs=True, shape_only=True)
def rank(ctx: KernelContext):
    return lambda x: np.array(np.ndim(x), np.int32)


# -- making values ------------------------------------------------------------------------------

@kernel("Fill", device=BOTH, host_inputs=(0,))
def fill(ctx: KernelContext):
    out, xp = ctx.out_np(0), ctx.xp

    def run(dims, value):
        if np.ndim(dims) != 1:
            raise ctx.fail(f"dims must be a vector, got shape {rules.fmt_shape(np.shape(dims))}")
        if np.ndim(value) != 0:
            raise ctx.fail(f"value must represent a scalar, got shape "
                           f"{rules.fmt_shape(np.shape(value))}")
        shape = ints(dims)
        for d in shape:
            if d < 0:
                raise ctx.fail(f"Dimension {d} must be >= 0")
        check_budget(ctx, shape, out)
        return xp.full(shape, value, dtype=out)
    return run


@kernel("ZerosLike", device=BOTH)
def zeros_like(ctx: KernelContext):
    xp = ctx.xp
    return lambda x: (np.full(np.shape(x), b"", object) if x.dtype == object
                      else xp.zeros_like(x))


@kernel("OnesLike", device=BOTH)
def ones_like(ctx: KernelContext):
    return ctx.xp.ones_like


@kernel("Range", device=BOTH, host_inputs=(0, 1, 2))
def range_(ctx: KernelContext):
    dtype = ctx.out_types[0]
    out, xp = dtype.np, ctx.xp

    def run(start, limit, delta):
        for value, what in ((start, "start"), (limit, "limit"), (delta, "delta")):
            require_scalar(ctx, value, what)
        start, limit, delta = (np.asarray(v).astype(out)[()] for v in (start, limit, delta))
        n = rule(ctx, rules.range_size, start, limit, delta, dtype.is_integer)
        # The int64 positions are the largest buffer this kernel allocates.
        check_budget(ctx, [n], np.dtype(np.int64) if out.itemsize < 8 else out)
        # TensorFlow computes start + T(i) * delta in T (not a running sum).
        return (start + xp.arange(n, dtype=np.int64).astype(out) * delta).astype(out)
    return run


@kernel("OneHot", device=BOTH, host_inputs=(1,))
def one_hot(ctx: KernelContext):
    axis, out, xp = ctx.attr("axis", -1), ctx.out_np(0), ctx.xp

    def run(indices, depth, on_value, off_value):
        depth = scalar_int(ctx, depth, "depth")
        require_scalar(ctx, on_value, "on_value")
        require_scalar(ctx, off_value, "off_value")
        out_shape = rule(ctx, rules.one_hot_dims, indices.shape, depth, axis)
        check_budget(ctx, out_shape, out)
        hot = xp.asarray(indices)[..., None] == xp.arange(depth, dtype=np.int64)
        result = xp.where(hot, on_value, off_value).astype(out, copy=False)
        if axis not in (-1, indices.ndim):
            result = xp.moveaxis(result, -1, axis)
        return xp.ascontiguousarray(result)
    return run


@kernel("Where", device=BOTH)
def where(ctx: KernelContext):
    xp = ctx.xp

    def run(x):
        if np.ndim(x) == 0:
            raise ctx.fail("WhereOp : Unhandled input dimensions: 0")
        return xp.argwhere(x).astype(np.int64, copy=False)
    return run
