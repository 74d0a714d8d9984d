"""ONNX shape-manipulation ops as TensorFlow array ops.

    Reshape(x f32[2,3,4], [0, -1])      -> Reshape(x, Const [2, -1])      (0 copies x's dim)
    Transpose(x) (no perm)              -> Transpose(x, [2, 1, 0])
    Split(x, [2, 4], axis=1)            -> SplitV(x, [2, 4], 1)
    Unsqueeze(x f32[3], axes=[0, 2])    -> Reshape(x, [1, 3, 1]) (ExpandDims if dims are unknown)
    Expand(x f32[3,1], [2, 1, 4])       -> BroadcastTo(x, [2, 3, 4])     (bidirectional)
    Shape(x, start=1)                   -> Const [3, 4] (known shape) or StridedSlice(Shape(x))
    Trilu(x, k)                         -> SelectV2(Const mask, x, ZerosLike(x))

Shapes, sizes and axes given as inputs are read statically when they are constants. Run-time
shapes and sizes are computed with TF ops (Reshape, Expand, Tile, Split); run-time Squeeze /
Unsqueeze axes use the OnnxSqueeze / OnnxUnsqueeze extension ops.
"""
from __future__ import annotations

import math

import numpy as np

from gcc_flow.framework import Tensor, apply_op
from gcc_flow.onnx.ops import converter
from gcc_flow.onnx.ops.tf_graph import (
    cast, check_const_size, concat, const, dim_of, expand_dims, known_rank, norm_axes, norm_axis,
    onnx_dtype, rank_of, reshape, shape_of, squeeze, static_ints, static_scalar, static_shape,
    strided_slice, to_int64)
from schema.dtypes import DType

__all__: list = []   # converters register themselves; nothing to import from here

_SMALL_MASK = 1 << 20   # Trilu masks up to this many elements are constants; else Range ops


# -- Reshape, Flatten -----------------------------------------------------------------------------

@converter("Reshape", since=5)
def reshape_v5(ctx, node) -> list:
    x, shape_t = ctx.input(node, 0), ctx.input(node, 1)
    allowzero = bool(ctx.attr(node, "allowzero", 0))
    values = static_ints(ctx, shape_t)
    if values is not None:
        return [_reshape(ctx, node, x, values, allowzero)]
    shape_t = to_int64(ctx, shape_t, flatten=True)
    if not allowzero:
        shape_t = _copy_zero_dims(ctx, node, x, shape_t)
    return [reshape(ctx, x, shape_t)]


def _reshape(ctx, node, x, values: list, allowzero: bool):
    """Reshape to constant sizes; without allowzero a 0 copies the input's dim at that index."""
    if allowzero and 0 in values and -1 in values:
        raise ctx.fail(node, f"shape {values} has both 0 and -1 with allowzero=1")
    if allowzero or 0 not in values:
        return reshape(ctx, x, values)
    shape = x.shape
    zeros = [i for i, v in enumerate(values) if v == 0]
    if shape is not None and any(i >= len(shape) for i in zeros):
        raise ctx.fail(node, f"shape {values} copies dim {max(zeros)} of a rank-{len(shape)} "
                             f"input")
    if shape is not None and all(shape[i] is not None for i in zeros):
        return reshape(ctx, x, [shape[i] if v == 0 else v for i, v in enumerate(values)])
    return reshape(ctx, x, _copy_zero_dims(ctx, node, x, const(ctx, np.array(values, np.int64))))


def _copy_zero_dims(ctx, node, x, shape_t):
    """SelectV2(shape == 0, Shape(x)[:n], shape): ONNX's "0 keeps the dim" at run time.
    Shape(x) is zero-extended first, so a length n above x's rank works (those 0s stay 0)."""
    n = shape_t.shape[0] if shape_t.shape is not None else None
    rank = rank_of(x)
    dims = shape_of(ctx, x)
    if n is None or rank is None:
        count = reshape(ctx, apply_op("Size", [shape_t], {"out_type": DType.INT64}), [1])
        zeros = apply_op("Fill", [count, const(ctx, np.int64(0))])
        dims = strided_slice(ctx, concat(ctx, [dims, zeros], 0), const(ctx, np.zeros(1, np.int64)),
                             count, [1])
    elif rank < n:
        dims = concat(ctx, [dims, const(ctx, np.zeros(n - rank, np.int64))], 0)
    elif rank > n:
        dims = strided_slice(ctx, dims, [0], [n], [1])
    is_zero = apply_op("Equal", [shape_t, const(ctx, np.int64(0))])
    return apply_op("SelectV2", [is_zero, dims, shape_t])


