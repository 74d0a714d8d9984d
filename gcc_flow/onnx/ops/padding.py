"""ONNX Pad and CenterCropPad as TensorFlow ops.

    Pad(x f32[3,4], pads=[1, 0, 1, 2], mode=constant, value=v) -> PadV2(x, [[1,1],[0,2]], v)
    Pad(..., mode=reflect)                                     -> MirrorPad REFLECT
    Pad(x, pads=[0, 2, 0, 1], mode=edge)                       -> GatherV2(x, [0,0,0,1,2,3,3], 1)
    Pad(x, pads=[-1, 0, 0, 0])                                 -> StridedSlice (crop), then pad
    CenterCropPad(x f32[5,3], shape=[3, 6])                    -> Pad(StridedSlice(x), ...)

ONNX pads are [x1_begin, x2_begin, ..., x1_end, x2_end, ...] over ``axes`` (all axes by default).
Negative pads crop. Edge and wrap padding gather the clamped / wrapped positions per axis (they
need the padded dims known at import); pads or axes known only at run time go to the OnnxPad
extension op.
"""
from __future__ import annotations

import numpy as np

from gcc_flow.framework import Tensor, apply_op
from gcc_flow.onnx.ops import converter
from gcc_flow.onnx.ops.tf_graph import (
    cast, check_const_size, const, known_rank, norm_axes, static_ints, static_shape,
    strided_slice, to_int64)

__all__: list = []   # converters register themselves

# A pad value position -> the source position it copies, for the modes done by gathering.
_GATHER_MODES = {
    "edge": lambda positions, dim: np.clip(positions, 0, dim - 1),
    "wrap": lambda positions, dim: np.mod(positions, dim),
}


def _pad_inputs(ctx, node):
    """(pads tensor-or-list, constant value tensor-or-None, axes list-or-None) by opset."""
    if ctx.opset < 11:
        pads = ctx.attr(node, "pads", ctx.attr(node, "paddings"))
        if pads is None:
            raise ctx.fail(node, "Pad needs the 'pads' attribute")
        value = ctx.attr(node, "value", 0.0)
        return [int(p) for p in pads], value, None
    pads_t = ctx.input(node, 1)
    pads = static_ints(ctx, pads_t)
    axes_t = ctx.input(node, 3) if ctx.opset >= 18 else None
    axes = None if axes_t is None else static_ints(ctx, axes_t)
    if axes_t is not None and axes is None:
        return pads_t, ctx.input(node, 2), axes_t
    return (pads if pads is not None else pads_t), ctx.input(node, 2), axes


@converter("Pad", since=1)
def pad(ctx, node) -> list:
    x = ctx.input(node, 0)
    rank = known_rank(ctx, node, x)
    mode = ctx.attr(node, "mode", "constant")
    if mode not in ("constant", "reflect", "edge", "wrap"):
        raise ctx.unsupported(node, f"mode {mode!r}")
    pads, value, axes = _pad_inputs(ctx, node)
    if isinstance(pads, Tensor) or isinstance(axes, Tensor):
        return [_run_time_pad(ctx, x, pads, value, axes, mode)]
    value = _constant_value(ctx, x, value)
    axes = list(range(rank)) if axes is None else norm_axes(ctx, node, axes, rank)
    if len(pads) != 2 * len(axes):
        raise ctx.fail(node, f"pads {pads} must hold 2 values for each of the axes {axes}")
    pairs = [[0, 0] for _ in range(rank)]
    for i, axis in enumerate(axes):
        pairs[axis] = [pads[i], pads[i + len(axes)]]
    if mode in _GATHER_MODES and any((b or e) and x.shape[a] is None
                                     for a, (b, e) in enumerate(pairs)):
        return [_run_time_pad(ctx, x, pads, value, axes, mode)]   # the dims are needed
    x = _crop(ctx, x, pairs)
    pairs = [[max(b, 0), max(e, 0)] for b, e in pairs]
    if not any(b or e for b, e in pairs):
        return [apply_op("Identity", [x])]
    if mode == "constant":
        return [_pad_constant(ctx, x, const(ctx, np.array(pairs, np.int64)), value)]
    if mode == "reflect":
        return [apply_op("MirrorPad", [x, const(ctx, np.array(pairs, np.int64))],
                         {"mode": "REFLECT"})]
    return [_pad_by_gather(ctx, node, x, pairs, _GATHER_MODES[mode])]


