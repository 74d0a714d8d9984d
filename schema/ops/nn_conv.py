"""Convolution and pooling ops, and the window geometry their shape functions and kernels share.

    Conv2D(f32[2,16,16,3], f32[3,3,3,8]) strides=[1,2,2,1] padding=SAME -> f32[2,8,8,8]
    window_output(16, 3, stride=2, dilation=1, padding="SAME") -> (8, 0, 1)  # size, pads

Attrs follow TensorFlow: ``strides``, ``dilations`` and ``ksize`` have 4 entries laid out like the
data (NHWC or NCHW); ``explicit_paddings`` has 8 (a before/after pair per dimension). Output sizes
are TensorFlow's: SAME -> ceil(in / stride), VALID -> ceil((in - (k - 1) * d) / stride).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from schema.registry import op

__all__ = ["Layout", "LAYOUTS", "WindowSpec", "window_spec", "window_output", "spatial_plan",
           "backprop_input_shape", "conv2d_shape", "depthwise_shape"]

Fail = Callable[[str], Exception]


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where batch, height, width and channel sit in a 4-D shape."""
    batch: int
    height: int
    width: int
    channel: int

    def spatial(self, values) -> tuple:
        return values[self.height], values[self.width]

    def build(self, n, h, w, c) -> tuple:
        """Layout(NCHW).build(n, h, w, c) -> (n, c, h, w)."""
        out = [None] * 4
        out[self.batch], out[self.height], out[self.width], out[self.channel] = n, h, w, c
        return tuple(out)

    @property
    def to_nhwc(self) -> tuple:
        return self.batch, self.height, self.width, self.channel

    @property
    def from_nhwc(self) -> tuple:
        """The permutation taking an NHWC array back to this layout."""
        inverse = [0] * 4
        for i, axis in enumerate(self.to_nhwc):
            inverse[axis] = i
        return tuple(inverse)


LAYOUTS = {"NHWC": Layout(0, 1, 2, 3), "NCHW": Layout(0, 2, 3, 1)}


@dataclasses.dataclass(frozen=True)
class WindowSpec:
    """A 2-D window op's attrs, in (height, width) order."""
    layout: Layout
    strides: tuple
    dilations: tuple
    padding: str
    explicit: tuple            # ((top, bottom), (left, right)); zeros unless EXPLICIT
    ksize: Optional[tuple] = None


def window_spec(attr: Callable, fail: Fail, op_name: str, pooling: bool = False) -> WindowSpec:
    """Reads and checks strides, dilations, ksize, padding, explicit_paddings, data_format.

    {strides: [1, 2, 2, 1], padding: "SAME"} -> WindowSpec(strides=(2, 2), dilations=(1, 1), ...)
    """
    fmt = _text(attr("data_format", "NHWC"))
    if fmt not in LAYOUTS:
        raise fail(f"data_format {fmt!r} is not supported (use NHWC or NCHW)")
    layout = LAYOUTS[fmt]
    strides = _four(attr("strides"), "strides", op_name, fmt, layout, fail)
    dilations = (1, 1) if pooling else _four(attr("dilations", [1, 1, 1, 1]), "dilations",
                                             op_name, fmt, layout, fail)
    ksize = _four(attr("ksize"), "ksize", op_name, fmt, layout, fail) if pooling else None
    padding = _text(attr("padding"))
    explicit = _explicit_paddings(attr("explicit_paddings", []), padding, layout, fail)
    if ksize is not None and any(p >= k for pair, k in zip(explicit, ksize) for p in pair):
        # A window made only of padding would have no element to pool.
        raise fail(f"explicit paddings {list(explicit)} must be smaller than the window "
                   f"{list(ksize)} in each spatial dimension")
    return WindowSpec(layout, strides, dilations, padding, explicit, ksize)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _four(values, name: str, op_name: str, fmt: str, layout: Layout, fail: Fail) -> tuple:
    values = list(values or [])
    if len(values) != 4:
        raise fail(f"{op_name} on data format {fmt} requires the {name} attribute to contain 4 "
                   f"values, but got {len(values)}: {values}")
    if any(v < 1 for v in values):
        raise fail(f"{name} must be > 0 in every dimension, got {values}")
    if values[layout.batch] != 1 or values[layout.channel] != 1:
        raise fail(f"{name} {values}: the batch and depth dimensions must be 1 (only the "
                   f"spatial dimensions of data format {fmt} may differ)")
    return layout.spatial(values)


