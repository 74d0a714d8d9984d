"""Neural-network backprop ops, with TensorFlow's names and attrs: activation gradients,
BiasAddGrad, convolution and pooling backprops, FusedBatchNormGrad (V1-V3).

    ReluGrad(dy f32[4,3], features f32[4,3]) -> f32[4,3]
    BiasAddGrad(f32[2,8,8,16]) -> f32[16]
    Conv2DBackpropFilter(x f32[2,8,8,3], Const [3,3,3,4], dy f32[2,8,8,4]) -> f32[3,3,3,4]
    MaxPoolGrad(x f32[1,4,4,1], y f32[1,2,2,1], dy f32[1,2,2,1]) -> f32[1,4,4,1]
"""
from __future__ import annotations

import numpy as np

from schema.ops.nn import batch_norm_channel_axis
from schema.registry import op
from schema.shapes import same_as_input

_FLOAT = "{half, bfloat16, float, double}"
_RELU_T = ("{float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, "
           "uint64}")

# -- activation gradients: backprops = gradients * f'(features or outputs) ------------------------

for _name in ("ReluGrad", "Relu6Grad"):
    op(_name, inputs=["gradients: T", "features: T"], outputs=["backprops: T"],
       attrs=[f"T: {_RELU_T}"], shape=same_as_input(0))
for _name in ("EluGrad", "SeluGrad"):
    op(_name, inputs=["gradients: T", "outputs: T"], outputs=["backprops: T"],
       attrs=[f"T: {_FLOAT}"], shape=same_as_input(0))
op("SoftplusGrad", inputs=["gradients: T", "features: T"], outputs=["backprops: T"],
   attrs=[f"T: {_FLOAT}"], shape=same_as_input(0))
op("LeakyReluGrad", inputs=["gradients: T", "features: T"], outputs=["backprops: T"],
   attrs=["alpha: float = 0.2", f"T: {_FLOAT} = float"], shape=same_as_input(0))


# -- BiasAddGrad ----------------------------------------------------------------------------------

def _bias_add_grad_shape(ctx):
    shape = ctx.shape(0)
    nchw = ctx.attr("data_format", "NHWC") == "NCHW"
    if shape is None:
        return [(None,)]
    if len(shape) < (3 if nchw else 2):
        raise ctx.fail(f"out_backprop must be at least rank {3 if nchw else 2}, but has shape "
                       f"{list(shape)}")
    return [(shape[1] if nchw else shape[-1],)]


op("BiasAddGrad", inputs=["out_backprop: T"], outputs=["output: T"],
   attrs=["T: {float, double, int32, uint8, int16, int8, complex64, int64, qint8, quint8, "
          "qint32, bfloat16, qint16, quint16, uint16, complex128, half, uint32, uint64}",
          "data_format: {'NHWC', 'NCHW'} = 'NHWC'"],
   shape=_bias_add_grad_shape)


# -- convolution and pooling backprops --------------------------------------------------------------

def _sizes_input(index: int):
    """Shape function: the output shape is the value of a 4-vector input (input/filter sizes)."""
    def shape_fn(ctx):
        value = ctx.value(index)
        if value is None:
            return [(None,) * 4]
        sizes = [int(v) for v in np.asarray(value).reshape(-1)]
        if len(sizes) != 4 or any(v < 0 for v in sizes):
            raise ctx.fail(f"sizes must hold 4 non-negative values, got {sizes}")
        return [tuple(sizes)]
    return shape_fn


_WINDOW_ATTRS = ["strides: list(int)", "padding: {'SAME', 'VALID', 'EXPLICIT'}",
                 "explicit_paddings: list(int) = []", "data_format: {'NHWC', 'NCHW'} = 'NHWC'",
                 "dilations: list(int) = [1, 1, 1, 1]"]

op("Conv2DBackpropFilter", inputs=["input: T", "filter_sizes: int32", "out_backprop: T"],
   outputs=["output: T"],
   attrs=[f"T: {_FLOAT}", "use_cudnn_on_gpu: bool = true"] + _WINDOW_ATTRS,
   shape=_sizes_input(1))
