"""Convolution and pooling kernels: Conv2D, DepthwiseConv2dNative, Conv2DBackpropInput, MaxPool,
AvgPool, with TensorFlow's padding arithmetic (shared with the shape functions in
schema/ops/nn_conv.py).

Each kernel works in NHWC (NCHW is transposed in and out) and loops over the window's taps: one
strided view of the padded input per tap (i, j), folded into the output with a matmul (Conv2D),
a broadcast multiply (depthwise), a maximum or a sum (pools).

    Conv2D(x[2,16,16,3], w[3,3,3,8], strides=[1,1,1,1], SAME) -> 9 matmuls [2,16,16,3] @ [3,8]

The same bodies run on the GPU with ``xp = cupy`` (CuPy 14 has no cuDNN), where the convolutions
gather the taps first (im2col) so that each is one cuBLAS matmul, and the depthwise one a single
broadcast multiply and sum:

    GPU Conv2D(x[2,16,16,3], w[3,3,3,8]) -> cols [2,16,16,9,3] -> [512, 27] @ [27, 8]
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from runtime.kernels import BOTH, KernelContext, kernel
from schema.dtypes import DType
from schema.ops.nn_conv import WindowSpec, backprop_input_shape, spatial_plan, window_spec
from schema.tensors import check_byte_budget

_NARROW = {DType.HALF, DType.BFLOAT16}   # computed in float32, as TensorFlow accumulates them


def _compute_type(ctx: KernelContext) -> np.dtype:
    return np.dtype(np.float32) if ctx.out_types[0] in _NARROW else ctx.out_np(0)


def _to_nhwc(ctx: KernelContext, x: np.ndarray, spec: WindowSpec, what: str) -> np.ndarray:
    if x.ndim != 4:
        raise ctx.fail(f"{what} must be rank 4, but has shape {list(x.shape)}")
    return x.transpose(spec.layout.to_nhwc)


def _from_nhwc(y: np.ndarray, spec: WindowSpec, out_type: np.dtype, xp=np) -> np.ndarray:
    y = y.astype(out_type, copy=False)
    return xp.ascontiguousarray(y.transpose(spec.layout.from_nhwc))


def _plan(ctx: KernelContext, spec: WindowSpec, x: np.ndarray, k_hw: tuple, out_c: int) -> tuple:
    """Output sizes and paddings, after checking the padded input and the output fit the budget."""
    plans = spatial_plan(spec, x.shape[1:3], k_hw, ctx.fail)
    (oh, top, bottom), (ow, left, right) = plans
    padded = (x.shape[0], x.shape[1] + top + bottom, x.shape[2] + left + right, x.shape[3])
    itemsize = max(x.dtype.itemsize, 4)
    check_byte_budget(padded, itemsize, ctx.limits, what="padded input")
    check_byte_budget((x.shape[0], oh, ow, out_c), itemsize, ctx.limits, what="output")
    return plans


def _pad(x: np.ndarray, plans: tuple, value=0, xp=np) -> np.ndarray:
    (_, top, bottom), (_, left, right) = plans
    if not (top or bottom or left or right):
        return x
    return xp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def _taps(k_hw: tuple, spec: WindowSpec, plans: tuple) -> Iterator[tuple]:
    """(i, j, index) for each window tap; x_padded[index] is what tap (i, j) sees at every output.

    k 2x2, stride 2, output 3x3 -> (0, 0, [:, 0:5:2, 0:5:2]), (0, 1, [:, 0:5:2, 1:6:2]), ...
    """
    (oh, _, _), (ow, _, _) = plans
    (sh, sw), (dh, dw) = spec.strides, spec.dilations
    for i in range(k_hw[0]):
        for j in range(k_hw[1]):
            yield i, j, (slice(None), slice(i * dh, i * dh + (oh - 1) * sh + 1, sh),
                         slice(j * dw, j * dw + (ow - 1) * sw + 1, sw))


def _out_empty(plans: tuple) -> bool:
    return plans[0][0] == 0 or plans[1][0] == 0


# -- convolutions ---------------------------------------------------------------------------

def _grouped_matmul(x_tap: np.ndarray, w_tap: np.ndarray, groups: int) -> np.ndarray:
    """[..., G*cg] x [cg, G*og] -> [..., G*og], group g using channels g*cg.. and outputs g*og.."""
    if groups == 1:
        return x_tap @ w_tap
    lead, cg = x_tap.shape[:-1], x_tap.shape[-1] // groups
    og = w_tap.shape[1] // groups
    xg = x_tap.reshape(*lead, groups, 1, cg)
    wg = w_tap.reshape(cg, groups, og).transpose(1, 0, 2)
    return (xg @ wg).reshape(*lead, groups * og)


def _conv_groups(ctx: KernelContext, depth: int, w: np.ndarray) -> int:
    if w.ndim != 4:
        raise ctx.fail(f"filter must be rank 4, but has shape {list(w.shape)}")
    in_depth, out_depth = w.shape[2], w.shape[3]
    if in_depth == 0 or depth % in_depth != 0:
        raise ctx.fail(f"depth of input ({depth}) is not a multiple of input depth of filter "
                       f"({in_depth}); filter shape {list(w.shape)}")
    groups = depth // in_depth
    if out_depth % groups != 0:
        raise ctx.fail(f"depth of output ({out_depth}) is not a multiple of the number of "
                       f"groups ({groups})")
    return groups


def _tap_contraction(xpad, wc, taps: list, groups: int, out):
    """out += x_tap @ w[i, j] for each tap (the CPU's order of sums)."""
    for i, j, index in taps:
        out += _grouped_matmul(xpad[index], wc[i, j], groups)
    return out


def _gather_taps(xp, xpad, taps: list):
    """[N, OH, OW, T, C]: every tap's view side by side (a view when there is one tap)."""
    views = [xpad[index] for _, _, index in taps]
    return views[0][..., None, :] if len(views) == 1 else xp.stack(views, axis=3)


def _im2col_contraction(xp, xpad, wc, taps: list, groups: int, out_shape: tuple):
    """One (batched) matmul over the gathered taps: [P, T*C] @ [T*C, O], per group."""
    cols = _gather_taps(xp, xpad, taps)
    n_taps, channels, out_c = len(taps), cols.shape[-1], wc.shape[3]
    points = cols.shape[0] * cols.shape[1] * cols.shape[2]
    if groups == 1:
        y = cols.reshape(points, n_taps * channels) @ wc.reshape(n_taps * channels, out_c)
        return y.reshape(out_shape)
    cg, og = channels // groups, out_c // groups
    a = cols.reshape(points, n_taps, groups, cg).transpose(2, 0, 1, 3)
    b = wc.reshape(n_taps, cg, groups, og).transpose(2, 0, 1, 3)
    y = a.reshape(groups, points, n_taps * cg) @ b.reshape(groups, n_taps * cg, og)
    return y.transpose(1, 0, 2).reshape(out_shape)


@kernel("Conv2D", device=BOTH)
def conv2d(ctx: KernelContext):
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op)
    compute, out_type, xp = _compute_type(ctx), ctx.out_np(0), ctx.xp

    def run(x, w):
        xs = _to_nhwc(ctx, x, spec, "input")
        groups = _conv_groups(ctx, xs.shape[3], w)
        plans = _plan(ctx, spec, xs, w.shape[:2], w.shape[3])
        shape = (xs.shape[0], plans[0][0], plans[1][0], w.shape[3])
        if _out_empty(plans):
            return _from_nhwc(xp.zeros(shape, compute), spec, out_type, xp)
        xpad = _pad(xs.astype(compute, copy=False), plans, xp=xp)
        wc = w.astype(compute, copy=False)
        taps = list(_taps(w.shape[:2], spec, plans))
        if xp is np:
            out = _tap_contraction(xpad, wc, taps, groups, np.zeros(shape, compute))
        else:
            out = _im2col_contraction(xp, xpad, wc, taps, groups, shape)
        return _from_nhwc(out, spec, out_type, xp)
    return run


