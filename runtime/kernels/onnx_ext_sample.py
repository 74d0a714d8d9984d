"""Kernels of the sampling extension ops: OnnxGridSample, OnnxAffineGrid, OnnxRoiAlign,
OnnxDeformConv (declared in schema/ops/onnx_ext_vision.py).

GridSample maps each grid point (x, y[, z] in [-1, 1], innermost dim first) to input
coordinates, then reads the taps around them (1 nearest, 2 linear, 4 cubic per dim) with the
padding mode deciding what a tap outside the input reads: 0 (zeros), the edge (border) or the
mirrored position (reflection).

    GridSample(x[1,1,2,2], grid [[[[0, 0]]]], linear, align_corners=0) -> mean of the 4 pixels
"""
from __future__ import annotations

import itertools

import numpy as np

from runtime.kernels import KernelContext, kernel
from runtime.kernels.array import check_budget


def _compute(dtype: np.dtype):
    return np.float64 if dtype == np.float64 else np.float32


def reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Mirrors coordinates into [lo, hi] by the nearer border, repeatedly."""
    span = hi - lo
    if span <= 0:
        return np.full_like(x, lo)
    below, above = x < lo, x > hi
    dist = np.where(below, lo - x, np.where(above, x - hi, 0.0))
    turns = np.trunc(dist / span)
    rest = dist - turns * span
    even = turns % 2 == 0
    out = np.where(below, np.where(even, lo + rest, hi - rest), x)
    return np.where(above, np.where(even, hi - rest, lo + rest), out)


def _cubic_weights(t: np.ndarray, a: float = -0.75) -> list:
    """Weights of taps floor-1 .. floor+2 at fraction t."""
    def near(d):
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _taps(mode: str, coord: np.ndarray) -> list:
    """[(index, weight)] of one dim's taps for each sample position."""
    if mode == "nearest":
        return [(coord.astype(np.int64), np.ones_like(coord))]
    base = np.floor(coord)
    t = coord - base
    base = base.astype(np.int64)
    if mode == "linear":
        return [(base, 1 - t), (base + 1, t)]
    return [(base + k - 1, w) for k, w in enumerate(_cubic_weights(t))]


def _read(index: np.ndarray, size: int, padding: str, lo: float, hi: float) -> tuple:
    """(index to read, 1.0/0.0 validity) of taps, following the padding mode."""
    if padding == "border":
        return np.clip(index, 0, size - 1), 1.0
    if padding == "reflection":
        mirrored = np.trunc(reflect(index.astype(np.float64), lo, hi)).astype(np.int64)
        return np.clip(mirrored, 0, size - 1), 1.0
    valid = (index >= 0) & (index < size)
    return np.clip(index, 0, size - 1), valid.astype(np.float64)


@kernel("OnnxGridSample")
def grid_sample(ctx: KernelContext):
    mode, padding = ctx.attr("mode", "linear"), ctx.attr("padding_mode", "zeros")
    align = ctx.attr("align_corners", False)

    def run(x, grid):
        dims = x.shape[2:]
        if grid.ndim != x.ndim or grid.shape[0] != x.shape[0] or grid.shape[-1] != len(dims):
            raise ctx.fail(f"grid {list(grid.shape)} must be [N, *out, {len(dims)}] for input "
                           f"{list(x.shape)}")
        check_budget(ctx, x.shape[:2] + grid.shape[1:-1], x.dtype)
        per_dim = []
        for i, size in enumerate(dims):
            g = grid[..., len(dims) - 1 - i].astype(np.float64)
            coord = (g + 1) / 2 * (size - 1) if align else ((g + 1) * size - 1) / 2
            coord = np.rint(coord) if mode == "nearest" else coord
            lo, hi = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
            outside = (coord < lo) | (coord > hi)
            if padding == "border":
                coord = np.where(outside, np.clip(coord, 0, size - 1), coord)
            elif padding == "reflection":
                coord = np.where(outside, reflect(coord, lo, hi), coord)
            per_dim.append([(_read(k, size, padding, lo, hi), w) for k, w in _taps(mode, coord)])
        batch = np.arange(x.shape[0]).reshape((-1,) + (1,) * (grid.ndim - 2))
        out = np.zeros(grid.shape[:-1] + (x.shape[1],))
        for combo in itertools.product(*per_dim):
            weight = np.ones(grid.shape[:-1])
            index = [batch, slice(None)]
            for (read, valid), w in combo:
                weight = weight * w * valid
                index.append(read)
            out += weight[..., None] * x[tuple(index)]
        return np.moveaxis(out, -1, 1).astype(x.dtype)
    return run


