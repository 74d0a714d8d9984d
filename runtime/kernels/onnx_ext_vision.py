"""Kernels of OnnxConv (any rank), OnnxNonMaxSuppression, OnnxMaxUnpool and OnnxCol2Im
(declared in schema/ops/onnx_ext_vision.py).

    OnnxConv(x[N,C,*in], w[M,C/g,*k]): the input is zero-padded once, then each kernel tap is a
        strided view contracted with w[:, :, tap] per group.
    OnnxNonMaxSuppression: per batch and class, boxes above score_threshold by score (ties: the
        lower index first), each kept unless its IoU with a kept box exceeds iou_threshold.
    OnnxMaxUnpool: x scattered to flat positions of the [N, C, *(in-1)*s + k - pads] result,
        placed at the start of output_shape when that is given.
    OnnxCol2Im: each column of [N, C*prod(block), L] summed back into its block's positions.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from runtime.kernels import KernelContext, kernel
from runtime.kernels.array import check_budget
from schema.ops.onnx_ext_nn import pool_window, window_attrs


def _windows(kernel_shape, strides, dilations, counts):
    """(tap, index): the strided view of the padded data that kernel position ``tap`` sees."""
    for tap in itertools.product(*[range(k) for k in kernel_shape]):
        yield tap, tuple(slice(t * d, t * d + (n - 1) * s + 1, s)
                         for t, d, s, n in zip(tap, dilations, strides, counts))


@kernel("OnnxConv")
def conv(ctx: KernelContext):
    group, auto_pad = ctx.attr("group", 1), ctx.attr("auto_pad", "NOTSET")

    def run(x, w):
        attrs = dict(ctx.node.attrs)
        attrs["kernel_shape"] = attrs.get("kernel_shape") or list(w.shape[2:])
        if w.ndim != x.ndim or x.shape[1] != w.shape[1] * group or w.shape[0] % group:
            raise ctx.fail(f"x {list(x.shape)} and w {list(w.shape)} do not fit group {group}")
        kernel_shape, strides, dilations, pads = window_attrs(attrs.get, x.ndim - 2, ctx.fail)
        plans = [pool_window(d, k, s, dl, p, auto_pad, False, ctx.fail)
                 for d, k, s, dl, p in zip(x.shape[2:], kernel_shape, strides, dilations, pads)]
        counts = [p[0] for p in plans]
        check_budget(ctx, [x.shape[0], w.shape[0]] + counts, x.dtype)
        compute = np.float32 if x.dtype.itemsize < 4 and x.dtype.kind == "f" else x.dtype
        widths = [(0, 0), (0, 0)] + [(b, max((n - 1) * s + (k - 1) * dl + 1 - b - d, 0))
                                     for (n, b, _), s, k, dl, d in
                                     zip(plans, strides, kernel_shape, dilations, x.shape[2:])]
        check_budget(ctx, [d + b + a for d, (b, a) in zip(x.shape, widths)], compute)
        padded = np.pad(x.astype(compute), widths)
        n, c = x.shape[:2]
        xg = padded.reshape(n, group, c // group, *padded.shape[2:])
        wg = w.astype(compute).reshape(group, w.shape[0] // group, *w.shape[1:])
        out = np.zeros((n, group, w.shape[0] // group, *counts), compute)
        for tap, index in _windows(kernel_shape, strides, dilations, counts):
            view = xg[(slice(None),) * 3 + index]
            out += np.einsum("ngc...,gmc->ngm...", view, wg[(Ellipsis,) + tap])
        return out.reshape(n, w.shape[0], *counts).astype(x.dtype)
    return run


# -- NonMaxSuppression ----------------------------------------------------------------------------

def _corners(boxes: np.ndarray, center: bool) -> np.ndarray:
    """[n, 4] boxes as [y_min, x_min, y_max, x_max]."""
    if center:
        xc, yc, w, h = boxes.T
        return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=1)
    y = np.sort(boxes[:, [0, 2]], axis=1)
    x = np.sort(boxes[:, [1, 3]], axis=1)
    return np.stack([y[:, 0], x[:, 0], y[:, 1], x[:, 1]], axis=1)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    top = np.maximum(box[0], others[:, 0])
    left = np.maximum(box[1], others[:, 1])
    bottom = np.minimum(box[2], others[:, 2])
    right = np.minimum(box[3], others[:, 3])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    valid = (inter > 0) & (area > 0) & (areas > 0) & (union > 0)
    return np.where(valid, inter / np.where(union > 0, union, 1), 0.0)


def _select(boxes, scores, limit: int, iou_limit: float, score_limit) -> list:
    order = np.lexsort((np.arange(len(scores)), -scores))
    if score_limit is not None:
        order = order[scores[order] > score_limit]
    kept: list = []
    for i in order:
        if len(kept) >= limit:
            break
        if not kept or not (_iou(boxes[i], boxes[kept]) > iou_limit).any():
            kept.append(int(i))
    return kept


@kernel("OnnxNonMaxSuppression")
def non_max_suppression(ctx: KernelContext):
    center = ctx.attr("center_point_box", 0) == 1

    def scalar(value, default):
        return value.reshape(-1)[0].item() if value.size else default

    def run(boxes, scores, max_output, iou_threshold, score_threshold):
        if boxes.ndim != 3 or boxes.shape[2] != 4 or scores.ndim != 3 or \
                scores.shape[0] != boxes.shape[0] or scores.shape[2] != boxes.shape[1]:
            raise ctx.fail(f"boxes {list(boxes.shape)} and scores {list(scores.shape)} must be "
                           f"[B, n, 4] and [B, classes, n]")
        limit = max(int(scalar(max_output, 0)), 0)
        iou_limit = float(scalar(iou_threshold, 0.0))
        score_limit = scalar(score_threshold, None)
        rows = []
        for b in range(boxes.shape[0]):
            corners = _corners(boxes[b].astype(np.float64), center)
            for c in range(scores.shape[1]):
                for i in _select(corners, scores[b, c].astype(np.float64), limit, iou_limit,
                                 score_limit):
                    rows.append((b, c, i))
        return np.array(rows, np.int64).reshape(-1, 3)
    return run


# -- MaxUnpool, Col2Im ----------------------------------------------------------------------------

@kernel("OnnxMaxUnpool")
def max_unpool(ctx: KernelContext):
    def run(x, indices, output_shape):
        kernel_shape, strides, _, pads = window_attrs(ctx.attr, x.ndim - 2, ctx.fail)
        inferred = list(x.shape[:2]) + [(d - 1) * s + k - b - a for d, k, s, (b, a)
                                        in zip(x.shape[2:], kernel_shape, strides, pads)]
        shape = [int(v) for v in output_shape.reshape(-1)] or inferred
        if len(shape) != x.ndim or any(s < i for s, i in zip(shape, inferred)) or \
                indices.shape != x.shape:
            raise ctx.fail(f"output_shape {shape} must have rank {x.ndim} and hold {inferred}; "
                           f"indices {list(indices.shape)} must match x {list(x.shape)}")
        check_budget(ctx, shape, x.dtype)
        flat = np.zeros(math.prod(inferred), x.dtype)
        where = indices.reshape(-1)
        if ((where < 0) | (where >= flat.size)).any():
            raise ctx.fail(f"indices must be in [0, {flat.size})")
        flat[where] = x.reshape(-1)
        out = np.zeros(shape, x.dtype)
        out[tuple(slice(0, n) for n in inferred)] = flat.reshape(inferred)
        return out
    return run


@kernel("OnnxCol2Im")
def col2im(ctx: KernelContext):
    def run(x, image_shape, block_shape):
        image = [int(v) for v in image_shape.reshape(-1)]
        block = [int(v) for v in block_shape.reshape(-1)]
        spatial = len(image)
        strides = list(ctx.attr("strides", []) or []) or [1] * spatial
        dilations = list(ctx.attr("dilations", []) or []) or [1] * spatial
        pads = list(ctx.attr("pads", []) or []) or [0] * (2 * spatial)
        counts = [(d + pads[i] + pads[i + spatial] - (k - 1) * dl - 1) // s + 1
                  for i, (d, k, s, dl) in enumerate(zip(image, block, strides, dilations))]
        size = math.prod(block)
        if x.ndim != 3 or len(block) != spatial or x.shape[1] % size or \
                x.shape[2] != math.prod(counts) or min(counts, default=1) < 1:
            raise ctx.fail(f"input {list(x.shape)} does not fit image_shape {image}, "
                           f"block_shape {block}: expected [N, C*{size}, {math.prod(counts)}]")
        n, channels = x.shape[0], x.shape[1] // size
        check_budget(ctx, [n, channels] + [d + pads[i] + pads[i + spatial]
                                           for i, d in enumerate(image)], x.dtype)
        padded = np.zeros([n, channels] + [d + pads[i] + pads[i + spatial]
                                            for i, d in enumerate(image)], x.dtype)
        cols = x.reshape(n, channels, *block, *counts)
        for tap, index in _windows(block, strides, dilations, counts):
            padded[(slice(None), slice(None)) + index] += cols[(slice(None), slice(None)) + tap]
        return padded[(slice(None), slice(None)) + tuple(
            slice(pads[i], pads[i] + d) for i, d in enumerate(image))]
    return run
