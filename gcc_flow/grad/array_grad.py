"""Gradients of the array ops (schema/ops/array.py, array_values.py, control.py), TensorFlow's
formulas.

    Reshape / Squeeze / ExpandDims:  dx = Reshape(dy, Shape(x))
    ConcatV2([a, b], 1):  da, db = SplitV(dy, [a's size, b's size], 1)
    Slice(x, begin, size):  dx = Pad(dy, [[begin, dim - begin - size] per dim])
    GatherV2(params, ids, 0):  dparams = UnsortedSegmentSum(dy, ids, Shape(params)[0])
"""
from __future__ import annotations

import numpy as np

from gcc_flow import array_ops
from gcc_flow.framework import apply_op, convert_to_tensor
from gcc_flow.grad._shapes import shape_of, static_ints
from gcc_flow.gradients import fill_zeros, register_gradient, register_no_gradient
from schema.dtypes import DType
from schema.errors import GraphError


def _ints(values, like=None):
    dtype = like.dtype.base if like is not None else DType.INT32
    return convert_to_tensor(np.array(values, dtype.np), dtype)


def _reshape_to_input(op, grad):
    return [apply_op("Reshape", [grad, shape_of(op.inputs[0])])] + [None] * (len(op.inputs) - 1)


for _name in ("Reshape", "Squeeze", "ExpandDims"):
    register_gradient(_name)(_reshape_to_input)


def _pass_through(op, grad):
    return [grad]


for _name in ("Identity", "Snapshot", "EnsureShape", "PlaceholderWithDefault"):
    register_gradient(_name)(_pass_through)


@register_gradient("IdentityN")
def _identity_n_grad(op, *grads):
    return list(grads)


@register_gradient("Transpose")
def _transpose_grad(op, grad):
    return [apply_op("Transpose", [grad, apply_op("InvertPermutation", [op.inputs[1]])]), None]


# -- concat, split, pack, unpack ---------------------------------------------------------------

def _static_axis(op, axis_tensor, rank_of):
    """The non-negative axis when it (and, for a negative one, the rank) is known statically."""
    values = static_ints(axis_tensor)
    if values is None or len(values) != 1:
        return None
    axis = values[0]
    if axis < 0:
        shape = rank_of.shape
        return None if shape is None else axis + len(shape)
    return axis


@register_gradient("ConcatV2")
def _concat_grad(op, grad):
    values, axis = op.inputs[:-1], op.inputs[-1]
    dim = _static_axis(op, axis, values[0])
    if dim is None:
        rank = apply_op("Rank", [values[0]])
        dim = apply_op("FloorMod", [apply_op("Cast", [axis], {"DstT": DType.INT32}), rank])
    static = [None if v.shape is None or not isinstance(dim, int) else v.shape[dim]
              for v in values]
    if all(s is not None for s in static):
        sizes = _ints(static)
    else:
        begin = apply_op("Reshape", [dim, [1]])
        sizes = apply_op("ConcatV2", [[apply_op("Slice", [shape_of(v), begin, [1]])
                                       for v in values], 0])
    pieces = apply_op("SplitV", [grad, sizes, dim], {"num_split": len(values)})
    return list(pieces) + [None]


def _concat_grads(grads, axis):
    return grads[0] if len(grads) == 1 else apply_op("ConcatV2", [list(grads), axis])


@register_gradient("Split")
def _split_grad(op, *grads):
    return [None, _concat_grads(fill_zeros(op, grads), op.inputs[0])]


@register_gradient("SplitV")
def _split_v_grad(op, *grads):
    return [_concat_grads(fill_zeros(op, grads), op.inputs[2]), None, None]


@register_gradient("Pack")
def _pack_grad(op, grad):
    pieces = apply_op("Unpack", [grad], {"num": len(op.inputs), "axis": op.get_attr("axis")})
    return list(pieces)


@register_gradient("Unpack")
def _unpack_grad(op, *grads):
    return [apply_op("Pack", [fill_zeros(op, grads)], {"axis": op.get_attr("axis")})]


# -- slicing -----------------------------------------------------------------------------------

@register_gradient("Slice")
def _slice_grad(op, grad):
    x, begin, _ = op.inputs
    index_type = begin.dtype.base
    end_gap = apply_op("Sub", [apply_op("Sub", [shape_of(x, index_type),
                                                shape_of(op.outputs[0], index_type)]), begin])
    column = _ints([-1, 1], begin)
    paddings = apply_op("ConcatV2", [[apply_op("Reshape", [begin, column]),
                                      apply_op("Reshape", [end_gap, column])], 1])
    return [apply_op("Pad", [grad, paddings]), None, None]


_SLICE_MASKS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


@register_gradient("StridedSlice")
def _strided_slice_grad(op, grad):
    x, begin, end, strides = op.inputs
    attrs = {m: op.get_attr(m) for m in _SLICE_MASKS}
    dx = apply_op("StridedSliceGrad", [shape_of(x, begin.dtype.base), begin, end, strides, grad],
                  attrs)
    return [dx, None, None, None]


@register_gradient("StridedSliceGrad")
def _strided_slice_grad_grad(op, grad):
    _, begin, end, strides, _ = op.inputs
    attrs = {m: op.get_attr(m) for m in _SLICE_MASKS}
    return [None, None, None, None, apply_op("StridedSlice", [grad, begin, end, strides], attrs)]


# -- padding, tiling, broadcasting ------------------------------------------------------------

