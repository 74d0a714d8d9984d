"""Kernels of DepthToSpace, SpaceToDepth, LRN (TensorFlow's semantics) and OnnxConvTranspose
(declared in schema/ops/onnx_ext_nn.py).

    DepthToSpace(x[1,1,1,4] = [1,2,3,4]) block_size=2   -> [[[[1],[2]],[[3],[4]]]]
    LRN(x) depth_radius=r -> x / (bias + alpha * sum(x[..., d-r:d+r+1]^2)) ^ beta
    OnnxConvTranspose(x[N,C,*in], w[C,M/g,*k]): each kernel tap scatters w[:, :, tap]^T @ x into
        the strided positions tap * dilation + i * stride of the full result, which is then
        cropped at the start and cut (or zero-extended) to the output size.
"""
from __future__ import annotations

import itertools

import numpy as np

from runtime.kernels import KernelContext, kernel
from runtime.kernels.array import check_budget
from schema.ops.onnx_ext_nn import conv_transpose_window, window_attrs

_NARROW = ("float16", "bfloat16")


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float32) if dtype.name in _NARROW else dtype


# -- DepthToSpace, SpaceToDepth -------------------------------------------------------------------

def _nhwc(ctx: KernelContext, fn):
    """Runs an NHWC body on NCHW data by transposing in and out."""
    if ctx.attr("data_format", "NHWC") == "NHWC":
        return fn
    if ctx.attr("data_format") != "NCHW":
        raise ctx.fail(f"data_format {ctx.attr('data_format')!r} is not supported")
    return lambda x: np.ascontiguousarray(fn(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2))


def _check_4d(ctx: KernelContext, x: np.ndarray) -> None:
    if x.ndim != 4:
        raise ctx.fail(f"input must be 4-D, got shape {list(x.shape)}")


