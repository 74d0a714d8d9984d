"""Kernels of the fused contractions: _FusedConv2D, _FusedDepthwiseConv2dNative, _FusedMatMul.

The contraction is the Conv2D / DepthwiseConv2dNative / MatMul kernel itself (run in the compute
type: float32 for half and bfloat16, rounded once at the end); the ``fused_ops`` then apply in
order, from two tables: the first op (BiasAdd or FusedBatchNorm, reading the args) and the
activation.

    _FusedConv2D(x, w, [b]) fused_ops=["BiasAdd", "Relu6"] -> Relu6(Conv2D(x, w) + b)

The same body runs on the GPU (``xp = cupy``) over the GPU contraction kernels.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from runtime.kernels import BOTH, KernelContext, kernel
from runtime.kernels import elementwise, nn, nn_conv
from schema.dtypes import DType
from schema.ops.fused import fused_channel_axis, parse_fused_ops

_NARROW = {DType.HALF, DType.BFLOAT16}
_CONTRACTIONS = {
    "_FusedConv2D": nn_conv.conv2d,
    "_FusedDepthwiseConv2dNative": nn_conv.depthwise_conv2d,
    "_FusedMatMul": nn.matmul,
}


@dataclasses.dataclass
class _ComputeContext(KernelContext):
    """The fused node's context, but with the compute type as its output type, so that the
    contraction kernel returns an unrounded result."""
    compute: DType = DType.FLOAT

    @property
    def out_types(self) -> list[DType]:
        return [self.compute]

    def out_np(self, index: int = 0):
        return self.compute.np


def _channel_shape(y: np.ndarray, axis: int) -> tuple:
    shape = [1] * y.ndim
    shape[axis] = -1
    return tuple(shape)


def _bias_add(y: np.ndarray, args: list, axis: int, attr: Callable, xp=np) -> np.ndarray:
    return y + args[0].reshape(_channel_shape(y, axis))


def _batch_norm(y: np.ndarray, args: list, axis: int, attr: Callable, xp=np) -> np.ndarray:
    """(y - mean) * scale / sqrt(variance + epsilon) + offset, per channel (inference)."""
    scale, offset, mean, variance = (a.reshape(_channel_shape(y, axis)) for a in args)
    epsilon = xp.asarray(attr("epsilon", 1e-4), y.dtype)
    return (y - mean) * (scale / xp.sqrt(variance + epsilon)) + offset


_FIRST: dict[str, Callable] = {"BiasAdd": _bias_add, "FusedBatchNorm": _batch_norm}


def _leaky_relu(ctx: KernelContext) -> Callable:
    alpha, xp = float(ctx.attr("leakyrelu_alpha", 0.2)), ctx.xp
    return lambda y: xp.where(y > 0, y, y * y.dtype.type(alpha))


# Activation -> factory(ctx) -> function: the activation kernels' own bodies where they exist.
_ACTIVATIONS: dict[str, Callable] = {
    **{name: (lambda ctx, name=name: nn.activation_body(name, ctx.xp)) for name in nn.ACTIVATIONS},
    "LeakyRelu": _leaky_relu,
    "Tanh": lambda ctx: ctx.xp.tanh,
    "Sigmoid": elementwise.sigmoid,
}


def _check_supported(ctx: KernelContext) -> None:
    if not ctx.out_types[0].is_floating:
        raise ctx.fail(f"{ctx.out_types[0].tf_name} is not supported here (only float types; "
                       f"TensorFlow's int8 variant is a cuDNN-only kernel)")
    if ctx.attr("filter_format", "HWIO") != "HWIO":
        raise ctx.fail(f"filter_format {ctx.attr('filter_format')!r} is not supported (HWIO only)")
    if ctx.attr("num_host_args", 0):
        raise ctx.fail("host_args are not supported")


@kernel(*_CONTRACTIONS, device=BOTH)
def fused_contraction(ctx: KernelContext):
    first, activation = parse_fused_ops(ctx.node.op, ctx.attr("fused_ops"), ctx.fail)
    _check_supported(ctx)
    out_type = ctx.out_types[0]
    compute = DType.FLOAT if out_type in _NARROW else out_type
    wide = _ComputeContext(node=ctx.node, device=ctx.device, resources=ctx.resources,
                           limits=ctx.limits, xp=ctx.xp, compute=compute)
    xp = ctx.xp
    contraction = _CONTRACTIONS[ctx.node.op](wide)
    post = _FIRST[first]
    act = _ACTIVATIONS[activation](ctx) if activation else None

    def run(x, w, *args):
        y = contraction(x.astype(compute.np, copy=False), w.astype(compute.np, copy=False))
        axis = fused_channel_axis(ctx.attr, y.ndim)
        for i, arg in enumerate(args):
            if arg.shape != (y.shape[axis],):
                raise ctx.fail(f"arg {i} ({first}) of shape {list(arg.shape)} must be a vector "
                               f"of the output's {y.shape[axis]} channels (output shape "
                               f"{list(y.shape)})")
        y = post(y, [a.astype(compute.np, copy=False) for a in args], axis, ctx.attr, xp)
        if act is not None:
            y = act(y)
        return xp.asarray(y).astype(out_type.np, copy=False)
    return run
