"""Elementwise math: arithmetic with ONNX (numpy) broadcasting, unary functions, variadic
Max/Min/Sum/Mean, Clip, Einsum, Det, and the value makers Constant, ConstantOfShape, Range,
Identity.

    Add(a, b) -> AddV2;  Div(int a, int b) -> TruncateDiv (ONNX truncates);  Div(float) -> RealDiv
    Mod(fmod=0) -> FloorMod (sign of the divisor);  Mod(fmod=1) -> TruncateMod (C fmod)
    Pow(f32 x, i64 y) -> Pow(x, Cast(y));  Pow(i32 x, f32 y) -> Cast(Pow(f64 x, f64 y), i32)
    Sum(a, b, c) -> AddV2(AddV2(a, b), c)   (AddN needs equal shapes; ONNX broadcasts)
"""
from __future__ import annotations

import functools

import numpy as np

from gcc_flow import math_ops
from gcc_flow.framework import apply_op
from gcc_flow.onnx.context import ConvertContext
from gcc_flow.onnx.ops import converter
from schema.dtypes import DType

_BINARY = {"Add": "AddV2", "Sub": "Sub", "Mul": "Mul"}


@converter(*_BINARY)
def arithmetic(ctx: ConvertContext, node) -> list:
    x, y = ctx.input(node, 0), ctx.input(node, 1)
    return [ctx.apply(node, _BINARY[node.op_type], [x, y])]


@converter("Div")
def div(ctx: ConvertContext, node) -> list:
    x, y = ctx.input(node, 0), ctx.input(node, 1)
    op = "TruncateDiv" if x.dtype.is_integer else "RealDiv"
    return [ctx.apply(node, op, [x, y])]


@converter("Mod", since=10)
def mod(ctx: ConvertContext, node) -> list:
    x, y = ctx.input(node, 0), ctx.input(node, 1)
    op = "TruncateMod" if ctx.attr(node, "fmod", 0) else "FloorMod"
    return [ctx.apply(node, op, [x, y])]


_POW_TYPES = {DType.FLOAT, DType.DOUBLE, DType.HALF, DType.BFLOAT16, DType.INT32, DType.INT64}


@converter("Pow")
def power(ctx: ConvertContext, node) -> list:
    """Output dtype is the base's; the exponent is cast to it, or both go through float64
    when that would lose the exponent's fraction (int base, float exponent)."""
    x, y = ctx.input(node, 0), ctx.input(node, 1)
    if x.dtype in _POW_TYPES and (x.dtype.is_floating or y.dtype.is_integer):
        return [ctx.apply(node, "Pow", [x, math_ops.cast(y, x.dtype)])]
    wide = math_ops.cast(x, DType.DOUBLE), math_ops.cast(y, DType.DOUBLE)
    return [math_ops.cast(apply_op("Pow", list(wide)), x.dtype)]


# ONNX unary op -> TensorFlow op of the same meaning.
_UNARY = {
    "Neg": "Neg", "Abs": "Abs", "Sign": "Sign", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt",
    "Reciprocal": "Reciprocal", "Floor": "Floor", "Ceil": "Ceil", "Round": "Round",
    "Sin": "Sin", "Cos": "Cos", "Tan": "Tan", "Asin": "Asin", "Acos": "Acos", "Atan": "Atan",
    "Sinh": "Sinh", "Cosh": "Cosh", "Asinh": "Asinh", "Acosh": "Acosh", "Atanh": "Atanh",
    "Erf": "Erf", "Tanh": "Tanh", "Sigmoid": "Sigmoid", "Softsign": "Softsign",
    "Softplus": "Softplus", "Relu": "Relu", "Identity": "Identity",
}


@converter(*_UNARY)
def unary(ctx: ConvertContext, node) -> list:
    x = ctx.input(node, 0)
    if node.op_type == "Abs" and x.dtype.is_integer and not _is_signed(x.dtype):
        return [apply_op("Identity", [x])]  # |x| of an unsigned integer is x
    if node.op_type == "Neg" and x.dtype.is_integer and not _is_signed(x.dtype):
        raise ctx.unsupported(node, f"for unsigned dtype {x.dtype.tf_name}")
    return [ctx.apply(node, _UNARY[node.op_type], [x])]


def _is_signed(dtype: DType) -> bool:
    return np.issubdtype(dtype.np, np.signedinteger)


# -- variadic ------------------------------------------------------------------------------------

_VARIADIC = {"Max": "Maximum", "Min": "Minimum", "Sum": "AddV2", "Mean": "AddV2"}


