"""ONNX slicing and indexing ops: Slice, Gather*, Scatter*, NonZero, Compress, TopK, OneHot,
Unique, ReverseSequence, TensorScatter.

    Slice(x f32[5,6], starts=[1], ends=[-1], axes=[1])  -> StridedSlice(x, [0,1], [0,-1], [1,1])
                                                           begin_mask=1 end_mask=1
    Gather(x, Const [-1, 0], axis=0)                   -> GatherV2(x, Const [4, 0], 0)
    NonZero(x)                                         -> Transpose(Where(x), [1, 0])
    Compress(x, cond, axis=1)                          -> GatherV2(x, Reshape(Where(cond), [-1]), 1)
    TopK(x, K, axis=1, largest=0)                      -> Neg(TopKV2(Neg(Transpose(x)), k))...

ONNX allows negative indices; TensorFlow's gathers do not, so constant indices are normalized at
import and run-time ones get SelectV2(i < 0, i + dim, i). GatherElements, ScatterElements,
ScatterND, Unique and TensorScatter are extension ops (schema/ops/onnx_ext_tensor.py).
"""
from __future__ import annotations

import numpy as np

from gcc_flow.framework import Tensor, apply_op
from gcc_flow.onnx.ops import converter
from gcc_flow.onnx.ops.tf_graph import (
    INT64_MAX, cast, check_const_size, const, dim_of, known_rank, norm_axis, reshape, shape_of,
    static_ints, strided_slice, to_int64, transpose)
from schema.dtypes import DType

__all__: list = []   # converters register themselves


# -- Slice ----------------------------------------------------------------------------------------

def _slice_args(ctx, node) -> list:
    """[starts, ends, axes, steps] as tensors or None (attrs before opset 10)."""
    if ctx.opset >= 10:
        return [ctx.input(node, i) for i in range(1, 5)]
    values = [ctx.attr(node, name) for name in ("starts", "ends", "axes")]
    return [None if v is None else const(ctx, np.array(v, np.int64)) for v in values] + [None]


@converter("Slice", since=1)
def slice_(ctx, node) -> list:
    x = ctx.input(node, 0)
    rank = known_rank(ctx, node, x)
    args = _slice_args(ctx, node)
    if args[0] is None or args[1] is None:
        raise ctx.fail(node, "Slice needs starts and ends")
    values = [static_ints(ctx, t) if t is not None else None for t in args]
    starts, ends, axes, steps = values
    static = starts is not None and ends is not None and \
        (args[2] is None or axes is not None) and (args[3] is None or steps is not None)
    if static:
        return [_static_slice(ctx, node, x, rank, starts, ends, axes, steps)]
    return [_dynamic_slice(ctx, x, rank, *args)]


def _static_slice(ctx, node, x, rank: int, starts, ends, axes, steps):
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ctx.fail(node, f"starts {starts}, ends {ends}, axes {axes} and steps {steps} "
                             f"differ in length")
    if 0 in steps:
        raise ctx.fail(node, "steps must be non-zero")
    begin, end, stride = [0] * rank, [0] * rank, [1] * rank
    untouched = set(range(rank))
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = norm_axis(ctx, node, a, rank)
        if a not in untouched:
            raise ctx.fail(node, f"axes {axes} repeat axis {a}")
        untouched.discard(a)
        begin[a], end[a], stride[a] = s, e, st
    if len(untouched) == rank:
        return apply_op("Identity", [x])
    mask = sum(1 << a for a in untouched)
    return strided_slice(ctx, x, begin, end, stride, begin_mask=mask, end_mask=mask)


def _dynamic_slice(ctx, x, rank: int, starts, ends, axes, steps):
    """Begin/end/strides of full rank at run time: OneHot(axes) rows select where each
    starts/ends/steps entry goes; untouched dims get 0 / INT64_MAX / 1."""
    starts, ends = to_int64(ctx, starts, True), to_int64(ctx, ends, True)
    if axes is None:
        n = apply_op("Size", [starts], {"out_type": DType.INT64})
        axes = apply_op("Range", [const(ctx, np.int64(0)), n, const(ctx, np.int64(1))])
    axes = apply_op("FloorMod", [to_int64(ctx, axes, True), const(ctx, np.int64(rank))])
    one, zero = const(ctx, np.int64(1)), const(ctx, np.int64(0))
    rows = apply_op("OneHot", [axes, const(ctx, np.int32(rank)), one, zero])   # [n, rank]
    axis0 = const(ctx, np.int32(0))
    covered = apply_op("Greater", [apply_op("Sum", [rows, axis0]), zero])

    def spread(values, default):
        per_axis = apply_op("Mul", [rows, apply_op("ExpandDims", [values, const(ctx,
                                                                                np.int32(1))])])
        return apply_op("SelectV2", [covered, apply_op("Sum", [per_axis, axis0]),
                                     const(ctx, np.full(rank, default, np.int64))])
    strides = spread(to_int64(ctx, steps, True), 1) if steps is not None else \
        const(ctx, np.ones(rank, np.int64))
    return strided_slice(ctx, x, spread(starts, 0), spread(ends, INT64_MAX), strides)