@kernel("DepthToSpace")
def depth_to_space(ctx: KernelContext):
    b = ctx.attr("block_size")

    def run(x):
        _check_4d(ctx, x)
        n, h, w, c = x.shape
        if c % (b * b):
            raise ctx.fail(f"input depth {c} must be divisible by block_size^2 = {b * b}")
        y = x.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5)
        return y.reshape(n, h * b, w * b, c // (b * b))
    return _nhwc(ctx, run)


@kernel("SpaceToDepth")
def space_to_depth(ctx: KernelContext):
    b = ctx.attr("block_size")

    def run(x):
        _check_4d(ctx, x)
        n, h, w, c = x.shape
        if h % b or w % b:
            raise ctx.fail(f"spatial dims {list(x.shape)} must be divisible by block_size {b}")
        y = x.reshape(n, h // b, b, w // b, b, c).transpose(0, 1, 3, 2, 4, 5)
        return y.reshape(n, h // b, w // b, b * b * c)
    return _nhwc(ctx, run)


@kernel("LRN")
def lrn(ctx: KernelContext):
    radius, bias = ctx.attr("depth_radius", 5), ctx.attr("bias", 1.0)
    alpha, beta = ctx.attr("alpha", 1.0), ctx.attr("beta", 0.5)

    def run(x):
        _check_4d(ctx, x)
        xc = x.astype(_compute_dtype(x.dtype), copy=False)
        squares = np.pad(np.square(xc), [(0, 0)] * 3 + [(radius + 1, radius)])
        running = np.cumsum(squares, axis=-1)
        window = running[..., 2 * radius + 1:] - running[..., :-2 * radius - 1]
        return (xc / (bias + alpha * window) ** beta).astype(x.dtype)
    return run


# -- OnnxConvTranspose ----------------------------------------------------------------------------

def _transpose_plan(ctx: KernelContext, x: np.ndarray, w: np.ndarray) -> tuple:
    """(kernel, strides, dilations, [(out, crop)] per dim) after checking the shapes."""
    spatial = x.ndim - 2
    group = ctx.attr("group", 1)
    if x.ndim < 3 or w.ndim != x.ndim or x.shape[1] != w.shape[0] or x.shape[1] % group:
        raise ctx.fail(f"x {list(x.shape)} and w {list(w.shape)} must be [N, C, ...] and "
                       f"[C, M/group, ...] with C divisible by group {group}")
    attrs = dict(ctx.node.attrs)
    if not attrs.get("kernel_shape"):
        attrs["kernel_shape"] = list(w.shape[2:])
    kernel_shape, strides, dilations, pads = window_attrs(attrs.get, spatial, ctx.fail)
    if list(kernel_shape) != list(w.shape[2:]):
        raise ctx.fail(f"kernel_shape {kernel_shape} differs from the weights' {list(w.shape)}")
    out_pad = list(ctx.attr("output_padding", []) or []) or [0] * spatial
    out_shape = list(ctx.attr("output_shape", []) or [])[-spatial:] or [None] * spatial
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    plans = [conv_transpose_window(x.shape[2 + i], kernel_shape[i], strides[i], dilations[i],
                                   pads[i], out_pad[i], out_shape[i], auto_pad)
             for i in range(spatial)]
    if any(n < 0 for n, _ in plans):
        raise ctx.fail(f"output size {[n for n, _ in plans]} is negative")
    return kernel_shape, strides, dilations, plans


@kernel("OnnxConvTranspose")
def conv_transpose(ctx: KernelContext):
    group = ctx.attr("group", 1)

    def run(x, w):
        kernel_shape, strides, dilations, plans = _transpose_plan(ctx, x, w)
        compute = _compute_dtype(x.dtype)
        n, c, in_dims = x.shape[0], x.shape[1], x.shape[2:]
        m = w.shape[1] * group
        full_dims = [s * (d - 1) + (k - 1) * dl + 1
                     for s, d, k, dl in zip(strides, in_dims, kernel_shape, dilations)]
        check_budget(ctx, [n, m] + full_dims, compute)
        check_budget(ctx, [n, m] + [o for o, _ in plans], compute)
        full = np.zeros([n, m] + full_dims, compute)
        xg = x.astype(compute, copy=False).reshape(n, group, c // group, *in_dims)
        wg = w.astype(compute, copy=False).reshape(group, c // group, w.shape[1], *kernel_shape)
        for tap in itertools.product(*[range(k) for k in kernel_shape]):
            # [N, G, Cg, *in] x [G, Cg, Mg] -> [N, G, Mg, *in]
            part = np.einsum("ngc...,gcm->ngm...", xg, wg[(Ellipsis,) + tap])
            index = tuple(slice(t * dl, t * dl + (d - 1) * s + 1, s)
                          for t, dl, d, s in zip(tap, dilations, in_dims, strides))
            full[(slice(None), slice(None)) + index] += part.reshape(n, m, *in_dims)
        return _crop(full, plans).astype(x.dtype, copy=False)
    return run


def _crop(full: np.ndarray, plans: list) -> np.ndarray:
    """out[p] = full[p + crop] where that exists, zero elsewhere (crop may be negative)."""
    out = np.zeros(full.shape[:2] + tuple(o for o, _ in plans), full.dtype)
    source, target = [slice(None)] * 2, [slice(None)] * 2
    for (size, crop), length in zip(plans, full.shape[2:]):
        lo, hi = max(crop, 0), min(crop + size, length)
        if hi <= lo:
            return out
        source.append(slice(lo, hi))
        target.append(slice(lo - crop, hi - crop))
    out[tuple(target)] = full[tuple(source)]
    return out


# -- OnnxDropout ----------------------------------------------------------------------------------

@kernel("OnnxDropout")
def dropout(ctx: KernelContext):
    """ONNX Dropout: the identity unless training_mode with a non-zero ratio; then each element
    is kept when a uniform draw in [0, 1) is >= ratio and scaled by 1 / (1 - ratio). With a
    ``seed`` the draws come from numpy's RandomState(seed), so every run gives the same mask."""
    seed = ctx.attr("seed", 0) if ctx.attr("has_seed", False) else None

    def run(x, ratio, training):
        ratio, training = float(np.asarray(ratio).reshape(-1)[0]), bool(np.asarray(training))
        if not training or ratio == 0:
            return x.copy(), np.ones(x.shape, bool)
        if not 0 <= ratio < 1:
            raise ctx.fail(f"ratio must be in [0, 1), got {ratio}")
        draws = (np.random.RandomState(seed).uniform(0, 1.0, x.shape) if seed is not None
                 else np.random.default_rng().uniform(0, 1.0, x.shape))
        mask = draws >= ratio
        return (mask * x * (1 / (1 - ratio))).astype(x.dtype), mask
    return run
