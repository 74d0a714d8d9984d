"""Fused contractions, as TensorFlow's Grappler remapper writes them (declared in TensorFlow's
core/ops/nn_ops.cc and math_ops.cc): _FusedConv2D, _FusedDepthwiseConv2dNative, _FusedMatMul.

    _FusedConv2D(x f32[1,8,8,3], w f32[3,3,3,4], args=[b f32[4]]) fused_ops=["BiasAdd", "Relu"]
        == Relu(BiasAdd(Conv2D(x, w), b))  -> f32[1,8,8,4]

``fused_ops`` says what follows the contraction, in order: first "BiasAdd" (args: bias) or, for
_FusedConv2D, "FusedBatchNorm" (args: scale, offset, mean, variance; attr ``epsilon``), then at
most one activation (LeakyRelu reads ``leakyrelu_alpha``). Every arg is a vector over the output
channels. Output shapes are the contraction's own: the shape functions of Conv2D,
DepthwiseConv2dNative and MatMul are called, then the fused part is checked.
"""
from __future__ import annotations

from typing import Callable, Optional

from schema.ops.nn import matmul_shape
from schema.ops.nn_conv import conv2d_shape, depthwise_shape
from schema.registry import op

__all__ = ["FUSED_OP_ARGS", "FUSED_ACTIVATIONS", "FUSED_FIRST_OPS", "parse_fused_ops",
           "fused_channel_axis"]

# The first fused op -> how many args it reads.
FUSED_OP_ARGS = {"BiasAdd": 1, "FusedBatchNorm": 4}
# Activations a fused op may end with (TensorFlow's CPU kernels; Tanh/Sigmoid from oneDNN builds).
FUSED_ACTIVATIONS = frozenset({"Relu", "Relu6", "Elu", "LeakyRelu", "Tanh", "Sigmoid"})
# Fused op -> the first fused ops its TensorFlow kernel accepts.
FUSED_FIRST_OPS = {
    "_FusedConv2D": ("BiasAdd", "FusedBatchNorm"),
    "_FusedDepthwiseConv2dNative": ("BiasAdd",),
    "_FusedMatMul": ("BiasAdd",),
}


def parse_fused_ops(op_name: str, fused_ops, fail: Callable[[str], Exception]) -> tuple:
    """(first op, activation or None) of a ``fused_ops`` list; ``fail(message)`` otherwise.

    ["BiasAdd", "Relu6"] -> ("BiasAdd", "Relu6");  ["Relu", "BiasAdd"] -> error
    """
    ops = [o.decode() if isinstance(o, bytes) else str(o) for o in (fused_ops or [])]
    allowed = FUSED_FIRST_OPS[op_name]
    if not ops or ops[0] not in allowed:
        raise fail(f"fused_ops {ops} must start with one of {list(allowed)}")
    if len(ops) > 2 or (len(ops) == 2 and ops[1] not in FUSED_ACTIVATIONS):
        raise fail(f"fused_ops {ops}: after {ops[0]!r} only one activation of "
                   f"{sorted(FUSED_ACTIVATIONS)} may follow")
    return ops[0], (ops[1] if len(ops) == 2 else None)


def fused_channel_axis(attr: Callable, rank: int) -> int:
    """The output's channel axis: 1 for NCHW data, else the last one."""
    return 1 if attr("data_format", "NHWC") == "NCHW" else rank - 1


def _fused_shape(base: Callable) -> Callable:
    """The contraction's shape function, then checks of fused_ops, num_args and the args."""
    def shape_fn(ctx):
        out = base(ctx)[0]
        first, _ = parse_fused_ops(ctx.node.op, ctx.attr("fused_ops"), ctx.fail)
        host = int(ctx.attr("num_host_args", 0) or 0)
        args = ctx.num_inputs - 2 - host
        if ctx.attr("num_args") != FUSED_OP_ARGS[first] or args != FUSED_OP_ARGS[first]:
            raise ctx.fail(f"fused op {first!r} takes {FUSED_OP_ARGS[first]} args, but num_args "
                           f"is {ctx.attr('num_args')} and {args} are given")
        channels = _channels(ctx, out)
        for i in range(2, 2 + args):
            channels = _check_arg(ctx, i, channels)
        return [out]
    return shape_fn


def _channels(ctx, out) -> Optional[int]:
    if out is None:
        return None
    return out[fused_channel_axis(ctx.attr, len(out))]


def _check_arg(ctx, index: int, channels: Optional[int]) -> Optional[int]:
    shape = ctx.shape(index)
    if shape is None:
        return channels
    if len(shape) != 1 or (channels is not None and shape[0] is not None
                           and shape[0] != channels):
        raise ctx.fail(f"arg {index - 2} of shape {list(shape)} must be a vector of the output's "
                       f"{channels} channels")
    return shape[0] if channels is None else channels


_CONV_ATTRS = ["strides: list(int)", "dilations: list(int) = [1, 1, 1, 1]"]
_FUSION_ATTRS = ["num_args: int >= 0", "fused_ops: list(string) = []",
                 "epsilon: float = 0.0001", "leakyrelu_alpha: float = 0.2"]

op("_FusedConv2D",
   inputs=["input: T", "filter: T", "args: TArgs", "host_args: num_host_args * float"],
   outputs=["output: T"],
   attrs=["T: {half, float, double, int8, qint8}", "TArgs: list(type) >= 1",
          "num_host_args: int >= 0 = 0", "padding: {'SAME', 'VALID', 'EXPLICIT'}",
          "explicit_paddings: list(int) = []",
          "data_format: {'NHWC', 'NCHW', 'NCHW_VECT_C'} = 'NHWC'",
          "filter_format: {'HWIO', 'OIHW', 'OIHW_VECT_I'} = 'HWIO'",
          "use_cudnn_on_gpu: bool = true"] + _CONV_ATTRS + _FUSION_ATTRS,
   shape=_fused_shape(conv2d_shape))
op("_FusedDepthwiseConv2dNative",
   inputs=["input: T", "filter: T", "args: num_args * T"], outputs=["output: T"],
   attrs=["T: {half, bfloat16, float, double}", "padding: {'SAME', 'VALID'}",
          "data_format: {'NHWC', 'NCHW'} = 'NHWC'"] + _CONV_ATTRS + _FUSION_ATTRS,
   shape=_fused_shape(depthwise_shape))
op("_FusedMatMul", inputs=["a: T", "b: T", "args: num_args * T"], outputs=["product: T"],
   attrs=["transpose_a: bool = false", "transpose_b: bool = false",
          "T: {bfloat16, half, float}"] + _FUSION_ATTRS,
   shape=_fused_shape(matmul_shape))