def _explicit_paddings(values, padding: str, layout: Layout, fail: Fail) -> tuple:
    values = list(values or [])
    if padding != "EXPLICIT":
        if values:
            raise fail(f"explicit_paddings must be empty when padding is {padding!r}, got "
                       f"{values}")
        return (0, 0), (0, 0)
    if len(values) != 8:
        raise fail(f"explicit_paddings must have 8 values (a pair per dimension) when padding "
                   f"is EXPLICIT, got {len(values)}: {values}")
    if any(v < 0 for v in values):
        raise fail(f"explicit_paddings must be non-negative, got {values}")
    pairs = [(values[2 * i], values[2 * i + 1]) for i in range(4)]
    if pairs[layout.batch] != (0, 0) or pairs[layout.channel] != (0, 0):
        raise fail(f"explicit_paddings {values}: the batch and depth dimensions cannot be padded")
    return layout.spatial(pairs)


def window_output(in_size: int, k: int, stride: int, dilation: int, padding: str,
                  explicit: tuple = (0, 0), fail: Optional[Fail] = None) -> tuple:
    """(output size, padding before, padding after) of one windowed dimension, as TensorFlow.

    window_output(16, 3, 2, 1, "SAME") -> (8, 0, 1)
    window_output(7, 3, 1, 2, "VALID") -> (3, 0, 0)
    """
    effective = (k - 1) * dilation + 1
    if padding == "SAME":
        out = (in_size + stride - 1) // stride
        needed = max((out - 1) * stride + effective - in_size, 0)
        return out, needed // 2, needed - needed // 2
    before, after = explicit if padding == "EXPLICIT" else (0, 0)
    numerator = in_size + before + after - effective + stride
    out = numerator // stride if numerator >= 0 else -((-numerator) // stride)  # C++ truncation
    if out < 0:
        message = (f"computed output size would be negative: {out} [input_size: {in_size}, "
                   f"effective_filter_size: {effective}, stride: {stride}]")
        raise (fail(message) if fail is not None else ValueError(message))
    return out, before, after


def spatial_plan(spec: WindowSpec, in_hw: tuple, k_hw: tuple, fail: Fail) -> tuple:
    """((out_h, top, bottom), (out_w, left, right)) for concrete sizes; None entries if unknown."""
    plans = []
    for i in range(2):
        if in_hw[i] is None or k_hw[i] is None:
            plans.append(None)
            continue
        plans.append(window_output(in_hw[i], k_hw[i], spec.strides[i], spec.dilations[i],
                                   spec.padding, spec.explicit[i], fail))
    return tuple(plans)


# -- shape functions -------------------------------------------------------------------------

def _rank4(ctx, index: int, what: str):
    shape = ctx.shape(index)
    if shape is not None and len(shape) != 4:
        raise ctx.fail(f"{what} must be rank 4, but has shape {list(shape)}")
    return shape


def _out_hw(ctx, spec: WindowSpec, x, k_hw: tuple) -> tuple:
    plans = spatial_plan(spec, spec.layout.spatial(x), k_hw, ctx.fail)
    return tuple(p[0] if p is not None else None for p in plans)


def conv2d_shape(ctx):
    """Conv2D's shape function (also _FusedConv2D's): NHWC x [1, 5, 5, 3], filter [3, 3, 3, 8],
    VALID, strides 1 -> [[1, 3, 3, 8]]."""
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op)
    x, f = _rank4(ctx, 0, "input"), _rank4(ctx, 1, "filter")
    if x is None:
        return [None]
    f = f or (None,) * 4
    depth = x[spec.layout.channel]
    if depth is not None and f[2] is not None:
        if f[2] == 0 or depth % f[2] != 0:
            raise ctx.fail(f"depth of input ({depth}) is not a multiple of input depth of "
                           f"filter ({f[2]})")
        groups = depth // f[2]
        if f[3] is not None and f[3] % groups != 0:
            raise ctx.fail(f"depth of output ({f[3]}) is not a multiple of the number of groups "
                           f"({groups})")
    h, w = _out_hw(ctx, spec, x, (f[0], f[1]))
    return [spec.layout.build(x[spec.layout.batch], h, w, f[3])]