# -- Gather, GatherND, GatherElements -------------------------------------------------------------

def positive_indices(ctx, indices, dims):
    """Negative indices counted from the end: numpy for constants, SelectV2 otherwise.

    ``dims``: the dim each index addresses: an int, a list (GatherND's index columns) or a
    tensor when unknown at import.
    """
    value = ctx.static_value(indices)
    if value is not None and not (np.asarray(value) < 0).any():
        return indices
    if value is not None and not isinstance(dims, Tensor):
        fixed = np.where(value < 0, value + np.asarray(dims, value.dtype), value)
        return const(ctx, fixed.astype(value.dtype))
    if isinstance(dims, Tensor):
        dims_t = cast(dims, indices.dtype.base)
    else:
        dims_t = const(ctx, np.asarray(dims, indices.dtype.np))
    negative = apply_op("Less", [indices, const(ctx, np.zeros((), indices.dtype.np))])
    return apply_op("SelectV2", [negative, apply_op("AddV2", [indices, dims_t]), indices])


@converter("Gather", since=1)
def gather(ctx, node) -> list:
    x, indices = ctx.input(node, 0), ctx.input(node, 1)
    rank = known_rank(ctx, node, x)
    axis = norm_axis(ctx, node, ctx.attr(node, "axis", 0), rank)
    dim = x.shape[axis] if x.shape[axis] is not None else dim_of(ctx, x, axis)
    indices = positive_indices(ctx, indices, dim)
    return [apply_op("GatherV2", [x, indices, const(ctx, np.int32(axis))])]


@converter("GatherND", since=11)
def gather_nd(ctx, node) -> list:
    """batch_dims b > 0: the batch dims are merged into one, and each index row gets its batch
    position as a leading coordinate, so that one GatherNd does it (needs known shapes)."""
    x, indices = ctx.input(node, 0), ctx.input(node, 1)
    b = ctx.attr(node, "batch_dims", 0)
    depth = indices.shape[-1] if indices.shape else None
    if depth is None or x.shape is None or None in x.shape[b:b + depth]:
        depth_t = depth if depth is not None else \
            strided_slice(ctx, shape_of(ctx, indices), [-1], [0], [1], end_mask=1)
        end = apply_op("AddV2", [const(ctx, np.array([b], np.int64)),
                                 reshape(ctx, cast(depth_t, DType.INT64), [1])]) \
            if isinstance(depth_t, Tensor) else [b + depth_t]
        dims = strided_slice(ctx, shape_of(ctx, x), [b], end, [1])
    else:
        dims = [x.shape[b + j] for j in range(depth)]
    indices = positive_indices(ctx, indices, dims)
    if b == 0:
        return [apply_op("GatherNd", [x, indices])]
    if depth is None:
        raise ctx.unsupported(node, "batch_dims with an index depth unknown at import time")
    return [_batched_gather_nd(ctx, node, x, indices, b, depth)]


def _batched_gather_nd(ctx, node, x, indices, b: int, depth: int):
    xs, ix = x.shape, indices.shape
    if None in xs or None in ix:
        raise ctx.unsupported(node, "batch_dims on shapes unknown at import time")
    batch = int(np.prod(xs[:b]))
    rows = int(np.prod(ix[b:-1]))
    flat_x = reshape(ctx, x, [batch] + list(xs[b:]))
    flat_i = reshape(ctx, to_int64(ctx, indices), [batch, rows, depth])
    check_const_size(ctx, node, [batch, rows])
    position = np.broadcast_to(np.arange(batch, dtype=np.int64)[:, None, None], (batch, rows, 1))
    full = apply_op("ConcatV2", [[const(ctx, np.ascontiguousarray(position)), flat_i],
                                 const(ctx, np.int32(-1))])
    picked = apply_op("GatherNd", [flat_x, full])
    return reshape(ctx, picked, list(ix[:-1]) + list(xs[b + depth:]))


@converter("GatherElements", since=11)
def gather_elements(ctx, node) -> list:
    return [apply_op("OnnxGatherElements", [ctx.input(node, 0), ctx.input(node, 1)],
                     {"axis": ctx.attr(node, "axis", 0)})]


# -- scatters -------------------------------------------------------------------------------------

def _reduction(ctx, node) -> str:
    reduction = ctx.attr(node, "reduction", "none")
    if reduction not in ("none", "add", "mul", "max", "min"):
        raise ctx.unsupported(node, f"reduction {reduction!r}")
    return reduction


@converter("ScatterElements", since=11)
@converter("Scatter", since=9)
def scatter_elements(ctx, node) -> list:
    data, indices, updates = (ctx.input(node, i) for i in range(3))
    return [apply_op("OnnxScatterElements", [data, indices, updates],
                     {"axis": ctx.attr(node, "axis", 0), "reduction": _reduction(ctx, node)})]


@converter("ScatterND", since=11)
def scatter_nd(ctx, node) -> list:
    data, indices, updates = (ctx.input(node, i) for i in range(3))
    return [apply_op("OnnxScatterND", [data, indices, updates],
                     {"reduction": _reduction(ctx, node)})]


