"""Kernels of TopKV2, ReverseSequence and the ONNX indexing extension ops (declared in
schema/ops/onnx_ext_tensor.py).

    TopKV2([[1, 3, 2]], k=2)                            -> [[3, 2]], [[1, 2]]
    OnnxGatherElements([[1, 2], [3, 4]], [[0, 0], [1, 0]], axis=1) -> [[1, 1], [4, 3]]
    OnnxScatterND([1, 2, 3], [[1]], [9], reduction='add') -> [1, 11, 3]

Indices may be negative (counted from the end, as ONNX allows); out-of-range ones are an error.
Outputs sized by input values (TopKV2's k, OnnxUnique) are checked against the byte budget.
"""
from __future__ import annotations

import numpy as np

from runtime.kernels import KernelContext, kernel
from runtime.kernels.array import check_budget, scalar_int

# ufuncs whose .at applies a scatter reduction with repeated indices accumulating.
_SCATTER_UFUNCS = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _normalized(ctx: KernelContext, indices: np.ndarray, limits) -> np.ndarray:
    """Negative indices counted from the end; an error for any outside [-limit, limit)."""
    indices = indices.astype(np.int64)
    limits = np.asarray(limits, np.int64)
    bad = (indices < -limits) | (indices >= limits)
    if bad.any():
        k = int(np.argmax(bad.reshape(-1)))
        raise ctx.fail(f"index {int(indices.reshape(-1)[k])} is out of range for a dimension of "
                       f"size {int(np.broadcast_to(limits, indices.shape).reshape(-1)[k])}")
    return np.where(indices < 0, indices + limits, indices)


def _axis(ctx: KernelContext, rank: int) -> int:
    axis = ctx.attr("axis", 0)
    if not -rank <= axis < max(rank, 1):
        raise ctx.fail(f"axis {axis} is out of range for rank {rank}")
    return axis % max(rank, 1)


# -- TopKV2, ReverseSequence ----------------------------------------------------------------------

def _descending_key(x: np.ndarray) -> np.ndarray:
    """A key whose ascending stable sort is x's descending order (ties keep index order)."""
    if x.dtype.kind == "f" or x.dtype.kind == "V":
        return -x.astype(np.float64)
    return ~x  # integers: -x - 1, no overflow at the minimum


@kernel("TopKV2")
def top_k(ctx: KernelContext):
    index_type = ctx.out_np(1)

    def run(x, k):
        k = scalar_int(ctx, k, "k")
        if x.ndim < 1:
            raise ctx.fail("input must be at least 1-D")
        if k < 0 or k > x.shape[-1]:
            raise ctx.fail(f"input must have at least k={k} columns, has {x.shape[-1]}")
        check_budget(ctx, x.shape[:-1] + (k,), x.dtype)
        order = np.argsort(_descending_key(x), axis=-1, kind="stable")[..., :k]
        return np.take_along_axis(x, order, axis=-1), order.astype(index_type)
    return run


@kernel("ReverseSequence")
def reverse_sequence(ctx: KernelContext):
    seq_dim, batch_dim = ctx.attr("seq_dim"), ctx.attr("batch_dim", 0)

    def run(x, lengths):
        if lengths.shape != (x.shape[batch_dim],):
            raise ctx.fail(f"seq_lengths must have shape [{x.shape[batch_dim]}], got "
                           f"{list(lengths.shape)}")
        if (lengths < 0).any() or (lengths > x.shape[seq_dim]).any():
            raise ctx.fail(f"seq_lengths {lengths.tolist()} must be in [0, "
                           f"{x.shape[seq_dim]}]")
        out = x.copy()
        for b, n in enumerate(lengths.tolist()):
            index = [slice(None)] * x.ndim
            index[batch_dim], index[seq_dim] = b, slice(0, n)
            source = [slice(None)] * x.ndim
            source[batch_dim] = b
            source[seq_dim] = slice(n - 1, None, -1) if n > 0 else slice(0, 0)
            out[tuple(index)] = x[tuple(source)]
        return out
    return run


