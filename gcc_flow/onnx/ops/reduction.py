"""Reductions, ArgMax/ArgMin, CumSum.

    ReduceSum(x, axes=[1], keepdims=1) -> Sum(x, [1], keep_dims=true)
    ReduceL2(x) -> Sqrt(Sum(x * x));  ReduceLogSumExp(x) -> m + Log(Sum(Exp(x - m))), m = Max
    ReduceMax(bool x) -> Any;  ReduceMin(bool x) -> All
    ArgMax(x, axis=1, keepdims=1, select_last_index=1)
        -> ExpandDims(d - 1 - ArgMax(reverse(x, 1), 1), 1)

Axes are an attr before opset 13 (ReduceSum) / 18 (the others) and an optional input after.
No axes, or an empty list, reduces over every axis unless noop_with_empty_axes=1, when the
reduction step is the identity (TensorFlow's meaning of an empty axis list) while composite
reductions keep their other steps: ReduceSumSquare(x, noop) -> x * x. An axes input only known at run time
with noop_with_empty_axes=0 is handled in the graph: Slice(Concat(axes, range(rank)),
0, n or rank).
"""
from __future__ import annotations

import numpy as np

from gcc_flow import array_ops, math_ops
from gcc_flow.framework import apply_op
from gcc_flow.onnx.context import ConvertContext
from gcc_flow.onnx.ops import converter
from schema.dtypes import DType


def _all_axes(x):
    if x.shape is not None:
        return apply_op("Const", [], {"value": np.arange(len(x.shape), dtype=np.int64),
                                      "dtype": DType.INT64})
    return apply_op("Range", [np.int64(0), math_ops.cast(array_ops.rank(x), DType.INT64),
                              np.int64(1)])


def _axes(ctx: ConvertContext, node, x, input_since: int):
    """The axes tensor to reduce over (empty for noop_with_empty_axes: TensorFlow reduces
    over nothing then, and composite reductions still apply their other steps)."""
    noop = bool(ctx.attr(node, "noop_with_empty_axes", 0))
    if ctx.opset >= input_since:
        given = ctx.input(node, 1)
        static = ctx.static_value(given) if given is not None else None
        if given is not None and static is None:
            return given if noop else _empty_means_all(x, given)
        axes = None if static is None else static.reshape(-1).tolist()
    else:
        axes = ctx.attr(node, "axes")
    if not axes and not noop:
        return _all_axes(x)
    return apply_op("Const", [], {"value": np.asarray(axes or [], np.int64),
                                  "dtype": DType.INT64})


def _empty_means_all(x, axes):
    """Slice(Concat(axes, all), 0, size(axes) or rank): every axis when axes is empty."""
    flat = math_ops.cast(array_ops.reshape(axes, np.array([-1], np.int64)), DType.INT64)
    every = _all_axes(x)
    joined = array_ops.concat([flat, every], axis=0)
    count = array_ops.size(flat, DType.INT64)
    total = math_ops.where(math_ops.equal(count, np.int64(0)),
                           array_ops.size(every, DType.INT64), count)
    return array_ops.slice(joined, np.array([0], np.int64), array_ops.reshape(total, [1]))


def _reduce(op: str, x, axes, keep: bool):
    return apply_op(op, [x, axes], {"keep_dims": keep})


def _square(x):
    return math_ops.multiply(x, x)


def _log_sum_exp(x, axes, keep: bool):
    """Stable: m + log(sum(exp(x - m))), with m = 0 where the max is not finite."""
    m_keep = _reduce("Max", x, axes, True)
    zero = apply_op("ZerosLike", [m_keep])
    m_keep = math_ops.where(apply_op("IsFinite", [m_keep]), m_keep, zero)
    total = _reduce("Sum", math_ops.exp(math_ops.subtract(x, m_keep)), axes, keep)
    m_out = m_keep if keep else array_ops.reshape(m_keep, apply_op("Shape", [total]))
    return math_ops.add(math_ops.log(total), m_out)


