"""``gf.nn``: activations, softmax, bias, convolution, pooling and batch norm with TensorFlow's
Python names and signatures.

    y = gf.nn.conv2d(x, w, strides=2, padding="SAME")           -> Conv2D strides=[1,2,2,1]
    y = gf.nn.conv2d(x, w, 1, [[0, 0], [1, 1], [2, 2], [0, 0]])  -> Conv2D padding=EXPLICIT
    p = gf.nn.max_pool2d(y, ksize=2, strides=2, padding="VALID") -> MaxPool ksize=[1,2,2,1]
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from gcc_flow.framework import Tensor, apply_op, convert_to_tensor, name_scope
from gcc_flow.math_ops import sigmoid, tanh
from schema.dtypes import DType
from schema.errors import ValidationError

__all__ = [
    "relu", "relu6", "elu", "selu", "leaky_relu", "softplus", "sigmoid", "tanh", "softmax",
    "log_softmax", "bias_add", "conv2d", "conv2d_transpose", "depthwise_conv2d",
    "depthwise_conv2d_native", "max_pool", "max_pool2d", "avg_pool", "avg_pool2d",
    "fused_batch_norm", "batch_normalization",
]

Ints = Union[int, Sequence[int]]


def _activation(op_type: str, doc: str):
    def fn(features, name: Optional[str] = None) -> Tensor:
        return apply_op(op_type, [features], name=name)
    fn.__name__ = fn.__qualname__ = op_type.lower()
    fn.__doc__ = doc
    return fn


relu = _activation("Relu", "max(features, 0).  [-1, 2] -> [0, 2]")
relu6 = _activation("Relu6", "min(max(features, 0), 6).  [-1, 3, 9] -> [0, 3, 6]")
elu = _activation("Elu", "features if > 0 else exp(features) - 1.  [-1, 2] -> [-0.632, 2]")
selu = _activation("Selu", "scale * elu with alpha, TensorFlow's constants.  [1] -> [1.0507]")
softplus = _activation("Softplus", "log(exp(features) + 1).  [0] -> [0.693]")


def leaky_relu(features, alpha: float = 0.2, name: Optional[str] = None) -> Tensor:
    """features if > 0 else alpha * features.  [-1, 2] -> [-0.2, 2]"""
    return apply_op("LeakyRelu", [features], {"alpha": float(alpha)}, name=name)


# -- softmax over any axis ----------------------------------------------------------------------

def _softmax(op_type: str, logits, axis: Optional[int], name: Optional[str]) -> Tensor:
    """Softmax/LogSoftmax over the last axis; another axis is swapped to the end and back."""
    logits = convert_to_tensor(logits)
    rank = None if logits.shape is None else len(logits.shape)
    if axis is None or axis == -1 or (rank is not None and axis == rank - 1):
        return apply_op(op_type, [logits], name=name)
    if rank is None:
        raise ValidationError(f"{op_type.lower()} over axis {axis} needs a known rank")
    if not -rank <= axis < rank:
        raise ValidationError(f"axis {axis} is out of range for rank {rank}")
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    with logits.graph.as_default(), name_scope(name or op_type):
        swapped = apply_op("Transpose", [logits, perm])
        return apply_op("Transpose", [apply_op(op_type, [swapped]), perm])


def softmax(logits, axis: Optional[int] = None, name: Optional[str] = None) -> Tensor:
    """exp(logits) / sum(exp(logits)) along ``axis`` (default last).  [0, ln 3] -> [0.25, 0.75]"""
    return _softmax("Softmax", logits, axis, name)


def log_softmax(logits, axis: Optional[int] = None, name: Optional[str] = None) -> Tensor:
    """logits - log(sum(exp(logits))) along ``axis`` (default last)."""
    return _softmax("LogSoftmax", logits, axis, name)


def bias_add(value, bias, data_format: Optional[str] = None,
             name: Optional[str] = None) -> Tensor:
    """value + bias along the channel axis: the last one, or axis 1 for data_format "NC..."."""
    fmt = "NCHW" if data_format is not None and data_format.startswith("NC") else "NHWC"
    return apply_op("BiasAdd", [value, bias], {"data_format": fmt}, name=name)


# -- window attrs ------------------------------------------------------------------------------

def _channel_last(data_format: Optional[str]) -> bool:
    return data_format is None or not data_format.startswith("NC")


def _four(value: Optional[Ints], what: str, data_format: Optional[str], default: int = 1) -> list:
    """TensorFlow's strides/dilations/ksize forms as the 4 values the op takes.

    2 -> [1, 2, 2, 1];  [2, 3] -> [1, 2, 3, 1] (NHWC) or [1, 1, 2, 3] (NCHW);  4 values as is
    """
    if value is None:
        value = default
    values = [int(value)] if isinstance(value, int) else [int(v) for v in value]
    if len(values) == 1:
        values = values * 2
    if len(values) == 2:
        return [1, *values, 1] if _channel_last(data_format) else [1, 1, *values]
    if len(values) == 4:
        return values
    raise ValidationError(f"{what} must be an int or a list of 1, 2 or 4 ints, got {value!r}")


def _padding_attrs(padding, data_format: Optional[str]) -> dict:
    """"SAME"/"VALID" as is; a list of 4 [before, after] pairs -> EXPLICIT with 8 values."""
    if isinstance(padding, str):
        return {"padding": padding.upper()}
    pairs = [list(p) for p in padding]
    if len(pairs) != 4 or any(len(p) != 2 for p in pairs):
        raise ValidationError(f"explicit padding must be 4 [before, after] pairs (one per "
                              f"dimension), got {padding!r}")
    channel = 3 if _channel_last(data_format) else 1
    if pairs[0] != [0, 0] or pairs[channel] != [0, 0]:
        raise ValidationError(f"explicit padding of the batch and channel dimensions must be "
                              f"[0, 0], got {padding!r}")
    return {"padding": "EXPLICIT", "explicit_paddings": [int(v) for p in pairs for v in p]}


def _window_op(op_type: str, inputs: list, strides, padding, data_format, name, **attrs):
    fmt = "NHWC" if _channel_last(data_format) else "NCHW"
    attrs.update(_padding_attrs(padding, fmt), data_format=fmt,
                 strides=_four(strides, "strides", fmt))
    return apply_op(op_type, inputs, attrs, name=name)


# -- convolution ------------------------------------------------------------------------------

def conv2d(input, filters, strides: Ints, padding, data_format: str = "NHWC",
           dilations: Optional[Ints] = None, name: Optional[str] = None) -> Tensor:
    """2-D convolution; filters are [height, width, in_channels, out_channels].

    x f32[1,5,5,3], w f32[3,3,3,8], strides=1, padding="VALID" -> f32[1,3,3,8]
    """
    return _window_op("Conv2D", [input, filters], strides, padding, data_format, name,
                      dilations=_four(dilations, "dilations", data_format))


def conv2d_transpose(input, filters, output_shape, strides: Ints, padding="SAME",
                     data_format: str = "NHWC", dilations: Optional[Ints] = None,
                     name: Optional[str] = None) -> Tensor:
    """The transpose (gradient) of conv2d: Conv2DBackpropInput producing ``output_shape``.

    filters are [height, width, output_channels, in_channels], as in TensorFlow.
    """
    fmt = "NHWC" if _channel_last(data_format) else "NCHW"
    attrs = dict(_padding_attrs(padding, fmt), data_format=fmt,
                 strides=_four(strides, "strides", fmt),
                 dilations=_four(dilations, "dilations", fmt))
    return apply_op("Conv2DBackpropInput", [output_shape, filters, input], attrs, name=name)


def depthwise_conv2d_native(input, filter, strides: Ints, padding, data_format: str = "NHWC",
                            dilations: Optional[Ints] = None,
                            name: Optional[str] = None) -> Tensor:
    """Depthwise convolution; filter [height, width, in_channels, multiplier], output channel
    c * multiplier + m.  x f32[1,5,5,3], w f32[3,3,3,2], SAME -> f32[1,5,5,6]"""
    return _window_op("DepthwiseConv2dNative", [input, filter], strides, padding, data_format,
                      name, dilations=_four(dilations, "dilations", data_format))


def depthwise_conv2d(input, filter, strides: Ints, padding, data_format: Optional[str] = None,
                     dilations: Optional[Ints] = None, name: Optional[str] = None) -> Tensor:
    """tf.nn.depthwise_conv2d: ``dilations`` is the 2-D rate. A rate > 1 becomes the op's
    dilations attr (one node) rather than TensorFlow's SpaceToBatchND/BatchToSpaceND wrapping;
    as in TensorFlow, strides must then be 1."""
    fmt = "NHWC" if _channel_last(data_format) else "NCHW"
    rate = _four(dilations, "dilations", fmt)
    four_strides = _four(strides, "strides", fmt)
    if max(rate) > 1 and max(four_strides) > 1:
        raise ValidationError(f"depthwise_conv2d: strides {four_strides} must be 1 when "
                              f"dilations {rate} are greater than 1")
    return depthwise_conv2d_native(input, filter, four_strides, padding, fmt, rate, name)


# -- pooling ----------------------------------------------------------------------------------

def max_pool2d(input, ksize: Ints, strides: Ints, padding, data_format: str = "NHWC",
               name: Optional[str] = None) -> Tensor:
    """Maximum over each window; padding never wins.  f32[1,4,4,1], ksize=2, strides=2 -> [1,2,2,1]
    """
    return _window_op("MaxPool", [input], strides, padding, data_format, name,
                      ksize=_four(ksize, "ksize", data_format))


def avg_pool2d(input, ksize: Ints, strides: Ints, padding: str, data_format: str = "NHWC",
               name: Optional[str] = None) -> Tensor:
    """Mean over each window's valid (non-padded) elements."""
    if not isinstance(padding, str):
        raise ValidationError("avg_pool takes padding 'SAME' or 'VALID', not explicit pairs")
    return _window_op("AvgPool", [input], strides, padding, data_format, name,
                      ksize=_four(ksize, "ksize", data_format))


