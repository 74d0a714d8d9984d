"""Elementwise kernels with TensorFlow's semantics: broadcasting, integer division and modulo
(floor for FloorDiv/FloorMod, truncation for Div/TruncateDiv/TruncateMod, an error on integer
division by zero), Round half to even, Cast truncating toward zero.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from runtime.kernels import KernelContext, kernel

# Ops whose numpy ufunc already has TensorFlow's semantics for every allowed dtype.
_DIRECT = {
    "Neg": np.negative, "Abs": np.absolute, "Sign": np.sign, "Exp": np.exp, "Expm1": np.expm1,
    "Log": np.log, "Log1p": np.log1p, "Sqrt": np.sqrt, "Square": np.square, "Tanh": np.tanh,
    "Sin": np.sin, "Cos": np.cos, "Tan": np.tan, "Asin": np.arcsin, "Acos": np.arccos,
    "Atan": np.arctan, "Sinh": np.sinh, "Cosh": np.cosh, "Asinh": np.arcsinh,
    "Acosh": np.arccosh, "Atanh": np.arctanh, "Floor": np.floor, "Ceil": np.ceil,
    "Rint": np.rint, "Round": np.round, "IsNan": np.isnan, "IsInf": np.isinf,
    "IsFinite": np.isfinite, "Add": np.add, "AddV2": np.add, "Sub": np.subtract,
    "Mul": np.multiply, "Maximum": np.maximum, "Minimum": np.minimum, "Atan2": np.arctan2,
    "Less": np.less, "LessEqual": np.less_equal, "Greater": np.greater,
    "GreaterEqual": np.greater_equal, "LogicalAnd": np.logical_and,
    "LogicalOr": np.logical_or, "LogicalNot": np.logical_not,
}


def _direct(ctx: KernelContext):
    return _DIRECT[ctx.node.op]


for _op in _DIRECT:
    kernel(_op)(_direct)


def _is_int(ctx: KernelContext, index: int = 0) -> bool:
    return ctx.in_types[index].is_integer


def _check_nonzero(ctx: KernelContext, y) -> None:
    if np.any(np.asarray(y) == 0):
        raise ctx.fail("Integer division by zero")


@kernel("FloorDiv")
def floor_div(ctx: KernelContext):
    if not _is_int(ctx):
        return lambda x, y: np.floor(np.true_divide(x, y)).astype(ctx.out_np(), copy=False)

    def int_floor_div(x, y):
        _check_nonzero(ctx, y)
        return np.floor_divide(x, y)
    return int_floor_div


@kernel("FloorMod")
def floor_mod(ctx: KernelContext):
    if not _is_int(ctx):
        return np.mod

    def int_floor_mod(x, y):
        _check_nonzero(ctx, y)
        return np.mod(x, y)
    return int_floor_mod


def _truncate_div(x, y):
    q = np.floor_divide(np.absolute(x), np.absolute(y))
    return np.where((np.sign(x) * np.sign(y)) < 0, -q, q).astype(np.result_type(x, y))


@kernel("Div", "RealDiv", "TruncateDiv")
def div(ctx: KernelContext):
    if not _is_int(ctx):
        if ctx.node.op == "TruncateDiv":  # rounds toward zero for floats too: 1.5 / 1 -> 1
            return lambda x, y: np.trunc(np.true_divide(x, y))
        return np.true_divide

    def int_div(x, y):
        _check_nonzero(ctx, y)
        return _truncate_div(x, y)
    return int_div


@kernel("TruncateMod")
def truncate_mod(ctx: KernelContext):
    if not _is_int(ctx):
        return np.fmod

    def int_truncate_mod(x, y):
        _check_nonzero(ctx, y)
        return np.fmod(x, y)
    return int_truncate_mod


@kernel("Pow")
def power(ctx: KernelContext):
    if not _is_int(ctx):
        return np.power

    def int_pow(x, y):
        if np.any(np.asarray(y) < 0):
            raise ctx.fail("Integers to negative integer powers are not allowed")
        return np.power(x, y)
    return int_pow


@kernel("SquaredDifference")
def squared_difference(ctx: KernelContext):
    def squared_diff(x, y):
        d = np.subtract(x, y)
        return d * np.conj(d)
    return squared_diff


@kernel("Reciprocal", "Inv")
def reciprocal(ctx: KernelContext):
    if _is_int(ctx):
        return lambda x: _truncate_div(np.ones_like(x), x)
    return np.reciprocal


@kernel("Rsqrt")
def rsqrt(ctx: KernelContext):
    return lambda x: np.reciprocal(np.sqrt(x))


@kernel("Sigmoid")
def sigmoid(ctx: KernelContext):
    def stable_sigmoid(x):
        e = np.exp(-np.absolute(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    return stable_sigmoid


@kernel("Softsign")
def softsign(ctx: KernelContext):
    return lambda x: x / (1 + np.absolute(x))


@kernel("MulNoNan")
def mul_no_nan(ctx: KernelContext):
    return lambda x, y: np.where(np.asarray(y) == 0, np.zeros((), x.dtype), np.multiply(x, y))


@kernel("DivNoNan")
def div_no_nan(ctx: KernelContext):
    def safe_div(x, y):
        zero = np.asarray(y) == 0
        return np.where(zero, np.zeros((), x.dtype), np.true_divide(x, np.where(zero, 1, y)))
    return safe_div


@kernel("Xlogy")
def xlogy(ctx: KernelContext):
    return lambda x, y: np.where(np.asarray(x) == 0, np.zeros((), x.dtype), x * np.log(y))


@kernel("Xdivy")
def xdivy(ctx: KernelContext):
    return lambda x, y: np.where(np.asarray(x) == 0, np.zeros((), x.dtype), x / y)


def erf(x):
    """erf to ~1e-7 relative: Taylor series below 0.5, Numerical Recipes' erfc above."""
    x64 = np.asarray(x, dtype=np.float64)
    a = np.absolute(x64)
    small = a < 0.5
    x2 = x64 * x64
    term, series = x64.copy(), x64.copy()
    for n in range(1, 12):
        term = term * -x2 / n
        series = series + term / (2 * n + 1)
    series *= 2 / math.sqrt(math.pi)
    t = 1 / (1 + 0.5 * a)
    poly = (-1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277)))))))))
    erfc = t * np.exp(-a * a + poly)
    large = np.sign(x64) * (1 - erfc)
    return np.where(small, series, large).astype(np.asarray(x).dtype, copy=False)


