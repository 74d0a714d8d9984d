"""Small graph-building helpers shared by the nn and tensor converters.

ONNX passes shapes, axes and indices as int64 tensors that are usually constants; these helpers
read them statically when they can and otherwise build the TensorFlow ops that compute them:

    ints = static_ints(ctx, ctx.input(node, 1))      # [2, -1] for a Const, None for a feed
    dims = shape_of(ctx, x)                          # Const int64 [2, 3] when x's shape is known,
                                                     # Shape(x) out_type=int64 otherwise
    axis = norm_axis(ctx, node, -1, rank)            # 3 for rank 4; ctx.fail when out of range
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from onnx import helper as onnx_helper

from gcc_flow.constant_op import constant
from gcc_flow.framework import Tensor, apply_op
from schema.dtypes import DType
from schema.limits import DEFAULT_LIMITS
from schema.tensors import check_byte_budget

__all__ = ["const", "static_ints", "static_shape", "known_rank", "shape_of", "norm_axis",
           "norm_axes", "onnx_dtype", "transpose", "reshape", "cast", "to_int64", "expand_dims",
           "squeeze", "strided_slice", "concat", "rank_of", "dim_of", "static_scalar",
           "same_type_const", "empty", "requantize", "check_const_size", "INT64_MAX"]

INT64_MAX = np.iinfo(np.int64).max


def const(ctx, value, dtype: Optional[DType] = None) -> Tensor:
    """A Const in the graph being imported; numpy arrays keep their dtype unless ``dtype``."""
    if dtype is None and isinstance(value, (np.ndarray, np.generic)):
        dtype = DType.from_numpy(value.dtype)
    with ctx.graph.as_default():
        return constant(np.asarray(value) if dtype is None else np.asarray(value, dtype.np),
                        dtype)


def check_const_size(ctx, node, shape, itemsize: int = 8) -> None:
    """LimitExceeded before an import-time constant of ``shape`` is built: its size comes from
    the model (declared shapes, pads), which may be hostile."""
    limits = getattr(ctx, "limits", DEFAULT_LIMITS)
    check_byte_budget([int(d) for d in shape], itemsize, limits,
                      what=f"constant made for node {node.name or node.op_type!r}")


def empty(ctx, dtype: DType) -> Tensor:
    """An absent optional input of an extension op: a Const of shape [0]."""
    return const(ctx, np.zeros((0,), dtype.np), dtype)


def same_type_const(ctx, value, like: Tensor) -> Tensor:
    """A Const of ``like``'s dtype: same_type_const(ctx, 1, x_f16) -> Const f16 1."""
    return const(ctx, np.asarray(value, like.dtype.np), like.dtype)


def static_ints(ctx, tensor: Optional[Tensor]) -> Optional[list[int]]:
    """The values of an integer tensor known at import time, flattened; None otherwise."""
    value = ctx.static_value(tensor)
    if value is None:
        return None
    return [int(v) for v in np.asarray(value).reshape(-1)]


def static_scalar(ctx, tensor: Optional[Tensor]):
    value = ctx.static_value(tensor)
    if value is None or np.size(value) != 1:
        return None
    return np.asarray(value).reshape(-1)[0].item()


def static_shape(tensor: Tensor) -> Optional[tuple]:
    """The fully known shape, or None when the rank or any dim is unknown."""
    shape = tensor.shape
    if shape is None or any(d is None for d in shape):
        return None
    return tuple(int(d) for d in shape)


def rank_of(tensor: Tensor) -> Optional[int]:
    return None if tensor.shape is None else len(tensor.shape)


def known_rank(ctx, node, tensor: Tensor) -> int:
    rank = rank_of(tensor)
    if rank is None:
        raise ctx.unsupported(node, "on an input of unknown rank")
    return rank


def norm_axis(ctx, node, axis: int, rank: int, what: str = "axis", extra: int = 0) -> int:
    """-1 -> rank - 1; ``extra`` widens the range (Unsqueeze counts the new axes)."""
    size = rank + extra
    if not -size <= axis < max(size, 1):
        raise ctx.fail(node, f"{what} {axis} is out of range for rank {rank}")
    return axis + size if axis < 0 else axis


def norm_axes(ctx, node, axes: Sequence[int], rank: int, what: str = "axes") -> list[int]:
    out = [norm_axis(ctx, node, a, rank, what) for a in axes]
    if len(set(out)) != len(out):
        raise ctx.fail(node, f"{what} {list(axes)} repeat an axis")
    return out