def _run_time_pad(ctx, x, pads, value, axes, mode: str):
    """Pads (or axes) known only at run time: OnnxPad, which reads them when it runs."""
    as_tensor = [const(ctx, np.array(v, np.int64)) if isinstance(v, list) else
                 (to_int64(ctx, v, flatten=True) if v is not None else v) for v in (pads, axes)]
    pads_t, axes_t = as_tensor
    if axes_t is None:
        axes_t = const(ctx, np.zeros((0,), np.int64))
    if value is None:
        value_t = const(ctx, np.zeros((0,), x.dtype.np))
    elif isinstance(value, Tensor):
        value_t = cast(value, x.dtype.base)
    else:
        value_t = const(ctx, np.array([value], x.dtype.np))
    return apply_op("OnnxPad", [x, pads_t, value_t, axes_t], {"mode": mode})


def _constant_value(ctx, x, value):
    """The pad value as a scalar tensor of x's dtype; None for zero."""
    if value is None:
        return None
    if not isinstance(value, Tensor):
        return None if value == 0 else const(ctx, np.asarray(value, x.dtype.np))
    static = ctx.static_value(value)
    if static is not None:
        if np.size(static) == 0 or not np.asarray(static).any():
            return None
        return const(ctx, np.asarray(static, x.dtype.np).reshape(()))
    return reshape(ctx, value, [])


def _pad_constant(ctx, x, pairs, value):
    if value is None:
        return apply_op("Pad", [x, pairs])
    return apply_op("PadV2", [x, pairs, value])


def _crop(ctx, x, pairs: list):
    """Negative pads remove elements: [-1, -2] on a dim of 6 keeps [1:4]."""
    if not any(b < 0 or e < 0 for b, e in pairs):
        return x
    begin = [max(-b, 0) for b, _ in pairs]
    end = [e if e < 0 else 0 for _, e in pairs]
    end_mask = sum(1 << i for i, (_, e) in enumerate(pairs) if e >= 0)
    return strided_slice(ctx, x, begin, end, [1] * len(pairs), end_mask=end_mask)


def _pad_by_gather(ctx, node, x, pairs: list, source):
    """One GatherV2 per padded axis with the positions each output element copies."""
    for axis, (before, after) in enumerate(pairs):
        if not (before or after):
            continue
        dim = x.shape[axis]
        if dim is None:
            raise ctx.unsupported(node, f"mode {ctx.attr(node, 'mode')!r} on a dimension "
                                        f"unknown at import time")
        if dim == 0:
            raise ctx.fail(node, f"cannot pad the empty axis {axis} with mode "
                                 f"{ctx.attr(node, 'mode')!r}")
        check_const_size(ctx, node, [before + dim + after])
        positions = source(np.arange(-before, dim + after), dim).astype(np.int64)
        x = apply_op("GatherV2", [x, const(ctx, positions), const(ctx, np.int32(axis))])
    return x


@converter("CenterCropPad", since=18)
def center_crop_pad(ctx, node) -> list:
    """Each axis is cropped or zero-padded to the target size around its center; an odd
    difference crops one more at the end, pads one more at the end."""
    x, shape_t = ctx.input(node, 0), ctx.input(node, 1)
    target = static_ints(ctx, shape_t)
    shape = static_shape(x)
    if target is None or shape is None:
        raise ctx.unsupported(node, "without known input and target shapes")
    rank = len(shape)
    axes = ctx.attr(node, "axes")
    axes = list(range(rank)) if axes is None else norm_axes(ctx, node, axes, rank)
    if len(axes) != len(target):
        raise ctx.fail(node, f"shape {target} must have one size per axis {axes}")
    begin, end, pairs = [0] * rank, list(shape), [[0, 0] for _ in range(rank)]
    for axis, size in zip(axes, target):
        if size < shape[axis]:
            begin[axis] = (shape[axis] - size) // 2
            end[axis] = begin[axis] + size
        elif size > shape[axis]:
            diff = size - shape[axis]
            pairs[axis] = [diff // 2, diff - diff // 2]
    if begin != [0] * rank or end != list(shape):
        x = strided_slice(ctx, x, begin, end, [1] * rank)
    if any(b or e for b, e in pairs):
        x = apply_op("Pad", [x, const(ctx, np.array(pairs, np.int64))])
    return [apply_op("Identity", [x]) if x is ctx.input(node, 0) else x]
