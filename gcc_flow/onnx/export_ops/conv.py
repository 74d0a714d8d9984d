"""Convolutions and pooling -> ONNX Conv/MaxPool/AveragePool, which work on NCHW: NHWC data is
transposed in and out, HWIO filters become OIHW (at export time when they are constants).

    Conv2D(x NHWC, w HWIO) SAME/s2 -> Transpose(Conv(Transpose(x, [0,3,1,2]), w', pads,
        strides=[2,2]), [0,2,3,1])
    DepthwiseConv2dNative(x, w [kh,kw,C,M]) -> Conv(group=C, W [C*M, 1, kh, kw])
    _FusedConv2D(x, w, [b]) ["BiasAdd", "Relu"] -> Relu(Conv(x, w, B=b))

SAME padding becomes explicit pads computed as TensorFlow does (extra at the end) when the
spatial input size is known, else auto_pad SAME_UPPER (the same rule).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from gcc_flow.onnx.export_ops import emitter
from gcc_flow.onnx.export_ops.builder import ExportContext
from gcc_flow.onnx.export_ops.nn import (apply_activation, apply_batch_norm, batch_norm_params,
                                         fused_parts)
from schema.dtypes import DType
from schema.ir import Node

_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def _nhwc(node: Node) -> bool:
    return node.attrs.get("data_format", "NHWC") in ("NHWC", b"NHWC")


def _spatial(node: Node, values) -> list[int]:
    """The H and W entries of a 4-entry attr (strides, dilations, ksize) in data_format order."""
    values = list(values)
    return values[1:3] if _nhwc(node) else values[2:4]


def _check_batch_channel(ctx: ExportContext, node: Node, attr: str) -> None:
    values = list(node.attrs.get(attr) or [1, 1, 1, 1])
    if len(values) != 4:
        raise ctx.unsupported(node, f"{attr} {values} must have 4 entries")
    outer = [values[0], values[3]] if _nhwc(node) else values[:2]
    if outer != [1, 1]:
        raise ctx.unsupported(node, f"{attr} {values} on the batch or channel dimension")


def _same_pads(in_sizes: list, kernel: list, strides: list, dilations: list) -> list[int]:
    """TensorFlow's SAME: output ceil(in / stride), padding split with the extra at the end."""
    before, after = [], []
    for size, k, s, d in zip(in_sizes, kernel, strides, dilations):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        before.append(total // 2)
        after.append(total - total // 2)
    return before + after


def padding_attrs(ctx: ExportContext, node: Node, kernel: Optional[list], strides: list,
                  dilations: list, sizes: Optional[list] = None) -> dict:
    """ONNX pads/auto_pad for the node's padding ('SAME', 'VALID', 'EXPLICIT') on spatial
    input ``sizes`` (default: from input 0's shape)."""
    padding = node.attrs.get("padding")
    padding = padding.decode() if isinstance(padding, bytes) else padding
    if padding == "VALID":
        return {}
    if padding == "EXPLICIT":
        pairs = np.asarray(node.attrs.get("explicit_paddings") or [0] * 8).reshape(4, 2)
        hw = pairs[1:3] if _nhwc(node) else pairs[2:4]
        return {"pads": [int(hw[0][0]), int(hw[1][0]), int(hw[0][1]), int(hw[1][1])]}
    if sizes is None:
        shape = ctx.shape(node, 0)
        sizes = None if shape is None else _spatial(node, shape)
    if kernel is None or sizes is None or None in sizes or None in kernel:
        return {"auto_pad": "SAME_UPPER"}
    return {"pads": _same_pads(sizes, kernel, strides, dilations)}


def _to_nchw(ctx: ExportContext, node: Node) -> str:
    x = ctx.input(node, 0)
    return ctx.transpose(x, _TO_NCHW) if _nhwc(node) else x


def _from_nchw(ctx: ExportContext, node: Node, y: str) -> str:
    return ctx.transpose(y, _TO_NHWC) if _nhwc(node) else y


def _filter(ctx: ExportContext, node: Node, depthwise: bool) -> tuple[str, Optional[list]]:
    """(ONNX OIHW weight, [kh, kw] or None) from the TF filter (HWIO, or [kh,kw,C,M])."""
    w = ctx.static(node, 1)
    if node.attrs.get("filter_format", "HWIO") not in ("HWIO", b"HWIO"):
        raise ctx.unsupported(node, f"filter_format {node.attrs.get('filter_format')}")
    shape = ctx.shape(node, 1)
    if shape is not None and len(shape) != 4:
        raise ctx.unsupported(node, f"filter of rank {len(shape)}")
    kernel = None if shape is None else list(shape[:2])
    if w is not None:
        w = np.asarray(w)
        if depthwise:
            w = w.reshape(w.shape[0], w.shape[1], 1, -1)
        return ctx.const(w.transpose(3, 2, 0, 1).copy()), kernel
    value = ctx.input(node, 1)
    if depthwise:
        if shape is None or None in shape:
            raise ctx.unsupported(node, "a computed depthwise filter of unknown shape")
        value = ctx.emit("Reshape", [value, ctx.ints([shape[0], shape[1], 1, -1])])
    return ctx.transpose(value, [3, 2, 0, 1]), kernel


def _group(ctx: ExportContext, node: Node, depthwise: bool) -> int:
    x_shape, w_shape = ctx.shape(node, 0), ctx.shape(node, 1)
    channels = None if x_shape is None or len(x_shape) != 4 else (
        x_shape[3] if _nhwc(node) else x_shape[1])
    if depthwise:
        if channels is None:
            channels = None if w_shape is None else w_shape[2]
        if channels is None:
            raise ctx.unsupported(node, "depthwise convolution with unknown channel count")
        return int(channels)
    if channels is None or w_shape is None or w_shape[2] in (None, channels):
        return 1
    return int(channels // w_shape[2])


def _check_float(ctx: ExportContext, node: Node, i: int) -> None:
    dtype = ctx.dtype(node, i)
    byte_max_pool = node.op == "MaxPool" and dtype in (DType.INT8, DType.UINT8)
    if not dtype.is_floating and not byte_max_pool:
        raise ctx.unsupported(node, f"{dtype.tf_name} data (ONNX {node.op} takes float types)")


def conv(ctx: ExportContext, node: Node, depthwise: bool, bias: Optional[str] = None) -> str:
    """The ONNX Conv of a (possibly fused) 2-D convolution, still in NCHW."""
    _check_float(ctx, node, 0)
    _check_batch_channel(ctx, node, "strides")
    _check_batch_channel(ctx, node, "dilations")
    strides = _spatial(node, node.attrs["strides"])
    dilations = _spatial(node, node.attrs.get("dilations") or [1, 1, 1, 1])
    w, kernel = _filter(ctx, node, depthwise)
    attrs = padding_attrs(ctx, node, kernel, strides, dilations)
    return ctx.emit("Conv", [_to_nchw(ctx, node), w] + ([bias] if bias else []),
                    strides=strides, dilations=dilations,
                    group=_group(ctx, node, depthwise), **attrs)


@emitter("Conv2D")
def conv2d(ctx: ExportContext, node: Node) -> str:
    return _from_nchw(ctx, node, conv(ctx, node, depthwise=False))


@emitter("DepthwiseConv2dNative")
def depthwise_conv2d(ctx: ExportContext, node: Node) -> str:
    return _from_nchw(ctx, node, conv(ctx, node, depthwise=True))


@emitter("_FusedConv2D", "_FusedDepthwiseConv2dNative")
def fused_conv2d(ctx: ExportContext, node: Node) -> str:
    first, activation = fused_parts(ctx, node)
    if node.attrs.get("num_host_args", 0):
        raise ctx.unsupported(node, "host_args")
    depthwise = node.op == "_FusedDepthwiseConv2dNative"
    if first == "BiasAdd":
        y = conv(ctx, node, depthwise, bias=ctx.input(node, 2))
    else:  # FusedBatchNorm on the convolution's output, per channel (axis 1 in NCHW)
        y = conv(ctx, node, depthwise)
        dtype = node.out_types[0].base
        y = apply_batch_norm(ctx, y, batch_norm_params(ctx, node, 2, [-1, 1, 1], dtype))
    return _from_nchw(ctx, node, apply_activation(ctx, node, y, activation))


@emitter("MaxPool", "AvgPool")
def pool(ctx: ExportContext, node: Node) -> str:
    if ctx.rank(node, 0) not in (4, None):
        raise ctx.unsupported(node, f"input of rank {ctx.rank(node, 0)}")
    _check_batch_channel(ctx, node, "ksize")
    _check_batch_channel(ctx, node, "strides")
    _check_float(ctx, node, 0)
    kernel = _spatial(node, node.attrs["ksize"])
    strides = _spatial(node, node.attrs["strides"])
    attrs = padding_attrs(ctx, node, kernel, strides, [1, 1])
    op_type = "MaxPool" if node.op == "MaxPool" else "AveragePool"
    if op_type == "AveragePool":
        attrs["count_include_pad"] = 0  # TF averages the valid elements of edge windows
    y = ctx.emit(op_type, [_to_nchw(ctx, node)], kernel_shape=kernel, strides=strides, **attrs)
    return _from_nchw(ctx, node, y)


def _forward_pads(ctx: ExportContext, node: Node, sizes: list, kernel: list, strides: list,
                  dilations: list) -> list[int]:
    """The pads [top, left, bottom, right] of the forward convolution on ``sizes``."""
    attrs = padding_attrs(ctx, node, kernel, strides, dilations, sizes)
    return list(attrs.get("pads", [0, 0, 0, 0]))


@emitter("Conv2DBackpropInput")
def conv2d_backprop_input(ctx: ExportContext, node: Node) -> str:
    """The gradient of Conv2D for its input: ConvTranspose with the forward conv's pads and the
    output_padding that gives back ``input_sizes`` exactly."""
    _check_float(ctx, node, 2)
    _check_batch_channel(ctx, node, "strides")
    _check_batch_channel(ctx, node, "dilations")
    sizes = _spatial(node, ctx.static_ints(node, 0, "input_sizes"))
    strides = _spatial(node, node.attrs["strides"])
    dilations = _spatial(node, node.attrs.get("dilations") or [1, 1, 1, 1])
    w, kernel = _filter(ctx, node, depthwise=False)
    if kernel is None or None in kernel:
        raise ctx.unsupported(node, "filter of unknown spatial size")
    pads = _forward_pads(ctx, node, sizes, kernel, strides, dilations)
    out_padding = []
    for i, (size, k, s, d) in enumerate(zip(sizes, kernel, strides, dilations)):
        span = (k - 1) * d + 1
        grad = (size + pads[i] + pads[i + 2] - span) // s + 1   # the forward output size
        out_padding.append(size - (s * (grad - 1) + span - pads[i] - pads[i + 2]))
    x = ctx.input(node, 2)
    x = ctx.transpose(x, _TO_NCHW) if _nhwc(node) else x
    y = ctx.emit("ConvTranspose", [x, w], strides=strides, dilations=dilations, pads=pads,
                 output_padding=out_padding if any(out_padding) else None)
    return _from_nchw(ctx, node, y)


@emitter("LRN")
def lrn(ctx: ExportContext, node: Node) -> str:
    """TF sums squares over depth_radius on each side of the last axis, scaled by alpha; ONNX
    over ``size`` channels (axis 1), scaled by alpha / size."""
    radius = int(node.attrs.get("depth_radius", 5))
    size = 2 * radius + 1
    x = ctx.transpose(ctx.input(node, 0), _TO_NCHW)
    y = ctx.emit("LRN", [x], size=size, alpha=float(node.attrs.get("alpha", 1.0)) * size,
                 beta=float(node.attrs.get("beta", 0.5)), bias=float(node.attrs.get("bias", 1.0)))
    return ctx.transpose(y, _TO_NHWC)
