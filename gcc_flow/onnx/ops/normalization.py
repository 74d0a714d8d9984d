"""ONNX normalizations built from TensorFlow's elementwise ops and reductions.

    BatchNormalization(x, scale, B, mean, var) (inference, constant params)
        -> AddV2(Mul(x, Const scale/sqrt(var+eps)), Const B - mean*scale/sqrt(var+eps))
           with the per-channel constants shaped [C, 1, 1] to broadcast over N, C, H, W
    BatchNormalization(training_mode=1)  -> batch statistics; running stats updated by momentum
    InstanceNormalization(x, scale, B)   -> (x - Mean(x, [2..])) * Rsqrt(var + eps) * scale + B
    LayerNormalization(x, scale, B, axis) -> the same over axes [axis..], outputs Mean, InvStdDev
    GroupNormalization(x, scale, B, G)   -> over Reshape(x, [N, G, -1]), per-channel affine
    LpNormalization(x, p=2)              -> DivNoNan(x, EuclideanNorm(x, axis, keep_dims))
    RMSNormalization(x, scale)           -> x * Rsqrt(Mean(x^2, axes) + eps) * scale

stash_type=1 computes half/bfloat16 inputs in float32 and casts back.
"""
from __future__ import annotations

import numpy as np

from gcc_flow.framework import apply_op
from gcc_flow.onnx.ops import converter
from gcc_flow.onnx.ops.tf_graph import (
    cast, concat, const, known_rank, norm_axis, reshape, same_type_const, shape_of, static_shape,
    strided_slice)
from schema.dtypes import DType

__all__: list = []   # converters register themselves

_NARROW = (DType.HALF, DType.BFLOAT16)


def _axes(ctx, axes) -> object:
    return const(ctx, np.array(axes, np.int32))


def _moments(ctx, x, axes: list) -> tuple:
    """(mean, variance) over ``axes`` with kept dims; variance as Mean((x - mean)^2)."""
    axes_t = _axes(ctx, axes)
    mean = apply_op("Mean", [x, axes_t], {"keep_dims": True})
    centered = apply_op("Sub", [x, mean])
    variance = apply_op("Mean", [apply_op("Square", [centered]), axes_t], {"keep_dims": True})
    return mean, variance, centered


def _channel_param(ctx, param, rank: int, like):
    """A [C] parameter shaped [C, 1, ...] to broadcast over [N, C, D1, ...], in x's dtype."""
    value = ctx.static_value(param)
    if value is not None:
        return const(ctx, np.asarray(value, like.dtype.np).reshape((-1,) + (1,) * (rank - 2)))
    return reshape(ctx, cast(param, like.dtype.base), [-1] + [1] * (rank - 2))


def _rsqrt_plus(ctx, variance, epsilon: float):
    return apply_op("Rsqrt", [apply_op("AddV2", [variance, same_type_const(ctx, epsilon,
                                                                           variance)])])


# -- BatchNormalization ---------------------------------------------------------------------------

def _training(ctx, node) -> bool:
    if ctx.opset >= 14:
        return bool(ctx.attr(node, "training_mode", 0))
    if ctx.opset < 7:
        return not ctx.attr(node, "is_test", 0)
    return len([o for o in node.output if o]) > 1


@converter("BatchNormalization", since=1)
def batch_normalization(ctx, node) -> list:
    x, scale, bias, mean, var = (ctx.input(node, i) for i in range(5))
    rank = known_rank(ctx, node, x)
    eps = ctx.attr(node, "epsilon", 1e-5)
    if ctx.opset < 9 and ctx.attr(node, "spatial", 1) == 0:
        raise ctx.unsupported(node, "spatial=0 (per-activation statistics)")
    if _training(ctx, node):
        return _batch_norm_training(ctx, node, x, scale, bias, mean, var, rank, eps)
    static = [ctx.static_value(t) for t in (scale, bias, mean, var)]
    if all(v is not None for v in static):
        s, b, m, v = (np.asarray(p, np.float64) for p in static)
        multiplier = s / np.sqrt(v + eps)
        shift = b - m * multiplier
        shape = (-1,) + (1,) * (rank - 2)
        y = apply_op("Mul", [x, const(ctx, multiplier.astype(x.dtype.np).reshape(shape))])
        return [apply_op("AddV2", [y, const(ctx, shift.astype(x.dtype.np).reshape(shape))])]
    s, b, m, v = (_channel_param(ctx, p, rank, x) for p in (scale, bias, mean, var))
    multiplier = apply_op("Mul", [_rsqrt_plus(ctx, v, eps), s])
    y = apply_op("Mul", [apply_op("Sub", [x, m]), multiplier])
    return [apply_op("AddV2", [y, b])]


def _batch_norm_training(ctx, node, x, scale, bias, mean, var, rank: int, eps: float) -> list:
    """Normalizes with the batch's mean and (biased) variance; running = old * momentum +
    batch * (1 - momentum)."""
    if ctx.opset < 14:
        raise ctx.unsupported(node, "in training mode before opset 14")
    momentum = ctx.attr(node, "momentum", 0.9)
    batch_mean, batch_var, centered = _moments(ctx, x, [0] + list(range(2, rank)))
    s, b = (_channel_param(ctx, p, rank, x) for p in (scale, bias))
    y = apply_op("AddV2", [apply_op("Mul", [apply_op("Mul", [centered, _rsqrt_plus(
        ctx, batch_var, eps)]), s]), b])
    outs = [y]
    for old, new in ((mean, batch_mean), (var, batch_var)):
        flat = reshape(ctx, new, [-1])
        old = cast(old, x.dtype.base)
        outs.append(apply_op("AddV2", [apply_op("Mul", [old, same_type_const(ctx, momentum, old)]),
                                       apply_op("Mul", [flat, same_type_const(ctx, 1 - momentum,
                                                                              flat)])]))
    return outs[:len(node.output)]


