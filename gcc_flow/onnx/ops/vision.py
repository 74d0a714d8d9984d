"""ONNX vision ops with no TensorFlow equivalent, as extension ops (channels-first, numpy kernels
in runtime/kernels/onnx_ext_sample.py and onnx_ext_vision.py).

    GridSample(x, grid, mode=bilinear)          -> OnnxGridSample mode='linear' (opset 16 names
                                                   bilinear/bicubic are linear/cubic)
    AffineGrid(theta, size)                     -> OnnxAffineGrid
    RoiAlign(x, rois, batch_indices)            -> OnnxRoiAlign (opset 10: output_half_pixel)
    NonMaxSuppression(boxes, scores, ...)       -> OnnxNonMaxSuppression
    MaxUnpool(x, indices[, output_shape])       -> OnnxMaxUnpool
    Col2Im(x, image_shape, block_shape)         -> OnnxCol2Im
    DeformConv(x, w, offset[, B, mask])         -> OnnxDeformConv
Absent optional inputs are passed as empty tensors.
"""
from __future__ import annotations

from gcc_flow.framework import apply_op
from gcc_flow.onnx.ops import converter
from gcc_flow.onnx.ops.tf_graph import cast, empty, to_int64
from schema.dtypes import DType

__all__: list = []   # converters register themselves

_SAMPLE_MODES = {"bilinear": "linear", "linear": "linear", "nearest": "nearest",
                 "bicubic": "cubic", "cubic": "cubic"}


def _choice(ctx, node, name: str, default: str, allowed) -> str:
    value = ctx.attr(node, name, default)
    if value not in allowed:
        raise ctx.unsupported(node, f"{name} {value!r}")
    return value


@converter("GridSample", since=16)
def grid_sample(ctx, node) -> list:
    mode = _SAMPLE_MODES.get(ctx.attr(node, "mode", "bilinear" if ctx.opset < 20 else "linear"))
    if mode is None:
        raise ctx.unsupported(node, f"mode {ctx.attr(node, 'mode')!r}")
    attrs = {"mode": mode, "align_corners": bool(ctx.attr(node, "align_corners", 0)),
             "padding_mode": _choice(ctx, node, "padding_mode", "zeros",
                                     ("zeros", "border", "reflection"))}
    return [apply_op("OnnxGridSample", [ctx.input(node, 0), ctx.input(node, 1)], attrs)]


@converter("AffineGrid", since=20)
def affine_grid(ctx, node) -> list:
    theta, size = ctx.input(node, 0), to_int64(ctx, ctx.input(node, 1), flatten=True)
    return [apply_op("OnnxAffineGrid", [theta, size],
                     {"align_corners": bool(ctx.attr(node, "align_corners", 0))})]


@converter("RoiAlign", since=10)
def roi_align(ctx, node) -> list:
    x, rois, batch_indices = (ctx.input(node, i) for i in range(3))
    default = "half_pixel" if ctx.opset >= 16 else "output_half_pixel"
    transform = _choice(ctx, node, "coordinate_transformation_mode", default,
                        ("half_pixel", "output_half_pixel"))
    attrs = {"mode": _choice(ctx, node, "mode", "avg", ("avg", "max")),
             "output_height": ctx.attr(node, "output_height", 1),
             "output_width": ctx.attr(node, "output_width", 1),
             "sampling_ratio": ctx.attr(node, "sampling_ratio", 0),
             "spatial_scale": float(ctx.attr(node, "spatial_scale", 1.0)),
             "half_pixel": transform == "half_pixel"}
    rois = cast(rois, x.dtype.base)
    return [apply_op("OnnxRoiAlign", [x, rois, to_int64(ctx, batch_indices)], attrs)]


@converter("NonMaxSuppression", since=10)
def non_max_suppression(ctx, node) -> list:
    inputs = [ctx.input(node, i) for i in range(5)]
    types = [DType.FLOAT, DType.FLOAT, DType.INT64, DType.FLOAT, DType.FLOAT]
    args = [empty(ctx, t) if v is None else cast(v, t) for v, t in zip(inputs, types)]
    return [apply_op("OnnxNonMaxSuppression", args,
                     {"center_point_box": ctx.attr(node, "center_point_box", 0)})]


def _window_attrs(ctx, node, names) -> dict:
    return {name: [int(v) for v in ctx.attr(node, name)] for name in names
            if ctx.attr(node, name) is not None}


@converter("MaxUnpool", since=9)
def max_unpool(ctx, node) -> list:
    x, indices, output_shape = (ctx.input(node, i) for i in range(3))
    shape = empty(ctx, DType.INT64) if output_shape is None else to_int64(ctx, output_shape, True)
    attrs = _window_attrs(ctx, node, ("kernel_shape", "strides", "pads"))
    return [apply_op("OnnxMaxUnpool", [x, to_int64(ctx, indices), shape], attrs)]


@converter("Col2Im", since=18)
def col2im(ctx, node) -> list:
    x, image_shape, block_shape = (ctx.input(node, i) for i in range(3))
    attrs = _window_attrs(ctx, node, ("strides", "dilations", "pads"))
    return [apply_op("OnnxCol2Im", [x, to_int64(ctx, image_shape, True),
                                    to_int64(ctx, block_shape, True)], attrs)]


@converter("DeformConv", since=19)
def deform_conv(ctx, node) -> list:
    x, w, offset, b, mask = (ctx.input(node, i) for i in range(5))
    if x.shape is not None and len(x.shape) != 4:
        raise ctx.unsupported(node, f"on rank-{len(x.shape)} input (2-D only)")
    attrs = _window_attrs(ctx, node, ("kernel_shape", "strides", "dilations", "pads"))
    attrs.update(group=ctx.attr(node, "group", 1), offset_group=ctx.attr(node, "offset_group", 1))
    b = empty(ctx, x.dtype.base) if b is None else b
    mask = empty(ctx, x.dtype.base) if mask is None else mask
    return [apply_op("OnnxDeformConv", [x, w, offset, b, mask], attrs)]
