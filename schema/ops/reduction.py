"""Reductions over the axes given by an input tensor, and ArgMax/ArgMin.

    Sum(f32[3,4,5], reduction_indices=[0, -1])                  -> f32[4]
    Sum(f32[3,4,5], reduction_indices=[0, -1], keep_dims=true)  -> f32[1,4,1]
    Sum(f32[3,4,5], reduction_indices=[])                       -> f32[3,4,5]  (identity)
    ArgMax(f32[3,4,5], dimension=1, output_type=int64)          -> i64[3,5]

Axes may be a scalar or a vector (any rank: TensorFlow flattens them), negative, int32 or
int64. An axis outside [-rank, rank) is an error; a repeated axis is an error when the op runs
(TensorFlow loads such a graph and fails at run time), so static inference says "unknown".
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from schema.registry import op

__all__ = ["reduction_axes", "reduced_shape"]

_TIDX = "Tidx: {int32, int64} = DT_INT32"


def reduction_axes(axis, rank: int, fail: Callable[[str], Exception]) -> list[int]:
    """The axes as non-negative ints, in the given order (duplicates kept for the caller).

    reduction_axes([-1, 0], 3, fail) -> [2, 0];  reduction_axes(3, 3, fail) raises fail(...)
    """
    values = np.asarray(axis)
    if values.dtype.kind not in "iu":
        raise fail(f"reduction indices must be integers, got {values.dtype}")
    out = []
    for index in values.reshape(-1).tolist():
        if not -rank <= index < rank:
            raise fail(f"Invalid reduction dimension ({index} for input with {rank} "
                       f"dimension(s))")
        out.append(index + rank if index < 0 else index)
    return out


def reduced_shape(shape: tuple, axes, keep_dims: bool) -> tuple:
    """(3, 4, 5) over axes {0, 2} -> (4,), or (1, 4, 1) with keep_dims."""
    axes = set(axes)
    if keep_dims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduction_shape(ctx):
    shape, keep_dims = ctx.shape(0), bool(ctx.attr("keep_dims", False))
    axis = ctx.value(1)
    if shape is None:
        return [None]
    if axis is None:
        if keep_dims:
            return [(None,) * len(shape)]
        if ctx.shape(1) == () and shape:
            return [(None,) * (len(shape) - 1)]
        return [None]
    axes = reduction_axes(axis, len(shape), ctx.fail)
    if len(set(axes)) != len(axes):
        return [None]  # fails when run, as in TensorFlow
    return [reduced_shape(shape, axes, keep_dims)]


def _arg_shape(ctx):
    shape = ctx.shape(0)
    dim = ctx.value(1)
    if shape is None:
        return [None]
    if dim is None:
        return [(None,) * (len(shape) - 1)] if shape else [None]
    if np.ndim(dim) != 0:
        raise ctx.fail(f"dim must be a scalar, but received tensor of shape: "
                       f"{list(np.shape(dim))}")
    axis, rank = int(dim), len(shape)
    if not -rank <= axis < rank:
        raise ctx.fail(f"Expected dimension in the range [{-rank}, {rank}), but got {axis}")
    axis %= rank
    return [shape[:axis] + shape[axis + 1:]]


# (op, allowed types of T); input and output share T.
_TYPED = [("Sum", "numbertype"), ("Prod", "numbertype"), ("Mean", "numbertype"),
          ("EuclideanNorm", "numbertype"), ("Max", "realnumbertype"),
          ("Min", "realnumbertype")]
for _name, _types in _TYPED:
    op(_name, inputs=["input: T", "reduction_indices: Tidx"], outputs=["output: T"],
       attrs=["keep_dims: bool = false", f"T: {_types}", _TIDX], shape=_reduction_shape,
       layout="reduce")

for _name in ("All", "Any"):
    op(_name, inputs=["input: bool", "reduction_indices: Tidx"], outputs=["output: bool"],
       attrs=["keep_dims: bool = false", _TIDX], shape=_reduction_shape, layout="reduce")

_ARG_TYPES = ("{float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, "
              "uint32, uint64, bool}")
op("ArgMax", inputs=["input: T", "dimension: Tidx"], outputs=["output: output_type"],
   attrs=[f"T: {_ARG_TYPES}", "Tidx: {int16, int32, int64} = DT_INT32",
          "output_type: {int16, uint16, int32, int64} = DT_INT64"], shape=_arg_shape,
   layout="reduce")
op("ArgMin", inputs=["input: T", "dimension: Tidx"], outputs=["output: output_type"],
   attrs=[f"T: {_ARG_TYPES}", _TIDX, "output_type: {int32, int64} = DT_INT64"],
   shape=_arg_shape, layout="reduce")