op("DepthwiseConv2dNativeBackpropInput",
   inputs=["input_sizes: int32", "filter: T", "out_backprop: T"], outputs=["output: T"],
   attrs=[f"T: {_FLOAT}"] + _WINDOW_ATTRS, shape=_sizes_input(0))
op("DepthwiseConv2dNativeBackpropFilter",
   inputs=["input: T", "filter_sizes: int32", "out_backprop: T"], outputs=["output: T"],
   attrs=[f"T: {_FLOAT}"] + _WINDOW_ATTRS, shape=_sizes_input(1))

op("MaxPoolGrad", inputs=["orig_input: T", "orig_output: T", "grad: T"], outputs=["output: T"],
   attrs=["ksize: list(int) >= 4", "strides: list(int) >= 4",
          "padding: {'SAME', 'VALID', 'EXPLICIT'}", "explicit_paddings: list(int) = []",
          "data_format: {'NHWC', 'NCHW'} = 'NHWC'", f"T: {_RELU_T} = float"],
   shape=same_as_input(0))
op("AvgPoolGrad", inputs=["orig_input_shape: int32", "grad: T"], outputs=["output: T"],
   attrs=["ksize: list(int) >= 4", "strides: list(int) >= 4", "padding: {'SAME', 'VALID'}",
          "data_format: {'NHWC', 'NCHW'} = 'NHWC'", f"T: {_FLOAT}"],
   shape=_sizes_input(0))


# -- FusedBatchNormGrad ----------------------------------------------------------------------------

def _batch_norm_grad_shape(ctx):
    rank, axis = batch_norm_channel_axis(ctx.attr("data_format", "NHWC"))
    x = ctx.shape(1)
    if x is not None and len(x) != rank:
        raise ctx.fail(f"x must be rank {rank}, but has shape {list(x)}")
    channels = x[axis] if x is not None else None
    scale = ctx.shape(2)
    if scale is not None and (len(scale) != 1 or (channels is not None and scale[0] is not None
                                                  and scale[0] != channels)):
        raise ctx.fail(f"scale must have shape [{channels}], but has shape {list(scale)}")
    if channels is None and scale is not None:
        channels = scale[0]
    extra = len(ctx.node.out_types) - 3
    return [x, (channels,), (channels,)] + [(0,)] * extra


_BN_GRAD_ATTRS = ["epsilon: float = 0.0001", "is_training: bool = true"]
_BN_GRAD_OUTS = ["x_backprop: T", "scale_backprop: U", "offset_backprop: U"]
op("FusedBatchNormGrad",
   inputs=["y_backprop: T", "x: T", "scale: T", "reserve_space_1: T", "reserve_space_2: T"],
   outputs=[s.replace(": U", ": T") for s in _BN_GRAD_OUTS]
   + ["reserve_space_3: T", "reserve_space_4: T"],
   attrs=["T: {float}", "data_format: {'NHWC', 'NCHW'} = 'NHWC'"] + _BN_GRAD_ATTRS,
   shape=_batch_norm_grad_shape)
op("FusedBatchNormGradV2",
   inputs=["y_backprop: T", "x: T", "scale: float", "reserve_space_1: U", "reserve_space_2: U"],
   outputs=_BN_GRAD_OUTS + ["reserve_space_3: U", "reserve_space_4: U"],
   attrs=["T: {half, bfloat16, float}", "U: {float}",
          "data_format: {'NHWC', 'NCHW'} = 'NHWC'"] + _BN_GRAD_ATTRS,
   shape=_batch_norm_grad_shape)
op("FusedBatchNormGradV3",
   inputs=["y_backprop: T", "x: T", "scale: float", "reserve_space_1: U", "reserve_space_2: U",
           "reserve_space_3: U"],
   outputs=_BN_GRAD_OUTS + ["reserve_space_4: U", "reserve_space_5: U"],
   attrs=["T: {half, bfloat16, float}", "U: {float}",
          "data_format: {'NHWC', 'NCHW', 'NDHWC', 'NCDHW'} = 'NHWC'"] + _BN_GRAD_ATTRS,
   shape=_batch_norm_grad_shape)
