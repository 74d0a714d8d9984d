"""Elementwise kernels with TensorFlow's semantics: broadcasting, integer division and modulo
(floor for FloorDiv/FloorMod, truncation for Div/TruncateDiv/TruncateMod, an error on integer
division by zero), Round half to even, Cast truncating toward zero.

One body serves numpy and cupy (``xp = ctx.xp``) except Lgamma and Digamma (np.vectorize): those
have no GPU kernel. Integer division by zero and negative integer powers are checked on the GPU
too, at the cost of a synchronization.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from runtime.kernels import BOTH, KernelContext, kernel

# Ops whose ufunc (by its numpy/cupy name) already has TensorFlow's semantics for every dtype.
_DIRECT = {
    "Neg": "negative", "Abs": "absolute", "Sign": "sign", "Exp": "exp", "Expm1": "expm1",
    "Log": "log", "Log1p": "log1p", "Sqrt": "sqrt", "Square": "square", "Tanh": "tanh",
    "Sin": "sin", "Cos": "cos", "Tan": "tan", "Asin": "arcsin", "Acos": "arccos",
    "Atan": "arctan", "Sinh": "sinh", "Cosh": "cosh", "Asinh": "arcsinh",
    "Acosh": "arccosh", "Atanh": "arctanh", "Floor": "floor", "Ceil": "ceil",
    "Rint": "rint", "Round": "round", "IsNan": "isnan", "IsInf": "isinf",
    "IsFinite": "isfinite", "Add": "add", "AddV2": "add", "Sub": "subtract",
    "Mul": "multiply", "Maximum": "maximum", "Minimum": "minimum", "Atan2": "arctan2",
    "Less": "less", "LessEqual": "less_equal", "Greater": "greater",
    "GreaterEqual": "greater_equal", "LogicalAnd": "logical_and",
    "LogicalOr": "logical_or", "LogicalNot": "logical_not",
}


def _direct(ctx: KernelContext):
    return getattr(ctx.xp, _DIRECT[ctx.node.op])   # on the CPU: the numpy ufunc itself


for _op in _DIRECT:
    kernel(_op, device=BOTH)(_direct)


def _is_int(ctx: KernelContext, index: int = 0) -> bool:
    return ctx.in_types[index].is_integer


def _check_nonzero(ctx: KernelContext, y) -> None:
    xp = ctx.xp
    if xp.any(xp.asarray(y) == 0):
        raise ctx.fail("Integer division by zero")


@kernel("FloorDiv", device=BOTH)
def floor_div(ctx: KernelContext):
    xp = ctx.xp
    if not _is_int(ctx):
        return lambda x, y: xp.floor(xp.true_divide(x, y)).astype(ctx.out_np(), copy=False)

    def int_floor_div(x, y):
        _check_nonzero(ctx, y)
        return xp.floor_divide(x, y)
    return int_floor_div


@kernel("FloorMod", device=BOTH)
def floor_mod(ctx: KernelContext):
    xp = ctx.xp
    if not _is_int(ctx):
        return xp.mod

    def int_floor_mod(x, y):
        _check_nonzero(ctx, y)
        return xp.mod(x, y)
    return int_floor_mod


def _truncate_div(x, y, xp=np):
    q = xp.floor_divide(xp.absolute(x), xp.absolute(y))
    return xp.where((xp.sign(x) * xp.sign(y)) < 0, -q, q).astype(xp.result_type(x, y))


@kernel("Div", "RealDiv", "TruncateDiv", device=BOTH)
def div(ctx: KernelContext):
    xp = ctx.xp
    if not _is_int(ctx):
        if ctx.node.op == "TruncateDiv":  # rounds toward zero for floats too: 1.5 / 1 -> 1
            return lambda x, y: xp.trunc(xp.true_divide(x, y))
        return xp.true_divide

    def int_div(x, y):
        _check_nonzero(ctx, y)
        return _truncate_div(x, y, xp)
    return int_div


@kernel("TruncateMod", device=BOTH)
def truncate_mod(ctx: KernelContext):
    xp = ctx.xp
    if not _is_int(ctx):
        return xp.fmod

    def int_truncate_mod(x, y):
        _check_nonzero(ctx, y)
        return xp.fmod(x, y)
    return int_truncate_mod


@kernel("Pow", device=BOTH)
def power(ctx: KernelContext):
    xp = ctx.xp
    if not _is_int(ctx):
        return xp.power

    def int_pow(x, y):
        if xp.any(xp.asarray(y) < 0):
            raise ctx.fail("Integers to negative integer powers are not allowed")
        return xp.power(x, y)
    return int_pow


@kernel("SquaredDifference", device=BOTH)
def squared_difference(ctx: KernelContext):
    xp = ctx.xp

    def squared_diff(x, y):
        d = xp.subtract(x, y)
        return d * xp.conj(d)
    return squared_diff


@kernel("Reciprocal", "Inv", device=BOTH)
def reciprocal(ctx: KernelContext):
    xp = ctx.xp
    if _is_int(ctx):
        return lambda x: _truncate_div(xp.ones_like(x), x, xp)
    return xp.reciprocal


@kernel("Rsqrt", device=BOTH)
def rsqrt(ctx: KernelContext):
    xp = ctx.xp
    return lambda x: xp.reciprocal(xp.sqrt(x))


@kernel("Sigmoid", device=BOTH)
def sigmoid(ctx: KernelContext):
    xp = ctx.xp

    def stable_sigmoid(x):
        e = xp.exp(-xp.absolute(x))
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    return stable_sigmoid


@kernel("Softsign", device=BOTH)
def softsign(ctx: KernelContext):
    xp = ctx.xp
    return lambda x: x / (1 + xp.absolute(x))


def _zero(xp, x):
    return xp.zeros((), x.dtype)


@kernel("MulNoNan", device=BOTH)
def mul_no_nan(ctx: KernelContext):
    xp = ctx.xp
    return lambda x, y: xp.where(xp.asarray(y) == 0, _zero(xp, x), xp.multiply(x, y))


@kernel("DivNoNan", device=BOTH)
def div_no_nan(ctx: KernelContext):
    xp = ctx.xp

    def safe_div(x, y):
        zero = xp.asarray(y) == 0
        return xp.where(zero, _zero(xp, x), xp.true_divide(x, xp.where(zero, 1, y)))
    return safe_div


@kernel("Xlogy", device=BOTH)
def xlogy(ctx: KernelContext):
    xp = ctx.xp
    return lambda x, y: xp.where(xp.asarray(x) == 0, _zero(xp, x), x * xp.log(y))


@kernel("Xdivy", device=BOTH)
def xdivy(ctx: KernelContext):
    xp = ctx.xp
    return lambda x, y: xp.where(xp.asarray(x) == 0, _zero(xp, x), x / y)


def erf(x, xp=np):
    """erf to ~1e-7 relative: Taylor series below 0.5, Numerical Recipes' erfc above."""
    x64 = xp.asarray(x, dtype=np.float64)
    a = xp.absolute(x64)
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
    erfc = t * xp.exp(-a * a + poly)
    large = xp.sign(x64) * (1 - erfc)
    return xp.where(small, series, large).astype(xp.asarray(x).dtype, copy=False)


