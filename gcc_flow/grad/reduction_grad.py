"""Gradients of the reductions (schema/ops/reduction.py), TensorFlow's formulas.

    Sum(x f32[2,3], [1]):  dx = BroadcastTo(Reshape(dy, [2, 1]), [2, 3])
    Mean:  the Sum gradient divided by the number of elements averaged
    Max/Min:  dy shared equally among the elements equal to the extreme
    Prod:  dy * (product of the other elements), by exclusive cumulative products
"""
from __future__ import annotations

import numpy as np

from gcc_flow.framework import apply_op, convert_to_tensor
from gcc_flow.grad._shapes import fully_defined, kept_dims_shape, reduction_axes, shape_of
from gcc_flow.gradients import register_gradient, register_no_gradient
from schema.dtypes import DType


def _broadcast_back(op, grad):
    """dy reshaped to the kept-dims shape and broadcast to the input's shape."""
    x, axes = op.inputs
    if not op.get_attr("keep_dims"):
        grad = apply_op("Reshape", [grad, kept_dims_shape(x, axes)])
    return apply_op("BroadcastTo", [grad, shape_of(x)])


@register_gradient("Sum")
def _sum_grad(op, grad):
    return [_broadcast_back(op, grad), None]


def _count_ratio(op):
    """Number of input elements per output element, in the input's dtype."""
    x, y = op.inputs[0], op.outputs[0]
    dtype = x.dtype.base
    if fully_defined(x) is not None and fully_defined(y) is not None:
        ratio = int(np.prod(x.shape, dtype=np.int64)) // max(int(np.prod(y.shape,
                                                                         dtype=np.int64)), 1)
        return convert_to_tensor(np.asarray(ratio, dtype.np), dtype)
    sizes = [apply_op("Prod", [shape_of(t), 0]) for t in (x, y)]
    ratio = apply_op("FloorDiv", [sizes[0], apply_op("Maximum", [sizes[1], 1])])
    return apply_op("Cast", [ratio], {"DstT": dtype})


@register_gradient("Mean")
def _mean_grad(op, grad):
    return [apply_op("RealDiv", [_broadcast_back(op, grad), _count_ratio(op)]), None]


def _kept(op, t):
    if op.get_attr("keep_dims"):
        return t
    return apply_op("Reshape", [t, kept_dims_shape(op.inputs[0], op.inputs[1])])


def _min_or_max_grad(op, grad):
    """Indicators of the elements equal to the result, divided by how many there are."""
    x, axes = op.inputs
    y, g = _kept(op, op.outputs[0]), _kept(op, grad)
    indicators = apply_op("Cast", [apply_op("Equal", [y, x])], {"DstT": x.dtype.base})
    count = apply_op("Sum", [indicators, axes], {"keep_dims": True})
    return [apply_op("Mul", [apply_op("RealDiv", [indicators, count]), g]), None]


register_gradient("Max")(_min_or_max_grad)
register_gradient("Min")(_min_or_max_grad)


@register_gradient("EuclideanNorm")
def _euclidean_norm_grad(op, grad):
    """x / (norm / dy)."""
    norm, g = _kept(op, op.outputs[0]), _kept(op, grad)
    return [apply_op("RealDiv", [op.inputs[0], apply_op("RealDiv", [norm, g])]), None]


# -- Prod ---------------------------------------------------------------------------------------

def _prod_permutation(op):
    """(perm, number of reduced elements, number of kept elements) as int32 tensors: perm
    moves the reduced axes first."""
    x, axes = op.inputs
    rank = len(x.shape) if x.shape is not None else None
    static = reduction_axes(axes, rank)
    if static is not None:
        other = [i for i in range(rank) if i not in static]
        perm = convert_to_tensor(np.array(static + other, np.int32), DType.INT32)
        reduced, kept = _index_const(static), _index_const(other)
    else:
        r = apply_op("Rank", [x])
        flat = apply_op("Reshape", [apply_op("Cast", [axes], {"DstT": DType.INT32}), [-1]])
        wrapped = apply_op("FloorMod", [apply_op("AddV2", [flat, r]), r])
        hot = apply_op("Sum", [apply_op("OneHot", [wrapped, r, np.int32(1), np.int32(0)]), 0])
        others = apply_op("Where", [apply_op("Equal", [hot, np.int32(0)])])
        kept = apply_op("Cast", [apply_op("Reshape", [others, [-1]])], {"DstT": DType.INT32})
        reduced = apply_op("Reshape", [wrapped, [-1]])
        perm = apply_op("ConcatV2", [[reduced, kept], 0])
    shape = shape_of(x)
    sizes = [apply_op("Prod", [apply_op("GatherV2", [shape, idx, 0]), 0])
             for idx in (reduced, kept)]
    return perm, sizes[0], sizes[1]


def _index_const(values: list[int]):
    return convert_to_tensor(np.array(values, np.int32), DType.INT32)


@register_gradient("Prod")
def _prod_grad(op, grad):
    """dx = dy * prod(others): exclusive cumulative products from the left and from the right of
    the reduced elements, laid out as a [reduced, kept] matrix (works with zeros in x)."""
    x = op.inputs[0]
    dy = _broadcast_back(op, grad)
    perm, reduced_num, other_num = _prod_permutation(op)
    permuted = apply_op("Transpose", [x, perm])
    matrix = apply_op("Reshape", [permuted, apply_op("Pack", [[reduced_num, other_num]])])
    left = apply_op("Cumprod", [matrix, 0], {"exclusive": True})
    right = apply_op("Cumprod", [matrix, 0], {"exclusive": True, "reverse": True})
    others = apply_op("Reshape", [apply_op("Mul", [left, right]), shape_of(permuted)])
    unpermuted = apply_op("Transpose", [others, apply_op("InvertPermutation", [perm])])
    return [apply_op("Mul", [dy, unpermuted]), None]


for _name in ("ArgMax", "ArgMin", "All", "Any"):
    register_no_gradient(_name)
