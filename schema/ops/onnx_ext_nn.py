"""Neural-network ops the ONNX importer needs: DepthToSpace, SpaceToDepth and LRN (TensorFlow's
names, attrs and meaning), and extension ops, prefixed ``Onnx``, for what TensorFlow has no op
for: N-D pooling with ONNX's options, transposed convolution of any rank or group, and Resize.
Extension ops work in ONNX's channels-first layout (N, C, D1, D2, ...).

    DepthToSpace(f32[1,2,3,8]) block_size=2            -> f32[1,4,6,2]
    OnnxPool(f32[1,3,5,5]) mode='avg' kernel_shape=[3,3] ceil_mode=true strides=[2,2]
                                                        -> f32[1,3,2,2]
    OnnxConvTranspose(f32[1,4,3,3], f32[4,2,3,3]) group=2 strides=[2,2] -> f32[1,4,7,7]
    OnnxResize(f32[1,1,2,2], roi[], scales [1,1,2,2], sizes[]) mode='linear' -> f32[1,1,4,4]

The window arithmetic (``pool_window``, ``conv_transpose_window``) is shared with the kernels in
runtime/kernels/onnx_ext_nn.py, so shapes inferred at build time and computed at run time agree.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

from schema.registry import op
from schema.shapes import same_as_input

__all__ = ["pool_window", "conv_transpose_window", "window_attrs", "AUTO_PADS"]

AUTO_PADS = "{'NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'}"
_FLOATS = "{half, bfloat16, float, double}"
Fail = Callable[[str], Exception]


# -- window arithmetic ----------------------------------------------------------------------------

def pool_window(in_size: int, k: int, stride: int, dilation: int, pads: tuple, auto_pad: str,
                ceil_mode: bool, fail: Fail) -> tuple:
    """(output size, pad before, pad after) of one pooled dim, as ONNX defines it.

    pool_window(5, 3, 2, 1, (0, 0), "NOTSET", True, fail) -> (2, 0, 0)
    SAME_*: ceil(in / stride) outputs, the odd pad at the end (UPPER) or start (LOWER).
    ceil_mode: the last window must start inside the input or its leading pad.
    """
    effective = (k - 1) * dilation + 1
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = -(-in_size // stride)
        total = max((out - 1) * stride + effective - in_size, 0)
        before = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
        return out, before, total - before
    before, after = (0, 0) if auto_pad == "VALID" else pads
    span = in_size + before + after - effective
    if span < 0:
        raise fail(f"the window ({effective} with dilation) is larger than the padded input "
                   f"({in_size + before + after})")
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= in_size + before:
        out -= 1
    return out, before, after


def conv_transpose_window(in_size: int, k: int, stride: int, dilation: int, pads: tuple,
                          output_padding: int, output_size: Optional[int],
                          auto_pad: str) -> tuple:
    """(output size, crop at the start) of one ConvTranspose dim.

    The full result has stride * (in - 1) + output_padding + (k - 1) * dilation + 1 positions;
    the output is the window of ``output size`` starting at the crop (zeros beyond the end).
    conv_transpose_window(3, 3, 2, 1, (1, 1), 1, None, "NOTSET") -> (6, 1)
    """
    full = stride * (in_size - 1) + output_padding + (k - 1) * dilation + 1
    if output_size is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        # output_shape (or SAME) generates the pads from the total: the odd one at the end for
        # SAME_UPPER, at the start otherwise (floor division: a negative total crops nothing).
        out = in_size * stride if output_size is None else output_size
        total = full - out
        before = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
        return out, before
    before, after = (0, 0) if auto_pad == "VALID" else pads
    return full - before - after, before


def window_attrs(attr: Callable, spatial: int, fail: Fail) -> tuple:
    """(kernel, strides, dilations, pads as (before, after) pairs) with ONNX's defaults."""
    kernel = list(attr("kernel_shape", []) or [])
    strides = list(attr("strides", []) or []) or [1] * spatial
    dilations = list(attr("dilations", []) or []) or [1] * spatial
    pads = list(attr("pads", []) or []) or [0] * (2 * spatial)
    if not (len(kernel) == len(strides) == len(dilations) == spatial and len(pads) == 2 * spatial):
        raise fail(f"kernel_shape {kernel}, strides {strides}, dilations {dilations} and pads "
                   f"{pads} must have {spatial} entries ({2 * spatial} for pads)")
    if min(kernel + strides + dilations, default=1) < 1 or min(pads, default=0) < 0:
        raise fail("kernel_shape, strides and dilations must be positive, pads non-negative")
    return kernel, strides, dilations, [(pads[i], pads[i + spatial]) for i in range(spatial)]