def depthwise_shape(ctx):
    """DepthwiseConv2dNative's shape function: x [1, 5, 5, 3], filter [3, 3, 3, 2], VALID
    -> [[1, 3, 3, 6]] (channels times the multiplier)."""
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op)
    x, f = _rank4(ctx, 0, "input"), _rank4(ctx, 1, "filter")
    if x is None:
        return [None]
    f = f or (None,) * 4
    depth = x[spec.layout.channel]
    if depth is not None and f[2] is not None and depth != f[2]:
        raise ctx.fail(f"input depth ({depth}) must equal the filter's input depth ({f[2]}): "
                       f"filter is [height, width, in_channels, multiplier]")
    depth = f[2] if depth is None else depth
    out_c = depth * f[3] if depth is not None and f[3] is not None else None
    h, w = _out_hw(ctx, spec, x, (f[0], f[1]))
    return [spec.layout.build(x[spec.layout.batch], h, w, out_c)]


def _pool_shape(ctx):
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op, pooling=True)
    x = _rank4(ctx, 0, "input")
    if x is None:
        return [None]
    h, w = _out_hw(ctx, spec, x, spec.ksize)
    return [spec.layout.build(x[spec.layout.batch], h, w, x[spec.layout.channel])]


def _conv2d_backprop_input_shape(ctx):
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op)
    _rank4(ctx, 1, "filter")
    _rank4(ctx, 2, "out_backprop")
    sizes = ctx.value(0)
    if sizes is None:
        return [(None,) * 4]
    return [backprop_input_shape(spec, [int(v) for v in sizes.reshape(-1)], ctx.shape(1),
                                 ctx.shape(2), ctx.fail)]


def backprop_input_shape(spec: WindowSpec, sizes: list, filter_shape, dy_shape, fail: Fail):
    """Conv2DBackpropInput's input_sizes: 4 sizes, or 2 spatial ones (batch and depth then come
    from out_backprop and filter).  [5, 5] with dy [2, 3, 3, 8], filter [3, 3, 4, 8] -> [2, 5, 5, 4]
    """
    if any(v < 0 for v in sizes) or len(sizes) not in (2, 4):
        raise fail(f"input_sizes must hold 4 (or 2 spatial) non-negative sizes, got {sizes}")
    if len(sizes) == 4:
        return tuple(sizes)
    batch = dy_shape[spec.layout.batch] if dy_shape is not None else None
    depth = filter_shape[2] if filter_shape is not None else None
    return spec.layout.build(batch, sizes[0], sizes[1], depth)


_CONV_T = "T: {half, bfloat16, float, double, int32}"
_CONV_ATTRS = ["strides: list(int)", "padding: {'SAME', 'VALID', 'EXPLICIT'}",
               "explicit_paddings: list(int) = []", "data_format: {'NHWC', 'NCHW'} = 'NHWC'",
               "dilations: list(int) = [1, 1, 1, 1]"]

op("Conv2D", inputs=["input: T", "filter: T"], outputs=["output: T"],
   attrs=[_CONV_T, "use_cudnn_on_gpu: bool = true"] + _CONV_ATTRS, shape=conv2d_shape)
op("DepthwiseConv2dNative", inputs=["input: T", "filter: T"], outputs=["output: T"],
   attrs=["T: {half, bfloat16, float, double}"] + _CONV_ATTRS, shape=depthwise_shape)
op("Conv2DBackpropInput", inputs=["input_sizes: int32", "filter: T", "out_backprop: T"],
   outputs=["output: T"], attrs=[_CONV_T, "use_cudnn_on_gpu: bool = true"] + _CONV_ATTRS,
   shape=_conv2d_backprop_input_shape)

op("MaxPool", inputs=["input: T"], outputs=["output: T"],
   attrs=["T: {half, bfloat16, float, double, int32, int64, uint8, int16, int8, uint16, "
          "qint8} = float",
          "ksize: list(int) >= 4", "strides: list(int) >= 4",
          "padding: {'SAME', 'VALID', 'EXPLICIT'}", "explicit_paddings: list(int) = []",
          "data_format: {'NHWC', 'NCHW', 'NCHW_VECT_C'} = 'NHWC'"],
   shape=_pool_shape)
op("AvgPool", inputs=["value: T"], outputs=["output: T"],
   attrs=["ksize: list(int) >= 4", "strides: list(int) >= 4", "padding: {'SAME', 'VALID'}",
          "data_format: {'NHWC', 'NCHW'} = 'NHWC'", "T: {half, bfloat16, float, double}"],
   shape=_pool_shape)
