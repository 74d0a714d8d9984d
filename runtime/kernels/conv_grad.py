"""Convolution and pooling backprop kernels: Conv2DBackpropFilter, DepthwiseConv2dNative
BackpropInput/BackpropFilter, MaxPoolGrad, AvgPoolGrad (declared in schema/ops/nn_grad.py).

They walk the same window taps as the forward kernels in runtime/kernels/nn_conv.py: tap (i, j)
sees the strided view ``x_padded[index]`` at every output position, so its share of the
gradient is a product of that view with dy, scattered back (input) or summed (filter).

    Conv2DBackpropFilter(x[2,5,5,3], [3,3,3,4], dy[2,5,5,4]) -> dw[i, j] = x_tap^T @ dy per tap
    MaxPoolGrad: dy goes to the first maximum of each window (row-major), as TensorFlow's CPU.

One body serves numpy and cupy (``xp = ctx.xp``); the size inputs stay in host memory.
"""
from __future__ import annotations

import numpy as np

from runtime.kernels import BOTH, KernelContext, kernel
from runtime.kernels.nn_conv import (
    _compute_type, _from_nhwc, _out_empty, _pad, _plan, _taps, _to_nhwc,
)
from schema.ops.nn_conv import WindowSpec, window_spec


def _sizes(ctx: KernelContext, value, what: str) -> list[int]:
    sizes = [int(v) for v in np.asarray(value).reshape(-1)]
    if len(sizes) != 4 or any(v < 0 for v in sizes):
        raise ctx.fail(f"{what} must hold 4 non-negative sizes, got {sizes}")
    return sizes


def _nhwc_sizes(spec: WindowSpec, sizes: list[int]) -> tuple:
    return tuple(sizes[a] for a in spec.layout.to_nhwc)


def _check_dy(ctx: KernelContext, plans: tuple, dys: np.ndarray, n: int, channels: int) -> None:
    expected = (n, plans[0][0], plans[1][0], channels)
    if dys.shape != expected:
        raise ctx.fail(f"out_backprop has shape {list(dys.shape)} (as NHWC), but the forward "
                       f"output has shape {list(expected)}")


def _crop(dxp: np.ndarray, plans: tuple, h: int, w: int) -> np.ndarray:
    (_, top, _), (_, left, _) = plans
    return dxp[:, top:top + h, left:left + w, :]


@kernel("Conv2DBackpropFilter", device=BOTH, host_inputs=(1,))
def conv2d_backprop_filter(ctx: KernelContext):
    """dw[i, j] = sum over batch and output positions of x_tap^T dy, group by group."""
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op)
    compute, out_type, xp = _compute_type(ctx), ctx.out_np(0), ctx.xp

    def run(x, filter_sizes, dy):
        kh, kw, cg, out_c = _sizes(ctx, filter_sizes, "filter_sizes")
        xs, dys = _to_nhwc(ctx, x, spec, "input"), _to_nhwc(ctx, dy, spec, "out_backprop")
        if cg == 0 or xs.shape[3] % cg or out_c % (xs.shape[3] // cg):
            raise ctx.fail(f"filter_sizes {[kh, kw, cg, out_c]} do not fit an input of depth "
                           f"{xs.shape[3]}")
        groups = xs.shape[3] // cg
        plans = _plan(ctx, spec, xs, (kh, kw), out_c)
        _check_dy(ctx, plans, dys, xs.shape[0], out_c)
        dw = xp.zeros((kh, kw, cg, out_c), compute)
        if _out_empty(plans):
            return dw.astype(out_type)
        xpad = _pad(xs.astype(compute, copy=False), plans, xp=xp)
        dyg = dys.astype(compute, copy=False).reshape(-1, groups, out_c // groups)
        for i, j, index in _taps((kh, kw), spec, plans):
            xg = xpad[index].reshape(-1, groups, cg)
            dw[i, j] = xp.einsum("pgc,pgo->cgo", xg, dyg).reshape(cg, out_c)
        return dw.astype(out_type)
    return run


def _depthwise_check(ctx: KernelContext, channels: int, w_shape: tuple) -> None:
    if len(w_shape) != 4 or w_shape[2] != channels:
        raise ctx.fail(f"filter {list(w_shape)} must be [height, width, {channels}, multiplier] "
                       f"for an input of depth {channels}")


@kernel("DepthwiseConv2dNativeBackpropInput", device=BOTH, host_inputs=(0,))
def depthwise_backprop_input(ctx: KernelContext):
    """dx_tap[..., c] += sum over m of dy[..., c, m] * w[i, j, c, m]."""
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op)
    compute, out_type, xp = _compute_type(ctx), ctx.out_np(0), ctx.xp

    def run(input_sizes, w, dy):
        n, h, wd, c = _nhwc_sizes(spec, _sizes(ctx, input_sizes, "input_sizes"))
        _depthwise_check(ctx, c, w.shape)
        mult = w.shape[3]
        dys = _to_nhwc(ctx, dy, spec, "out_backprop")
        plans = _plan(ctx, spec, np.empty((n, h, wd, 0), compute), w.shape[:2], c)
        _check_dy(ctx, plans, dys, n, c * mult)
        (_, top, bottom), (_, left, right) = plans
        dxp = xp.zeros((n, h + top + bottom, wd + left + right, c), compute)
        if not _out_empty(plans):
            dy5 = dys.astype(compute, copy=False).reshape(dys.shape[:3] + (c, mult))
            wc = w.astype(compute, copy=False)
            for i, j, index in _taps(w.shape[:2], spec, plans):
                dxp[index] += (dy5 * wc[i, j]).sum(axis=-1)
        return _from_nhwc(_crop(dxp, plans, h, wd), spec, out_type, xp)
    return run


@kernel("DepthwiseConv2dNativeBackpropFilter", device=BOTH, host_inputs=(1,))
def depthwise_backprop_filter(ctx: KernelContext):
    """dw[i, j, c, m] = sum over batch and output positions of x_tap[..., c] * dy[..., c, m]."""
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op)
    compute, out_type, xp = _compute_type(ctx), ctx.out_np(0), ctx.xp

    def run(x, filter_sizes, dy):
        kh, kw, c, mult = _sizes(ctx, filter_sizes, "filter_sizes")
        xs, dys = _to_nhwc(ctx, x, spec, "input"), _to_nhwc(ctx, dy, spec, "out_backprop")
        _depthwise_check(ctx, xs.shape[3], (kh, kw, c, mult))
        plans = _plan(ctx, spec, xs, (kh, kw), c * mult)
        _check_dy(ctx, plans, dys, xs.shape[0], c * mult)
        dw = xp.zeros((kh, kw, c, mult), compute)
        if _out_empty(plans):
            return dw.astype(out_type)
        xpad = _pad(xs.astype(compute, copy=False), plans, xp=xp)
        dy5 = dys.astype(compute, copy=False).reshape(-1, c, mult)
        for i, j, index in _taps((kh, kw), spec, plans):
            dw[i, j] = xp.einsum("pc,pcm->cm", xpad[index].reshape(-1, c), dy5)
        return dw.astype(out_type)
    return run