# -- DepthToSpace, SpaceToDepth, LRN (TensorFlow's ops) -------------------------------------------

def _channel_axes(ctx) -> tuple:
    return (1, 2, 3) if ctx.attr("data_format", "NHWC") == "NHWC" else (2, 3, 1)


def _space_depth_shape(ctx):
    shape, b = ctx.shape(0), ctx.attr("block_size")
    if shape is None:
        return [None]
    if len(shape) != 4:
        raise ctx.fail(f"input must be 4-D, got shape {list(shape)}")
    h, w, c = _channel_axes(ctx)
    out = list(shape)
    to_space = ctx.node.op == "DepthToSpace"
    if shape[c] is not None and to_space and shape[c] % (b * b):
        raise ctx.fail(f"input depth {shape[c]} must be divisible by block_size^2 = {b * b}")
    for axis in (h, w):
        if shape[axis] is not None and not to_space and shape[axis] % b:
            raise ctx.fail(f"spatial dims {list(shape)} must be divisible by block_size {b}")
        out[axis] = None if shape[axis] is None else (shape[axis] * b if to_space
                                                      else shape[axis] // b)
    out[c] = None if shape[c] is None else (shape[c] // (b * b) if to_space else shape[c] * b * b)
    return [tuple(out)]


for _name in ("DepthToSpace", "SpaceToDepth"):
    op(_name, inputs=["input: T"], outputs=["output: T"],
       attrs=["T: type", "block_size: int >= 2",
              "data_format: {'NHWC', 'NCHW', 'NCHW_VECT_C'} = 'NHWC'"],
       shape=_space_depth_shape)

op("LRN", inputs=["input: T"], outputs=["output: T"],
   attrs=["depth_radius: int = 5", "bias: float = 1.0", "alpha: float = 1.0",
          "beta: float = 0.5", "T: {half, bfloat16, float} = float"], shape=same_as_input(0))


# -- pooling and transposed convolution -----------------------------------------------------------

def _spatial_out(ctx, per_dim: Callable) -> Optional[tuple]:
    """Output shape [N, C_out, *spatial] with per_dim(i, size) -> size, or None."""
    shape = ctx.shape(0)
    if shape is None:
        return None
    if len(shape) < 3:
        raise ctx.fail(f"input must be [N, C, D1, ...], got shape {list(shape)}")
    return [None if d is None else per_dim(i, d) for i, d in enumerate(shape[2:])]


def _pool_shape(ctx):
    shape = ctx.shape(0)
    spatial = None if shape is None else len(shape) - 2
    if spatial is None:
        return [None] * len(ctx.node.out_types)
    kernel, strides, dilations, pads = window_attrs(ctx.attr, spatial, ctx.fail)
    auto_pad, ceil_mode = ctx.attr("auto_pad", "NOTSET"), ctx.attr("ceil_mode", False)
    dims = _spatial_out(ctx, lambda i, d: pool_window(d, kernel[i], strides[i], dilations[i],
                                                      pads[i], auto_pad, ceil_mode,
                                                      ctx.fail)[0])
    return [tuple(shape[:2]) + tuple(dims)] * len(ctx.node.out_types)


_POOL_ATTRS = ["kernel_shape: list(int)", "strides: list(int) = []",
               "dilations: list(int) = []", "pads: list(int) = []",
               f"auto_pad: {AUTO_PADS} = 'NOTSET'", "ceil_mode: bool = false"]
op("OnnxPool", inputs=["x: T"], outputs=["y: T"],
   attrs=["mode: {'max', 'avg', 'lp'}", "count_include_pad: bool = false", "p: int = 2",
          "T: {half, bfloat16, float, double, int8, uint8}"] + _POOL_ATTRS,
   shape=_pool_shape)
op("OnnxMaxPoolWithIndices", inputs=["x: T"], outputs=["y: T", "indices: int64"],
   attrs=["storage_order: int = 0", "T: {half, bfloat16, float, double, int8, uint8}"]
   + _POOL_ATTRS, shape=_pool_shape)


def _conv_transpose_shape(ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    if x is None:
        return [None]
    spatial = len(x) - 2
    attrs = dict(ctx.attrs)
    if not attrs.get("kernel_shape") and w is not None and None not in w[2:]:
        attrs["kernel_shape"] = list(w[2:])
    if not attrs.get("kernel_shape"):
        return [(x[0], None) + (None,) * spatial]
    kernel, strides, dilations, pads = window_attrs(attrs.get, spatial, ctx.fail)
    out_pad = list(ctx.attr("output_padding", []) or []) or [0] * spatial
    out_shape = list(ctx.attr("output_shape", []) or [])[-spatial:] if ctx.attr(
        "output_shape") else [None] * spatial
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    dims = _spatial_out(ctx, lambda i, d: conv_transpose_window(
        d, kernel[i], strides[i], dilations[i], pads[i], out_pad[i], out_shape[i], auto_pad)[0])
    channels = None if w is None or w[1] is None else w[1] * ctx.attr("group", 1)
    return [(x[0], channels) + tuple(dims)]


op("OnnxConvTranspose", inputs=["x: T", "w: T"], outputs=["y: T"],
   attrs=["kernel_shape: list(int) = []", "strides: list(int) = []",
          "dilations: list(int) = []", "pads: list(int) = []", "output_padding: list(int) = []",
          "output_shape: list(int) = []", f"auto_pad: {AUTO_PADS} = 'NOTSET'",
          "group: int >= 1 = 1", f"T: {_FLOATS}"],
   shape=_conv_transpose_shape)


# -- Resize ---------------------------------------------------------------------------------------

def resize_target(in_shape: Sequence[int], scales: Sequence[float], sizes: Sequence[int],
                  axes: Sequence[int], policy: str, fail: Fail) -> tuple:
    """(output shape, scale per axis) from scales or sizes over ``axes`` (all when empty).

    resize_target((1, 1, 2, 2), [1, 1, 2, 2], [], [], "stretch", fail) -> ((1, 1, 4, 4), [1,1,2,2])
    sizes with policy not_larger/not_smaller keep the aspect ratio: one scale for all axes,
    sizes rounded half up.
    """
    rank = len(in_shape)
    axes = [a % rank for a in axes] if len(axes) else list(range(rank))
    given = list(scales) if len(scales) else list(sizes)
    if (len(scales) > 0) == (len(sizes) > 0) or len(given) != len(axes):
        raise fail(f"exactly one of scales and sizes must be given, with one value per axis "
                   f"{axes}; got scales {list(scales)}, sizes {list(sizes)}")
    factor = [1.0] * rank
    out = list(in_shape)
    if len(scales):
        for a, s in zip(axes, scales):
            if s <= 0:
                raise fail(f"scales must be positive, got {list(scales)}")
            factor[a], out[a] = float(s), int(math.floor(in_shape[a] * float(s)))
        return tuple(out), factor
    for a, n in zip(axes, sizes):
        if n < 0:
            raise fail(f"sizes must be non-negative, got {list(sizes)}")
        factor[a], out[a] = (n / in_shape[a] if in_shape[a] else 1.0), int(n)
    if policy != "stretch":
        pick = min if policy == "not_larger" else max
        common = pick(factor[a] for a in axes)
        for a in axes:
            factor[a], out[a] = common, int(common * in_shape[a] + 0.5)
    return tuple(out), factor


def _resize_shape(ctx):
    shape = ctx.shape(0)
    if shape is None:
        return [None]
    scales, sizes = ctx.value(2), ctx.value(3)
    if scales is None or sizes is None or None in shape:
        return [(None,) * len(shape)]
    out, _ = resize_target(shape, scales.reshape(-1).tolist(), sizes.reshape(-1).tolist(),
                           ctx.attr("axes", []) or [], ctx.attr("keep_aspect_ratio_policy",
                                                                "stretch"), ctx.fail)
    return [out]


op("OnnxResize", inputs=["x: T", "roi: float", "scales: float", "sizes: int64"],
   outputs=["y: T"],
   attrs=["mode: {'nearest', 'linear', 'cubic'} = 'nearest'",
          "coordinate_transformation_mode: {'half_pixel', 'half_pixel_symmetric', "
          "'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_crop_and_resize'} = "
          "'half_pixel'",
          "nearest_mode: {'round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil', "
          "'simple'} = 'round_prefer_floor'",
          "cubic_coeff_a: float = -0.75", "exclude_outside: bool = false",
          "extrapolation_value: float = 0.0", "antialias: bool = false",
          "axes: list(int) = []",
          "keep_aspect_ratio_policy: {'stretch', 'not_larger', 'not_smaller'} = 'stretch'",
          "T: {half, bfloat16, float, double, int8, uint8, int16, uint16, int32, int64}"],
   shape=_resize_shape)


# -- Dropout --------------------------------------------------------------------------------------

op("OnnxDropout", inputs=["data: T", "ratio: float", "training_mode: bool"],
   outputs=["output: T", "mask: bool"],
   attrs=["seed: int = 0", "has_seed: bool = false", f"T: {_FLOATS}"],
   shape=lambda ctx: [ctx.shape(0), ctx.shape(0)], random=True)
