"""Array ops that gradients are built from, with TensorFlow's names and attrs.

    StridedSliceGrad(shape [4, 5], begin, end, strides, dy f32[2, 5]) -> f32[4, 5] (dy scattered
        back to where StridedSlice read it, zeros elsewhere)
    MirrorPadGrad(f32[7, 5], paddings [[2, 2], [1, 1]], mode=REFLECT) -> f32[3, 3]
    ScatterNd(indices i32[4, 1], updates f32[4, 3], shape [8, 3]) -> f32[8, 3]
"""
from __future__ import annotations

import numpy as np

from schema.ops.array import shape_tensor
from schema.registry import op


def _shape_from_input(index: int):
    """Shape function: the output shape is the value of a shape-vector input."""
    def shape_fn(ctx):
        dims = shape_tensor(ctx, index)
        if dims is None:
            return [None]
        if any(d is not None and d < 0 for d in dims):
            raise ctx.fail(f"shape must be non-negative, got {dims}")
        return [tuple(dims)]
    return shape_fn


op("StridedSliceGrad",
   inputs=["shape: Index", "begin: Index", "end: Index", "strides: Index", "dy: T"],
   outputs=["output: T"],
   attrs=["T: type", "Index: {int32, int64}", "begin_mask: int = 0", "end_mask: int = 0",
          "ellipsis_mask: int = 0", "new_axis_mask: int = 0", "shrink_axis_mask: int = 0"],
   shape=_shape_from_input(0))


def _mirror_pad_grad_shape(ctx):
    shape, paddings = ctx.shape(0), ctx.value(1)
    if shape is None:
        return [None]
    if paddings is None:
        return [(None,) * len(shape)]
    paddings = np.asarray(paddings, np.int64)
    if paddings.shape != (len(shape), 2) or (paddings < 0).any():
        raise ctx.fail(f"paddings must be a non-negative matrix of shape [{len(shape)}, 2], got "
                       f"{paddings.tolist()}")
    out = []
    for d, (before, after) in zip(shape, paddings.tolist()):
        if d is not None and d < before + after:
            raise ctx.fail(f"paddings {[before, after]} exceed the gradient's size {d}")
        out.append(None if d is None else d - before - after)
    return [tuple(out)]


op("MirrorPadGrad", inputs=["input: T", "paddings: Tpaddings"], outputs=["output: T"],
   attrs=["T: type", "Tpaddings: {int32, int64} = int32", "mode: {'REFLECT', 'SYMMETRIC'}"],
   shape=_mirror_pad_grad_shape)

op("ScatterNd", inputs=["indices: Tindices", "updates: T", "shape: Tindices"],
   outputs=["output: T"],
   attrs=["T: type", "Tindices: {int16, int32, int64}", "bad_indices_policy: string = ''"],
   shape=_shape_from_input(2))