def _pad_grad(op, grad):
    """dx = dy[before : before + size] in every dimension."""
    x, paddings = op.inputs[0], op.inputs[1]
    before = apply_op("Slice", [paddings, _ints([0, 0], paddings), _ints([-1, 1], paddings)])
    begin = apply_op("Reshape", [before, _ints([-1], paddings)])
    dx = apply_op("Slice", [grad, begin, shape_of(x, paddings.dtype.base)])
    return [dx] + [None] * (len(op.inputs) - 1)


register_gradient("Pad")(_pad_grad)
register_gradient("PadV2")(_pad_grad)


@register_gradient("MirrorPad")
def _mirror_pad_grad(op, grad):
    return [apply_op("MirrorPadGrad", [grad, op.inputs[1]], {"mode": op.get_attr("mode")}), None]


@register_gradient("MirrorPadGrad")
def _mirror_pad_grad_grad(op, grad):
    return [apply_op("MirrorPad", [grad, op.inputs[1]], {"mode": op.get_attr("mode")}), None]


@register_gradient("Tile")
def _tile_grad(op, grad):
    """dy reshaped to [m0, d0, m1, d1, ...] and summed over the multiples' axes."""
    x, multiples = op.inputs
    input_shape = shape_of(x, multiples.dtype.base)
    pairs = apply_op("Transpose", [apply_op("Pack", [[multiples, input_shape]]), [1, 0]])
    split_shape = apply_op("Reshape", [pairs, _ints([-1], multiples)])
    axes = apply_op("Range", [_ints(0, multiples), array_ops.size(split_shape,
                                                                  multiples.dtype.base),
                              _ints(2, multiples)])
    summed = apply_op("Sum", [apply_op("Reshape", [grad, split_shape]), axes])
    return [apply_op("Reshape", [summed, input_shape]), None]


@register_gradient("BroadcastTo")
def _broadcast_to_grad(op, grad):
    x, target = op.inputs
    x_shape = shape_of(x, target.dtype.base)
    _, axes = apply_op("BroadcastGradientArgs", [target, x_shape])
    summed = apply_op("Sum", [grad, axes], {"keep_dims": True})
    return [apply_op("Reshape", [summed, x_shape]), None]


@register_gradient("Fill")
def _fill_grad(op, grad):
    return [None, apply_op("Sum", [grad, apply_op("Range", [0, apply_op("Rank", [grad]), 1])])]


@register_gradient("SpaceToBatchND")
def _space_to_batch_grad(op, grad):
    return [apply_op("BatchToSpaceND", [grad, op.inputs[1], op.inputs[2]]), None, None]


@register_gradient("BatchToSpaceND")
def _batch_to_space_grad(op, grad):
    return [apply_op("SpaceToBatchND", [grad, op.inputs[1], op.inputs[2]]), None, None]


# -- gathers and scatters -----------------------------------------------------------------------

def _shape_part(shape, begin: int, end=None, shrink: bool = False):
    """shape[begin:end] (or shape[begin] with shrink) as a StridedSlice of a shape vector."""
    attrs = {"end_mask": 1 if end is None else 0, "shrink_axis_mask": 1 if shrink else 0}
    stop = begin + 1 if shrink else (0 if end is None else end)
    return apply_op("StridedSlice", [shape, _ints([begin], shape), _ints([stop], shape),
                                     _ints([1], shape)], attrs)


@register_gradient("GatherV2")
def _gather_grad(op, grad):
    """The gathered rows' gradients summed into the rows they came from (axis moved first)."""
    params, indices, axis_t = op.inputs
    if op.get_attr("batch_dims") != 0:
        raise GraphError(f"gradient of {op.name!r} (GatherV2): batch_dims != 0 is not supported")
    axis = _static_axis(op, axis_t, params)
    rank = len(params.shape) if params.shape is not None else None
    if axis is None or (axis and rank is None):
        raise GraphError(f"gradient of {op.name!r} (GatherV2) needs a constant axis and, for an "
                         f"axis other than 0, a known rank of params")
    shape = shape_of(params, indices.dtype.base if indices.dtype.base == DType.INT64
                     else DType.INT32)
    count = apply_op("Reshape", [array_ops.size(indices, shape.dtype.base), _ints([1], shape)])
    values_shape = apply_op("ConcatV2", [[_shape_part(shape, 0, axis), count,
                                          _shape_part(shape, axis + 1)], 0])
    values = apply_op("Reshape", [grad, values_shape])
    ids = apply_op("Reshape", [indices, _ints([-1], shape)])
    segments = _shape_part(shape, axis, shrink=True)
    if axis == 0:
        return [apply_op("UnsortedSegmentSum", [values, ids, segments]), None, None]
    perm = [axis] + list(range(axis)) + list(range(axis + 1, rank))
    moved = apply_op("UnsortedSegmentSum", [apply_op("Transpose", [values, perm]), ids,
                                            segments])
    back = list(range(1, axis + 1)) + [0] + list(range(axis + 1, rank))
    return [apply_op("Transpose", [moved, back]), None, None]


@register_gradient("GatherNd")
def _gather_nd_grad(op, grad):
    params, indices = op.inputs
    out_type = DType.INT64 if indices.dtype.base == DType.INT64 else DType.INT32
    if indices.dtype.base != out_type:
        indices = apply_op("Cast", [indices], {"DstT": out_type})
    return [apply_op("ScatterNd", [indices, grad, shape_of(params, out_type)]), None]


@register_gradient("ScatterNd")
def _scatter_nd_grad(op, grad):
    return [None, apply_op("GatherNd", [grad, op.inputs[0]]), None]


for _name in ("Const", "Placeholder", "NoOp", "StopGradient", "Shape", "ShapeN", "Size", "Rank",
              "ZerosLike", "OnesLike", "Range", "OneHot", "Where"):
    register_no_gradient(_name)