@converter("Flatten", since=1)
def flatten(ctx, node) -> list:
    """Flatten(x [2,3,4,5], axis=2) -> Reshape(x, [6, 20])."""
    x = ctx.input(node, 0)
    rank = known_rank(ctx, node, x)
    axis = ctx.attr(node, "axis", 1)
    if not -rank <= axis <= rank:
        raise ctx.fail(node, f"axis {axis} is out of range for rank {rank}")
    axis = axis + rank if axis < 0 else axis
    shape = static_shape(x)
    if shape is not None:
        return [reshape(ctx, x, [math.prod(shape[:axis]), math.prod(shape[axis:])])]
    dims = shape_of(ctx, x)
    parts = [apply_op("Prod", [strided_slice(ctx, dims, [lo], [hi], [1]),
                               const(ctx, np.int32(0))], {"keep_dims": True})
             for lo, hi in ((0, axis), (axis, rank))]
    return [reshape(ctx, x, concat(ctx, parts, 0))]


# -- Transpose, Concat, Split ---------------------------------------------------------------------

@converter("Transpose", since=1)
def transpose_(ctx, node) -> list:
    x = ctx.input(node, 0)
    perm = ctx.attr(node, "perm")
    if perm is None:
        perm = list(range(known_rank(ctx, node, x) - 1, -1, -1))
    rank = rank_of(x)
    if rank is not None and sorted(perm) != list(range(rank)):
        raise ctx.fail(node, f"perm {perm} is not a permutation of the {rank} axes")
    return [apply_op("Transpose", [x, const(ctx, np.array(perm, np.int64))])]


@converter("Concat", since=1)
def concat_(ctx, node) -> list:
    values = [t for t in ctx.inputs(node) if t is not None]
    rank = next((rank_of(v) for v in values if rank_of(v) is not None), None)
    axis = ctx.attr(node, "axis", 1 if ctx.opset < 4 else None)
    if axis is None:
        raise ctx.fail(node, "Concat needs the 'axis' attribute")
    if rank is not None:
        axis = norm_axis(ctx, node, axis, rank)
    if len(values) == 1:
        return [apply_op("Identity", [values[0]])]
    return [concat(ctx, values, axis)]


def _split_sizes(ctx, node):
    """The split sizes (a list, a run-time tensor, or None for an even split) by opset."""
    if ctx.opset >= 13 or (ctx.opset < 2 and ctx.input(node, 1) is not None):
        t = ctx.input(node, 1)
        if t is None:
            return None
        values = static_ints(ctx, t)
        return values if values is not None else to_int64(ctx, t, flatten=True)
    sizes = ctx.attr(node, "split")
    return None if sizes is None else [int(v) for v in sizes]


@converter("Split", since=1)
def split(ctx, node) -> list:
    x = ctx.input(node, 0)
    rank = known_rank(ctx, node, x)
    axis = norm_axis(ctx, node, ctx.attr(node, "axis", 0), rank)
    count = len(node.output)
    sizes = _split_sizes(ctx, node)
    num_outputs = ctx.attr(node, "num_outputs")
    if sizes is None and num_outputs is not None:
        count = int(num_outputs)
        sizes = _uneven_sizes(ctx, node, x, axis, count)
    axis_t = const(ctx, np.int32(axis))
    if sizes is None or (isinstance(sizes, list) and len(set(sizes)) == 1 and count > 1):
        outs = apply_op("Split", [axis_t, x], {"num_split": count})
    else:
        if isinstance(sizes, list):
            if len(sizes) != count:
                raise ctx.fail(node, f"split {sizes} has {len(sizes)} sizes for {count} outputs")
            sizes = const(ctx, np.array(sizes, np.int64))
        outs = apply_op("SplitV", [x, sizes, axis_t], {"num_split": count})
    return list(outs)


