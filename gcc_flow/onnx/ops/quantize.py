"""QuantizeLinear, DequantizeLinear and BitCast.

    QuantizeLinear(x, s, z: uint8)   -> Cast(ClipByValue(Cast(Round(x / s), int32) + z, 0, 255))
    QuantizeLinear(x, s, z: float8)  -> Cast(Minimum(Maximum(x / s, -max), max)), saturate=1
    DequantizeLinear(q, s, z)        -> (Cast(q, float32) - Cast(z, float32)) * s
    BitCast(x, to=INT32)             -> Bitcast(x, type=int32)

The scale and zero point are per tensor (a scalar or one value), per axis (1-D along ``axis``,
reshaped to broadcast) or blocked (``block_size``: the input's rank, repeated block_size times
along ``axis`` by a GatherV2 of Range(D) // block_size). Round is half to even; the integer
sum is clipped to the output type's range, as onnx's reference computes it. DequantizeLinear
works in float32 (float64 for a double scale) and returns the scale's type, or
``output_dtype``. DynamicQuantizeLinear expands into its ONNX function body, which uses these.
"""
from __future__ import annotations

from typing import Optional

import ml_dtypes
import numpy as np

from gcc_flow.framework import Tensor, apply_op
from gcc_flow.onnx.context import ConvertContext, onnx_to_dtype
from gcc_flow.onnx.ops import converter
from gcc_flow.onnx.ops.tf_graph import (cast, const, dim_of, norm_axis, reshape, rank_of,
                                        static_shape)
from schema.dtypes import DType

__all__ = ["FLOAT8", "INTEGER_RANGES"]

FLOAT8 = frozenset({DType.FLOAT8_E4M3FN, DType.FLOAT8_E4M3FNUZ, DType.FLOAT8_E5M2,
                    DType.FLOAT8_E5M2FNUZ})
INTEGER_RANGES = {dtype: (int(ml_dtypes.iinfo(dtype.np).min), int(ml_dtypes.iinfo(dtype.np).max))
                  for dtype in (DType.UINT8, DType.INT8, DType.UINT16, DType.INT16,
                                DType.UINT4, DType.INT4, DType.UINT2, DType.INT2)}
# The rounded quotient is clipped to this before the int32 sum with the zero point: wider
# than every output range plus any zero point, and never an int32 overflow.
_SUM_BOUND = float(1 << 20)


# -- scale and zero point ----------------------------------------------------------------------

def _broadcastable(ctx, node, param: Optional[Tensor], x: Tensor, axis: int,
                   block: int) -> Optional[Tensor]:
    """A scale or zero point shaped to broadcast against ``x`` (see the module doc)."""
    if param is None or rank_of(param) == 0:
        return param
    shape = static_shape(param)
    if shape is not None and int(np.prod(shape)) == 1:   # one value: per tensor
        return reshape(ctx, param, [])
    rank = rank_of(x)
    if rank is None or rank_of(param) is None:
        raise ctx.unsupported(node, "with per-axis parameters on an input of unknown rank")
    axis = norm_axis(ctx, node, axis, rank)
    if block > 0:
        if rank_of(param) != rank:
            raise ctx.fail(node, f"blocked quantization needs parameters of rank {rank}, got "
                                 f"shape {list(param.shape)}")
        return apply_op("GatherV2", [param, _block_index(ctx, x, axis, block),
                                     const(ctx, np.int32(axis))])
    if rank_of(param) != 1:
        raise ctx.fail(node, f"per-axis parameters must be 1-D, got shape {list(param.shape)}")
    dims = [1] * rank
    dims[axis] = -1
    return reshape(ctx, param, dims)