@converter(*_VARIADIC)
def variadic(ctx: ConvertContext, node) -> list:
    """Max/Min/Sum/Mean over any number of broadcast inputs, folded pairwise."""
    values = [t for t in ctx.inputs(node) if t is not None]
    if not values:
        raise ctx.fail(node, "needs at least one input")
    op = _VARIADIC[node.op_type]
    if len(values) == 1:
        result = apply_op("Identity", [values[0]])
    else:
        result = functools.reduce(lambda a, b: ctx.apply(node, op, [a, b]), values)
    if node.op_type == "Mean":
        result = ctx.apply(node, "RealDiv", [result, ctx.const(len(values), result.dtype)])
    return [result]


# -- Clip ----------------------------------------------------------------------------------------

@converter("Clip")
def clip_attrs(ctx: ConvertContext, node) -> list:
    """Opsets 6-10: bounds in the attrs min/max (defaults: the float range)."""
    x = ctx.input(node, 0)
    lo = ctx.attr(node, "min", float(np.finfo(np.float32).min))
    hi = ctx.attr(node, "max", float(np.finfo(np.float32).max))
    return [_clip(ctx, node, x, ctx.const(lo, x.dtype), ctx.const(hi, x.dtype))]


@converter("Clip", since=11)
def clip_inputs(ctx: ConvertContext, node) -> list:
    """Opset 11+: optional inputs min and max (absent: no bound). min > max gives max."""
    x, lo, hi = ctx.input(node, 0), ctx.input(node, 1), ctx.input(node, 2)
    return [_clip(ctx, node, x, lo, hi)]


def _clip(ctx: ConvertContext, node, x, lo, hi):
    if lo is not None:
        x = ctx.apply(node, "Maximum", [x, lo])
    if hi is not None:
        x = ctx.apply(node, "Minimum", [x, hi])
    return x if lo is not None or hi is not None else apply_op("Identity", [x])


# -- linear algebra ------------------------------------------------------------------------------

@converter("Einsum", since=12)
def einsum(ctx: ConvertContext, node) -> list:
    equation = ctx.attr(node, "equation", "").replace(" ", "")
    values = [t for t in ctx.inputs(node) if t is not None]
    return [ctx.apply(node, "Einsum", [values], {"equation": equation})]


@converter("Det", since=11)
def det(ctx: ConvertContext, node) -> list:
    return [ctx.apply(node, "MatrixDeterminant", [ctx.input(node, 0)])]


# -- value makers --------------------------------------------------------------------------------

_CONSTANT_ATTRS = {
    "value": lambda v: v, "value_float": lambda v: np.float32(v),
    "value_floats": lambda v: np.asarray(v, np.float32), "value_int": lambda v: np.int64(v),
    "value_ints": lambda v: np.asarray(v, np.int64),
    "value_string": lambda v: np.asarray(v.encode(), dtype=object),
    "value_strings": lambda v: np.asarray([s.encode() for s in v] or np.zeros(0), dtype=object),
}


@converter("Constant")
def constant(ctx: ConvertContext, node) -> list:
    """Exactly one of value, value_float(s), value_int(s), value_string(s); sparse_value is
    not supported."""
    given = [a.name for a in node.attribute]
    if len(given) != 1:
        raise ctx.fail(node, f"needs exactly one value attr, has {given}")
    name = given[0]
    if name not in _CONSTANT_ATTRS:
        raise ctx.unsupported(node, f"attr {name!r}")
    if name in ("value_string", "value_strings"):
        raw = next(a for a in node.attribute if a.name == name)
        values = [raw.s] if name == "value_string" else list(raw.strings)
        value = np.empty(len(values), dtype=object)
        value[:] = [bytes(v) for v in values]
        return [ctx.const(value.reshape(()) if name == "value_string" else value)]
    return [ctx.const(_CONSTANT_ATTRS[name](ctx.attr(node, name)))]


@converter("ConstantOfShape", since=9)
def constant_of_shape(ctx: ConvertContext, node) -> list:
    """Fill(shape, value); value is a one-element tensor attr (default float32 0)."""
    shape = ctx.input(node, 0)
    value = ctx.attr(node, "value", np.zeros(1, np.float32))
    if np.size(value) != 1:
        raise ctx.fail(node, f"value must hold one element, has {np.size(value)}")
    scalar = ctx.const(np.asarray(value).reshape(()))
    return [ctx.apply(node, "Fill", [shape, scalar])]


@converter("Range", since=11)
def range_(ctx: ConvertContext, node) -> list:
    """Range(start, limit, delta). Function bodies (AffineGrid's) pass one-element tensors of
    shape [1] where the spec says scalars: those are reshaped to scalars (a Reshape that fails
    at run time for any other size)."""
    args = [_as_scalar(ctx, ctx.input(node, i)) for i in range(3)]
    return [ctx.apply(node, "Range", args)]


def _as_scalar(ctx: ConvertContext, tensor):
    if tensor.shape == ():
        return tensor
    return apply_op("Reshape", [tensor, ctx.const(np.zeros(0, np.int64))])
