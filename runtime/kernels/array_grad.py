"""Kernels of the array ops gradients are built from (declared in schema/ops/array_grad.py).

    StridedSliceGrad([4], [1], [3], [1], dy [5., 6.]) -> [0., 5., 6., 0.]
    MirrorPadGrad([1., 2., 3., 4., 5.], [[1, 1]], REFLECT) -> [2., 1. + 3. + 5., 4.]
        (each padded element's gradient is added to the element it mirrors)
    ScatterNd([[1], [1], [3]], [1., 2., 3.], [4]) -> [0., 3., 0., 3.]

One body serves numpy and cupy (``xp = ctx.xp``); shapes, slice bounds and paddings stay in host
memory.
"""
from __future__ import annotations

import numpy as np

from runtime.kernels import BOTH, KernelContext, kernel
from runtime.kernels.array import check_budget, ints, rule
from schema.ops.slicing import strided_slice as resolve_strided_slice

_MASKS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


def _shape_vector(ctx: KernelContext, value, what: str) -> list[int]:
    if np.ndim(value) != 1:
        raise ctx.fail(f"{what} must be a vector, got shape {list(np.shape(value))}")
    dims = ints(value)
    if any(d < 0 for d in dims):
        raise ctx.fail(f"{what} must be non-negative, got {dims}")
    return dims


@kernel("StridedSliceGrad", device=BOTH, host_inputs=(0, 1, 2, 3))
def strided_slice_grad(ctx: KernelContext):
    """Zeros of ``shape`` with dy written where StridedSlice(shape, begin, end, strides) reads."""
    masks = [ctx.attr(m, 0) for m in _MASKS]
    out_type, xp = ctx.out_np(0), ctx.xp

    def run(shape, begin, end, strides, dy):
        dims = _shape_vector(ctx, shape, "shape")
        spec = rule(ctx, resolve_strided_slice, dims, ints(begin), ints(end), ints(strides),
                    *masks)
        if list(np.shape(dy)) != list(spec.final_shape):
            raise ctx.fail(f"dy has shape {list(np.shape(dy))}, but the slice of {dims} has "
                           f"shape {spec.final_shape}")
        check_budget(ctx, dims, np.dtype(out_type))
        out = xp.zeros(dims, out_type)
        out[spec.as_slices()] = xp.reshape(dy, spec.sizes)
        return out
    return run


def _fold_axis(g: np.ndarray, axis: int, before: int, after: int, symmetric: bool,
               xp=np) -> np.ndarray:
    """The gradient of mirror-padding one axis: the core plus the mirrored pads added back.

    REFLECT excludes the edge element from the mirror (pad i mirrors index i + 1), SYMMETRIC
    includes it (pad i mirrors index i).
    """
    n = g.shape[axis] - before - after
    take = lambda lo, hi: g[(slice(None),) * axis + (slice(lo, hi),)]  # noqa: E731
    core = xp.array(take(before, before + n), copy=True)
    shift = 0 if symmetric else 1
    index = (slice(None),) * axis
    if before:
        core[index + (slice(shift, shift + before),)] += xp.flip(take(0, before), axis)
    if after:
        core[index + (slice(n - after - shift, n - shift),)] += xp.flip(
            take(before + n, before + n + after), axis)
    return core


@kernel("MirrorPadGrad", device=BOTH, host_inputs=(1,))
def mirror_pad_grad(ctx: KernelContext):
    mode = ctx.attr("mode")
    if mode not in ("REFLECT", "SYMMETRIC"):
        raise ctx.fail(f"mode must be REFLECT or SYMMETRIC, got {mode!r}")
    limit = 0 if mode == "SYMMETRIC" else 1   # a pad may not exceed size - limit of the output
    xp = ctx.xp

    def run(g, paddings):
        pads = np.asarray(paddings, np.int64)
        if pads.shape != (g.ndim, 2) or (pads < 0).any():
            raise ctx.fail(f"paddings must be a non-negative [{g.ndim}, 2] matrix, got "
                           f"{pads.tolist()}")
        out = xp.asarray(g)
        for axis, (before, after) in enumerate(pads.tolist()):
            n = out.shape[axis] - before - after
            if n < 0 or max(before, after) > n - limit:
                raise ctx.fail(f"paddings {[before, after]} of dimension {axis} are too large "
                               f"for a gradient of size {out.shape[axis]} in {mode} mode")
            out = _fold_axis(out, axis, before, after, mode == "SYMMETRIC", xp)
        return xp.ascontiguousarray(out)
    return run


@kernel("ScatterNd", device=BOTH, host_inputs=(2,))
def scatter_nd(ctx: KernelContext):
    """Zeros of ``shape`` with each update added at its index (duplicates accumulate)."""
    out_type, xp = ctx.out_np(0), ctx.xp

    def run(indices, updates, shape):
        dims = _shape_vector(ctx, shape, "shape")
        indices = xp.asarray(indices)
        if indices.ndim < 1 or indices.shape[-1] > len(dims):
            raise ctx.fail(f"indices {list(indices.shape)} must have a last dimension of at most "
                           f"the output rank {len(dims)}")
        k = indices.shape[-1]
        expected = list(indices.shape[:-1]) + dims[k:]
        if list(np.shape(updates)) != expected:
            raise ctx.fail(f"updates must have shape {expected} for indices "
                           f"{list(indices.shape)} and shape {dims}, got "
                           f"{list(np.shape(updates))}")
        check_budget(ctx, dims, np.dtype(out_type))
        flat = indices.reshape(-1, k)
        bad = (flat < 0) | (flat >= xp.asarray(dims[:k], dtype=np.int64))
        if bad.any():
            row = int(xp.nonzero(bad.any(axis=1))[0][0])
            raise ctx.fail(f"indices[{row}] = {flat[row].tolist()} does not index into shape "
                           f"{dims}")
        out = xp.zeros(dims, out_type)
        xp.add.at(out, tuple(flat.T), xp.reshape(updates, (flat.shape[0],) + tuple(dims[k:])))
        return out
    return run
