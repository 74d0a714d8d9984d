"""ONNX convolutions as TensorFlow's 2-D ops in NHWC, and the extension op where they fall short.

Layout: ONNX is channels-first; TensorFlow's CPU kernels are NHWC-only. Each conv is built as
Transpose(NCHW -> NHWC) -> Conv2D/DepthwiseConv2dNative/Conv2DBackpropInput [-> BiasAdd] ->
Transpose(NHWC -> NCHW), so the graph also runs on TensorFlow's CPU, and a chain of layers
leaves back-to-back transposes that the ``layout`` pass cancels. Constant weights are
rearranged at import (OIHW -> HWIO); 1-D convs get a unit height (ExpandDims / Squeeze).

    Conv(x f32[1,3,8,8], w f32[16,3,3,3], b, pads=[1,1,1,1])
        -> Transpose(BiasAdd(Conv2D(Transpose(x), w_hwio) EXPLICIT [0,0,1,1,1,1,0,0], b))
    Conv(group == C_in, w [C*m,1,k,k])          -> DepthwiseConv2dNative, filter [k,k,C,m]
    Conv(group g)                               -> Conv2D with filter [k,k,C/g,O] (TF groups)
    ConvTranspose(2-D, group 1)                 -> Conv2DBackpropInput (+ Pad for extra zeros)
    ConvTranspose(1-D/3-D, groups, odd pads)    -> OnnxConvTranspose (channels-first)
    Conv(3-D and higher)                        -> OnnxConv (channels-first, any rank)
    ConvInteger(x, w, zero points)              -> the same on int32 after subtracting them
    QLinearConv                                 -> ConvInteger's, rescaled and requantized

SAME_UPPER is TensorFlow's SAME; SAME_LOWER and explicit pads become EXPLICIT paddings.
Pooling is in gcc_flow/onnx/ops/pool.py.
"""
from __future__ import annotations

import numpy as np

from gcc_flow.framework import apply_op
from gcc_flow.onnx.ops import converter
from gcc_flow.onnx.ops.tf_graph import (
    cast, const, expand_dims, known_rank, requantize, reshape, squeeze, static_shape,
    transpose)
from schema.dtypes import DType
from schema.ops.onnx_ext_nn import conv_transpose_window, pool_window

__all__ = ["window_params", "tf_padding", "to_nhwc", "from_nhwc", "TO_NHWC", "TO_NCHW"]

TO_NHWC, TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)


def window_params(ctx, node, x, w=None) -> dict:
    """kernel_shape, strides, dilations, pads (pairs), auto_pad with ONNX's defaults."""
    spatial = known_rank(ctx, node, x) - 2
    kernel = ctx.attr(node, "kernel_shape")
    if kernel is None and w is not None and w.shape is not None:
        kernel = list(w.shape[2:])
    if kernel is None or None in kernel or len(kernel) != spatial:
        raise ctx.unsupported(node, "without a kernel_shape known at import time")
    pads = ctx.attr(node, "pads") or [0] * (2 * spatial)
    params = {
        "kernel": [int(k) for k in kernel],
        "strides": ctx.attr(node, "strides") or [1] * spatial,
        "dilations": ctx.attr(node, "dilations") or [1] * spatial,
        "pads": [(pads[i], pads[i + spatial]) for i in range(spatial)],
        "auto_pad": ctx.attr(node, "auto_pad", "NOTSET") or "NOTSET",
    }
    if len(pads) != 2 * spatial or any(len(params[k]) != spatial for k in ("strides",
                                                                             "dilations")):
        raise ctx.fail(node, f"pads, strides and dilations must match {spatial} spatial dims")
    return params


def as_2d(params: dict) -> dict:
    """A 1-D window as 2-D with a unit height."""
    return {"kernel": [1] + params["kernel"], "strides": [1] + params["strides"],
            "dilations": [1] + params["dilations"], "pads": [(0, 0)] + params["pads"],
            "auto_pad": params["auto_pad"]}


def tf_padding(ctx, node, params: dict, in_hw) -> dict:
    """The padding attrs of a TF window op: SAME, VALID or EXPLICIT (NHWC pairs)."""
    auto_pad = params["auto_pad"]
    if auto_pad == "SAME_UPPER":
        return {"padding": "SAME"}
    if auto_pad == "VALID" or (auto_pad == "NOTSET" and not any(map(any, params["pads"]))):
        return {"padding": "VALID"}
    pads = params["pads"]
    if auto_pad == "SAME_LOWER":
        if in_hw is None or None in in_hw:
            raise ctx.unsupported(node, "auto_pad SAME_LOWER on spatial dims unknown at import")
        pads = [pool_window(d, k, s, dl, (0, 0), auto_pad, False, lambda m: ctx.fail(node, m))[1:]
                for d, k, s, dl in zip(in_hw, params["kernel"], params["strides"],
                                       params["dilations"])]
    flat = [0, 0] + [int(v) for pair in pads for v in pair] + [0, 0]
    return {"padding": "EXPLICIT", "explicit_paddings": flat}