def _block_index(ctx, x: Tensor, axis: int, block: int) -> Tensor:
    """[0, .., 0, 1, .., 1, ...]: the block of each position along ``axis``."""
    if x.shape[axis] is not None:
        return const(ctx, np.arange(x.shape[axis], dtype=np.int64) // block)
    positions = apply_op("Range", [const(ctx, np.int64(0)), dim_of(ctx, x, axis),
                                   const(ctx, np.int64(1))])
    return apply_op("FloorDiv", [positions, const(ctx, np.int64(block))])


def _block_size(ctx, node) -> int:
    block = int(ctx.attr(node, "block_size", 0))
    if block < 0:
        raise ctx.fail(node, f"block_size must be >= 0, got {block}")
    return block


def _attr_dtype(ctx, node, name: str) -> Optional[DType]:
    value = int(ctx.attr(node, name, 0) or 0)
    return onnx_to_dtype(value, f"{node.op_type} {name}") if value else None


# -- QuantizeLinear ----------------------------------------------------------------------------

@converter("QuantizeLinear", since=10)
def quantize_linear(ctx: ConvertContext, node) -> list:
    x, scale, zero = ctx.input(node, 0), ctx.input(node, 1), ctx.input(node, 2)
    target = _quantized_type(ctx, node, zero)
    axis, block = int(ctx.attr(node, "axis", 1)), _block_size(ctx, node)
    compute = _attr_dtype(ctx, node, "precision") or scale.dtype.base
    if not compute.is_floating:
        raise ctx.unsupported(node, f"with a {compute.tf_name} scale")
    scale = _broadcastable(ctx, node, scale, x, axis, block)
    quotient = apply_op("RealDiv", [cast(x, compute), cast(scale, compute)])
    if target in FLOAT8:
        if ctx.attr(node, "saturate", 1):
            quotient = _clamp_float8(ctx, quotient, target)
        return [cast(quotient, target)]
    low, high = INTEGER_RANGES[target]
    bound = min(_SUM_BOUND, float(ml_dtypes.finfo(compute.np).max))
    rounded = apply_op("ClipByValue", [apply_op("Round", [quotient]),
                                       const(ctx, np.asarray(-bound, compute.np)),
                                       const(ctx, np.asarray(bound, compute.np))])
    value = cast(rounded, DType.INT32)
    if zero is not None:
        zero = _broadcastable(ctx, node, zero, x, axis, block)
        value = apply_op("AddV2", [value, cast(zero, DType.INT32)])
    clipped = apply_op("ClipByValue", [value, const(ctx, np.int32(low)),
                                       const(ctx, np.int32(high))])
    return [cast(clipped, target)]


def _quantized_type(ctx, node, zero: Optional[Tensor]) -> DType:
    """The zero point's type, else ``output_dtype``, else uint8; both given must agree."""
    declared = _attr_dtype(ctx, node, "output_dtype")
    target = zero.dtype.base if zero is not None else (declared or DType.UINT8)
    if declared is not None and declared != target:
        raise ctx.fail(node, f"output_dtype {declared.tf_name} differs from the zero point's "
                             f"type {target.tf_name}")
    if target not in FLOAT8 and target not in INTEGER_RANGES:
        raise ctx.unsupported(node, f"to {target.tf_name}")
    return target


def _clamp_float8(ctx, x: Tensor, target: DType) -> Tensor:
    """ONNX's saturation: into the float8's finite range (infinities too); NaN stays NaN."""
    largest = float(ml_dtypes.finfo(target.np).max)
    low, high = (const(ctx, np.asarray(v, x.dtype.np)) for v in (-largest, largest))
    return apply_op("Minimum", [apply_op("Maximum", [x, low]), high])


# -- DequantizeLinear --------------------------------------------------------------------------

@converter("DequantizeLinear", since=10)
def dequantize_linear(ctx: ConvertContext, node) -> list:
    x, scale, zero = ctx.input(node, 0), ctx.input(node, 1), ctx.input(node, 2)
    if not scale.dtype.is_floating:
        raise ctx.unsupported(node, f"with a {scale.dtype.tf_name} scale")
    axis, block = int(ctx.attr(node, "axis", 1)), _block_size(ctx, node)
    out_type = _attr_dtype(ctx, node, "output_dtype") or scale.dtype.base
    compute = DType.DOUBLE if scale.dtype.base == DType.DOUBLE else DType.FLOAT
    value = cast(x, compute)
    if zero is not None and x.dtype.base not in FLOAT8:   # float8 zero points are 0
        zero = _broadcastable(ctx, node, zero, x, axis, block)
        value = apply_op("Sub", [value, cast(zero, compute)])
    scale = _broadcastable(ctx, node, scale, x, axis, block)
    return [cast(apply_op("Mul", [value, cast(scale, compute)]), out_type)]


# -- BitCast -----------------------------------------------------------------------------------

@converter("BitCast", since=26)
def bit_cast(ctx: ConvertContext, node) -> list:
    """Same bits, another type of the same width; bool <-> 8-bit ints as a Cast (0 and 1)."""
    x = ctx.input(node, 0)
    target = onnx_to_dtype(int(ctx.attr(node, "to", 0) or 0), "BitCast target")
    source = x.dtype.base
    if source == target:
        return [apply_op("Identity", [x])]
    if source.np.itemsize != target.np.itemsize or _sub_byte(source) or _sub_byte(target):
        raise ctx.unsupported(node, f"from {source.tf_name} to {target.tf_name}")
    if DType.BOOL in (source, target):
        return [cast(x, target)]
    return [ctx.apply(node, "Bitcast", [x], {"type": target})]


def _sub_byte(dtype: DType) -> bool:
    """int4/uint4/int2/uint2: numpy keeps one per byte, so a byte view is not their bits."""
    return dtype in (DType.INT4, DType.UINT4, DType.INT2, DType.UINT2)