@kernel("MaxPoolGrad", device=BOTH)
def max_pool_grad(ctx: KernelContext):
    """Recomputes each window's maximum from orig_input; its first occurrence in row-major
    window order (padding never wins) receives the window's gradient."""
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op, pooling=True)
    compute, out_type, xp = _compute_type(ctx), ctx.out_np(0), ctx.xp

    def run(x, y, dy):
        xs, dys = _to_nhwc(ctx, x, spec, "orig_input"), _to_nhwc(ctx, dy, spec, "grad")
        plans = _plan(ctx, spec, xs, spec.ksize, xs.shape[3])
        _check_dy(ctx, plans, dys, xs.shape[0], xs.shape[3])
        (_, top, bottom), (_, left, right) = plans
        n, h, w, c = xs.shape
        dxp = xp.zeros((n, h + top + bottom, w + left + right, c), compute)
        if not _out_empty(plans):
            lowest = -np.inf if np.dtype(compute).kind == "f" else np.iinfo(compute).min
            xpad = _pad(xs.astype(compute, copy=False), plans, lowest, xp)
            taps = list(_taps(spec.ksize, spec, plans))
            best, arg = xp.array(xpad[taps[0][2]], copy=True), xp.zeros(dys.shape, np.int64)
            for t, (_, _, index) in enumerate(taps[1:], start=1):
                better = xpad[index] > best
                best = xp.where(better, xpad[index], best)
                arg[better] = t
            dyc = dys.astype(compute, copy=False)
            for t, (_, _, index) in enumerate(taps):
                dxp[index] += xp.where(arg == t, dyc, 0)
        return _from_nhwc(_crop(dxp, plans, h, w), spec, out_type, xp)
    return run


@kernel("AvgPoolGrad", device=BOTH, host_inputs=(0,))
def avg_pool_grad(ctx: KernelContext):
    """Each window's gradient, divided by its count of valid (non-padded) elements, is spread
    over those elements."""
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op, pooling=True)
    compute, out_type, xp = _compute_type(ctx), ctx.out_np(0), ctx.xp

    def run(orig_input_shape, dy):
        n, h, w, c = _nhwc_sizes(spec, _sizes(ctx, orig_input_shape, "orig_input_shape"))
        dys = _to_nhwc(ctx, dy, spec, "grad")
        plans = _plan(ctx, spec, np.empty((n, h, w, 0), compute), spec.ksize, c)
        _check_dy(ctx, plans, dys, n, c)
        (_, top, bottom), (_, left, right) = plans
        dxp = xp.zeros((n, h + top + bottom, w + left + right, c), compute)
        if not _out_empty(plans):
            valid = _pad(xp.ones((1, h, w, 1), compute), plans, xp=xp)
            counts = xp.zeros((1,) + dys.shape[1:3] + (1,), compute)
            taps = list(_taps(spec.ksize, spec, plans))
            for _, _, index in taps:
                counts += valid[index]
            share = dys.astype(compute, copy=False) / counts
            for _, _, index in taps:
                dxp[index] += share
        return _from_nhwc(_crop(dxp, plans, h, w), spec, out_type, xp)
    return run