def max_pool(input, ksize: Ints, strides: Ints, padding, data_format: Optional[str] = None,
             name: Optional[str] = None) -> Tensor:
    """tf.nn.max_pool for 4-D inputs (see max_pool2d)."""
    return max_pool2d(input, ksize, strides, padding, data_format or "NHWC", name)


def avg_pool(input, ksize: Ints, strides: Ints, padding: str, data_format: Optional[str] = None,
             name: Optional[str] = None) -> Tensor:
    """tf.nn.avg_pool for 4-D inputs (see avg_pool2d)."""
    return avg_pool2d(input, ksize, strides, padding, data_format or "NHWC", name)


# -- batch normalization ------------------------------------------------------------------------

def fused_batch_norm(x, scale, offset, mean=None, variance=None, epsilon: float = 0.001,
                     data_format: str = "NHWC", is_training: bool = True,
                     name: Optional[str] = None, exponential_avg_factor: float = 1.0):
    """FusedBatchNormV3; returns (y, batch_mean, batch_variance) as tf.nn.fused_batch_norm.

    Inference (is_training=False) needs ``mean`` and ``variance`` and returns them unchanged.
    epsilon is raised to at least 1.001e-5, as TensorFlow does for cuDNN compatibility.
    """
    if mean is None or variance is None:
        if not is_training or exponential_avg_factor != 1.0:
            raise ValidationError("fused_batch_norm needs 'mean' and 'variance' (1-D tensors) "
                                  "when is_training is False or exponential_avg_factor != 1")
        mean = variance = np.zeros((0,), np.float32)
    u_type = {} if isinstance(scale, Tensor) else {"U": DType.FLOAT}
    outs = apply_op("FusedBatchNormV3", [x, scale, offset, mean, variance],
                    {**u_type, "epsilon": max(float(epsilon), 1.001e-5), "data_format": data_format,
                     "is_training": bool(is_training),
                     "exponential_avg_factor": float(exponential_avg_factor)}, name=name)
    return outs[0], outs[1], outs[2]


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon: float,
                        name: Optional[str] = None) -> Tensor:
    """(x - mean) * scale / sqrt(variance + variance_epsilon) + offset, with broadcasting;
    offset and scale may be None. Built as TensorFlow does: x * inv + (offset - mean * inv)."""
    x = convert_to_tensor(x)
    with x.graph.as_default(), name_scope(name or "batchnorm"):
        def as_x(value):
            return convert_to_tensor(value, x.dtype)
        inv = apply_op("Rsqrt", [apply_op("AddV2", [as_x(variance), as_x(variance_epsilon)])])
        if scale is not None:
            inv = apply_op("Mul", [inv, as_x(scale)])
        shift = apply_op("Mul", [as_x(mean), inv])
        shift = (apply_op("Sub", [as_x(offset), shift]) if offset is not None
                 else apply_op("Neg", [shift]))
        return apply_op("AddV2", [apply_op("Mul", [x, inv]), shift])


# Losses and dropout live with their families; gf.nn names them as TensorFlow does.
from gcc_flow.losses import (  # noqa: E402
    l2_loss, sigmoid_cross_entropy_with_logits, softmax_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits_v2, sparse_softmax_cross_entropy_with_logits,
)
from gcc_flow.random_ops import dropout  # noqa: E402

__all__ += ["dropout", "l2_loss", "sigmoid_cross_entropy_with_logits",
            "softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits_v2",
            "sparse_softmax_cross_entropy_with_logits"]