@kernel("DepthwiseConv2dNative", device=BOTH)
def depthwise_conv2d(ctx: KernelContext):
    """Filter [kh, kw, in_channels, multiplier]; output channel c * multiplier + m."""
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op)
    compute, out_type, xp = _compute_type(ctx), ctx.out_np(0), ctx.xp

    def run(x, w):
        xs = _to_nhwc(ctx, x, spec, "input")
        if w.ndim != 4 or w.shape[2] != xs.shape[3]:
            raise ctx.fail(f"filter {list(w.shape)} must be [height, width, {xs.shape[3]}, "
                           f"multiplier] for an input of depth {xs.shape[3]}")
        channels, mult = w.shape[2], w.shape[3]
        plans = _plan(ctx, spec, xs, w.shape[:2], channels * mult)
        shape = (xs.shape[0], plans[0][0], plans[1][0], channels, mult)
        if _out_empty(plans):
            out = xp.zeros(shape, compute)
        else:
            xpad = _pad(xs.astype(compute, copy=False), plans, xp=xp)
            wc = w.astype(compute, copy=False)
            taps = list(_taps(w.shape[:2], spec, plans))
            out = _depthwise_taps(xp, xpad, wc, taps, shape)
        return _from_nhwc(out.reshape(out.shape[:3] + (channels * mult,)), spec, out_type, xp)
    return run