@kernel("OnnxAffineGrid")
def affine_grid(ctx: KernelContext):
    align = ctx.attr("align_corners", False)

    def axis_points(size: int) -> np.ndarray:
        if align:
            return np.linspace(-1, 1, size) if size > 1 else np.full(size, -1.0)
        return (np.arange(size) * 2 + 1) / size - 1

    def run(theta, size):
        size = [int(v) for v in size.reshape(-1)]
        spatial = size[2:]
        if len(spatial) not in (2, 3) or theta.shape != (size[0], len(spatial),
                                                          len(spatial) + 1):
            raise ctx.fail(f"theta {list(theta.shape)} and size {size} must be [N, 2, 3] with "
                           f"[N, C, H, W] or [N, 3, 4] with [N, C, D, H, W]")
        check_budget(ctx, [size[0], *spatial, len(spatial)], theta.dtype)
        axes = np.meshgrid(*[axis_points(s) for s in spatial], indexing="ij")
        base = np.stack(list(axes[::-1]) + [np.ones(spatial)], axis=-1)  # x first, then 1
        grid = np.einsum("...k,njk->n...j", base, theta.astype(np.float64))
        return grid.astype(theta.dtype)
    return run


# -- RoiAlign -------------------------------------------------------------------------------------

def _roi_samples(start: float, length: float, pooled: int, grid: int) -> np.ndarray:
    """Sample coordinates [pooled, grid] along one axis of a region."""
    step = length / pooled
    return start + np.arange(pooled)[:, None] * step + (np.arange(grid)[None, :] + 0.5) * \
        step / grid


def _bilinear_corners(coord: np.ndarray, size: int) -> tuple:
    """((low, high), (w_low, w_high), inside) for RoiAlign's clamped bilinear reads."""
    inside = (coord >= -1.0) & (coord <= size)
    c = np.maximum(coord, 0)
    low = np.floor(c).astype(np.int64)
    at_end = low >= size - 1
    low = np.where(at_end, size - 1, low)
    high = np.where(at_end, size - 1, low + 1)
    c = np.where(at_end, low, c)
    frac = c - low
    return (low, high), (1 - frac, frac), inside


@kernel("OnnxRoiAlign")
def roi_align(ctx: KernelContext):
    out_h, out_w = ctx.attr("output_height", 1), ctx.attr("output_width", 1)
    ratio, scale = ctx.attr("sampling_ratio", 0), ctx.attr("spatial_scale", 1.0)
    half_pixel, use_max = ctx.attr("half_pixel", True), ctx.attr("mode", "avg") == "max"

    def one_roi(image: np.ndarray, roi: np.ndarray) -> np.ndarray:
        offset = 0.5 if half_pixel else 0.0
        x0, y0, x1, y1 = (float(v) * scale - offset for v in roi)
        width, height = x1 - x0, y1 - y0
        if not half_pixel:
            width, height = max(width, 1.0), max(height, 1.0)
        grid_h = ratio if ratio > 0 else int(np.ceil(height / out_h))
        grid_w = ratio if ratio > 0 else int(np.ceil(width / out_w))
        # the sampling grid grows with the region's size: refuse huge regions before allocating
        check_budget(ctx, [image.shape[0], out_h, grid_h, out_w, max(grid_w, 1)], np.float64)
        ys = _bilinear_corners(_roi_samples(y0, height, out_h, grid_h), image.shape[1])
        xs = _bilinear_corners(_roi_samples(x0, width, out_w, grid_w), image.shape[2])
        # terms[k]: [C, out_h, grid_h, out_w, grid_w] for the 4 corners
        terms = []
        for yi, xi in itertools.product(range(2), range(2)):
            weight = ys[1][yi][:, :, None, None] * xs[1][xi][None, None, :, :]
            weight = weight * (ys[2][:, :, None, None] & xs[2][None, None, :, :])
            values = image[:, ys[0][yi][:, :, None, None], xs[0][xi][None, None, :, :]]
            terms.append(weight * values)
        if use_max:
            return np.max(np.max(terms, axis=0), axis=(2, 4))
        return np.sum(terms, axis=0).sum(axis=(2, 4)) / max(grid_h * grid_w, 1)

    def run(x, rois, batch_indices):
        if rois.ndim != 2 or rois.shape[1] != 4 or batch_indices.shape != (rois.shape[0],):
            raise ctx.fail(f"rois {list(rois.shape)} must be [R, 4] with batch_indices [R], got "
                           f"{list(batch_indices.shape)}")
        if ((batch_indices < 0) | (batch_indices >= x.shape[0])).any():
            raise ctx.fail(f"batch_indices {batch_indices.tolist()} must be in "
                           f"[0, {x.shape[0]})")
        check_budget(ctx, [rois.shape[0], x.shape[1], out_h, out_w], _compute(x.dtype))
        out = np.zeros((rois.shape[0], x.shape[1], out_h, out_w), _compute(x.dtype))
        for r in range(rois.shape[0]):
            out[r] = one_roi(x[int(batch_indices[r])].astype(_compute(x.dtype)), rois[r])
        return out.astype(x.dtype)
    return run