def onnx_dtype(ctx, node, elem_type: int) -> DType:
    """An ONNX TensorProto.DataType as a gcc-flow DType: 1 (FLOAT) -> float32."""
    try:
        return DType.from_numpy(onnx_helper.tensor_dtype_to_np_dtype(int(elem_type)))
    except Exception:
        raise ctx.unsupported(node, f"with data type {elem_type}") from None


def shape_of(ctx, tensor: Tensor, dtype: DType = DType.INT64) -> Tensor:
    """The shape as a 1-D tensor: a Const when it is fully known, Shape otherwise."""
    shape = static_shape(tensor)
    if shape is not None:
        return const(ctx, np.array(shape, dtype.np), dtype)
    return apply_op("Shape", [tensor], {"out_type": dtype})


def dim_of(ctx, tensor: Tensor, axis: int, dtype: DType = DType.INT64) -> Tensor:
    """One dim as a scalar tensor (a Const when it is known)."""
    if tensor.shape is not None and tensor.shape[axis] is not None:
        return const(ctx, np.array(tensor.shape[axis], dtype.np), dtype)
    return strided_slice(ctx, shape_of(ctx, tensor, dtype), [axis], [axis + 1], [1],
                         shrink_axis_mask=1)


def transpose(ctx, x: Tensor, perm: Sequence[int]) -> Tensor:
    if list(perm) == list(range(len(perm))):
        return x
    return apply_op("Transpose", [x, const(ctx, np.array(perm, np.int32))])


def reshape(ctx, x: Tensor, shape) -> Tensor:
    """shape: a list of ints (one may be -1) or an int64 tensor."""
    if not isinstance(shape, Tensor):
        if static_shape(x) == tuple(shape):
            return x
        shape = const(ctx, np.array(shape, np.int64))
    return apply_op("Reshape", [x, shape])


def cast(x: Tensor, dtype: DType) -> Tensor:
    if x.dtype.base == dtype:
        return x
    return apply_op("Cast", [x], {"DstT": dtype})


def to_int64(ctx, x: Tensor, flatten: bool = False) -> Tensor:
    """An index tensor as int64 (ONNX allows int32 too); ``flatten`` reshapes it to 1-D."""
    x = cast(x, DType.INT64)
    return reshape(ctx, x, [-1]) if flatten and (x.shape is None or len(x.shape) != 1) else x


def expand_dims(ctx, x: Tensor, axis: int) -> Tensor:
    return apply_op("ExpandDims", [x, const(ctx, np.int32(axis))])


def squeeze(x: Tensor, axes: Sequence[int]) -> Tensor:
    return apply_op("Squeeze", [x], {"squeeze_dims": [int(a) for a in axes]})


def strided_slice(ctx, x: Tensor, begin, end, strides, **masks) -> Tensor:
    """StridedSlice with int64 begin/end/strides (lists become Consts)."""
    args = [v if isinstance(v, Tensor) else const(ctx, np.array(v, np.int64))
            for v in (begin, end, strides)]
    return apply_op("StridedSlice", [x] + args, masks)


def concat(ctx, values: Sequence[Tensor], axis: int) -> Tensor:
    values = list(values)
    if len(values) == 1:
        return values[0]
    return apply_op("ConcatV2", [values, const(ctx, np.int32(axis))])


def requantize(ctx, accumulated: Tensor, scale: Tensor, zero_point: Optional[Tensor],
               out_type: DType) -> Tensor:
    """int32 accumulator -> quantized: clip(rint(acc * scale + zero_point)) as ``out_type``.

    Computed in float64, as onnx's reference does: int32 times a float16/32 scale in numpy.
    requantize(ctx, [300], 0.5, 3, uint8) -> [153]
    """
    value = apply_op("Mul", [cast(accumulated, DType.DOUBLE), cast(scale, DType.DOUBLE)])
    if zero_point is not None:
        value = apply_op("AddV2", [value, cast(zero_point, DType.DOUBLE)])
    info = np.iinfo(out_type.np)
    low, high = (const(ctx, np.float64(v)) for v in (info.min, info.max))
    return cast(apply_op("ClipByValue", [apply_op("Round", [value]), low, high]), out_type)