def _depthwise_taps(xp, xpad, wc, taps: list, shape: tuple):
    """sum over taps of x_tap[..., c, None] * w[i, j, c, m]: tap by tap on the CPU, one broadcast
    multiply and sum over the gathered taps on the GPU (two kernels instead of two per tap)."""
    if xp is np:
        out = np.zeros(shape, wc.dtype)
        for i, j, index in taps:
            out += xpad[index][..., None] * wc[i, j]
        return out
    cols = _gather_taps(xp, xpad, taps)[..., None]                       # [N, OH, OW, T, C, 1]
    w_taps = wc.reshape((len(taps),) + wc.shape[2:])                     # [T, C, M]
    return (cols * w_taps).sum(axis=3)


@kernel("Conv2DBackpropInput", device=BOTH, host_inputs=(0,))
def conv2d_backprop_input(ctx: KernelContext):
    """The gradient of Conv2D with respect to its input: each tap scatters dy @ w[i, j]^T back."""
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op)
    compute, out_type, xp = _compute_type(ctx), ctx.out_np(0), ctx.xp

    def run(input_sizes, w, dy):
        sizes = [int(v) for v in np.asarray(input_sizes).reshape(-1)]
        if w.ndim != 4:
            raise ctx.fail(f"filter must be rank 4, but has shape {list(w.shape)}")
        dys = _to_nhwc(ctx, dy, spec, "out_backprop")
        shape = backprop_input_shape(spec, sizes, w.shape, dy.shape, ctx.fail)
        n, h, wd, c = (shape[a] for a in spec.layout.to_nhwc)
        if c != w.shape[2] or dys.shape[3] != w.shape[3] or dys.shape[0] != n:
            raise ctx.fail(f"input_sizes {sizes}, filter {list(w.shape)} and out_backprop "
                           f"{list(dy.shape)} do not agree (grouped convolution is not "
                           f"supported here)")
        probe = np.empty((n, h, wd, 0), compute)
        plans = _plan(ctx, spec, probe, w.shape[:2], c)
        if (plans[0][0], plans[1][0]) != dys.shape[1:3]:
            raise ctx.fail(f"out_backprop spatial size {list(dys.shape[1:3])} does not match the "
                           f"forward output size {[plans[0][0], plans[1][0]]}")
        (_, top, bottom), (_, left, right) = plans
        dx = xp.zeros((n, h + top + bottom, wd + left + right, c), compute)
        if not _out_empty(plans):
            wc, dyc = w.astype(compute, copy=False), dys.astype(compute, copy=False)
            for i, j, index in _taps(w.shape[:2], spec, plans):
                dx[index] += dyc @ wc[i, j].T
        return _from_nhwc(dx[:, top:top + h, left:left + wd, :], spec, out_type, xp)
    return run


# -- pooling ----------------------------------------------------------------------------------

def _lowest(dtype: np.dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


@kernel("MaxPool", device=BOTH)
def max_pool(ctx: KernelContext):
    """Padding counts as -inf (the dtype's minimum for integers): it never wins a window."""
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op, pooling=True)
    compute, out_type, xp = _compute_type(ctx), ctx.out_np(0), ctx.xp

    def run(x):
        xs = _to_nhwc(ctx, x, spec, "input")
        plans = _plan(ctx, spec, xs, spec.ksize, xs.shape[3])
        out = xp.full((xs.shape[0], plans[0][0], plans[1][0], xs.shape[3]), _lowest(compute),
                      compute)
        if not _out_empty(plans):
            xpad = _pad(xs.astype(compute, copy=False), plans, _lowest(compute), xp)
            for _, _, index in _taps(spec.ksize, spec, plans):
                xp.maximum(out, xpad[index], out=out)
        return _from_nhwc(out, spec, out_type, xp)
    return run


@kernel("AvgPool", device=BOTH)
def avg_pool(ctx: KernelContext):
    """Each output is the mean of the window's valid (non-padded) elements, as in TensorFlow."""
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op, pooling=True)
    compute, out_type, xp = _compute_type(ctx), ctx.out_np(0), ctx.xp

    def run(x):
        xs = _to_nhwc(ctx, x, spec, "input")
        plans = _plan(ctx, spec, xs, spec.ksize, xs.shape[3])
        total = xp.zeros((xs.shape[0], plans[0][0], plans[1][0], xs.shape[3]), compute)
        if _out_empty(plans):
            return _from_nhwc(total, spec, out_type, xp)
        xpad = _pad(xs.astype(compute, copy=False), plans, xp=xp)
        valid = _pad(xp.ones((1,) + xs.shape[1:3] + (1,), compute), plans, xp=xp)
        counts = xp.zeros((1,) + total.shape[1:3] + (1,), compute)
        for _, _, index in _taps(spec.ksize, spec, plans):
            total += xpad[index]
            counts += valid[index]
        return _from_nhwc(total / counts, spec, out_type, xp)
    return run
