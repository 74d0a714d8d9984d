"""Constants and placeholders.

    gf.constant([[1., 2.]])              -> Const f32[1,2]
    gf.constant(0, gf.float32, [2, 2])   -> Const f32[2,2] of zeros
    gf.placeholder(gf.float32, [None, 3])
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from gcc_flow.framework import Tensor, apply_op
from schema.dtypes import DType
from schema.errors import ValidationError

__all__ = ["constant", "placeholder", "placeholder_with_default"]


def _default_dtype(arr: np.ndarray) -> DType:
    """Python floats become float32 and ints int32, as in TensorFlow."""
    if arr.dtype == np.float64:
        return DType.FLOAT
    if arr.dtype == np.int64:
        return DType.INT32
    if arr.dtype.kind in "SUO":
        return DType.STRING
    return DType.from_numpy(arr.dtype)


def constant(value, dtype: Optional[DType] = None, shape=None, name: str = "Const") -> Tensor:
    if isinstance(value, np.ndarray) and dtype is None:
        dtype = DType.from_numpy(value.dtype)
    if dtype is None:
        dtype = _default_dtype(np.asarray(value))
    if isinstance(dtype, str):
        dtype = DType.parse(dtype)
    if dtype == DType.STRING:
        arr = np.asarray(value, dtype=object)
        arr = np.vectorize(lambda v: v.encode() if isinstance(v, str) else v,
                           otypes=[object])(arr) if arr.size else arr
    else:
        arr = np.asarray(value)
        if arr.dtype.kind == "f" and dtype.is_integer:
            raise ValidationError(f"cannot make an {dtype.tf_name} constant from {value!r:.60}")
        arr = arr.astype(dtype.np)
    if shape is not None:
        shape = tuple(int(d) for d in shape)
        if arr.size == 1:
            arr = np.broadcast_to(arr.reshape(()), shape).copy()
        elif arr.size == int(np.prod(shape)):
            arr = arr.reshape(shape)
        else:
            raise ValidationError(f"cannot make a constant of shape {list(shape)} from "
                                  f"{arr.size} values")
    return apply_op("Const", [], {"value": arr, "dtype": dtype}, name=name)


def _shape(shape):
    if shape is None:
        return None
    return tuple(None if d is None or d == -1 else int(d) for d in shape)


def placeholder(dtype, shape=None, name: Optional[str] = None) -> Tensor:
    dtype = DType.parse(dtype) if isinstance(dtype, str) else dtype
    return apply_op("Placeholder", [], {"dtype": dtype, "shape": _shape(shape)},
                    name=name or "Placeholder")


def placeholder_with_default(input, shape, name: Optional[str] = None) -> Tensor:
    from gcc_flow.framework import convert_to_tensor
    value = convert_to_tensor(input)
    return apply_op("PlaceholderWithDefault", [value], {"shape": _shape(shape)},
                    name=name or "PlaceholderWithDefault")
