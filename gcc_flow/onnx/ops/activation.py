"""Activations and the softmax family.

    LeakyRelu(alpha) -> LeakyRelu;  Elu(alpha=1) -> Elu;  Elu(alpha=2) -> Select(x > 0, x, 2*expm1(x))
    HardSigmoid(x) -> Minimum(Maximum(alpha*x + beta, 0), 1);  Gelu(tanh) -> the tanh formula
    Softmax opset < 13: x coerced to 2-D at ``axis`` [prod(d[:axis]), prod(d[axis:])], softmax
    over the last axis, reshaped back;  opset >= 13: softmax over ``axis`` alone.
    Hardmax -> OneHot(ArgMax(x, axis), depth=d[axis], axis) (first index on ties).
"""
from __future__ import annotations

import math

import numpy as np

from gcc_flow import array_ops, math_ops
from gcc_flow.framework import apply_op
from gcc_flow.nn import log_softmax, softmax
from gcc_flow.onnx.context import ConvertContext
from gcc_flow.onnx.ops import converter
from schema.dtypes import DType


def _float_input(ctx: ConvertContext, node):
    x = ctx.input(node, 0)
    if not x.dtype.is_floating:
        raise ctx.unsupported(node, f"for dtype {x.dtype.tf_name}")
    return x


def _c(ctx: ConvertContext, value: float, like):
    return ctx.const(value, like.dtype)


def _negative_branch(ctx: ConvertContext, x, alpha: float):
    """alpha * (exp(x) - 1)"""
    return math_ops.multiply(_c(ctx, alpha, x), apply_op("Expm1", [x]))


@converter("LeakyRelu")
def leaky_relu(ctx: ConvertContext, node) -> list:
    x = _float_input(ctx, node)
    return [apply_op("LeakyRelu", [x], {"alpha": ctx.attr(node, "alpha", 0.01)})]


@converter("Elu")
def elu(ctx: ConvertContext, node) -> list:
    x = _float_input(ctx, node)
    alpha = ctx.attr(node, "alpha", 1.0)
    if alpha == 1.0:
        return [apply_op("Elu", [x])]
    zero = _c(ctx, 0, x)
    return [math_ops.where(math_ops.greater(x, zero), x, _negative_branch(ctx, x, alpha))]


@converter("Selu")
def selu(ctx: ConvertContext, node) -> list:
    """gamma * (x if x > 0 else alpha * (exp(x) - 1)), with ONNX's default constants."""
    x = _float_input(ctx, node)
    alpha = ctx.attr(node, "alpha", 1.67326319217681884765625)
    gamma = ctx.attr(node, "gamma", 1.05070102214813232421875)
    zero = _c(ctx, 0, x)
    inner = math_ops.where(math_ops.greater(x, zero), x, _negative_branch(ctx, x, alpha))
    return [math_ops.multiply(_c(ctx, gamma, x), inner)]