def to_nhwc(ctx, x):
    return transpose(ctx, x, TO_NHWC)


def from_nhwc(ctx, y):
    return transpose(ctx, y, TO_NCHW)


def _four(values) -> list:
    return [1, int(values[0]), int(values[1]), 1]


def _weights(ctx, w, perm, shape=None):
    """Weights rearranged: numpy at import when constant, Reshape/Transpose ops otherwise."""
    value = ctx.static_value(w)
    if value is not None:
        value = value.reshape(shape) if shape is not None else value
        return const(ctx, np.ascontiguousarray(value.transpose(perm)))
    return transpose(ctx, reshape(ctx, w, shape) if shape is not None else w, perm)


# -- Conv -----------------------------------------------------------------------------------------

@converter("Conv", since=1)
def conv(ctx, node) -> list:
    x, w, b = (ctx.input(node, i) for i in range(3))
    return [_conv(ctx, node, x, w, b)]


@converter("ConvInteger", since=10)
def conv_integer(ctx, node) -> list:
    """(x - x_zero_point) conv (w - w_zero_point) in int32; w's zero point may be per output
    channel. The subtraction comes first, so padding with zeros pads with the zero point."""
    x, w, x_zero, w_zero = (ctx.input(node, i) for i in range(4))
    x, w = cast(x, DType.INT32), cast(w, DType.INT32)
    if x_zero is not None:
        x = apply_op("Sub", [x, cast(x_zero, DType.INT32)])
    if w_zero is not None:
        w_zero = cast(w_zero, DType.INT32)
        if w_zero.shape is not None and len(w_zero.shape) == 1:
            w_zero = reshape(ctx, w_zero, [-1] + [1] * (known_rank(ctx, node, w) - 1))
        w = apply_op("Sub", [w, w_zero])
    return [_conv(ctx, node, x, w, None)]


@converter("QLinearConv", since=10)
def qlinear_conv(ctx, node) -> list:
    """ConvInteger's int32 convolution (+ the int32 bias), rescaled by x_scale * w_scale /
    y_scale (w_scale per output channel or one) and requantized to y_zero_point's type."""
    x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero, b = (ctx.input(node, i)
                                                                   for i in range(9))
    x_int = apply_op("Sub", [cast(x, DType.INT32), cast(x_zero, DType.INT32)])
    spatial = known_rank(ctx, node, x) - 2
    w_int = apply_op("Sub", [cast(w, DType.INT32), _per_channel(ctx, w_zero, spatial + 1,
                                                                 DType.INT32)])
    acc = _conv(ctx, node, x_int, w_int, None)
    if b is not None:
        acc = apply_op("AddV2", [acc, _per_channel(ctx, b, spatial, DType.INT32)])
    w_scale = _per_channel(ctx, w_scale, spatial, w_scale.dtype.base)
    scale = apply_op("RealDiv", [apply_op("Mul", [x_scale, w_scale]), y_scale])
    out_type = (y_zero if y_zero is not None else x).dtype.base
    return [requantize(ctx, acc, scale, y_zero, out_type)]


def _per_channel(ctx, value, trailing: int, dtype: DType):
    """A 1-D per-channel parameter [C] as [C, 1, ...] with ``trailing`` unit dims."""
    value = cast(value, dtype)
    if value.shape is not None and len(value.shape) == 1 and value.shape[0] != 1:
        return reshape(ctx, value, [-1] + [1] * trailing)
    return value


def _conv(ctx, node, x, w, b):
    rank = known_rank(ctx, node, x)
    if rank < 3:
        raise ctx.fail(node, f"input must be [N, C, D1, ...], got rank {rank}")
    params = window_params(ctx, node, x, w)
    lower_unknown = params["auto_pad"] == "SAME_LOWER" and static_shape(x) is None
    if rank > 4 or lower_unknown:   # the extension op resolves SAME_LOWER when it runs
        return _conv_nd(ctx, node, x, w, b, params)
    if rank == 3:
        x, w, params = expand_dims(ctx, x, 2), expand_dims(ctx, w, 2), as_2d(params)
    y = _conv2d(ctx, node, x, w, b, params)
    return squeeze(y, [2]) if rank == 3 else y


def _conv_nd(ctx, node, x, w, b, params: dict):
    """3-D and higher: the channels-first OnnxConv extension op (+ bias)."""
    attrs = {"kernel_shape": params["kernel"], "strides": params["strides"],
             "dilations": params["dilations"],
             "pads": [p[0] for p in params["pads"]] + [p[1] for p in params["pads"]],
             "auto_pad": params["auto_pad"], "group": ctx.attr(node, "group", 1)}
    y = apply_op("OnnxConv", [x, w], attrs)
    if b is not None:
        y = apply_op("AddV2", [y, reshape(ctx, b, [-1] + [1] * (len(params["kernel"])))])
    return y


