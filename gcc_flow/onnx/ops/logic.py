"""Comparisons, logic, Where, IsNaN/IsInf, bitwise ops and Cast/CastLike.

    Less(a, b) -> Less;  LessOrEqual -> LessEqual;  Xor(a, b) -> NotEqual(a, b)
    IsInf(x, detect_negative=0) -> LogicalAnd(IsInf(x), Greater(x, 0))
    BitShift(direction="LEFT") -> LeftShift;  BitwiseNot -> Invert
    Cast(to=FLOAT8E4M3FN, saturate=1) -> Cast(Minimum(Maximum(x, -448), 448))
    (ONNX's saturation clamps to the largest finite float8; NaN stays NaN)

Cast follows TensorFlow's Cast, which is numpy's astype: float -> int truncates toward zero,
as ONNX's reference does. Strings are not converted (TensorFlow's Cast has no string cases).
"""
from __future__ import annotations

import ml_dtypes
import numpy as np

from gcc_flow import math_ops
from gcc_flow.framework import apply_op
from gcc_flow.onnx.context import ConvertContext, onnx_to_dtype
from gcc_flow.onnx.ops import converter
from schema.dtypes import DType

_COMPARE = {"Equal": "Equal", "Less": "Less", "Greater": "Greater",
            "LessOrEqual": "LessEqual", "GreaterOrEqual": "GreaterEqual"}


@converter(*_COMPARE)
def compare(ctx: ConvertContext, node) -> list:
    x, y = ctx.input(node, 0), ctx.input(node, 1)
    op = _COMPARE[node.op_type]
    if x.dtype == DType.BOOL and op != "Equal":  # order on bools: compare as integers
        x, y = math_ops.cast(x, DType.INT8), math_ops.cast(y, DType.INT8)
    return [ctx.apply(node, op, [x, y])]


_LOGIC = {"And": "LogicalAnd", "Or": "LogicalOr", "Xor": "NotEqual", "Not": "LogicalNot",
          "BitwiseAnd": "BitwiseAnd", "BitwiseOr": "BitwiseOr", "BitwiseXor": "BitwiseXor",
          "BitwiseNot": "Invert"}


@converter(*_LOGIC)
def logic(ctx: ConvertContext, node) -> list:
    values = [ctx.input(node, i) for i in range(len(node.input))]
    return [ctx.apply(node, _LOGIC[node.op_type], values)]


@converter("BitShift", since=11)
def bit_shift(ctx: ConvertContext, node) -> list:
    direction = ctx.attr(node, "direction", "")
    ops = {"LEFT": "LeftShift", "RIGHT": "RightShift"}
    if direction not in ops:
        raise ctx.fail(node, f"direction must be LEFT or RIGHT, got {direction!r}")
    return [ctx.apply(node, ops[direction], [ctx.input(node, 0), ctx.input(node, 1)])]


@converter("Where", since=9)
def where(ctx: ConvertContext, node) -> list:
    cond, x, y = ctx.input(node, 0), ctx.input(node, 1), ctx.input(node, 2)
    return [ctx.apply(node, "SelectV2", [cond, x, y])]


@converter("IsNaN", since=9)
def is_nan(ctx: ConvertContext, node) -> list:
    return [ctx.apply(node, "IsNan", [ctx.input(node, 0)])]


@converter("IsInf", since=10)
def is_inf(ctx: ConvertContext, node) -> list:
    x = ctx.input(node, 0)
    inf = ctx.apply(node, "IsInf", [x])
    positive = bool(ctx.attr(node, "detect_positive", 1))
    negative = bool(ctx.attr(node, "detect_negative", 1))
    if positive and negative:
        return [inf]
    if not positive and not negative:
        return [math_ops.logical_and(inf, math_ops.logical_not(inf))]
    zero = ctx.const(0, x.dtype)
    sign = math_ops.greater(x, zero) if positive else math_ops.less(x, zero)
    return [math_ops.logical_and(inf, sign)]


# -- Cast ----------------------------------------------------------------------------------------

_FLOAT8 = {DType.FLOAT8_E4M3FN, DType.FLOAT8_E4M3FNUZ, DType.FLOAT8_E5M2,
           DType.FLOAT8_E5M2FNUZ}


@converter("Cast")
def cast(ctx: ConvertContext, node) -> list:
    to = ctx.attr(node, "to")
    if to is None:
        raise ctx.fail(node, "has no 'to' attr")
    return [_cast(ctx, node, ctx.input(node, 0), onnx_to_dtype(to, "Cast target"))]


@converter("CastLike", since=15)
def cast_like(ctx: ConvertContext, node) -> list:
    return [_cast(ctx, node, ctx.input(node, 0), ctx.input(node, 1).dtype.base)]


def _cast(ctx: ConvertContext, node, x, target: DType):
    if DType.STRING in (x.dtype.base, target) and x.dtype.base != target:
        raise ctx.unsupported(node, f"from {x.dtype.tf_name} to {target.tf_name}")
    if ctx.attr(node, "round_mode", "up") != "up":
        raise ctx.unsupported(node, f"round_mode={ctx.attr(node, 'round_mode')!r}")
    if x.dtype.base == target:
        return apply_op("Identity", [x])
    if target in _FLOAT8 and ctx.attr(node, "saturate", 1):
        x = _saturate(ctx, x, target)
    return apply_op("Cast", [x], {"DstT": target})


def _saturate(ctx: ConvertContext, x, target: DType):
    """Clamps x to the target float8's finite range (NaN stays NaN)."""
    if not x.dtype.is_floating or x.dtype in _FLOAT8:
        x = math_ops.cast(x, DType.FLOAT)
    largest = float(ml_dtypes.finfo(target.np).max)
    lo, hi = ctx.const(np.asarray(-largest, x.dtype.np)), ctx.const(np.asarray(largest,
                                                                               x.dtype.np))
    return math_ops.minimum(math_ops.maximum(x, lo), hi)
