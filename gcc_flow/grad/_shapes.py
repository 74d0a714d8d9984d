"""Shape plumbing the gradient functions share: broadcasting reductions, kept-dims shapes,
static shapes and constants of a tensor's dtype.

    x f32[2, 3] + y f32[3]: reduce_to_inputs(x, y, g, g)
      -> g, Reshape(Sum(g, r1), Shape(y)) where r0, r1 = BroadcastGradientArgs(Shape(x), Shape(y))
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from gcc_flow import array_ops
from gcc_flow.framework import Tensor, apply_op, convert_to_tensor
from schema.dtypes import DType
from schema.infer import static_value

__all__ = ["const_like", "fully_defined", "shape_of", "reduce_to_inputs", "sum_to_shape",
           "static_ints", "kept_dims_shape", "reduction_axes"]


def const_like(value, like: Tensor) -> Tensor:
    """A scalar Const of ``like``'s dtype: const_like(2, x f64) -> Const 2.0 (double)."""
    return convert_to_tensor(np.asarray(value, like.dtype.base.np), like.dtype.base)


def fully_defined(t: Tensor) -> Optional[tuple]:
    shape = t.shape
    return shape if shape is not None and all(d is not None for d in shape) else None


def shape_of(t: Tensor, out_type: DType = DType.INT32) -> Tensor:
    """Shape(t): a Const when the shape is fully known (TensorFlow's shape(optimize=True))."""
    return array_ops.shape(t, out_type=out_type)


def static_ints(t: Tensor) -> Optional[list[int]]:
    """The values of an integer tensor known at build time (a Const, Shape of a known shape)."""
    value = static_value(t._ref)
    return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]


def sum_to_shape(grad: Optional[Tensor], axes: Tensor, shape: Tensor) -> Optional[Tensor]:
    """Reshape(Sum(grad, axes), shape); None stays None."""
    if grad is None:
        return None
    return apply_op("Reshape", [apply_op("Sum", [grad, axes]), shape])


def reduce_to_inputs(x: Tensor, y: Tensor, gx: Optional[Tensor], gy: Optional[Tensor]):
    """The gradients of a broadcasting binary op summed back to the shapes of x and y, as
    TensorFlow: nothing when both shapes are known and equal, else BroadcastGradientArgs."""
    if fully_defined(x) is not None and x.shape == y.shape:
        return gx, gy
    sx, sy = shape_of(x), shape_of(y)
    rx, ry = apply_op("BroadcastGradientArgs", [sx, sy])
    return sum_to_shape(gx, rx, sx), sum_to_shape(gy, ry, sy)


def reduction_axes(axes: Tensor, rank: Optional[int]) -> Optional[list[int]]:
    """The non-negative axes of a reduction when they and the rank are known at build time."""
    values = static_ints(axes)
    if values is None or rank is None:
        return None
    return sorted({a % rank for a in values}) if rank else []


def kept_dims_shape(x: Tensor, axes: Tensor) -> Tensor:
    """x's shape with 1 at the reduced axes (TensorFlow's math_ops.reduced_shape).

    f32[2, 3, 4] reduced over [1] -> Const [2, 1, 4]; with unknown sizes or axes the same
    vector computed in the graph: shape * (1 - mask) + mask, mask = Sum(OneHot(axes mod rank)).
    """
    rank = len(x.shape) if x.shape is not None else None
    static_axes = reduction_axes(axes, rank)
    full = fully_defined(x)
    if full is not None and static_axes is not None:
        kept = [1 if i in static_axes else d for i, d in enumerate(full)]
        return convert_to_tensor(np.array(kept, np.int32), DType.INT32)
    shape = shape_of(x)
    if static_axes is not None:
        mask = np.array([1 if i in static_axes else 0 for i in range(rank)], np.int32)
    else:
        size = array_ops.size(shape)
        flat = apply_op("Reshape", [apply_op("Cast", [axes], {"DstT": DType.INT32}),
                                    convert_to_tensor(np.array([-1], np.int32))])
        wrapped = apply_op("FloorMod", [flat, size])
        hot = apply_op("OneHot", [wrapped, size, convert_to_tensor(np.int32(1)),
                                  convert_to_tensor(np.int32(0))])
        mask = apply_op("Minimum", [apply_op("Sum", [hot, convert_to_tensor(np.int32(0))]),
                                    convert_to_tensor(np.int32(1))])
    mask = convert_to_tensor(mask, DType.INT32)
    keep = apply_op("Sub", [convert_to_tensor(np.int32(1)), mask])
    return apply_op("AddV2", [apply_op("Mul", [shape, keep]), mask])