# -- gather and scatter by element ----------------------------------------------------------------

def _element_index(ctx: KernelContext, data: np.ndarray, indices: np.ndarray) -> tuple:
    """A full advanced index into data: indices on the axis, the position elsewhere."""
    if indices.ndim != data.ndim:
        raise ctx.fail(f"data (rank {data.ndim}) and indices (rank {indices.ndim}) must have "
                       f"the same rank")
    axis = _axis(ctx, data.ndim)
    grid = list(np.indices(indices.shape, sparse=True))
    for d in range(data.ndim):
        if d != axis and indices.shape[d] > data.shape[d]:
            raise ctx.fail(f"indices {list(indices.shape)} exceed data {list(data.shape)} on "
                           f"axis {d}")
    grid[axis] = _normalized(ctx, indices, data.shape[axis])
    return tuple(grid)


@kernel("OnnxGatherElements")
def gather_elements(ctx: KernelContext):
    return lambda data, indices: data[_element_index(ctx, data, indices)]


def _scatter(out: np.ndarray, index: tuple, updates: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        out[index] = updates
    else:
        _SCATTER_UFUNCS[reduction].at(out, index, updates)
    return out


@kernel("OnnxScatterElements")
def scatter_elements(ctx: KernelContext):
    reduction = ctx.attr("reduction", "none")

    def run(data, indices, updates):
        if indices.shape != updates.shape:
            raise ctx.fail(f"indices {list(indices.shape)} and updates "
                           f"{list(updates.shape)} must have the same shape")
        return _scatter(data.copy(), _element_index(ctx, data, indices), updates, reduction)
    return run


@kernel("OnnxScatterND")
def scatter_nd(ctx: KernelContext):
    """indices [..., k] address data[i0, ..., ik-1]; updates [...] + data.shape[k:]."""
    reduction = ctx.attr("reduction", "none")

    def run(data, indices, updates):
        k = indices.shape[-1] if indices.ndim else 0
        expected = indices.shape[:-1] + data.shape[k:]
        if indices.ndim < 1 or k > data.ndim or updates.shape != expected:
            raise ctx.fail(f"indices {list(indices.shape)} and updates {list(updates.shape)} "
                           f"do not fit data {list(data.shape)}: updates must be "
                           f"{list(expected)}")
        fixed = _normalized(ctx, indices, data.shape[:k])
        index = tuple(fixed[..., j] for j in range(k))
        return _scatter(data.copy(), index, updates, reduction)
    return run


# -- Unique ---------------------------------------------------------------------------------------

@kernel("OnnxUnique")
def unique(ctx: KernelContext):
    """np.unique; sorted=false reorders the results by first occurrence, as ONNX specifies."""
    keep_sorted, has_axis = ctx.attr("sorted", True), ctx.attr("has_axis", False)

    def run(x):
        axis = _axis(ctx, x.ndim) if has_axis else None
        data = x if has_axis else x.reshape(-1)
        y, first, inverse, counts = np.unique(data, return_index=True, return_inverse=True,
                                              return_counts=True, axis=axis)
        inverse = inverse.reshape(-1)
        if not keep_sorted:
            order = np.argsort(first, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            y = np.take(y, order, axis=0 if axis is None else axis)
            first, counts, inverse = first[order], counts[order], rank[inverse]
        return y, first.astype(np.int64), inverse.astype(np.int64), counts.astype(np.int64)
    return run


# -- run-time axes and pads -----------------------------------------------------------------------

def _axes_list(ctx: KernelContext, axes: np.ndarray, rank: int) -> list:
    values = [int(a) for a in axes.reshape(-1)]
    if any(not -rank <= a < rank for a in values) or len({a % rank for a in values}) != \
            len(values):
        raise ctx.fail(f"axes {values} are out of range or repeated for rank {rank}")
    return [a % rank for a in values]


@kernel("OnnxSqueeze")
def squeeze(ctx: KernelContext):
    def run(x, axes):
        chosen = _axes_list(ctx, axes, x.ndim)
        bad = [a for a in chosen if x.shape[a] != 1]
        if bad:
            raise ctx.fail(f"cannot squeeze axes {bad} of shape {list(x.shape)}: not size 1")
        return np.squeeze(x, axis=tuple(chosen)) if chosen else np.squeeze(x)
    return run


@kernel("OnnxUnsqueeze")
def unsqueeze(ctx: KernelContext):
    return lambda x, axes: np.expand_dims(x, tuple(_axes_list(ctx, axes, x.ndim + axes.size)))


_PAD_MODES = {"reflect": "reflect", "edge": "edge", "wrap": "wrap"}


@kernel("OnnxPad")
def pad(ctx: KernelContext):
    """ONNX Pad with run-time pads and axes; negative pads crop before padding."""
    mode = ctx.attr("mode", "constant")

    def run(x, pads, value, axes):
        chosen = _axes_list(ctx, axes, x.ndim) if axes.size else list(range(x.ndim))
        values = [int(p) for p in pads.reshape(-1)]
        if len(values) != 2 * len(chosen):
            raise ctx.fail(f"pads {values} must hold 2 values for each of the axes {chosen}")
        widths = [[0, 0] for _ in range(x.ndim)]
        for i, a in enumerate(chosen):
            widths[a] = [values[i], values[i + len(chosen)]]
        crop = tuple(slice(max(-b, 0), x.shape[a] - max(-e, 0)) for a, (b, e) in
                     enumerate(widths))
        x = x[crop]
        widths = [(max(b, 0), max(e, 0)) for b, e in widths]
        check_budget(ctx, [d + b + e for d, (b, e) in zip(x.shape, widths)], x.dtype)
        if mode == "constant":
            fill = value.reshape(-1)[0] if value.size else 0
            return np.pad(x, widths, constant_values=fill)
        if any((b or e) and d == 0 for d, (b, e) in zip(x.shape, widths)):
            raise ctx.fail(f"cannot pad an empty axis with mode {mode!r}")
        if mode == "reflect" and any(b >= d or e >= d for d, (b, e) in zip(x.shape, widths)
                                     if b or e):
            raise ctx.fail(f"reflect pads {widths} must be smaller than the dims "
                           f"{list(x.shape)}")
        return np.pad(x, widths, mode=_PAD_MODES[mode])
    return run


@kernel("OnnxTensorScatter")
def tensor_scatter(ctx: KernelContext):
    """ONNX TensorScatter (a KV-cache write): update[b, ..., i] goes to position
    write_indices[b] + i of ``axis`` (modulo its length in circular mode)."""
    circular = ctx.attr("mode", "linear") == "circular"

    def run(cache, update, write_indices):
        axis = _axis(ctx, cache.ndim)
        if axis == 0 or update.ndim != cache.ndim or update.shape[axis] > cache.shape[axis] or \
                any(u != c for i, (u, c) in enumerate(zip(update.shape, cache.shape)) if i != axis):
            raise ctx.fail(f"update {list(update.shape)} does not fit past_cache "
                           f"{list(cache.shape)} along axis {axis} (which must not be 0)")
        batch, length = cache.shape[0], cache.shape[axis]
        starts = write_indices.reshape(-1).astype(np.int64) if write_indices.size else \
            np.zeros(batch, np.int64)
        positions = starts[:, None] + np.arange(update.shape[axis])
        if circular:
            positions = positions % length
        elif starts.shape != (batch,) or (positions >= length).any() or (positions < 0).any():
            raise ctx.fail(f"write_indices {starts.tolist()} put the update past the cache "
                           f"length {length}")
        out = cache.copy()
        target = np.moveaxis(out, axis, 1)
        rest = (slice(None),) * (axis - 1)
        target[(np.arange(batch)[:, None], positions) + rest] = np.moveaxis(update, axis, 1)
        return out
    return run
