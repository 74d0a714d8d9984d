"""Convolution and pooling kernels: Conv2D, DepthwiseConv2dNative, Conv2DBackpropInput, MaxPool,
AvgPool, with TensorFlow's padding arithmetic (shared with the shape functions in
schema/ops/nn_conv.py).

Each kernel works in NHWC (NCHW is transposed in and out) and loops over the window's taps: one
strided view of the padded input per tap (i, j), folded into the output with a matmul (Conv2D),
a broadcast multiply (depthwise), a maximum or a sum (pools).

    Conv2D(x[2,16,16,3], w[3,3,3,8], strides=[1,1,1,1], SAME) -> 9 matmuls [2,16,16,3] @ [3,8]
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from runtime.kernels import KernelContext, kernel
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


def _from_nhwc(y: np.ndarray, spec: WindowSpec, out_type: np.dtype) -> np.ndarray:
    y = y.astype(out_type, copy=False)
    return np.ascontiguousarray(y.transpose(spec.layout.from_nhwc))


def _plan(ctx: KernelContext, spec: WindowSpec, x: np.ndarray, k_hw: tuple, out_c: int) -> tuple:
    """Output sizes and paddings, after checking the padded input and the output fit the budget."""
    plans = spatial_plan(spec, x.shape[1:3], k_hw, ctx.fail)
    (oh, top, bottom), (ow, left, right) = plans
    padded = (x.shape[0], x.shape[1] + top + bottom, x.shape[2] + left + right, x.shape[3])
    itemsize = max(x.dtype.itemsize, 4)
    check_byte_budget(padded, itemsize, ctx.limits, what="padded input")
    check_byte_budget((x.shape[0], oh, ow, out_c), itemsize, ctx.limits, what="output")
    return plans


def _pad(x: np.ndarray, plans: tuple, value=0) -> np.ndarray:
    (_, top, bottom), (_, left, right) = plans
    if not (top or bottom or left or right):
        return x
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


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


@kernel("Conv2D")
def conv2d(ctx: KernelContext):
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op)
    compute, out_type = _compute_type(ctx), ctx.out_np(0)

    def run(x, w):
        xs = _to_nhwc(ctx, x, spec, "input")
        groups = _conv_groups(ctx, xs.shape[3], w)
        plans = _plan(ctx, spec, xs, w.shape[:2], w.shape[3])
        out = np.zeros((xs.shape[0], plans[0][0], plans[1][0], w.shape[3]), compute)
        if not _out_empty(plans):
            xp = _pad(xs.astype(compute, copy=False), plans)
            wc = w.astype(compute, copy=False)
            for i, j, index in _taps(w.shape[:2], spec, plans):
                out += _grouped_matmul(xp[index], wc[i, j], groups)
        return _from_nhwc(out, spec, out_type)
    return run


@kernel("DepthwiseConv2dNative")
def depthwise_conv2d(ctx: KernelContext):
    """Filter [kh, kw, in_channels, multiplier]; output channel c * multiplier + m."""
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op)
    compute, out_type = _compute_type(ctx), ctx.out_np(0)

    def run(x, w):
        xs = _to_nhwc(ctx, x, spec, "input")
        if w.ndim != 4 or w.shape[2] != xs.shape[3]:
            raise ctx.fail(f"filter {list(w.shape)} must be [height, width, {xs.shape[3]}, "
                           f"multiplier] for an input of depth {xs.shape[3]}")
        channels, mult = w.shape[2], w.shape[3]
        plans = _plan(ctx, spec, xs, w.shape[:2], channels * mult)
        out = np.zeros((xs.shape[0], plans[0][0], plans[1][0], channels, mult), compute)
        if not _out_empty(plans):
            xp = _pad(xs.astype(compute, copy=False), plans)
            wc = w.astype(compute, copy=False)
            for i, j, index in _taps(w.shape[:2], spec, plans):
                out += xp[index][..., None] * wc[i, j]
        return _from_nhwc(out.reshape(out.shape[:3] + (channels * mult,)), spec, out_type)
    return run


@kernel("Conv2DBackpropInput")
def conv2d_backprop_input(ctx: KernelContext):
    """The gradient of Conv2D with respect to its input: each tap scatters dy @ w[i, j]^T back."""
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op)
    compute, out_type = _compute_type(ctx), ctx.out_np(0)

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
        dx = np.zeros((n, h + top + bottom, wd + left + right, c), compute)
        if not _out_empty(plans):
            wc, dyc = w.astype(compute, copy=False), dys.astype(compute, copy=False)
            for i, j, index in _taps(w.shape[:2], spec, plans):
                dx[index] += dyc @ wc[i, j].T
        return _from_nhwc(dx[:, top:top + h, left:left + wd, :], spec, out_type)
    return run


# -- pooling ----------------------------------------------------------------------------------

def _lowest(dtype: np.dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


@kernel("MaxPool")
def max_pool(ctx: KernelContext):
    """Padding counts as -inf (the dtype's minimum for integers): it never wins a window."""
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op, pooling=True)
    compute, out_type = _compute_type(ctx), ctx.out_np(0)

    def run(x):
        xs = _to_nhwc(ctx, x, spec, "input")
        plans = _plan(ctx, spec, xs, spec.ksize, xs.shape[3])
        out = np.full((xs.shape[0], plans[0][0], plans[1][0], xs.shape[3]), _lowest(compute),
                      compute)
        if not _out_empty(plans):
            xp = _pad(xs.astype(compute, copy=False), plans, _lowest(compute))
            for _, _, index in _taps(spec.ksize, spec, plans):
                np.maximum(out, xp[index], out=out)
        return _from_nhwc(out, spec, out_type)
    return run


@kernel("AvgPool")
def avg_pool(ctx: KernelContext):
    """Each output is the mean of the window's valid (non-padded) elements, as in TensorFlow."""
    spec = window_spec(ctx.attr, ctx.fail, ctx.node.op, pooling=True)
    compute, out_type = _compute_type(ctx), ctx.out_np(0)

    def run(x):
        xs = _to_nhwc(ctx, x, spec, "input")
        plans = _plan(ctx, spec, xs, spec.ksize, xs.shape[3])
        total = np.zeros((xs.shape[0], plans[0][0], plans[1][0], xs.shape[3]), compute)
        if _out_empty(plans):
            return _from_nhwc(total, spec, out_type)
        xp = _pad(xs.astype(compute, copy=False), plans)
        valid = _pad(np.ones((1,) + xs.shape[1:3] + (1,), compute), plans)
        counts = np.zeros((1,) + total.shape[1:3] + (1,), compute)
        for _, _, index in _taps(spec.ksize, spec, plans):
            total += xp[index]
            counts += valid[index]
        return _from_nhwc(total / counts, spec, out_type)
    return run