def _conv2d(ctx, node, x, w, b, params: dict):
    group = ctx.attr(node, "group", 1)
    w_shape = w.shape
    if w_shape is None or len(w_shape) != 4 or None in w_shape:
        raise ctx.unsupported(node, "with weights of a shape unknown at import time")
    out_c, in_per_group = w_shape[0], w_shape[1]
    if out_c % group:
        raise ctx.fail(node, f"{out_c} output channels are not divisible by group {group}")
    attrs = {"strides": _four(params["strides"]), "dilations": _four(params["dilations"]),
             "data_format": "NHWC",
             **tf_padding(ctx, node, params, None if x.shape is None else x.shape[2:])}
    xt = to_nhwc(ctx, x)
    if group > 1 and in_per_group == 1 and x.dtype.is_floating:
        mult = out_c // group
        filt = _weights(ctx, w, (2, 3, 0, 1), (group, mult) + tuple(w_shape[2:]))
        y = apply_op("DepthwiseConv2dNative", [xt, filt], attrs)
    else:
        y = apply_op("Conv2D", [xt, _weights(ctx, w, (2, 3, 1, 0))], attrs)
    if b is not None:
        y = apply_op("BiasAdd", [y, b], {"data_format": "NHWC"})
    return from_nhwc(ctx, y)


# -- ConvTranspose --------------------------------------------------------------------------------

def _transpose_attrs(ctx, node, params: dict) -> dict:
    spatial = len(params["kernel"])
    output_shape = ctx.attr(node, "output_shape") or []
    return {"kernel_shape": params["kernel"], "strides": params["strides"],
            "dilations": params["dilations"],
            "pads": [p[0] for p in params["pads"]] + [p[1] for p in params["pads"]],
            "output_padding": ctx.attr(node, "output_padding") or [0] * spatial,
            "output_shape": list(output_shape)[-spatial:] if output_shape else [],
            "auto_pad": params["auto_pad"], "group": ctx.attr(node, "group", 1)}


@converter("ConvTranspose", since=1)
def conv_transpose(ctx, node) -> list:
    x, w, b = (ctx.input(node, i) for i in range(3))
    rank = known_rank(ctx, node, x)
    params = window_params(ctx, node, x, w)
    attrs = _transpose_attrs(ctx, node, params)
    tf_ok = rank == 4 and attrs["group"] == 1 and static_shape(w) is not None
    plans = _tf_transpose_plans(x, attrs) if tf_ok else None
    if plans is None:
        y = apply_op("OnnxConvTranspose", [x, w], attrs)
        if b is not None:
            y = apply_op("AddV2", [y, reshape(ctx, b, [-1] + [1] * (rank - 2))])
        return [y]
    return [_backprop_input(ctx, x, w, b, attrs, plans)]


def _tf_transpose_plans(x, attrs: dict):
    """Per spatial dim (out, crop, tf_out, tf_pad_after) when Conv2DBackpropInput can do it:
    known sizes, a crop >= 0 and a non-empty result."""
    shape = static_shape(x)
    if shape is None:
        return None
    plans = []
    for i, size in enumerate(shape[2:]):
        k, s, d = attrs["kernel_shape"][i], attrs["strides"][i], attrs["dilations"][i]
        out, crop = conv_transpose_window(
            size, k, s, d, (attrs["pads"][i], attrs["pads"][i + 2]), attrs["output_padding"][i],
            attrs["output_shape"][i] if attrs["output_shape"] else None, attrs["auto_pad"])
        full = s * (size - 1) + (k - 1) * d + 1
        tf_out = min(out, full - crop)
        if crop < 0 or tf_out < 1:
            return None
        plans.append((out, crop, tf_out, full - crop - tf_out))
    return plans


def _backprop_input(ctx, x, w, b, attrs: dict, plans: list):
    """Conv2DBackpropInput with EXPLICIT pads (crop, the rest): the forward conv of its output
    size gives back the input size; positions past the full result are zero-padded after."""
    sizes = [x.shape[0], plans[0][2], plans[1][2], w.shape[1]]
    tf_attrs = {"strides": _four(attrs["strides"]), "dilations": _four(attrs["dilations"]),
                "data_format": "NHWC", "padding": "EXPLICIT",
                "explicit_paddings": [0, 0] + [v for p in plans for v in (p[1], p[3])] + [0, 0]}
    y = apply_op("Conv2DBackpropInput", [const(ctx, np.array(sizes, np.int32)),
                                         _weights(ctx, w, (2, 3, 1, 0)), to_nhwc(ctx, x)],
                 tf_attrs)
    extra = [[0, 0]] + [[0, out - tf_out] for out, _, tf_out, _ in plans] + [[0, 0]]
    if any(e for _, e in extra):
        y = apply_op("Pad", [y, const(ctx, np.array(extra, np.int64))])
    if b is not None:
        y = apply_op("BiasAdd", [y, b], {"data_format": "NHWC"})
    return from_nhwc(ctx, y)
