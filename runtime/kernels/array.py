"""Array kernels with TensorFlow's semantics: reshape, transpose, squeeze/expand, concat/split,
pack/unpack, Slice/StridedSlice, padding, tiling, broadcasting.

    Reshape(f32[2,3,4], [-1, 6]) -> f32[4,6];  StridedSlice(x, x[1:, ::-1, 2]) -> x[1:, ::-1, 2]

The shape rules (and their error messages) are the ones the shape functions use:
schema/ops/array_rules.py and schema/ops/slicing.py. Kernels whose output size comes from input
values (Tile, BroadcastTo, the pads; Fill, Range, OneHot and the gathers in array_values.py)
check the byte budget before allocating.

One body serves numpy and cupy (``xp = ctx.xp``). Shape-like inputs (shapes, perms, axes, begin/
end/strides, paddings, multiples) are marked ``host_inputs``: on a GPU they stay in host memory.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from runtime.kernels import BOTH, KernelContext, kernel
from schema.ops import array_rules as rules
from schema.ops.array_rules import RuleError
from schema.ops.slicing import strided_slice as resolve_strided_slice
from schema.tensors import check_byte_budget


def rule(ctx: KernelContext, fn: Callable, *args):
    """Calls a shape rule; a broken rule becomes an ExecutionError naming the node."""
    try:
        return fn(*args)
    except RuleError as err:
        raise ctx.fail(str(err)) from None


def ints(value) -> list[int]:
    return [int(v) for v in np.asarray(value).reshape(-1)]


def scalar_int(ctx: KernelContext, value, what: str) -> int:
    if np.size(value) != 1:
        raise ctx.fail(f"{what} must be a scalar, got shape {rules.fmt_shape(np.shape(value))}")
    return int(np.asarray(value).reshape(-1)[0])


def require_scalar(ctx: KernelContext, value, what: str) -> None:
    if np.ndim(value) != 0:
        raise ctx.fail(f"{what} must be a scalar, not shape {rules.fmt_shape(np.shape(value))}")


def require_vector(ctx: KernelContext, value, what: str) -> None:
    if np.ndim(value) != 1:
        raise ctx.fail(f"{what} must be 1-D, not {rules.fmt_shape(np.shape(value))}")


def check_budget(ctx: KernelContext, shape: Sequence[int], dtype) -> None:
    """LimitExceeded before allocating an output of ``shape`` (sized by input values)."""
    dtype = np.dtype(dtype)
    itemsize = 8 if dtype == object else dtype.itemsize
    check_byte_budget(shape, itemsize, ctx.limits, what=f"output of node {ctx.node.name!r}")


# -- reshape, transpose, squeeze, expand_dims ---------------------------------------------------

@kernel("Reshape", device=BOTH, host_inputs=(1,))
def reshape(ctx: KernelContext):
    xp = ctx.xp

    def run(x, shape):
        if np.ndim(shape) > 1:
            raise ctx.fail(f"sizes input must be 1-D, not {rules.fmt_shape(np.shape(shape))}")
        return xp.reshape(x, rule(ctx, rules.reshape_dims, x.shape, ints(shape)))
    return run


@kernel("Transpose", device=BOTH, host_inputs=(1,))
def transpose(ctx: KernelContext):
    xp = ctx.xp

    def run(x, perm):
        require_vector(ctx, perm, "perm")
        return xp.transpose(x, rule(ctx, rules.normalize_perm, ints(perm), np.ndim(x)))
    return run


@kernel("Squeeze", device=BOTH)
def squeeze(ctx: KernelContext):
    squeeze_dims, xp = list(ctx.attr("squeeze_dims") or []), ctx.xp

    def run(x):
        axes = rule(ctx, rules.squeeze_axes, np.shape(x), squeeze_dims)
        return xp.squeeze(x, axis=tuple(axes))
    return run


@kernel("ExpandDims", device=BOTH, host_inputs=(1,))
def expand_dims(ctx: KernelContext):
    xp = ctx.xp

    def run(x, dim):
        if np.size(dim) != 1:
            raise ctx.fail("'dim' must be a tensor with a single value")
        axis = rule(ctx, rules.expand_dims_axis, ints(dim)[0], np.ndim(x))
        return xp.expand_dims(x, axis)
    return run


@kernel("Snapshot", device=BOTH)
def snapshot(ctx: KernelContext):
    xp = ctx.xp
    return lambda x: xp.array(x, copy=True)


@kernel("EnsureShape", device=BOTH)
def ensure_shape(ctx: KernelContext):
    expected = ctx.attr("shape")
    source = ctx.node.inputs[0].name

    def run(x):
        ok = expected is None or (len(expected) == np.ndim(x) and all(
            e is None or e == d for e, d in zip(expected, np.shape(x))))
        if not ok:
            raise ctx.fail(f"Shape of tensor {source} {rules.fmt_shape(np.shape(x))} is not "
                           f"compatible with expected shape {rules.fmt_shape(expected)}.")
        return x
    return run


# -- concat, split, pack, unpack ----------------------------------------------------------------

@kernel("ConcatV2", device=BOTH, host_inputs=(-1,))
def concat_v2(ctx: KernelContext):
    xp = ctx.xp

    def run(*args):
        values, axis = args[:-1], scalar_int(ctx, args[-1], "axis")
        rule(ctx, rules.concat_dims, [np.shape(v) for v in values], axis)
        return xp.concatenate(values, axis=axis)
    return run


@kernel("Split", device=BOTH, host_inputs=(0,))
def split(ctx: KernelContext):
    num_split, xp = ctx.attr("num_split"), ctx.xp

    def run(split_dim, value):
        axis = rule(ctx, rules.check_axis, scalar_int(ctx, split_dim, "split_dim"),
                    np.ndim(value), "split_dim")
        rule(ctx, rules.even_split, value.shape[axis], num_split, axis)
        return xp.split(value, num_split, axis=axis)
    return run


@kernel("SplitV", device=BOTH, host_inputs=(1, 2))
def split_v(ctx: KernelContext):
    num_split, xp = ctx.attr("num_split"), ctx.xp

    def run(value, size_splits, split_dim):
        axis = rule(ctx, rules.check_axis, scalar_int(ctx, split_dim, "split_dim"),
                    np.ndim(value), "split_dim")
        sizes = ints(size_splits)
        if len(sizes) != num_split:
            raise ctx.fail(f"size_splits has {len(sizes)} elements but num_split is {num_split}")
        pieces = rule(ctx, rules.split_sizes, sizes, value.shape[axis])
        return xp.split(value, np.cumsum(pieces)[:-1].tolist(), axis=axis)
    return run


@kernel("Pack", device=BOTH)
def pack(ctx: KernelContext):
    axis, xp = ctx.attr("axis", 0), ctx.xp

    def run(*values):
        rule(ctx, rules.pack_dims, [np.shape(v) for v in values], axis)
        return xp.stack(values, axis=axis)
    return run


@kernel("Unpack", device=BOTH)
def unpack(ctx: KernelContext):
    num, axis, xp = ctx.attr("num"), ctx.attr("axis", 0), ctx.xp

    def run(value):
        positive, _ = rule(ctx, rules.unpack_dims, np.shape(value), num, axis)
        return list(xp.moveaxis(value, positive, 0))
    return run


# -- slicing ------------------------------------------------------------------------------------

@kernel("Slice", device=BOTH, host_inputs=(1, 2))
def slice_(ctx: KernelContext):
    def run(x, begin, size):
        bounds = rule(ctx, rules.slice_bounds, ints(begin), ints(size), np.shape(x))
        return x[tuple(slice(b, b + s) for b, s in bounds)]
    return run


@kernel("StridedSlice", device=BOTH, host_inputs=(1, 2, 3))
def strided_slice(ctx: KernelContext):
    masks = [ctx.attr(m, 0) for m in ("begin_mask", "end_mask", "ellipsis_mask",
                                      "new_axis_mask", "shrink_axis_mask")]
    xp = ctx.xp

    def run(x, begin, end, strides):
        if not (np.ndim(begin) == np.ndim(end) == np.ndim(strides) == 1):
            shown = ", ".join(rules.fmt_shape(np.shape(v)) for v in (begin, end, strides))
            raise ctx.fail(f"Expected begin, end, and strides to be 1D equal size tensors, but "
                           f"got shapes {shown} instead.")
        spec = rule(ctx, resolve_strided_slice, np.shape(x), ints(begin), ints(end),
                    ints(strides), *masks)
        return xp.reshape(x[spec.as_slices()], spec.final_shape)
    return run


# -- padding, tiling, broadcasting ---------------------------------------------------------------

def _padder(ctx: KernelContext, mode: str):
    """A function (x, paddings, constant) -> padded x, checked and within the byte budget."""
    np_mode = {"CONSTANT": "constant", "REFLECT": "reflect", "SYMMETRIC": "symmetric"}[mode]
    xp = ctx.xp

    def pad(x, paddings, constant=None):
        paddings = np.asarray(paddings, dtype=np.int64)
        out_shape = rule(ctx, rules.check_paddings, paddings, np.shape(x), mode)
        check_budget(ctx, out_shape, x.dtype)
        if np.ndim(x) == 0 or not paddings.any():
            return xp.array(x, copy=True)
        if np.size(x) == 0:  # a mirrored empty dim pads by 0: the output is empty too
            return xp.full(out_shape, _zero(x.dtype), x.dtype)
        if np_mode != "constant":
            return xp.pad(x, paddings.tolist(), mode=np_mode)
        out = xp.full(out_shape, _zero(x.dtype) if constant is None else constant, x.dtype)
        out[tuple(slice(b, b + d) for (b, _), d in zip(paddings, x.shape))] = x
        return out
    return pad


def _zero(dtype):
    return b"" if dtype == object else 0


@kernel("Pad", device=BOTH, host_inputs=(1,))
def pad(ctx: KernelContext):
    padder = _padder(ctx, "CONSTANT")
    return lambda x, paddings: padder(x, paddings)


@kernel("PadV2", device=BOTH, host_inputs=(1,))
def pad_v2(ctx: KernelContext):
    padder = _padder(ctx, "CONSTANT")

    def run(x, paddings, constant_values):
        if np.ndim(constant_values) != 0:
            raise ctx.fail(f"constant_values must be a scalar. Found: "
                           f"{rules.fmt_shape(np.shape(constant_values))}")
        return padder(x, paddings, constant_values)
    return run


@kernel("MirrorPad", device=BOTH, host_inputs=(1,))
def mirror_pad(ctx: KernelContext):
    mode = ctx.attr("mode")
    if mode not in ("REFLECT", "SYMMETRIC"):
        raise ctx.fail(f"mode must be REFLECT or SYMMETRIC, got {mode!r}")
    padder = _padder(ctx, mode)
    return lambda x, paddings: padder(x, paddings)


@kernel("Tile", device=BOTH, host_inputs=(1,))
def tile(ctx: KernelContext):
    xp = ctx.xp

    def run(x, multiples):
        require_vector(ctx, multiples, "multiples")
        reps = ints(multiples)
        check_budget(ctx, rule(ctx, rules.tile_dims, np.shape(x), reps), x.dtype)
        return xp.tile(x, reps) if reps else xp.array(x, copy=True)
    return run


@kernel("BroadcastTo", device=BOTH, host_inputs=(1,))
def broadcast_to(ctx: KernelContext):
    xp = ctx.xp

    def run(x, shape):
        require_vector(ctx, shape, "shape")
        target = rule(ctx, rules.broadcast_to_dims, np.shape(x), ints(shape))
        check_budget(ctx, target, x.dtype)
        return xp.array(xp.broadcast_to(x, target), copy=True)
    return run


from runtime.kernels import array_values  # noqa: E402,F401  (gathers, Fill, Range, OneHot...)
