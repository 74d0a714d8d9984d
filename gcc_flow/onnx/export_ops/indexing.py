"""Indexing TF ops -> ONNX: Slice, StridedSlice (masks -> Slice/Squeeze/Unsqueeze), GatherV2,
GatherNd, Pad/PadV2/MirrorPad, OneHot.

    x[1:, ::-1, 2] (StridedSlice on [4,5,6]) -> Squeeze(Slice(x, starts [1, 4, 2],
        ends [4, -inf, 3], axes [0, 1, 2], steps [1, -1, 1]), [2])
    MirrorPad(x, [[1, 1]], SYMMETRIC) -> Concat(x[0::-1], x, x[-1:-2:-1])
    OneHot(i, d, on, off) -> Where(Equal(Unsqueeze(i, [-1]), Range(0, d)), on, off)
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from gcc_flow.onnx.export_ops import emitter
from gcc_flow.onnx.export_ops.builder import INT64_MAX, INT64_MIN, ExportContext
from schema.dtypes import DType
from schema.ir import Node
from schema.ops.array_rules import RuleError
from schema.ops.slicing import _NEW_AXIS, _SHRINK, _canonical_range, _dense_spec

_MASKS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


@emitter("Slice")
def slice_(ctx: ExportContext, node: Node) -> str:
    begin, size = ctx.static(node, 1), ctx.static(node, 2)
    x = ctx.input(node, 0)
    if begin is not None and size is not None:
        begin, size = [int(b) for b in begin], [int(s) for s in size]
        ends = [INT64_MAX if s == -1 else b + s for b, s in zip(begin, size)]
        return ctx.emit("Slice", [x, ctx.ints(begin), ctx.ints(ends)])
    starts, sizes = ctx.int64_input(node, 1), ctx.int64_input(node, 2)
    to_end = ctx.emit("Equal", [sizes, ctx.scalar(-1, DType.INT64)])
    ends = ctx.emit("Where", [to_end, ctx.scalar(INT64_MAX, DType.INT64),
                              ctx.emit("Add", [starts, sizes])])
    return ctx.emit("Slice", [x, starts, ends])


def _slice_bounds(b: int, e: int, stride: int, dim, begin_masked: bool, end_masked: bool,
                  shrink: bool) -> tuple[int, int, int]:
    """(start, end, step) for ONNX Slice reproducing TF's range on one dim."""
    if dim is not None:  # TF's own clamping, then the ONNX spelling of "before index 0"
        b, e = _canonical_range(b, e, stride, dim, (begin_masked, end_masked), shrink, 0)
        if not shrink and (e - b == 0 or (e - b < 0) != (stride < 0)):
            return 0, 0, 1
        return b, (INT64_MIN if e < 0 else e), stride
    if shrink:
        return b, (INT64_MAX if b == -1 else b + 1), 1
    if begin_masked:
        b = 0 if stride > 0 else INT64_MAX
    if end_masked:
        e = INT64_MAX if stride > 0 else INT64_MIN
    return b, e, stride


@emitter("StridedSlice")
def strided_slice(ctx: ExportContext, node: Node) -> str:
    """Slice over the dims that are not taken whole, Squeeze of the shrunk dims, Unsqueeze of
    the new axes. Constant begin/end are clamped here exactly as TensorFlow does; computed
    ones go to Slice as they are (ONNX clamps alike, except a start past either end with a
    negative stride)."""
    strides = ctx.static_ints(node, 3, "strides")
    shape = ctx.shape(node, 0)
    if shape is None:
        raise ctx.unsupported(node, "input of unknown rank")
    masks = [int(node.attrs.get(m, 0)) for m in _MASKS]
    begin, end = ctx.static(node, 1), ctx.static(node, 2)
    known = begin is not None and end is not None
    n = len(strides)
    # With begin/end unknown, the dense spec is built from the sparse positions themselves.
    spec_begin = [int(b) for b in begin] if known else list(range(n))
    spec_end = [int(e) for e in end] if known else list(range(n))
    try:
        dense = _dense_spec(len(shape), n, spec_begin, spec_end, strides, *masks)
        slices = _static_slices(shape, dense) if known else _dynamic_slices(ctx, node, dense)
    except RuleError as err:
        raise ctx.unsupported(node, str(err)) from None
    y = ctx.input(node, 0)
    if slices is not None:
        y = ctx.emit("Slice", [y] + [_ints_or_value(ctx, v) for v in slices])
    d_shrink, gather = dense[5], dense[6]
    y = ctx.squeeze(y, [i for i in range(len(shape)) if d_shrink >> i & 1])
    kept = [g for g in gather if g != _SHRINK]
    return ctx.unsqueeze(y, [k for k, g in enumerate(kept) if g == _NEW_AXIS])


def _sliced_dims(dense) -> list[tuple]:
    """(dim index, begin, end, stride, begin masked, end masked, shrink) of the dims a Slice
    must touch (not those taken whole with stride 1)."""
    d_begin, d_end, d_strides, d_bmask, d_emask, d_shrink, _ = dense
    out = []
    for i in range(len(d_strides)):
        bm, em, shrink = bool(d_bmask >> i & 1), bool(d_emask >> i & 1), bool(d_shrink >> i & 1)
        if not (bm and em and d_strides[i] == 1 and not shrink):
            out.append((i, d_begin[i], d_end[i], d_strides[i], bm, em, shrink))
    return out


def _static_slices(shape, dense) -> Optional[list]:
    rows = [(i,) + _slice_bounds(b, e, s, shape[i], bm, em, shrink)
            for i, b, e, s, bm, em, shrink in _sliced_dims(dense)]
    if not rows:
        return None
    return [[r[k] for r in rows] for k in (1, 2, 0, 3)]


