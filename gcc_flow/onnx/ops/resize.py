"""ONNX Resize and Upsample as the OnnxResize extension op (numpy kernel in
runtime/kernels/onnx_ext_resize.py: separable interpolation, any rank).

    Resize(x, roi, scales, sizes) mode=linear     -> OnnxResize(x, roi f32, scales f32, sizes i64)
    Resize-10(x, scales) / Upsample(x, scales)    -> OnnxResize asymmetric, nearest_mode 'simple'

Inputs stay run-time values (ONNX backend tests feed scales and sizes), so nothing needs to be
constant at import.
"""
from __future__ import annotations

import numpy as np

from gcc_flow.framework import apply_op
from gcc_flow.onnx.ops import converter
from gcc_flow.onnx.ops.tf_graph import cast, const, empty, to_int64
from schema.dtypes import DType

__all__: list = []   # converters register themselves

_MODES = {"nearest": "nearest", "linear": "linear", "bilinear": "linear", "cubic": "cubic"}
_COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
                     "align_corners", "asymmetric", "tf_crop_and_resize")
_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _float_input(ctx, tensor):
    return empty(ctx, DType.FLOAT) if tensor is None else cast(tensor, DType.FLOAT)


def _mode(ctx, node) -> str:
    mode = ctx.attr(node, "mode", "nearest")
    if mode not in _MODES:
        raise ctx.unsupported(node, f"mode {mode!r}")
    return _MODES[mode]


def _resize_op(ctx, node, x, roi, scales, sizes, attrs: dict):
    sizes = empty(ctx, DType.INT64) if sizes is None else to_int64(ctx, sizes)
    return apply_op("OnnxResize", [x, _float_input(ctx, roi), _float_input(ctx, scales), sizes],
                    attrs)


@converter("Resize", since=10)
def resize_v10(ctx, node) -> list:
    attrs = {"mode": _mode(ctx, node), "coordinate_transformation_mode": "asymmetric",
             "nearest_mode": "simple"}
    return [_resize_op(ctx, node, ctx.input(node, 0), None, ctx.input(node, 1), None, attrs)]


@converter("Resize", since=11)
def resize(ctx, node) -> list:
    x, roi, scales, sizes = (ctx.input(node, i) for i in range(4))
    attrs = {"mode": _mode(ctx, node)}
    choices = {"coordinate_transformation_mode": _COORDINATE_MODES,
               "nearest_mode": _NEAREST_MODES,
               "keep_aspect_ratio_policy": ("stretch", "not_larger", "not_smaller")}
    for name, allowed in choices.items():
        value = ctx.attr(node, name)
        if value is not None:
            if value not in allowed:
                raise ctx.unsupported(node, f"{name} {value!r}")
            attrs[name] = value
    for name in ("cubic_coeff_a", "extrapolation_value"):
        if ctx.has_attr(node, name):
            attrs[name] = float(ctx.attr(node, name))
    for name in ("exclude_outside", "antialias"):
        attrs[name] = bool(ctx.attr(node, name, 0))
    if ctx.attr(node, "axes") is not None:
        attrs["axes"] = [int(a) for a in ctx.attr(node, "axes")]
    return [_resize_op(ctx, node, x, roi, scales, sizes, attrs)]


@converter("Upsample", since=7)
def upsample(ctx, node) -> list:
    x = ctx.input(node, 0)
    if ctx.opset < 9:
        scales = const(ctx, np.array(ctx.attr(node, "scales"), np.float32))
    else:
        scales = ctx.input(node, 1)
    attrs = {"mode": _mode(ctx, node), "coordinate_transformation_mode": "asymmetric",
             "nearest_mode": "simple"}
    return [_resize_op(ctx, node, x, None, scales, None, attrs)]