def _uneven_sizes(ctx, node, x, axis: int, count: int):
    """Split-18 num_outputs: pieces of ceil(dim / n), the last one smaller."""
    dim = x.shape[axis]
    if dim is None:
        return _run_time_uneven_sizes(ctx, x, axis, count)
    if dim % count == 0:
        return None
    chunk = -(-dim // count)
    sizes = [min(chunk, max(dim - i * chunk, 0)) for i in range(count)]
    return sizes


def _run_time_uneven_sizes(ctx, x, axis: int, count: int):
    """[c, c, ..., dim - c * (n - 1)] with c = ceil(dim / n), computed at run time."""
    dim = dim_of(ctx, x, axis)
    chunk = apply_op("FloorDiv", [apply_op("AddV2", [dim, const(ctx, np.int64(count - 1))]),
                                  const(ctx, np.int64(count))])
    last = apply_op("Sub", [dim, apply_op("Mul", [chunk, const(ctx, np.int64(count - 1))])])
    return apply_op("Pack", [[chunk] * (count - 1) + [last]])


# -- Squeeze, Unsqueeze ---------------------------------------------------------------------------

def _axes(ctx, node):
    """The axes attr (before opset 13) or the axes input: a list, a run-time int64 tensor, or
    None when absent."""
    if ctx.opset < 13:
        axes = ctx.attr(node, "axes")
        return None if axes is None else [int(a) for a in axes]
    t = ctx.input(node, 1)
    if t is None:
        return None
    values = static_ints(ctx, t)
    return values if values is not None else to_int64(ctx, t, flatten=True)


def _axes_tensor(ctx, axes):
    return axes if isinstance(axes, Tensor) else const(ctx, np.array(axes, np.int64))


@converter("Squeeze", since=1)
def squeeze_(ctx, node) -> list:
    x = ctx.input(node, 0)
    axes = _axes(ctx, node)
    if isinstance(axes, Tensor) or (axes and rank_of(x) is None):
        return [apply_op("OnnxSqueeze", [x, _axes_tensor(ctx, axes)])]
    if not axes:
        return [squeeze(x, [])]
    axes = norm_axes(ctx, node, axes, known_rank(ctx, node, x))
    shape = x.shape
    bad = [a for a in axes if shape[a] is not None and shape[a] != 1]
    if bad:
        raise ctx.fail(node, f"cannot squeeze axes {bad} of shape {list(shape)}: not size 1")
    return [squeeze(x, sorted(axes))]


@converter("Unsqueeze", since=1)
def unsqueeze(ctx, node) -> list:
    """Each new axis indexes the output: axes [0, 2] on [3] -> [1, 3, 1]."""
    x = ctx.input(node, 0)
    axes = _axes(ctx, node)
    if axes is None:
        raise ctx.fail(node, "Unsqueeze needs axes")
    if isinstance(axes, Tensor) or rank_of(x) is None:
        return [apply_op("OnnxUnsqueeze", [x, _axes_tensor(ctx, axes)])]
    rank = rank_of(x)
    axes = [norm_axis(ctx, node, a, rank, extra=len(axes)) for a in axes]
    if len(set(axes)) != len(axes):
        raise ctx.fail(node, f"axes {axes} repeat an axis")
    shape = static_shape(x)
    if shape is not None:
        out = list(shape)
        for a in sorted(axes):
            out.insert(a, 1)
        return [reshape(ctx, x, out)]
    for a in sorted(axes):
        x = expand_dims(ctx, x, a)
    return [x]


# -- Expand, Tile ---------------------------------------------------------------------------------

@converter("Expand", since=8)
def expand(ctx, node) -> list:
    """Bidirectional broadcast: Expand(f32[3,1], [2,1,4]) -> BroadcastTo(x, [2,3,4])."""
    x, shape_t = ctx.input(node, 0), ctx.input(node, 1)
    target = static_ints(ctx, shape_t)
    shape = static_shape(x)
    if target is not None and shape is not None:
        try:
            out = np.broadcast_shapes(shape, tuple(target))
        except ValueError:
            raise ctx.fail(node, f"shape {target} cannot be broadcast with the input "
                                 f"{list(shape)}") from None
        if tuple(out) == shape:
            return [apply_op("Identity", [x])]
        return [apply_op("BroadcastTo", [x, const(ctx, np.array(out, np.int64))])]
    return [apply_op("BroadcastTo", [x, _broadcast_shape(ctx, node, x, shape_t)])]


def _broadcast_shape(ctx, node, x, shape_t):
    """At run time: both shapes left-padded with 1s to one length, then a == 1 ? b : a."""
    shape_t = to_int64(ctx, shape_t, flatten=True)
    n = shape_t.shape[0] if shape_t.shape is not None else None
    rank = rank_of(x)
    if n is None or rank is None:   # lengths unknown: let SelectV2 broadcast x against it
        everywhere = apply_op("Fill", [shape_t, const(ctx, np.bool_(True))])
        return apply_op("Shape", [apply_op("SelectV2", [everywhere, x, x])],
                        {"out_type": DType.INT64})
    length = max(n, rank)
    a, b = shape_of(ctx, x), shape_t
    if rank < length:
        a = concat(ctx, [const(ctx, np.ones(length - rank, np.int64)), a], 0)
    if n < length:
        b = concat(ctx, [const(ctx, np.ones(length - n, np.int64)), b], 0)
    is_one = apply_op("Equal", [a, const(ctx, np.int64(1))])
    return apply_op("SelectV2", [is_one, b, a])


@converter("Tile", since=6)
def tile(ctx, node) -> list:
    x, repeats = ctx.input(node, 0), ctx.input(node, 1)
    values = static_ints(ctx, repeats)
    multiples = (const(ctx, np.array(values, np.int64)) if values is not None
                 else to_int64(ctx, repeats, flatten=True))
    return [apply_op("Tile", [x, multiples])]


# -- Shape, Size ----------------------------------------------------------------------------------

@converter("Shape", since=1)
def shape_(ctx, node) -> list:
    """Shape(x, start, end): a Const slice of the known shape, or StridedSlice(Shape(x))."""
    x = ctx.input(node, 0)
    start, end = ctx.attr(node, "start", 0), ctx.attr(node, "end")
    shape = static_shape(x)
    if shape is not None:
        return [const(ctx, np.array(shape[start:end], np.int64))]
    dims = apply_op("Shape", [x], {"out_type": DType.INT64})
    if start == 0 and end is None:
        return [dims]
    masks = {"end_mask": 1} if end is None else {}
    return [strided_slice(ctx, dims, [start], [0 if end is None else end], [1], **masks)]


@converter("Size", since=1)
def size(ctx, node) -> list:
    x = ctx.input(node, 0)
    shape = static_shape(x)
    if shape is not None:
        return [const(ctx, np.int64(math.prod(shape)))]
    return [apply_op("Size", [x], {"out_type": DType.INT64})]


# -- EyeLike, Trilu -------------------------------------------------------------------------------

@converter("EyeLike", since=9)
def eye_like(ctx, node) -> list:
    """EyeLike(x f32[2,3], k=1) -> Const [[0,1,0],[0,0,1]]."""
    x = ctx.input(node, 0)
    dtype_attr = ctx.attr(node, "dtype")
    dtype = x.dtype.base if dtype_attr is None else onnx_dtype(ctx, node, dtype_attr)
    shape = static_shape(x)
    if shape is None or len(shape) != 2:
        raise ctx.unsupported(node, "on an input that is not 2-D with a known shape")
    check_const_size(ctx, node, shape, dtype.itemsize)
    return [const(ctx, np.eye(*shape, k=ctx.attr(node, "k", 0), dtype=dtype.np), dtype)]


@converter("Trilu", since=14)
def trilu(ctx, node) -> list:
    """Keeps x[..., i, j] where j - i >= k (upper) or j - i <= k (lower); zeros elsewhere.

    The mask is a Const for known sizes and k, else built from Range at run time.
    """
    x = ctx.input(node, 0)
    rank = known_rank(ctx, node, x)
    if rank < 2:
        raise ctx.fail(node, f"input must have rank >= 2, got {rank}")
    upper = bool(ctx.attr(node, "upper", 1))
    k_t = ctx.input(node, 1)
    k = 0 if k_t is None else static_scalar(ctx, k_t)
    rows, cols = x.shape[-2], x.shape[-1]
    if k is not None and rows is not None and cols is not None and rows * cols <= _SMALL_MASK:
        diff = np.arange(cols)[None, :] - np.arange(rows)[:, None]
        mask = const(ctx, diff >= k if upper else diff <= k)
    else:
        mask = _trilu_mask(ctx, x, rank, k_t, upper)
    return [apply_op("SelectV2", [mask, x, apply_op("ZerosLike", [x])])]


def _trilu_mask(ctx, x, rank: int, k_t, upper: bool):
    zero, one = const(ctx, np.int64(0)), const(ctx, np.int64(1))
    rows = apply_op("Range", [zero, dim_of(ctx, x, rank - 2), one])
    cols = apply_op("Range", [zero, dim_of(ctx, x, rank - 1), one])
    diff = apply_op("Sub", [expand_dims(ctx, cols, 0), expand_dims(ctx, rows, 1)])
    k = zero if k_t is None else reshape(ctx, cast(k_t, DType.INT64), [])
    return apply_op("GreaterEqual" if upper else "LessEqual", [diff, k])