def _erf_for(xp):
    """cupyx.scipy.special.erf on a real GPU (float32 stays float32), else the series above."""
    if getattr(xp, "__name__", "") == "cupy":
        import cupyx.scipy.special
        special = cupyx.scipy.special.erf
        return lambda x: special(x).astype(x.dtype, copy=False)
    return functools.partial(erf, xp=xp) if xp is not np else erf


@kernel("Erf", device=BOTH)
def erf_kernel(ctx: KernelContext):
    return _erf_for(ctx.xp)


@kernel("Erfc", device=BOTH)
def erfc_kernel(ctx: KernelContext):
    xp, fn = ctx.xp, _erf_for(ctx.xp)
    if xp is np:
        return lambda x: (1 - erf(np.asarray(x, np.float64))).astype(x.dtype, copy=False)
    return lambda x: (1 - fn(x.astype(np.float64))).astype(x.dtype, copy=False)


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


@kernel("Equal", "NotEqual", device=BOTH)
def equal(ctx: KernelContext):
    xp = ctx.xp
    compare = xp.equal if ctx.node.op == "Equal" else xp.not_equal
    if ctx.attr("incompatible_shape_error", True):
        return compare

    def lenient(x, y):
        try:
            np.broadcast_shapes(np.shape(x), np.shape(y))
        except ValueError:
            return xp.asarray(ctx.node.op != "Equal")
        return compare(x, y)
    return lenient


@kernel("Cast", device=BOTH)
def cast(ctx: KernelContext):
    xp, target = ctx.xp, ctx.out_np()
    if ctx.out_types[0] == ctx.in_types[0]:
        return lambda x: x
    return lambda x: xp.asarray(x).astype(target)


@kernel("AddN", device=BOTH)
def add_n(ctx: KernelContext):
    add = ctx.xp.add
    return lambda *xs: functools.reduce(add, xs)


@kernel("ClipByValue", device=BOTH)
def clip_by_value(ctx: KernelContext):
    xp = ctx.xp
    return lambda t, lo, hi: xp.minimum(xp.maximum(t, lo), hi)


@kernel("SelectV2", device=BOTH)
def select_v2(ctx: KernelContext):
    return ctx.xp.where


@kernel("Select", device=BOTH)
def select(ctx: KernelContext):
    xp = ctx.xp

    def select_v1(cond, t, e):
        cond = xp.asarray(cond)
        if cond.ndim == 1 and np.ndim(t) > 1:
            if cond.shape[0] != np.shape(t)[0]:
                raise ctx.fail(f"condition of shape {list(cond.shape)} must match the first "
                               f"dimension of {list(np.shape(t))}")
            cond = cond.reshape((-1,) + (1,) * (np.ndim(t) - 1))
        elif cond.shape != np.shape(t) and cond.ndim != 0:
            raise ctx.fail(f"condition of shape {list(cond.shape)} must be a scalar, a vector "
                           f"or shaped like {list(np.shape(t))}")
        return xp.where(cond, t, e)
    return select_v1
