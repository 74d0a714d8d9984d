"""Kernels of schema/ops/onnx_ext_sequence.py: a sequence is a TensorSequence (a tuple of
arrays; the Session makes one of a fed list), an optional its value or None.

    OnnxSequenceInsert((a, b), c, [0])  -> (c, a, b)
    OnnxSequenceAt((a, b, c), -1)       -> c
    OnnxSplitToSequence(x[3, 6], 4) axis=1 -> (x[:, 0:4], x[:, 4:6])
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from runtime.kernels import KernelContext, kernel
from schema.tensors import check_byte_budget

__all__ = ["TensorSequence"]

_PIECE_BYTES = 128


class TensorSequence(tuple):
    """The value of a sequence (a variant): a tuple of arrays, which fetches return whole."""

    def __repr__(self) -> str:
        return f"TensorSequence({list(self)!r})"


def _sequence(ctx: KernelContext, value) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise ctx.fail(f"expected a sequence (a list of tensors), got {type(value).__name__}")
    return TensorSequence(value)


def _position(ctx: KernelContext, position, size: int, inclusive: bool) -> Optional[int]:
    """An index into a sequence of ``size`` (``inclusive``: size itself allowed, for insertion);
    None for an absent position (a tensor of shape [0])."""
    position = np.asarray(position)
    if position.size == 0:
        return None
    if position.size != 1:
        raise ctx.fail(f"position must be a scalar, got shape {list(position.shape)}")
    p = int(position.reshape(-1)[0])
    high = size if inclusive else size - 1
    if not -size <= p <= high:
        raise ctx.fail(f"position {p} is out of range for a sequence of {size} tensors")
    return p + size if p < 0 else p


def _element(ctx: KernelContext, value, dtype) -> np.ndarray:
    value = np.asarray(value)
    if value.dtype != dtype:
        raise ctx.fail(f"the sequence holds a {value.dtype} tensor, expected {np.dtype(dtype)}")
    return value


@kernel("OnnxSequenceEmpty")
def sequence_empty(ctx: KernelContext):
    return lambda: TensorSequence()


@kernel("OnnxSequenceConstruct")
def sequence_construct(ctx: KernelContext):
    return lambda *tensors: TensorSequence(np.asarray(t) for t in tensors)


@kernel("OnnxSequenceInsert")
def sequence_insert(ctx: KernelContext):
    def run(handle, tensor, position):
        items = _sequence(ctx, handle)
        p = _position(ctx, position, len(items), inclusive=True)
        p = len(items) if p is None else p
        return TensorSequence(items[:p] + (np.asarray(tensor),) + items[p:])
    return run


@kernel("OnnxSequenceErase")
def sequence_erase(ctx: KernelContext):
    def run(handle, position):
        items = _sequence(ctx, handle)
        if not items:
            raise ctx.fail("cannot erase from an empty sequence")
        p = _position(ctx, position, len(items), inclusive=False)
        p = len(items) - 1 if p is None else p
        return TensorSequence(items[:p] + items[p + 1:])
    return run


@kernel("OnnxSequenceAt")
def sequence_at(ctx: KernelContext):
    dtype = ctx.out_np()

    def run(handle, position):
        items = _sequence(ctx, handle)
        p = _position(ctx, position, len(items), inclusive=False)
        if p is None:
            raise ctx.fail("SequenceAt needs a position")
        return _element(ctx, items[p], dtype)
    return run


@kernel("OnnxSequenceLength")
def sequence_length(ctx: KernelContext):
    return lambda handle: np.array(len(_sequence(ctx, handle)), np.int64)


@kernel("OnnxConcatFromSequence")
def concat_from_sequence(ctx: KernelContext):
    dtype, axis, new_axis = ctx.out_np(), int(ctx.attr("axis")), bool(ctx.attr("new_axis"))

    def run(handle):
        items = [_element(ctx, t, dtype) for t in _sequence(ctx, handle)]
        if not items:
            raise ctx.fail("cannot concatenate an empty sequence")
        rank = items[0].ndim + new_axis
        if not -rank <= axis < max(rank, 1):
            raise ctx.fail(f"axis {axis} is out of range for rank {rank}")
        try:
            return np.stack(items, axis) if new_axis else np.concatenate(items, axis)
        except ValueError as err:
            raise ctx.fail(f"the sequence's tensors do not fit together: {err}") from None
    return run


@kernel("OnnxSplitToSequence")
def split_to_sequence(ctx: KernelContext):
    axis, keepdims = int(ctx.attr("axis")), bool(ctx.attr("keepdims"))

    def run(x, split):
        x, split = np.asarray(x), np.asarray(split)
        if not -x.ndim <= axis < max(x.ndim, 1) or x.ndim == 0:
            raise ctx.fail(f"axis {axis} is out of range for rank {x.ndim}")
        a = axis % x.ndim
        if split.size == 0 and split.ndim == 1:      # absent: pieces of one
            _check_pieces(ctx, x.shape[a])
            pieces = np.split(x, x.shape[a], axis=a)
            return TensorSequence(p if keepdims else np.squeeze(p, a) for p in pieces)
        points = _split_points(ctx, split, x.shape[a])
        _check_pieces(ctx, len(points) + 1)
        return TensorSequence(np.split(x, points, axis=a))
    return run


def _check_pieces(ctx: KernelContext, count: int) -> None:
    """Each piece is an array object (~100 bytes) however small its data: a budget check."""
    check_byte_budget([count], _PIECE_BYTES, ctx.limits, what=f"node {ctx.node.name!r}")


def _split_points(ctx: KernelContext, split: np.ndarray, dim: int) -> list[int]:
    """Where to cut: a scalar is a piece length (the last piece may be shorter); a 1-D
    tensor the piece lengths, which must add up to ``dim``."""
    if split.ndim == 0:
        step = int(split)
        if step <= 0:
            raise ctx.fail(f"split must be positive, got {step}")
        return list(range(step, dim, step))
    sizes = [int(s) for s in split.reshape(-1)]
    if any(s < 0 for s in sizes) or sum(sizes) != dim:
        raise ctx.fail(f"split sizes {sizes} do not add up to the dimension {dim}")
    return list(np.cumsum(sizes)[:-1])


@kernel("OnnxOptional")
def optional(ctx: KernelContext):
    return lambda value: value


@kernel("OnnxOptionalNone")
def optional_none(ctx: KernelContext):
    return lambda: None


@kernel("OnnxOptionalHasElement")
def optional_has_element(ctx: KernelContext):
    return lambda value: np.array(value is not None)


@kernel("OnnxOptionalGetElement")
def optional_get_element(ctx: KernelContext):
    def run(value):
        if value is None:
            raise ctx.fail("the optional is empty")
        return value
    return run
