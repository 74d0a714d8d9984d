"""Reductions with TensorFlow's Python names and signatures.

    gf.reduce_sum(x, axis=1, name="s")   -> Const "s/reduction_indices" = 1, Sum "s"(x, ...)
    gf.reduce_mean(x)                    -> Const "Const" = [0, 1, ..., rank-1], Mean(x, Const)
    gf.argmax(x, axis=-1)                -> Const "ArgMax/dimension" = -1, ArgMax int64

``axis=None`` reduces over every axis (a Range over Rank(x) when the rank is unknown); an empty
list reduces over nothing; negative axes count from the end.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from gcc_flow.constant_op import constant
from gcc_flow.framework import Tensor, apply_op, convert_to_tensor
from schema.dtypes import DType

__all__ = ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod",
           "reduce_all", "reduce_any", "reduce_euclidean_norm", "argmax", "argmin"]


def _index_const(values, name: str) -> Tensor:
    """An int32 Const of axis values (int64 when they do not fit), named as TensorFlow does."""
    arr = np.asarray(values)
    if arr.size == 0:
        arr = arr.astype(np.int32)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"axis must be integers, got {values!r:.60}")
    fits = arr.size == 0 or (arr.min() >= -2**31 and arr.max() < 2**31)
    arr = arr.astype(np.int32 if fits else np.int64)
    return constant(arr, dtype=DType.from_numpy(arr.dtype), name=name)


def _all_axes(x: Tensor) -> Tensor:
    """[0, ..., rank-1] as a Const when the rank is known, else Range(0, Rank(x), 1)."""
    if x.shape is not None:
        return constant(np.arange(len(x.shape), dtype=np.int32), dtype=DType.INT32)
    return apply_op("Range", [0, apply_op("Rank", [x]), 1])


def _axis_tensor(x: Tensor, axis, op_name: str, input_name: str) -> Tensor:
    if axis is None:
        return _all_axes(x)
    if isinstance(axis, Tensor) or hasattr(axis, "_as_tensor"):
        return convert_to_tensor(axis)
    return _index_const(axis, f"{op_name}/{input_name}")


def _reduction(op_type: str, python_name: str, doc: str):
    def reduce(input_tensor, axis=None, keepdims: bool = False,
               name: Optional[str] = None) -> Tensor:
        x = convert_to_tensor(input_tensor)
        op_name = name or op_type
        axes = _axis_tensor(x, axis, op_name, "reduction_indices")
        return apply_op(op_type, [x, axes], {"keep_dims": bool(keepdims)}, name=op_name)
    reduce.__name__ = python_name
    reduce.__doc__ = (f"{doc} over ``axis`` (all axes when None), as tf.math.{python_name}; "
                      f"``keepdims`` keeps reduced axes with size 1.")
    return reduce


reduce_sum = _reduction("Sum", "reduce_sum", "Sum")
reduce_mean = _reduction("Mean", "reduce_mean",
                         "Mean (integer inputs: truncating integer division)")
reduce_max = _reduction("Max", "reduce_max", "Maximum")
reduce_min = _reduction("Min", "reduce_min", "Minimum")
reduce_prod = _reduction("Prod", "reduce_prod", "Product")
reduce_all = _reduction("All", "reduce_all", "Logical and of a bool tensor")
reduce_any = _reduction("Any", "reduce_any", "Logical or of a bool tensor")
reduce_euclidean_norm = _reduction("EuclideanNorm", "reduce_euclidean_norm", "Euclidean norm")


def _arg_reduction(op_type: str, python_name: str, extreme: str):
    def arg(input, axis=None, output_type: DType = DType.INT64,
            name: Optional[str] = None) -> Tensor:
        x = convert_to_tensor(input)
        op_name = name or op_type
        dimension = _axis_tensor(x, 0 if axis is None else axis, op_name, "dimension")
        output_type = DType.parse(output_type) if isinstance(output_type, str) else output_type
        return apply_op(op_type, [x, dimension], {"output_type": output_type}, name=op_name)
    arg.__name__ = python_name
    arg.__doc__ = (f"Index of the first {extreme} value along ``axis`` (0 when None), as "
                   f"tf.math.{python_name}.")
    return arg


argmax = _arg_reduction("ArgMax", "argmax", "largest")
argmin = _arg_reduction("ArgMin", "argmin", "smallest")
