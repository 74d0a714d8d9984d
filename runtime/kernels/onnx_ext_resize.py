"""Kernel of OnnxResize: ONNX Resize (and Upsample) on any rank, one axis at a time.

Resizing is separable: for each resized axis, every output position gets its source taps and
their weights from its source coordinate, and the data is gathered and weighed along that axis.

    in 2, out 4, linear, half_pixel: coordinates [-0.25, 0.25, 0.75, 1.25]
        -> taps [-1, 0], [0, 1], [0, 1], [1, 2] clamped to [0, 1], weights [.25, .75], [.75, .25],
           [.25, .75], [.75, .25]

Nearest picks one source per row (nearest_mode rounding), linear and cubic weigh the taps
around the coordinate with their kernel (stretched by 1/scale when antialiasing a downscale).
tf_crop_and_resize gives extrapolation_value where the coordinate leaves the input.
"""
from __future__ import annotations

import math

import numpy as np

from runtime.kernels import KernelContext, kernel
from runtime.kernels.array import check_budget
from schema.ops.onnx_ext_nn import resize_target

# nearest_mode -> the source index of coordinate x (scale is the axis' scale factor).
_NEAREST = {
    "round_prefer_floor": lambda x, scale: np.ceil(x - 0.5),
    "round_prefer_ceil": lambda x, scale: np.floor(x + 0.5),
    "floor": lambda x, scale: np.floor(x),
    "ceil": lambda x, scale: np.ceil(x),
    # onnxruntime's rule for Resize-10 and Upsample: ceil when downscaling, else truncate.
    "simple": lambda x, scale: np.ceil(x) if scale < 1 else np.trunc(x),
}


def _cubic(a: float):
    def weight(t: np.ndarray) -> np.ndarray:
        t = np.abs(t)
        near = ((a + 2) * t - (a + 3)) * t * t + 1
        far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
        return np.where(t <= 1, near, np.where(t < 2, far, 0.0))
    return weight


def _linear(t: np.ndarray) -> np.ndarray:
    return np.clip(1 - np.abs(t), 0, None)


def source_coordinates(mode: str, out_size: int, in_size: int, scale: float, roi) -> tuple:
    """(x, outside): the input coordinate of each output position, and for
    tf_crop_and_resize where it falls outside the input (None otherwise)."""
    y = np.arange(out_size, dtype=np.float64)
    width = scale * in_size
    if mode == "align_corners":
        return (np.zeros_like(y) if width == 1 else y * (in_size - 1) / (width - 1)), None
    if mode == "asymmetric":
        return y / scale, None
    if mode == "tf_crop_and_resize":
        start, end = roi
        x = (np.full_like(y, (end - start) * (in_size - 1) / 2) if width == 1
             else y * (end - start) * (in_size - 1) / (width - 1))
        x = x + start * (in_size - 1)
        return x, (x < 0) | (x > in_size - 1)
    if mode == "pytorch_half_pixel":
        return (np.full_like(y, -0.5) if width == 1 else (y + 0.5) / scale - 0.5), None
    if mode == "half_pixel_symmetric":
        offset = in_size / 2 * (1 - out_size / width)
        return offset + (y + 0.5) / scale - 0.5, None
    return (y + 0.5) / scale - 0.5, None   # half_pixel


def axis_taps(ctx: KernelContext, in_size: int, out_size: int, scale: float, roi) -> tuple:
    """(source indices [out, taps], weights [out, taps], outside mask or None) of one axis;
    taps outside the input read the edge (their index is clamped)."""
    x, outside = source_coordinates(ctx.attr("coordinate_transformation_mode", "half_pixel"),
                                    out_size, in_size, scale, roi)
    mode = ctx.attr("mode", "nearest")
    if mode == "nearest":
        index = _NEAREST[ctx.attr("nearest_mode", "round_prefer_floor")](x, scale)
        return np.clip(index, 0, in_size - 1).astype(np.int64)[:, None], \
            np.ones((out_size, 1)), outside
    support, weight = (1, _linear) if mode == "linear" else \
        (2, _cubic(ctx.attr("cubic_coeff_a", -0.75)))
    stretch = min(scale, 1.0) if ctx.attr("antialias", False) else 1.0
    radius = math.ceil(support / stretch)
    check_budget(ctx, [out_size, 2 * radius], np.float64)
    taps = np.floor(x)[:, None] + np.arange(1 - radius, radius + 1)[None, :]
    weights = weight(stretch * (taps - x[:, None]))
    if ctx.attr("antialias", False):
        weights = weights / weights.sum(axis=1, keepdims=True)
    if ctx.attr("exclude_outside", False):
        weights = np.where((taps < 0) | (taps >= in_size), 0.0, weights)
        total = weights.sum(axis=1, keepdims=True)
        weights = weights / np.where(total == 0, 1.0, total)
    return np.clip(taps, 0, in_size - 1).astype(np.int64), weights, outside


def _resize_axis(ctx: KernelContext, data: np.ndarray, axis: int, columns, weights):
    """sum_k weights[o, k] * data[..., columns[o, k], ...] along ``axis``."""
    check_budget(ctx, data.shape[:axis] + columns.shape + data.shape[axis + 1:], np.float64)
    gathered = np.take(data, columns, axis=axis)
    shape = (1,) * axis + weights.shape + (1,) * (data.ndim - axis - 1)
    return (gathered * weights.reshape(shape)).sum(axis=axis + 1)


def _full_roi(roi: np.ndarray, rank: int, axes: list) -> list:
    """[(start, end)] per axis; the default (0, 1) where roi is empty or skips the axis."""
    pairs = [(0.0, 1.0)] * rank
    values = roi.reshape(-1).astype(np.float64).tolist()
    if values:
        chosen = axes or list(range(rank))
        for i, a in enumerate(chosen):
            pairs[a % rank] = (values[i], values[i + len(chosen)])
    return pairs


def _cast_back(result: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.round(result), info.min, info.max).astype(dtype)
    return result.astype(dtype)


@kernel("OnnxResize")
def resize(ctx: KernelContext):
    axes = list(ctx.attr("axes", []) or [])
    policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
    extrapolation = ctx.attr("extrapolation_value", 0.0)

    def run(x, roi, scales, sizes):
        out_shape, factors = resize_target(x.shape, scales.reshape(-1).tolist(),
                                           sizes.reshape(-1).tolist(), axes, policy, ctx.fail)
        check_budget(ctx, out_shape, np.float64)
        rois = _full_roi(roi, x.ndim, axes)
        result = x.astype(np.float64)
        outside = np.zeros((1,) * x.ndim, bool)
        for axis in range(x.ndim):
            if out_shape[axis] == x.shape[axis] and factors[axis] == 1.0 and \
                    rois[axis] == (0.0, 1.0):
                continue
            if x.shape[axis] == 0:
                raise ctx.fail(f"cannot resize the empty axis {axis} to {out_shape[axis]}")
            columns, weights, out_mask = axis_taps(ctx, x.shape[axis], out_shape[axis],
                                                   factors[axis], rois[axis])
            result = _resize_axis(ctx, result, axis, columns, weights)
            if out_mask is not None:
                shape = [1] * x.ndim
                shape[axis] = out_shape[axis]
                outside = outside | out_mask.reshape(shape)
        if outside.any():
            result = np.where(outside, extrapolation, result)
        return _cast_back(result, x.dtype)
    return run