@converter("Celu", since=12)
def celu(ctx: ConvertContext, node) -> list:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))"""
    x = _float_input(ctx, node)
    alpha = ctx.attr(node, "alpha", 1.0)
    zero = _c(ctx, 0, x)
    scaled = math_ops.realdiv(x, _c(ctx, alpha, x))
    negative = math_ops.minimum(zero, _negative_branch(ctx, scaled, alpha))
    return [math_ops.add(math_ops.maximum(zero, x), negative)]


def _hard_sigmoid(ctx: ConvertContext, x, alpha: float, beta: float):
    linear = math_ops.add(math_ops.multiply(_c(ctx, alpha, x), x), _c(ctx, beta, x))
    return math_ops.minimum(math_ops.maximum(linear, _c(ctx, 0, x)), _c(ctx, 1, x))


@converter("HardSigmoid")
def hard_sigmoid(ctx: ConvertContext, node) -> list:
    x = _float_input(ctx, node)
    return [_hard_sigmoid(ctx, x, ctx.attr(node, "alpha", 0.2), ctx.attr(node, "beta", 0.5))]


@converter("HardSwish", since=14)
def hard_swish(ctx: ConvertContext, node) -> list:
    """x * HardSigmoid(x, alpha=1/6, beta=0.5)"""
    x = _float_input(ctx, node)
    return [math_ops.multiply(x, _hard_sigmoid(ctx, x, 1 / 6, 0.5))]


@converter("ThresholdedRelu", since=10)
def thresholded_relu(ctx: ConvertContext, node) -> list:
    x = _float_input(ctx, node)
    alpha = ctx.attr(node, "alpha", 1.0)
    return [math_ops.where(math_ops.greater(x, _c(ctx, alpha, x)), x, _c(ctx, 0, x))]


@converter("PRelu")
def prelu(ctx: ConvertContext, node) -> list:
    """x if x >= 0 else slope * x; slope broadcasts to x."""
    x, slope = ctx.input(node, 0), ctx.input(node, 1)
    negative = ctx.apply(node, "Mul", [x, slope])
    return [math_ops.where(math_ops.less(x, _c(ctx, 0, x)), negative, x)]


@converter("Shrink", since=9)
def shrink(ctx: ConvertContext, node) -> list:
    """x + bias below -lambd, x - bias above lambd, 0 between."""
    x = ctx.input(node, 0)
    bias, lambd = ctx.attr(node, "bias", 0.0), ctx.attr(node, "lambd", 0.5)
    if x.dtype.is_integer and not (float(bias).is_integer() and float(lambd).is_integer()):
        raise ctx.unsupported(node, "with fractional bias or lambd on integers")
    low = math_ops.less(x, ctx.const(-lambd, x.dtype))
    high = math_ops.greater(x, ctx.const(lambd, x.dtype))
    shifted_up = ctx.apply(node, "AddV2", [x, ctx.const(bias, x.dtype)])
    shifted_down = ctx.apply(node, "Sub", [x, ctx.const(bias, x.dtype)])
    middle = math_ops.where(high, shifted_down, ctx.const(0, x.dtype))
    return [math_ops.where(low, shifted_up, middle)]


@converter("Gelu", since=20)
def gelu(ctx: ConvertContext, node) -> list:
    """none: x/2 (1 + erf(x / sqrt 2));  tanh: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))"""
    x = _float_input(ctx, node)
    mode = ctx.attr(node, "approximate", "none")
    if mode == "none":
        inner = apply_op("Erf", [math_ops.multiply(x, _c(ctx, 1 / math.sqrt(2), x))])
    elif mode == "tanh":
        cubic = math_ops.multiply(_c(ctx, 0.044715, x), math_ops.multiply(x, math_ops.square(x)))
        scaled = math_ops.multiply(_c(ctx, math.sqrt(2 / math.pi), x), math_ops.add(x, cubic))
        inner = math_ops.tanh(scaled)
    else:
        raise ctx.unsupported(node, f"approximate={mode!r}")
    half = math_ops.multiply(_c(ctx, 0.5, x), x)
    return [math_ops.multiply(half, math_ops.add(_c(ctx, 1, x), inner))]


@converter("Mish", since=18)
def mish(ctx: ConvertContext, node) -> list:
    x = _float_input(ctx, node)
    return [math_ops.multiply(x, math_ops.tanh(apply_op("Softplus", [x])))]


# -- softmax family ------------------------------------------------------------------------------

def _rank(ctx: ConvertContext, node, x) -> int:
    if x.shape is None:
        raise ctx.unsupported(node, "on an input of unknown rank")
    return len(x.shape)


def _axis(ctx: ConvertContext, node, x, default: int) -> int:
    rank = _rank(ctx, node, x)
    axis = ctx.attr(node, "axis", default)
    if not -max(rank, 1) <= axis < max(rank, 1):
        raise ctx.fail(node, f"axis {axis} is out of range for rank {rank}")
    return axis % max(rank, 1)


def _coerced(ctx: ConvertContext, node, x, fn):
    """Opset < 13: fn over the last axis of x reshaped to [prod(d[:axis]), prod(d[axis:])]."""
    axis = _axis(ctx, node, x, 1)
    dims = x.shape
    if all(d is not None for d in dims[axis:]):
        flat = [-1, math.prod(dims[axis:])]
    elif all(d is not None for d in dims[:axis]):
        flat = [math.prod(dims[:axis]), -1]
    else:
        raise ctx.unsupported(node, "of opset < 13 with unknown dims on both sides of axis")
    two_d = array_ops.reshape(x, np.array(flat, np.int64))
    return array_ops.reshape(fn(two_d, axis=-1), array_ops.shape(x, DType.INT64))


def _softmax_converter(fn):
    def convert(ctx: ConvertContext, node) -> list:
        x = _float_input(ctx, node)
        if ctx.opset < 13:
            return [_coerced(ctx, node, x, fn)]
        return [fn(x, axis=_axis(ctx, node, x, -1))]
    return convert


converter("Softmax")(_softmax_converter(softmax))
converter("LogSoftmax")(_softmax_converter(log_softmax))


def _hardmax(x, axis: int):
    depth = array_ops.shape(x, DType.INT32)[axis]
    index = apply_op("ArgMax", [x, np.int32(axis)], {"output_type": DType.INT64})
    one, zero = (apply_op("Const", [], {"value": np.asarray(v, x.dtype.np), "dtype": x.dtype})
                 for v in (1, 0))
    return apply_op("OneHot", [index, depth, one, zero], {"axis": axis})


converter("Hardmax")(_softmax_converter(_hardmax))