@kernel("Erf")
def erf_kernel(ctx: KernelContext):
    return erf


@kernel("Erfc")
def erfc_kernel(ctx: KernelContext):
    return lambda x: (1 - erf(np.asarray(x, np.float64))).astype(x.dtype, copy=False)


def _vectorized(fn):
    return lambda x: np.vectorize(fn, otypes=[x.dtype])(x) if x.size else x.copy()


@kernel("Lgamma")
def lgamma(ctx: KernelContext):
    return _vectorized(math.lgamma)


@kernel("Digamma")
def digamma(ctx: KernelContext):
    def psi(v: float) -> float:
        result = 0.0
        while v < 6:
            result -= 1 / v
            v += 1
        f = 1 / (v * v)
        return result + math.log(v) - 0.5 / v - f * (1 / 12 - f * (1 / 120 - f * (
            1 / 252 - f * (1 / 240 - f / 132))))
    return _vectorized(psi)


@kernel("Equal", "NotEqual")
def equal(ctx: KernelContext):
    compare = np.equal if ctx.node.op == "Equal" else np.not_equal
    if ctx.attr("incompatible_shape_error", True):
        return compare

    def lenient(x, y):
        try:
            np.broadcast_shapes(np.shape(x), np.shape(y))
        except ValueError:
            return np.asarray(ctx.node.op != "Equal")
        return compare(x, y)
    return lenient


@kernel("Cast")
def cast(ctx: KernelContext):
    target = ctx.out_np()
    if ctx.out_types[0] == ctx.in_types[0]:
        return lambda x: x
    return lambda x: np.asarray(x).astype(target)


@kernel("AddN")
def add_n(ctx: KernelContext):
    return lambda *xs: functools.reduce(np.add, xs)


@kernel("ClipByValue")
def clip_by_value(ctx: KernelContext):
    return lambda t, lo, hi: np.minimum(np.maximum(t, lo), hi)


@kernel("SelectV2")
def select_v2(ctx: KernelContext):
    return np.where


@kernel("Select")
def select(ctx: KernelContext):
    def select_v1(cond, t, e):
        cond = np.asarray(cond)
        if cond.ndim == 1 and np.ndim(t) > 1:
            if cond.shape[0] != np.shape(t)[0]:
                raise ctx.fail(f"condition of shape {list(cond.shape)} must match the first "
                               f"dimension of {list(np.shape(t))}")
            cond = cond.reshape((-1,) + (1,) * (np.ndim(t) - 1))
        elif cond.shape != np.shape(t) and cond.ndim != 0:
            raise ctx.fail(f"condition of shape {list(cond.shape)} must be a scalar, a vector "
                           f"or shaped like {list(np.shape(t))}")
        return np.where(cond, t, e)
    return select_v1