# -- DeformConv -----------------------------------------------------------------------------------

def _bilinear_zero(image: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """image [N, G, c, H, W] read at pixel coordinates y, x [N, G, ...]: bilinear, with taps
    outside the image reading 0. Result [N, G, ..., c]."""
    height, width = image.shape[-2:]
    batch = np.arange(image.shape[0]).reshape((-1,) + (1,) * (y.ndim - 1))
    groups = np.arange(image.shape[1]).reshape((1, -1) + (1,) * (y.ndim - 2))
    y0, x0 = np.floor(y), np.floor(x)
    out = 0.0
    for dy, dx in itertools.product(range(2), range(2)):
        yi, xi = (y0 + dy).astype(np.int64), (x0 + dx).astype(np.int64)
        weight = (1 - np.abs(y - yi)) * (1 - np.abs(x - xi))
        valid = (yi >= 0) & (yi < height) & (xi >= 0) & (xi < width)
        values = image[batch, groups, :, np.clip(yi, 0, height - 1), np.clip(xi, 0, width - 1)]
        out = out + (weight * valid)[..., None] * values
    return out


@kernel("OnnxDeformConv")
def deform_conv(ctx: KernelContext):
    group, offset_groups = ctx.attr("group", 1), ctx.attr("offset_group", 1)

    def run(x, w, offset, b, mask):
        n, c = x.shape[:2]
        m, kh, kw = w.shape[0], w.shape[2], w.shape[3]
        oh, ow = offset.shape[2:]
        if x.ndim != 4 or c != w.shape[1] * group or m % group or c % offset_groups or \
                offset.shape[:2] != (n, offset_groups * 2 * kh * kw):
            raise ctx.fail(f"x {list(x.shape)}, w {list(w.shape)} and offset "
                           f"{list(offset.shape)} do not fit group {group}, offset_group "
                           f"{offset_groups}")
        strides = list(ctx.attr("strides", []) or []) or [1, 1]
        dilations = list(ctx.attr("dilations", []) or []) or [1, 1]
        pads = list(ctx.attr("pads", []) or []) or [0, 0, 0, 0]
        compute = _compute(x.dtype)
        off = offset.astype(np.float64).reshape(n, offset_groups, kh, kw, 2, oh, ow)
        rows = (np.arange(oh) * strides[0] - pads[0])[:, None] + \
            (np.arange(kh) * dilations[0])[:, None, None, None]
        cols = (np.arange(ow) * strides[1] - pads[1])[None, :] + \
            (np.arange(kw) * dilations[1])[None, :, None, None]
        y, xx = rows + off[:, :, :, :, 0], cols + off[:, :, :, :, 1]   # [n, og, kh, kw, oh, ow]
        image = x.astype(compute).reshape(n, offset_groups, c // offset_groups, *x.shape[2:])
        sampled = _bilinear_zero(image, y, xx)                          # [..., c / og]
        if mask.size:
            sampled = sampled * mask.reshape(n, offset_groups, kh, kw, oh, ow)[..., None]
        sampled = np.moveaxis(sampled, -1, 2).reshape(n, group, c // group, kh, kw, oh, ow)
        wg = w.astype(compute).reshape(group, m // group, c // group, kh, kw)
        out = np.einsum("ngcijhw,gmcij->ngmhw", sampled, wg).reshape(n, m, oh, ow)
        if b.size:
            out = out + b.reshape(1, -1, 1, 1)
        return out.astype(x.dtype)
    return run