# -- InstanceNormalization, LayerNormalization, RMSNormalization ----------------------------------

@converter("InstanceNormalization", since=1)
def instance_normalization(ctx, node) -> list:
    x, scale, bias = (ctx.input(node, i) for i in range(3))
    rank = known_rank(ctx, node, x)
    _, variance, centered = _moments(ctx, x, list(range(2, rank)))
    y = apply_op("Mul", [centered, _rsqrt_plus(ctx, variance, ctx.attr(node, "epsilon", 1e-5))])
    y = apply_op("Mul", [y, _channel_param(ctx, scale, rank, x)])
    return [apply_op("AddV2", [y, _channel_param(ctx, bias, rank, x)])]


def _stashed(ctx, node, x):
    """x in the computation type: float32 for half/bfloat16 with stash_type=1."""
    if x.dtype.base in _NARROW and ctx.attr(node, "stash_type", 1) == 1:
        return cast(x, DType.FLOAT)
    return x


@converter("LayerNormalization", since=17)
def layer_normalization(ctx, node) -> list:
    x, scale, bias = (ctx.input(node, i) for i in range(3))
    rank = known_rank(ctx, node, x)
    axis = norm_axis(ctx, node, ctx.attr(node, "axis", -1), rank)
    xs = _stashed(ctx, node, x)
    mean, variance, centered = _moments(ctx, xs, list(range(axis, rank)))
    inv_std = _rsqrt_plus(ctx, variance, ctx.attr(node, "epsilon", 1e-5))
    y = cast(apply_op("Mul", [centered, inv_std]), x.dtype.base)
    y = apply_op("Mul", [y, scale])
    if bias is not None:
        y = apply_op("AddV2", [y, bias])
    return [y, mean, inv_std][:len(node.output)]


@converter("RMSNormalization", since=23)
def rms_normalization(ctx, node) -> list:
    x, scale = ctx.input(node, 0), ctx.input(node, 1)
    rank = known_rank(ctx, node, x)
    axis = norm_axis(ctx, node, ctx.attr(node, "axis", -1), rank)
    xs = _stashed(ctx, node, x)
    mean_square = apply_op("Mean", [apply_op("Square", [xs]), _axes(ctx, list(range(axis, rank)))],
                           {"keep_dims": True})
    y = apply_op("Mul", [xs, _rsqrt_plus(ctx, mean_square, ctx.attr(node, "epsilon", 1e-5))])
    return [apply_op("Mul", [cast(y, x.dtype.base), scale])]


# -- GroupNormalization ---------------------------------------------------------------------------

@converter("GroupNormalization", since=18)
def group_normalization(ctx, node) -> list:
    """Statistics per (sample, group) over Reshape(x, [N, G, -1]); opset 18's scale and bias
    are per group, opset 21's per channel."""
    x, scale, bias = (ctx.input(node, i) for i in range(3))
    rank = known_rank(ctx, node, x)
    groups = ctx.attr(node, "num_groups")
    channels = x.shape[1] if rank >= 2 else None
    if channels is None or groups is None or groups < 1 or channels % groups:
        raise ctx.unsupported(node, f"with {channels} channels in {groups} groups (the channel "
                                    f"count must be known and divisible)")
    xs = _stashed(ctx, node, x) if ctx.opset >= 21 else x
    grouped = reshape(ctx, xs, _group_shape(ctx, xs, groups))
    _, variance, centered = _moments(ctx, grouped, [2])
    y = apply_op("Mul", [centered, _rsqrt_plus(ctx, variance, ctx.attr(node, "epsilon", 1e-5))])
    if ctx.opset < 21:
        y = apply_op("AddV2", [apply_op("Mul", [y, _channel_param(ctx, scale, 3, y)]),
                               _channel_param(ctx, bias, 3, y)])
        return [cast(reshape(ctx, y, shape_of(ctx, x)), x.dtype.base)]
    y = cast(reshape(ctx, y, shape_of(ctx, x)), x.dtype.base)
    y = apply_op("Mul", [y, _channel_param(ctx, scale, rank, y)])
    return [apply_op("AddV2", [y, _channel_param(ctx, bias, rank, y)])]


def _group_shape(ctx, x, groups: int):
    shape = static_shape(x)
    if shape is not None:
        return [shape[0], groups, -1]
    batch = strided_slice(ctx, shape_of(ctx, x), [0], [1], [1])
    return concat(ctx, [batch, const(ctx, np.array([groups, -1], np.int64))], 0)


# -- LpNormalization ------------------------------------------------------------------------------

@converter("LpNormalization", since=1)
def lp_normalization(ctx, node) -> list:
    """x / ||x||_p along ``axis`` (p 1 or 2); a zero norm gives 0, as the reference does."""
    x = ctx.input(node, 0)
    axis = norm_axis(ctx, node, ctx.attr(node, "axis", -1), known_rank(ctx, node, x))
    p = ctx.attr(node, "p", 2)
    axis_t = _axes(ctx, [axis])
    if p == 2:
        norm = apply_op("EuclideanNorm", [x, axis_t], {"keep_dims": True})
    elif p == 1:
        norm = apply_op("Sum", [apply_op("Abs", [x]), axis_t], {"keep_dims": True})
    else:
        raise ctx.unsupported(node, f"p={p} (only 1 and 2)")
    return [apply_op("DivNoNan", [x, norm])]