# -- NonZero, Compress ----------------------------------------------------------------------------

@converter("NonZero", since=9)
def non_zero(ctx, node) -> list:
    x = ctx.input(node, 0)
    if known_rank(ctx, node, x) == 0:
        x = reshape(ctx, x, [1])
    return [transpose(ctx, apply_op("Where", [x]), [1, 0])]


@converter("Compress", since=9)
def compress(ctx, node) -> list:
    """The positions where condition is true, gathered along ``axis`` (of the flat input when
    no axis is given); a condition shorter than the axis selects nothing beyond its end."""
    x, condition = ctx.input(node, 0), ctx.input(node, 1)
    axis = ctx.attr(node, "axis")
    if axis is None:
        x, axis = reshape(ctx, x, [-1]), 0
    else:
        axis = norm_axis(ctx, node, axis, known_rank(ctx, node, x))
    positions = reshape(ctx, apply_op("Where", [cast(condition, DType.BOOL)]), [-1])
    return [apply_op("GatherV2", [x, positions, const(ctx, np.int32(axis))])]


# -- TopK, OneHot, Unique, ReverseSequence --------------------------------------------------------

@converter("TopK", since=1)
def top_k(ctx, node) -> list:
    """TopKV2 works on the last axis and finds the largest: other axes are transposed there and
    back, the smallest are found as the largest of -x."""
    x = ctx.input(node, 0)
    rank = known_rank(ctx, node, x)
    axis = norm_axis(ctx, node, ctx.attr(node, "axis", -1), rank)
    if ctx.opset < 10:
        k = const(ctx, np.int64(ctx.attr(node, "k")))
    else:
        k = reshape(ctx, to_int64(ctx, ctx.input(node, 1)), [])
    largest = bool(ctx.attr(node, "largest", 1))
    if not largest and not (x.dtype.is_floating or x.dtype.base in (DType.INT8, DType.INT16,
                                                                     DType.INT32, DType.INT64)):
        raise ctx.unsupported(node, f"largest=0 on {x.dtype.tf_name}")
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    x = transpose(ctx, x, perm)
    if not largest:
        x = apply_op("Neg", [x])
    values, indices = apply_op("TopKV2", [x, k], {"index_type": DType.INT64,
                                                  "sorted": True})
    if not largest:
        values = apply_op("Neg", [values])
    return [transpose(ctx, values, perm), transpose(ctx, indices, perm)]


@converter("OneHot", since=9)
def one_hot(ctx, node) -> list:
    """OneHot(indices, depth, [off, on]): indices in [-depth, depth) with negatives counted from
    the end; others give an all-off row (TensorFlow's OneHot does that for any outside index)."""
    indices, depth, values = (ctx.input(node, i) for i in range(3))
    depth_i64 = reshape(ctx, cast(depth, DType.INT64), [])
    indices = cast(indices, DType.INT64)
    negative = apply_op("Less", [indices, const(ctx, np.int64(0))])
    indices = apply_op("SelectV2", [negative, apply_op("AddV2", [indices, depth_i64]), indices])
    off = strided_slice(ctx, values, [0], [1], [1], shrink_axis_mask=1)
    on = strided_slice(ctx, values, [1], [2], [1], shrink_axis_mask=1)
    axis = ctx.attr(node, "axis", -1)
    if axis < -1:   # TF's OneHot takes -1 or a non-negative axis of the output
        axis = norm_axis(ctx, node, axis, known_rank(ctx, node, indices) + 1)
    return [apply_op("OneHot", [indices, cast(depth_i64, DType.INT32), on, off],
                     {"axis": axis})]


@converter("Unique", since=11)
def unique(ctx, node) -> list:
    x = ctx.input(node, 0)
    axis = ctx.attr(node, "axis")
    attrs = {"sorted": bool(ctx.attr(node, "sorted", 1)), "has_axis": axis is not None,
             "axis": 0 if axis is None else axis}
    outs = apply_op("OnnxUnique", [x], attrs)
    return list(outs[:len(node.output)])


@converter("ReverseSequence", since=10)
def reverse_sequence(ctx, node) -> list:
    x, lengths = ctx.input(node, 0), ctx.input(node, 1)
    attrs = {"seq_dim": ctx.attr(node, "time_axis", 0),
             "batch_dim": ctx.attr(node, "batch_axis", 1)}
    return [apply_op("ReverseSequence", [x, to_int64(ctx, lengths)], attrs)]


@converter("TensorScatter", since=24)
def tensor_scatter(ctx, node) -> list:
    cache, update, indices = (ctx.input(node, i) for i in range(3))
    indices = const(ctx, np.zeros((0,), np.int64)) if indices is None else to_int64(ctx, indices)
    mode = ctx.attr(node, "mode", "linear")
    if mode not in ("linear", "circular"):
        raise ctx.unsupported(node, f"mode {mode!r}")
    return [apply_op("OnnxTensorScatter", [cache, update, indices],
                     {"axis": ctx.attr(node, "axis", -2), "mode": mode})]
