"""Vision ops of ONNX that TensorFlow has no op for, as extension ops (prefixed ``Onnx``, ONNX's
inputs, attrs and channels-first layout; numpy kernels in runtime/kernels/onnx_ext_sample.py and
onnx_ext_vision.py). An absent optional input is an empty tensor (shape [0]).

    OnnxConv(f32[1,2,5,5,5], f32[4,2,3,3,3]) pads=[1]*6      -> f32[1,4,5,5,5]   (any rank)
    OnnxGridSample(f32[N,C,H,W], grid f32[N,h,w,2])           -> f32[N,C,h,w]
    OnnxAffineGrid(theta f32[N,2,3], size [N,C,H,W])          -> f32[N,H,W,2]
    OnnxRoiAlign(f32[N,C,H,W], rois f32[R,4], i64[R]) output_height=2 output_width=3
                                                              -> f32[R,C,2,3]
    OnnxNonMaxSuppression(boxes [B,n,4], scores [B,c,n], ...) -> i64[?,3]
    OnnxMaxUnpool(f32[N,C,2,2], i64[N,C,2,2], []) kernel_shape=[2,2] strides=[2,2] -> f32[N,C,4,4]
    OnnxCol2Im(f32[N,C*kh*kw,L], image_shape [H,W], block_shape [kh,kw]) -> f32[N,C,H,W]
    OnnxDeformConv(X, W, offset, B, mask) group, offset_group, pads, strides, dilations
"""
from __future__ import annotations

from schema.ops.onnx_ext_nn import AUTO_PADS, pool_window, window_attrs
from schema.registry import op

__all__: list = []

_FLOATS = "{half, bfloat16, float, double}"
_WINDOW = ["kernel_shape: list(int) = []", "strides: list(int) = []",
           "dilations: list(int) = []", "pads: list(int) = []"]


def _values(ctx, i: int):
    value = ctx.value(i)
    return None if value is None else [int(v) for v in value.reshape(-1)]


def _conv_shape(ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    if x is None:
        return [None]
    attrs = dict(ctx.attrs)
    if not attrs.get("kernel_shape") and w is not None and None not in w[2:]:
        attrs["kernel_shape"] = list(w[2:])
    spatial = len(x) - 2
    if not attrs.get("kernel_shape"):
        return [(x[0], None if w is None else w[0]) + (None,) * spatial]
    kernel, strides, dilations, pads = window_attrs(attrs.get, spatial, ctx.fail)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    dims = [None if d is None else pool_window(d, kernel[i], strides[i], dilations[i], pads[i],
                                               auto_pad, False, ctx.fail)[0]
            for i, d in enumerate(x[2:])]
    return [(x[0], None if w is None else w[0]) + tuple(dims)]


op("OnnxConv", inputs=["x: T", "w: T"], outputs=["y: T"],
   attrs=_WINDOW + [f"auto_pad: {AUTO_PADS} = 'NOTSET'", "group: int >= 1 = 1",
                    "T: {half, bfloat16, float, double, int32}"], shape=_conv_shape)


def _grid_sample_shape(ctx):
    x, grid = ctx.shape(0), ctx.shape(1)
    if x is None or grid is None:
        return [None]
    return [(x[0], x[1]) + tuple(grid[1:-1])]


op("OnnxGridSample", inputs=["x: T", "grid: T"], outputs=["y: T"],
   attrs=["mode: {'linear', 'nearest', 'cubic'} = 'linear'",
          "padding_mode: {'zeros', 'border', 'reflection'} = 'zeros'",
          "align_corners: bool = false", f"T: {_FLOATS}"], shape=_grid_sample_shape)


def _affine_grid_shape(ctx):
    size = _values(ctx, 1)
    if size is not None:
        return [(size[0],) + tuple(size[2:]) + (len(size) - 2,)]
    shape = ctx.shape(1)
    if shape is None or shape[0] is None:
        return [None]
    return [(None,) * (shape[0] - 1) + (shape[0] - 2,)]


op("OnnxAffineGrid", inputs=["theta: T", "size: int64"], outputs=["grid: T"],
   attrs=["align_corners: bool = false", f"T: {_FLOATS}"], shape=_affine_grid_shape)


def _roi_align_shape(ctx):
    x, rois = ctx.shape(0), ctx.shape(1)
    channels = None if x is None else x[1]
    count = None if rois is None else rois[0]
    return [(count, channels, ctx.attr("output_height", 1), ctx.attr("output_width", 1))]


op("OnnxRoiAlign", inputs=["x: T", "rois: T", "batch_indices: int64"], outputs=["y: T"],
   attrs=["mode: {'avg', 'max'} = 'avg'", "output_height: int >= 1 = 1",
          "output_width: int >= 1 = 1", "sampling_ratio: int = 0", "spatial_scale: float = 1.0",
          "half_pixel: bool = true", f"T: {_FLOATS}"], shape=_roi_align_shape)

op("OnnxNonMaxSuppression",
   inputs=["boxes: float", "scores: float", "max_output_boxes_per_class: int64",
           "iou_threshold: float", "score_threshold: float"],
   outputs=["selected_indices: int64"], attrs=["center_point_box: int = 0"],
   shape=lambda ctx: [(None, 3)])


def _max_unpool_shape(ctx):
    x, given = ctx.shape(0), _values(ctx, 2)
    if given:
        return [tuple(given)]
    if x is None:
        return [None]
    kernel, strides, _, pads = window_attrs(ctx.attr, len(x) - 2, ctx.fail)
    dims = [None if d is None else (d - 1) * s + k - b - a
            for d, k, s, (b, a) in zip(x[2:], kernel, strides, pads)]
    return [tuple(x[:2]) + tuple(dims)]


op("OnnxMaxUnpool", inputs=["x: T", "indices: int64", "output_shape: int64"],
   outputs=["y: T"], attrs=_WINDOW + [f"T: {_FLOATS}"], shape=_max_unpool_shape)


def _col2im_shape(ctx):
    x, image, block = ctx.shape(0), _values(ctx, 1), _values(ctx, 2)
    if x is None or image is None or block is None:
        return [None if x is None or ctx.shape(1) is None else
                (None,) * (2 + (ctx.shape(1)[0] or 0))]
    size = 1
    for b in block:
        size *= b
    channels = None if x[1] is None else x[1] // size
    return [(x[0], channels) + tuple(image)]


op("OnnxCol2Im", inputs=["x: T", "image_shape: int64", "block_shape: int64"], outputs=["y: T"],
   attrs=["strides: list(int) = []", "dilations: list(int) = []", "pads: list(int) = []",
          f"T: {_FLOATS}"], shape=_col2im_shape)

op("OnnxDeformConv", inputs=["x: T", "w: T", "offset: T", "b: T", "mask: T"], outputs=["y: T"],
   attrs=_WINDOW + ["group: int >= 1 = 1", "offset_group: int >= 1 = 1", f"T: {_FLOATS}"],
   shape=lambda ctx: [None if ctx.shape(2) is None or ctx.shape(1) is None else
                      (ctx.shape(2)[0], ctx.shape(1)[0]) + tuple(ctx.shape(2)[2:])])