# ONNX reduction -> (builder(x, axes, keep), needs a float input)
_REDUCTIONS = {
    "ReduceSum": (lambda x, a, k: _reduce("Sum", x, a, k), False),
    "ReduceMean": (lambda x, a, k: _reduce("Mean", x, a, k), False),
    "ReduceMax": (lambda x, a, k: _reduce("Any" if x.dtype == DType.BOOL else "Max", x, a, k),
                  False),
    "ReduceMin": (lambda x, a, k: _reduce("All" if x.dtype == DType.BOOL else "Min", x, a, k),
                  False),
    "ReduceProd": (lambda x, a, k: _reduce("Prod", x, a, k), False),
    "ReduceL1": (lambda x, a, k: _reduce("Sum", math_ops.abs(x), a, k), False),
    "ReduceL2": (lambda x, a, k: math_ops.sqrt(_reduce("Sum", _square(x), a, k)), True),
    "ReduceSumSquare": (lambda x, a, k: _reduce("Sum", _square(x), a, k), False),
    "ReduceLogSum": (lambda x, a, k: math_ops.log(_reduce("Sum", x, a, k)), True),
    "ReduceLogSumExp": (_log_sum_exp, True),
}


def _reduction_converter(op_type: str, input_since: int):
    build, needs_float = _REDUCTIONS[op_type]

    def convert(ctx: ConvertContext, node) -> list:
        x = ctx.input(node, 0)
        keep = bool(ctx.attr(node, "keepdims", 1))
        axes = _axes(ctx, node, x, input_since)
        if x.dtype == DType.BOOL and op_type not in ("ReduceMax", "ReduceMin"):
            raise ctx.unsupported(node, "for dtype bool")
        if needs_float and x.dtype.is_integer:  # computed in float64, as ONNX's reference
            wide = build(math_ops.cast(x, DType.DOUBLE), axes, keep)
            return [math_ops.cast(wide, x.dtype)]
        return [build(x, axes, keep)]
    convert.__name__ = op_type
    return convert


for _name in _REDUCTIONS:
    converter(_name)(_reduction_converter(_name, 13 if _name == "ReduceSum" else 18))


# -- ArgMax / ArgMin -----------------------------------------------------------------------------

def _reverse(x, axis: int, rank: int):
    """x reversed along ``axis`` (StridedSlice with stride -1 there, full range elsewhere)."""
    strides = np.ones(rank, np.int64)
    strides[axis] = -1
    zeros = np.zeros(rank, np.int64)
    full = (1 << rank) - 1
    return apply_op("StridedSlice", [x, zeros, zeros, strides],
                    {"begin_mask": full, "end_mask": full})


@converter("ArgMax", "ArgMin")
def arg_reduce(ctx: ConvertContext, node) -> list:
    x = ctx.input(node, 0)
    if x.shape is None:
        raise ctx.unsupported(node, "on an input of unknown rank")
    rank = len(x.shape)
    axis = ctx.attr(node, "axis", 0)
    if not -rank <= axis < max(rank, 1):
        raise ctx.fail(node, f"axis {axis} is out of range for rank {rank}")
    axis %= max(rank, 1)
    last = bool(ctx.attr(node, "select_last_index", 0))
    source = _reverse(x, axis, rank) if last else x
    index = ctx.apply(node, node.op_type, [source, np.int64(axis)],
                      {"output_type": DType.INT64})
    if last:
        size = math_ops.cast(array_ops.shape(x, DType.INT64)[axis], DType.INT64)
        index = math_ops.subtract(math_ops.subtract(size, np.int64(1)), index)
    if ctx.attr(node, "keepdims", 1):
        index = array_ops.expand_dims(index, np.int64(axis))
    return [index]


# -- CumSum --------------------------------------------------------------------------------------

@converter("CumSum", since=11)
def cumsum(ctx: ConvertContext, node) -> list:
    x, axis = ctx.input(node, 0), ctx.input(node, 1)
    attrs = {"exclusive": bool(ctx.attr(node, "exclusive", 0)),
             "reverse": bool(ctx.attr(node, "reverse", 0))}
    return [ctx.apply(node, "Cumsum", [x, axis], attrs)]


@converter("CumProd", since=26)
def cumprod(ctx: ConvertContext, node) -> list:
    x, axis = ctx.input(node, 0), ctx.input(node, 1)
    attrs = {"exclusive": bool(ctx.attr(node, "exclusive", 0)),
             "reverse": bool(ctx.attr(node, "reverse", 0))}
    return [ctx.apply(node, "Cumprod", [x, axis], attrs)]