def _dynamic_slices(ctx: ExportContext, node: Node, dense) -> Optional[list]:
    """starts/ends gathered from the begin/end tensors (d_begin holds sparse positions)."""
    rows = _sliced_dims(dense)
    if not rows:
        return None
    begin64, end64 = ctx.int64_input(node, 1), ctx.int64_input(node, 2)
    starts, ends = [], []
    for _, j, _, stride, bm, em, shrink in rows:
        b = ctx.emit("Gather", [begin64, ctx.ints([j])], axis=0)
        starts.append(ctx.ints([0 if stride > 0 else INT64_MAX]) if bm and not shrink else b)
        if shrink:  # one element: begin + 1, or to the end for begin -1
            last = ctx.emit("Equal", [b, ctx.ints([-1])])
            ends.append(ctx.emit("Where", [last, ctx.ints([INT64_MAX]),
                                           ctx.emit("Add", [b, ctx.ints([1])])]))
        elif em:
            ends.append(ctx.ints([INT64_MAX if stride > 0 else INT64_MIN]))
        else:
            ends.append(ctx.emit("Gather", [end64, ctx.ints([j])], axis=0))
    concat = [ctx.emit("Concat", part, axis=0) if len(part) > 1 else part[0]
              for part in (starts, ends)]
    return concat + [ctx.ints([r[0] for r in rows]),
                     ctx.ints([1 if r[6] else r[3] for r in rows])]


def _ints_or_value(ctx: ExportContext, values) -> str:
    return values if isinstance(values, str) else ctx.ints(values)


@emitter("GatherV2", "Gather")
def gather(ctx: ExportContext, node: Node) -> str:
    axis = ctx.static_ints(node, 2, "axis")[0] if node.op == "GatherV2" else 0
    if int(node.attrs.get("batch_dims", 0) or 0):
        raise ctx.unsupported(node, "batch_dims != 0")
    return ctx.emit("Gather", [ctx.input(node, 0), ctx.input(node, 1)], axis=axis)


@emitter("GatherNd")
def gather_nd(ctx: ExportContext, node: Node) -> str:
    return ctx.emit("GatherND", [ctx.input(node, 0), ctx.int64_input(node, 1)])


# -- padding -----------------------------------------------------------------------------------

def _pads(ctx: ExportContext, node: Node) -> str:
    """TF paddings [rank, 2] -> ONNX pads [begin..., end...] (int64)."""
    static = ctx.static(node, 1)
    if static is not None:
        return ctx.ints(np.asarray(static, np.int64).reshape(-1, 2).T.reshape(-1).tolist())
    pairs = ctx.int64_input(node, 1)
    return ctx.emit("Reshape", [ctx.emit("Transpose", [pairs], perm=[1, 0]), ctx.ints([-1])])


@emitter("Pad", "PadV2")
def pad(ctx: ExportContext, node: Node) -> str:
    inputs = [ctx.input(node, 0), _pads(ctx, node)]
    if node.op == "PadV2":
        inputs.append(ctx.input(node, 2))
    return ctx.emit("Pad", inputs, mode="constant")


@emitter("MirrorPad")
def mirror_pad(ctx: ExportContext, node: Node) -> str:
    mode = node.attrs.get("mode")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode == "REFLECT":
        return ctx.emit("Pad", [ctx.input(node, 0), _pads(ctx, node)], mode="reflect")
    paddings = np.asarray(ctx.static_ints(node, 1, "paddings")).reshape(-1, 2)
    y = ctx.input(node, 0)
    for axis, (before, after) in enumerate(paddings.tolist()):
        y = _symmetric_axis(ctx, y, axis, before, after)
    return y


def _symmetric_axis(ctx: ExportContext, x: str, axis: int, before: int, after: int) -> str:
    """SYMMETRIC padding of one axis: the edge rows mirrored, edge included."""
    if not before and not after:
        return x
    parts = [x]
    reverse = ctx.ints([-1])
    if before:  # x[before-1::-1]
        parts.insert(0, ctx.emit("Slice", [x, ctx.ints([before - 1]), ctx.ints([INT64_MIN]),
                                           ctx.ints([axis]), reverse]))
    if after:   # x[-1:-1-after:-1]
        parts.append(ctx.emit("Slice", [x, ctx.ints([-1]), ctx.ints([-1 - after]),
                                        ctx.ints([axis]), reverse]))
    return ctx.emit("Concat", parts, axis=axis)


@emitter("OneHot")
def one_hot(ctx: ExportContext, node: Node) -> str:
    """Equal against Range(0, depth): out-of-range and negative indices give all-off rows, as
    in TensorFlow (ONNX OneHot would wrap negative ones)."""
    indices, depth, on, off = ctx.inputs(node)
    axis = int(node.attrs.get("axis", -1))
    index64 = ctx.cast(indices, ctx.dtype(node, 0), DType.INT64)
    depth64 = ctx.cast(depth, ctx.dtype(node, 1), DType.INT64)
    ids = ctx.emit("Range", [ctx.scalar(0, DType.INT64), depth64, ctx.scalar(1, DType.INT64)])
    rank = ctx.rank(node, 0)
    if axis == -1 or axis == rank:
        hot = ctx.emit("Equal", [ctx.unsqueeze(index64, [-1]), ids])
    else:
        rank = ctx.need_rank(node, 0)
        column = ctx.emit("Reshape", [ids, ctx.ints([-1] + [1] * (rank - axis))])
        hot = ctx.emit("Equal", [ctx.unsqueeze(index64, [axis]), column])
    return ctx.emit("Where", [hot, on, off])
