"""Array and shape ops: reshape, transpose, concat/split, slicing, padding, tiling, gathering,
shape queries, filling, ranges, stack/unstack, one-hot, broadcast, where.

    Reshape(f32[2,3,4], Const [-1, 6]) -> f32[4,6];  Transpose(f32[2,3,4], [2,0,1]) -> f32[4,2,3]
    StridedSlice(f32[4,5,6], x[1:, ::-1, 2]) -> f32[3,5];  Where(bool[3,4]) -> i64[?,2]

Attrs, defaults and type constraints are TensorFlow's REGISTER_OP declarations. Shapes are
inferred statically wherever the inputs allow it (constant shape/axis/perm/paddings inputs are
read with ``ctx.value``); a malformed constant is refused at build time with the words the
kernel would use at run time (both call schema/ops/array_rules.py).
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from schema.infer import static_value
from schema.ops import array_rules as rules
from schema.ops.array_rules import RuleError
from schema.ops.slicing import strided_slice
from schema.registry import op

__all__ = ["apply_rule", "require_scalar", "scalar_int", "shape_tensor"]

_INDEX = "{int32, int64}"


def apply_rule(ctx, fn: Callable, *args):
    """Calls a shape rule; a broken rule becomes ctx.fail (a ValidationError naming the node)."""
    try:
        return fn(*args)
    except RuleError as err:
        raise ctx.fail(str(err)) from None


def _ints(ctx, i: int) -> Optional[list[int]]:
    value = ctx.value(i)
    return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]


def scalar_int(ctx, i: int, what: str) -> Optional[int]:
    value = ctx.value(i)
    if value is None:
        return None
    if np.size(value) != 1:
        raise ctx.fail(f"{what} must be a scalar, got shape {rules.fmt_shape(np.shape(value))}")
    return int(np.asarray(value).reshape(-1)[0])


def _vector_len(ctx, i: int) -> Optional[int]:
    """The static length of a 1-D input, or None."""
    shape = ctx.shape(i)
    return shape[0] if shape is not None and len(shape) == 1 else None


def require_scalar(ctx, i: int, what: str) -> None:
    shape = ctx.shape(i)
    if shape is not None and len(shape) != 0:
        raise ctx.fail(f"{what} must be a scalar, not shape {rules.fmt_shape(shape)}")


def _unknown_dims(n: Optional[int]):
    return None if n is None else (None,) * n


def shape_tensor(ctx, i: int) -> Optional[list]:
    """A shape-valued input with None for entries unknown at build time, as TensorFlow's
    MakeShapeFromShapeTensor: a constant, Shape of a partly known tensor, Pack of scalars.

    Shape(f32[?, 3]) -> [None, 3];  Pack(Const 2, %n, Const -1) -> [2, None, -1]
    """
    value = ctx.value(i)
    if value is not None:
        return _ints(ctx, i) if np.ndim(value) <= 1 else None
    producer = ctx.node.inputs[i].node
    if producer.op == "Shape" and producer.inputs and producer.inputs[0].shape is not None:
        return list(producer.inputs[0].shape)
    if producer.op == "Pack" and producer.attrs.get("axis", 0) == 0:
        entries = [static_value(ref) for ref in producer.inputs]
        return [None if v is None or np.size(v) != 1 else int(np.asarray(v).reshape(-1)[0])
                for v in entries]
    n = _vector_len(ctx, i)
    return None if n is None else [None] * n


def _partial_reshape(in_shape, sizes: list) -> tuple:
    """Reshape to sizes with unknown entries: the one free dim is resolved when it can be."""
    for k, s in enumerate(sizes):
        if s is not None and s < -1:
            raise RuleError(f"Size {k} must be non-negative, not {s}")
    free = [k for k, s in enumerate(sizes) if s is None or s == -1]
    out = [None if s == -1 else s for s in sizes]
    known = [s for s in sizes if s is not None and s != -1]
    if len(free) == 1 and in_shape is not None and None not in in_shape and all(known):
        total, part = math.prod(in_shape), math.prod(known)
        out[free[0]] = total // part if total % part == 0 else None
    return tuple(out)


# -- reshape, transpose, squeeze, expand_dims ---------------------------------------------------

def _reshape_shape(ctx):
    sizes = ctx.value(1)
    if sizes is None:
        partial = shape_tensor(ctx, 1)
        if partial is None:
            return [None]
        return [apply_rule(ctx, _partial_reshape, ctx.shape(0), partial)]
    if np.ndim(sizes) > 1:
        raise ctx.fail(f"sizes input must be 1-D, not {rules.fmt_shape(np.shape(sizes))}")
    return [apply_rule(ctx, rules.reshape_dims, ctx.shape(0), _ints(ctx, 1))]


def _transpose_shape(ctx):
    perm, shape = _ints(ctx, 1), ctx.shape(0)
    if perm is None or shape is None:
        return [_unknown_dims(len(shape) if shape is not None else _vector_len(ctx, 1))]
    perm = apply_rule(ctx, rules.normalize_perm, perm, len(shape))
    return [tuple(shape[p] for p in perm)]


def _squeeze_shape(ctx):
    shape = ctx.shape(0)
    if shape is None:
        return [None]
    axes = apply_rule(ctx, rules.squeeze_axes, shape, list(ctx.attr("squeeze_dims") or []))
    return [None if axes is None else tuple(d for i, d in enumerate(shape) if i not in axes)]


def _expand_dims_shape(ctx):
    value, shape = ctx.value(1), ctx.shape(0)
    if value is not None and np.size(value) != 1:
        raise ctx.fail("'dim' must be a tensor with a single value")
    if shape is None:
        return [None]
    if value is None:
        return [(None,) * (len(shape) + 1)]
    axis = int(np.asarray(value).reshape(-1)[0])
    axis = apply_rule(ctx, rules.expand_dims_axis, axis, len(shape))
    return [tuple(shape[:axis]) + (1,) + tuple(shape[axis:])]


op("Reshape", inputs=["tensor: T", "shape: Tshape"], outputs=["output: T"],
   attrs=["T: type", f"Tshape: {_INDEX} = int32"], shape=_reshape_shape)
op("Transpose", inputs=["x: T", "perm: Tperm"], outputs=["y: T"],
   attrs=["T: type", f"Tperm: {_INDEX} = int32"], shape=_transpose_shape)
op("Squeeze", inputs=["input: T"], outputs=["output: T"],
   attrs=["T: type", "squeeze_dims: list(int) >= 0 = []"], shape=_squeeze_shape,
   layout="squeeze")
op("ExpandDims", inputs=["input: T", "dim: Tdim"], outputs=["output: T"],
   attrs=["T: type", f"Tdim: {_INDEX} = int32"], shape=_expand_dims_shape)


# -- concat, split, pack, unpack ----------------------------------------------------------------

def _concat_shape(ctx):
    n = ctx.attr("N")
    shapes = _fill_unknown_ranks([ctx.shape(i) for i in range(n)])
    axis = scalar_int(ctx, n, "axis")
    if shapes is None or axis is None:
        return [None if shapes is None else (None,) * len(shapes[0])]
    return [apply_rule(ctx, rules.concat_dims, shapes, axis)]


def _fill_unknown_ranks(shapes: list) -> Optional[list]:
    """Inputs of unknown rank take the rank of the others (the op needs equal ranks)."""
    known = [s for s in shapes if s is not None]
    if not known:
        return None
    return [s if s is not None else (None,) * len(known[0]) for s in shapes]


def _split_shape(ctx):
    k, shape = ctx.attr("num_split"), ctx.shape(1)
    axis = scalar_int(ctx, 0, "split_dim")
    if shape is None or axis is None:
        return [_unknown_dims(None if shape is None else len(shape))] * k
    axis = apply_rule(ctx, rules.check_axis, axis, len(shape), "split_dim")
    piece = apply_rule(ctx, rules.even_split, shape[axis], k, axis)
    return [shape[:axis] + (piece,) + shape[axis + 1:]] * k


def _split_v_shape(ctx):
    k, shape = ctx.attr("num_split"), ctx.shape(0)
    axis, sizes = scalar_int(ctx, 2, "split_dim"), _ints(ctx, 1)
    if sizes is not None and len(sizes) != k:
        raise ctx.fail(f"size_splits has {len(sizes)} elements but num_split is {k}")
    if shape is None or axis is None:
        return [_unknown_dims(None if shape is None else len(shape))] * k
    axis = apply_rule(ctx, rules.check_axis, axis, len(shape), "split_dim")
    if sizes is None:
        return [shape[:axis] + (None,) + shape[axis + 1:]] * k
    pieces = apply_rule(ctx, rules.split_sizes, sizes, shape[axis])
    return [shape[:axis] + (p,) + shape[axis + 1:] for p in pieces]


def _pack_shape(ctx):
    shapes = _fill_unknown_ranks([ctx.shape(i) for i in range(ctx.num_inputs)])
    if shapes is None:
        return [None]
    return [apply_rule(ctx, rules.pack_dims, shapes, ctx.attr("axis"))]


def _unpack_shape(ctx):
    num, shape = ctx.attr("num"), ctx.shape(0)
    if shape is None:
        return [None] * num
    _, piece = apply_rule(ctx, rules.unpack_dims, shape, num, ctx.attr("axis"))
    return [tuple(piece)] * num


op("ConcatV2", inputs=["values: N * T", "axis: Tidx"], outputs=["output: T"],
   attrs=["N: int >= 2", "T: type", f"Tidx: {_INDEX} = int32"], shape=_concat_shape,
   layout="concat")
op("Split", inputs=["split_dim: int32", "value: T"], outputs=["output: num_split * T"],
   attrs=["num_split: int >= 1", "T: type"], shape=_split_shape)
op("SplitV", inputs=["value: T", "size_splits: Tlen", "split_dim: int32"],
   outputs=["output: num_split * T"],
   attrs=["num_split: int >= 1", "T: type", "Tlen: {int8, int32, int64} = int64"],
   shape=_split_v_shape)
op("Pack", inputs=["values: N * T"], outputs=["output: T"],
   attrs=["N: int >= 1", "T: type", "axis: int = 0"], shape=_pack_shape)
op("Unpack", inputs=["value: T"], outputs=["output: num * T"],
   attrs=["num: int >= 0", "T: type", "axis: int = 0"], shape=_unpack_shape)


# -- slicing ------------------------------------------------------------------------------------

def _slice_shape(ctx):
    shape, begin, size = ctx.shape(0), _ints(ctx, 1), _ints(ctx, 2)
    rank = len(shape) if shape is not None else _vector_len(ctx, 1) or _vector_len(ctx, 2)
    if size is None or shape is None:
        return [_unknown_dims(rank) if size is None
                else tuple(None if s == -1 else s for s in size)]
    if begin is None:
        return [tuple(None if s == -1 else s for s in size)]
    return [tuple(s for _, s in apply_rule(ctx, rules.slice_bounds, begin, size, shape))]


def _strided_slice_shape(ctx):
    shape, strides = ctx.shape(0), _ints(ctx, 3)
    if any(ctx.shape(i) is not None and len(ctx.shape(i)) != 1 for i in (1, 2, 3)):
        shown = ", ".join(rules.fmt_shape(ctx.shape(i) or ()) for i in (1, 2, 3))
        raise ctx.fail(f"Expected begin, end, and strides to be 1D equal size tensors, but got "
                       f"shapes {shown}")
    if shape is None or strides is None:
        return [None]
    masks = [ctx.attr(m, 0) for m in ("begin_mask", "end_mask", "ellipsis_mask",
                                      "new_axis_mask", "shrink_axis_mask")]
    spec = apply_rule(ctx, strided_slice, shape, _ints(ctx, 1), _ints(ctx, 2), strides, *masks)
    return [tuple(spec.final_shape)]


op("Slice", inputs=["input: T", "begin: Index", "size: Index"], outputs=["output: T"],
   attrs=["T: type", f"Index: {_INDEX}"], shape=_slice_shape)
op("StridedSlice", inputs=["input: T", "begin: Index", "end: Index", "strides: Index"],
   outputs=["output: T"],
   attrs=["T: type", "Index: {int16, int32, int64}", "begin_mask: int = 0", "end_mask: int = 0",
          "ellipsis_mask: int = 0", "new_axis_mask: int = 0", "shrink_axis_mask: int = 0"],
   shape=_strided_slice_shape)


# -- padding, tiling, broadcasting ---------------------------------------------------------------

def _pad_shape(ctx):
    if ctx.node.op == "PadV2":
        require_scalar(ctx, 2, "constant_values")
    shape, paddings = ctx.shape(0), ctx.value(1)
    if paddings is None:
        return [_unknown_dims(None if shape is None else len(shape))]
    if shape is None:
        shape = (None,) * (np.shape(paddings)[0] if np.ndim(paddings) == 2 else 0)
    mode = ctx.attr("mode", "CONSTANT")
    return [apply_rule(ctx, rules.check_paddings, np.asarray(paddings, np.int64), shape, mode)]


def _tile_shape(ctx):
    shape, multiples = ctx.shape(0), _ints(ctx, 1)
    if shape is None or multiples is None:
        return [_unknown_dims(None if shape is None else len(shape))]
    return [apply_rule(ctx, rules.tile_dims, shape, multiples)]


def _broadcast_to_shape(ctx):
    target, shape = shape_tensor(ctx, 1), ctx.shape(0)
    if target is None or None in target:
        return [None if target is None else tuple(target)]
    return [apply_rule(ctx, rules.broadcast_to_dims, shape if shape is not None else (), target)]


op("Pad", inputs=["input: T", "paddings: Tpaddings"], outputs=["output: T"],
   attrs=["T: type", f"Tpaddings: {_INDEX} = int32"], shape=_pad_shape, layout="pad")
op("PadV2", inputs=["input: T", "paddings: Tpaddings", "constant_values: T"],
   outputs=["output: T"], attrs=["T: type", f"Tpaddings: {_INDEX} = int32"], shape=_pad_shape,
   layout="pad")
op("MirrorPad", inputs=["input: T", "paddings: Tpaddings"], outputs=["output: T"],
   attrs=["T: type", f"Tpaddings: {_INDEX} = int32", "mode: {'REFLECT', 'SYMMETRIC'}"],
   shape=_pad_shape, layout="pad")
op("Tile", inputs=["input: T", "multiples: Tmultiples"], outputs=["output: T"],
   attrs=["T: type", f"Tmultiples: {_INDEX} = int32"], shape=_tile_shape)
op("BroadcastTo", inputs=["input: T", "shape: Tidx"], outputs=["output: T"],
   attrs=["T: type", f"Tidx: {_INDEX} = int32"], shape=_broadcast_to_shape)

# Gathers, shape queries, Fill, Range, OneHot, Where: declared in their own module.
from schema.ops import array_values  # noqa: E402,F401
