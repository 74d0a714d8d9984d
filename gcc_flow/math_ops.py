"""Elementwise math with TensorFlow's function names, and Tensor's Python operators.

    gf.add(x, 1.0)  -> AddV2;   x * 2 -> Mul;   x @ w -> MatMul;   -x -> Neg;   x < y -> Less
"""
from __future__ import annotations

from typing import Optional

from gcc_flow.framework import Tensor, apply_op, convert_to_tensor
from schema.dtypes import DType

__all__ = [
    "add", "subtract", "multiply", "divide", "truediv", "realdiv", "floordiv", "floormod", "mod",
    "maximum", "minimum", "pow", "squared_difference", "negative", "abs", "sign", "exp", "log",
    "log1p", "expm1", "sqrt", "rsqrt", "square", "reciprocal", "tanh", "sigmoid", "sin", "cos",
    "tan", "erf", "floor", "ceil", "round", "cast", "equal", "not_equal", "less", "less_equal",
    "greater", "greater_equal", "logical_and", "logical_or", "logical_not", "where", "select",
    "add_n", "clip_by_value", "is_nan", "is_finite", "atan2",
]


def _unary(op_type: str):
    def fn(x, name: Optional[str] = None) -> Tensor:
        return apply_op(op_type, [x], name=name)
    fn.__name__ = op_type.lower()
    fn.__doc__ = f"{op_type}(x), elementwise."
    return fn


def _binary(op_type: str):
    def fn(x, y, name: Optional[str] = None) -> Tensor:
        x, y = _pair(x, y)
        return apply_op(op_type, [x, y], name=name)
    fn.__name__ = op_type.lower()
    fn.__doc__ = f"{op_type}(x, y), elementwise with broadcasting."
    return fn


def _pair(x, y):
    """Converts a Python operand to the other operand's dtype, as TensorFlow does."""
    if isinstance(x, Tensor) or hasattr(x, "_as_tensor"):
        x = convert_to_tensor(x)
        return x, convert_to_tensor(y, x.dtype) if not isinstance(y, Tensor) else y
    if isinstance(y, Tensor) or hasattr(y, "_as_tensor"):
        y = convert_to_tensor(y)
        return convert_to_tensor(x, y.dtype), y
    return convert_to_tensor(x), convert_to_tensor(y)


negative, abs, sign, exp, log = (_unary(o) for o in ("Neg", "Abs", "Sign", "Exp", "Log"))
log1p, expm1, sqrt, rsqrt, square = (_unary(o) for o in ("Log1p", "Expm1", "Sqrt", "Rsqrt",
                                                          "Square"))
reciprocal, tanh, sigmoid, sin, cos = (_unary(o) for o in ("Reciprocal", "Tanh", "Sigmoid",
                                                            "Sin", "Cos"))
tan, erf, floor, ceil, round = (_unary(o) for o in ("Tan", "Erf", "Floor", "Ceil", "Round"))
logical_not, is_nan, is_finite = (_unary(o) for o in ("LogicalNot", "IsNan", "IsFinite"))

add, subtract, multiply, realdiv = (_binary(o) for o in ("AddV2", "Sub", "Mul", "RealDiv"))
floordiv, floormod, maximum, minimum = (_binary(o) for o in ("FloorDiv", "FloorMod", "Maximum",
                                                             "Minimum"))
pow, squared_difference, atan2 = (_binary(o) for o in ("Pow", "SquaredDifference", "Atan2"))
equal, not_equal, less, less_equal = (_binary(o) for o in ("Equal", "NotEqual", "Less",
                                                           "LessEqual"))
greater, greater_equal = (_binary(o) for o in ("Greater", "GreaterEqual"))
logical_and, logical_or = (_binary(o) for o in ("LogicalAnd", "LogicalOr"))
mod = floormod


def truediv(x, y, name: Optional[str] = None) -> Tensor:
    """x / y; integer tensors are cast to float first (float64 for int32/int64, as in TF)."""
    x, y = _pair(x, y)
    if x.dtype.is_integer:
        target = DType.DOUBLE if x.dtype in (DType.INT32, DType.INT64) else DType.FLOAT
        x, y = cast(x, target), cast(y, target)
    return apply_op("RealDiv", [x, y], name=name)


divide = truediv


def cast(x, dtype: DType, name: Optional[str] = None) -> Tensor:
    x = convert_to_tensor(x)
    dtype = DType.parse(dtype) if isinstance(dtype, str) else dtype
    if x.dtype.base == dtype:
        return x
    return apply_op("Cast", [x], {"DstT": dtype}, name=name)


def where(condition, x=None, y=None, name: Optional[str] = None) -> Tensor:
    """SelectV2(condition, x, y); with only a condition, the coordinates of true elements."""
    if x is None and y is None:
        return apply_op("Where", [condition], name=name)
    x, y = _pair(x, y)
    return apply_op("SelectV2", [condition, x, y], name=name)


def select(condition, x, y, name: Optional[str] = None) -> Tensor:
    x, y = _pair(x, y)
    return apply_op("Select", [condition, x, y], name=name)


def add_n(inputs, name: Optional[str] = None) -> Tensor:
    return apply_op("AddN", [list(inputs)], name=name)


def clip_by_value(t, clip_value_min, clip_value_max, name: Optional[str] = None) -> Tensor:
    t = convert_to_tensor(t)
    return apply_op("ClipByValue", [t, convert_to_tensor(clip_value_min, t.dtype),
                                    convert_to_tensor(clip_value_max, t.dtype)], name=name)


def _bind_operators() -> None:
    def reflected(fn):
        return lambda self, other: fn(other, self)
    ops = {
        "__add__": add, "__sub__": subtract, "__mul__": multiply, "__truediv__": truediv,
        "__floordiv__": floordiv, "__mod__": floormod, "__pow__": pow,
        "__lt__": less, "__le__": less_equal, "__gt__": greater, "__ge__": greater_equal,
        "__and__": logical_and, "__or__": logical_or,
    }
    for dunder, fn in ops.items():
        setattr(Tensor, dunder, lambda self, other, fn=fn: fn(self, other))
        if dunder[2:-2] not in ("lt", "le", "gt", "ge"):
            setattr(Tensor, "__r" + dunder[2:], reflected(fn))
    Tensor.__neg__ = lambda self: negative(self)
    Tensor.__abs__ = lambda self: abs(self)
    Tensor.__invert__ = lambda self: logical_not(self)


_bind_operators()
