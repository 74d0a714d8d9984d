"""ONNX dense layers and channel ops: Gemm, MatMul, MatMulInteger, Dropout, LRN, DepthToSpace,
SpaceToDepth.

    Gemm(a, b, c, alpha=2, transB=1)   -> AddV2(Mul(MatMul(a, b, transpose_b), 2), c)
    MatMul(f32[2,3,4], f32[4,5])       -> BatchMatMulV2 (numpy broadcasting of the batch dims)
    MatMul(f32[4], f32[4,5])           -> Squeeze(MatMul(ExpandDims(a, 0), b), [-2])
    QLinearMatMul(a, ..., y_zero)      -> int32 MatMul of the centered operands, rescaled in
                                          float64, Round (half to even), ClipByValue, Cast
    Dropout(x) (inference)             -> Identity(x), mask = Const true / Fill(Shape(x), true)
    Dropout(x, ratio, training_mode)   -> OnnxDropout (random; numpy's RandomState(seed))
    LRN(x, size=3)                     -> Transpose(LRN(Transpose(x)) depth_radius=1 alpha=a/3)
    DepthToSpace(x, mode=DCR)          -> Transpose(DepthToSpace(Transpose(x)))  (CRD: the
                                          channels are first permuted to DCR order)
Convolutions are in conv.py, pooling in pool.py, normalizations in normalization.py.
"""
from __future__ import annotations

import numpy as np

from gcc_flow.framework import apply_op
from gcc_flow.onnx.ops import converter
from gcc_flow.onnx.ops.conv import from_nhwc, to_nhwc
from gcc_flow.onnx.ops.tf_graph import (
    cast, check_const_size, const, expand_dims, known_rank, requantize, reshape, same_type_const,
    shape_of, squeeze, static_scalar, static_shape, strided_slice)
from schema.dtypes import DType

__all__: list = []   # converters register themselves

_SMALL_CONSTANT = 1000   # a known-shape Dropout mask up to this size is a Const, else Fill


# -- Gemm, MatMul ---------------------------------------------------------------------------------

@converter("Gemm", since=1)
def gemm(ctx, node) -> list:
    """alpha * A' B' + beta * C, with C broadcast (A' = A^T when transA)."""
    a, b, c = (ctx.input(node, i) for i in range(3))
    for name, t in (("A", a), ("B", b)):
        if known_rank(ctx, node, t) != 2:
            raise ctx.fail(node, f"{name} must be 2-D, got shape {list(t.shape)}")
    y = apply_op("MatMul", [a, b], {"transpose_a": bool(ctx.attr(node, "transA", 0)),
                                    "transpose_b": bool(ctx.attr(node, "transB", 0))})
    alpha, beta = ctx.attr(node, "alpha", 1.0), ctx.attr(node, "beta", 1.0)
    if alpha != 1.0:
        y = apply_op("Mul", [y, same_type_const(ctx, alpha, y)])
    if c is not None and beta != 0.0:
        if beta != 1.0:
            c = apply_op("Mul", [c, same_type_const(ctx, beta, c)])
        y = apply_op("AddV2", [y, c])
    return [y]


def matmul(ctx, node, a, b):
    """numpy matmul: 1-D operands get a unit dim that is removed after; batch dims broadcast."""
    ra, rb = known_rank(ctx, node, a), known_rank(ctx, node, b)
    if ra == 0 or rb == 0:
        raise ctx.fail(node, "MatMul operands must be at least 1-D")
    if ra == 1:
        a = expand_dims(ctx, a, 0)
    if rb == 1:
        b = expand_dims(ctx, b, 1)
    op_type = "MatMul" if max(ra, rb) <= 2 else "BatchMatMulV2"
    y = apply_op(op_type, [a, b])
    drop = ([-2] if ra == 1 else []) + ([-1] if rb == 1 else [])
    if drop:
        rank = max(ra, rb, 2)
        y = squeeze(y, [d + rank for d in drop])
    return y


@converter("MatMul", since=1)
def matmul_(ctx, node) -> list:
    return [matmul(ctx, node, ctx.input(node, 0), ctx.input(node, 1))]


@converter("MatMulInteger", since=10)
def matmul_integer(ctx, node) -> list:
    """(A - a_zero_point) @ (B - b_zero_point) in int32; a per-row A zero point is [M]."""
    a, b, a_zero, b_zero = (ctx.input(node, i) for i in range(4))
    a, b = cast(a, DType.INT32), cast(b, DType.INT32)
    if a_zero is not None:
        a_zero = cast(a_zero, DType.INT32)
        if a_zero.shape is not None and len(a_zero.shape) == 1 and known_rank(ctx, node, a) > 1:
            a_zero = expand_dims(ctx, a_zero, 1)
        a = apply_op("Sub", [a, a_zero])
    if b_zero is not None:
        b = apply_op("Sub", [b, cast(b_zero, DType.INT32)])
    return [matmul(ctx, node, a, b)]


def _per_row(ctx, node, value, rank: int):
    """A 1-D per-row quantization parameter [M] of a matrix operand as [M, 1]."""
    if value is not None and value.shape is not None and len(value.shape) == 1 and rank > 1:
        return expand_dims(ctx, value, 1)
    return value


@converter("QLinearMatMul", since=10)
def qlinear_matmul(ctx, node) -> list:
    """requantize((a - a_zero) @ (b - b_zero), a_scale * b_scale / y_scale, y_zero): the
    product in int32, the rescaling in float64 rounded half to even and saturated."""
    a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero = (ctx.input(node, i)
                                                                 for i in range(8))
    rank_a = known_rank(ctx, node, a)
    a_int = apply_op("Sub", [cast(a, DType.INT32), cast(_per_row(ctx, node, a_zero, rank_a),
                                                         DType.INT32)])
    b_int = apply_op("Sub", [cast(b, DType.INT32), cast(b_zero, DType.INT32)])
    scale = apply_op("RealDiv", [apply_op("Mul", [_per_row(ctx, node, a_scale, rank_a),
                                                  b_scale]), y_scale])
    out_type = (y_zero if y_zero is not None else a).dtype.base
    return [requantize(ctx, matmul(ctx, node, a_int, b_int), scale, y_zero, out_type)]


# -- Dropout --------------------------------------------------------------------------------------

@converter("Dropout", since=1)
def dropout(ctx, node) -> list:
    """Inference: the input unchanged and an all-true mask. Training (opset 12's
    training_mode input, true or known only at run time) -> OnnxDropout, seeded by ``seed``."""
    x = ctx.input(node, 0)
    if ctx.opset >= 12 and ctx.input(node, 2) is not None and \
            static_scalar(ctx, ctx.input(node, 2)) is not False:
        return _training_dropout(ctx, node, x)
    if ctx.opset < 7 and not ctx.attr(node, "is_test", 0):
        raise ctx.unsupported(node, "in training mode (is_test=0)")
    outs = [apply_op("Identity", [x])]
    if len(node.output) > 1 and node.output[1]:
        mask_type = x.dtype.base if ctx.opset < 10 else DType.BOOL
        outs.append(_ones(ctx, x, mask_type))
    return outs


def _training_dropout(ctx, node, x) -> list:
    ratio = ctx.input(node, 1)
    ratio = const(ctx, np.float32(0.5)) if ratio is None else \
        reshape(ctx, cast(ratio, DType.FLOAT), [])
    training = reshape(ctx, cast(ctx.input(node, 2), DType.BOOL), [])
    seed = ctx.attr(node, "seed")
    attrs = {"has_seed": seed is not None, "seed": int(seed or 0)}
    outs = apply_op("OnnxDropout", [x, ratio, training], attrs)
    return list(outs[:len(node.output)])


def _ones(ctx, x, dtype: DType):
    shape = static_shape(x)
    if shape is not None and int(np.prod(shape)) <= _SMALL_CONSTANT:
        return const(ctx, np.ones(shape, dtype.np), dtype)
    return apply_op("Fill", [shape_of(ctx, x), const(ctx, np.ones((), dtype.np), dtype)])


# -- LRN ------------------------------------------------------------------------------------------

@converter("LRN", since=1)
def lrn(ctx, node) -> list:
    """x / (bias + alpha / size * sum of x^2 over the channel window) ^ beta. The window is
    [c - (size-1)//2, c + size//2 ... ]: symmetric for odd sizes (TF's LRN), else summed."""
    x = ctx.input(node, 0)
    size = ctx.attr(node, "size")
    alpha, beta = ctx.attr(node, "alpha", 1e-4), ctx.attr(node, "beta", 0.75)
    bias = ctx.attr(node, "bias", 1.0)
    rank = known_rank(ctx, node, x)
    if size is None or size < 1:
        raise ctx.fail(node, "LRN needs a positive 'size'")
    if size % 2 and rank == 4 and x.dtype.base in (DType.HALF, DType.BFLOAT16, DType.FLOAT):
        y = apply_op("LRN", [to_nhwc(ctx, x)], {"depth_radius": (size - 1) // 2, "bias": bias,
                                                "alpha": alpha / size, "beta": beta})
        return [from_nhwc(ctx, y)]
    return [_lrn_by_sum(ctx, node, x, size, alpha, beta, bias)]


def _lrn_by_sum(ctx, node, x, size: int, alpha: float, beta: float, bias: float):
    channels = x.shape[1] if x.shape is not None else None
    if channels is None:
        raise ctx.unsupported(node, "with an even size on an unknown channel count")
    before = (size - 1) // 2
    widths = [[0, 0]] * len(x.shape)
    widths[1] = [before, size - 1 - before]
    padded = apply_op("Pad", [apply_op("Square", [x]), const(ctx, np.array(widths, np.int64))])
    rank = len(x.shape)
    parts = [strided_slice(ctx, padded, [0, j] + [0] * (rank - 2), [0, j + channels] +
                           [0] * (rank - 2), [1] * rank, begin_mask=~2 & ((1 << rank) - 1),
                           end_mask=~2 & ((1 << rank) - 1)) for j in range(size)]
    total = parts[0] if size == 1 else apply_op("AddN", [parts])
    scaled = apply_op("AddV2", [same_type_const(ctx, bias, x),
                                apply_op("Mul", [total, same_type_const(ctx, alpha / size, x)])])
    return apply_op("RealDiv", [x, apply_op("Pow", [scaled, same_type_const(ctx, beta, x)])])


# -- DepthToSpace, SpaceToDepth -------------------------------------------------------------------

@converter("DepthToSpace", since=1)
def depth_to_space(ctx, node) -> list:
    x = ctx.input(node, 0)
    b = ctx.attr(node, "blocksize")
    if known_rank(ctx, node, x) != 4:
        raise ctx.fail(node, f"input must be 4-D, got shape {list(x.shape)}")
    if ctx.attr(node, "mode", "DCR") == "CRD":
        x = _crd_to_dcr(ctx, node, x, b)
    return [from_nhwc(ctx, apply_op("DepthToSpace", [to_nhwc(ctx, x)], {"block_size": b}))]


def _crd_to_dcr(ctx, node, x, b: int):
    """Reorders channels c * b*b + i*b + j (CRD) to (i*b + j) * C' + c (DCR)."""
    channels = x.shape[1]
    if channels is None or channels % (b * b):
        raise ctx.unsupported(node, f"CRD mode on {channels} channels (must be a known "
                                    f"multiple of {b * b})")
    check_const_size(ctx, node, [channels])
    order = np.arange(channels).reshape(channels // (b * b), b * b).T.reshape(-1)
    return apply_op("GatherV2", [x, const(ctx, order.astype(np.int64)),
                                 const(ctx, np.int32(1))])


@converter("SpaceToDepth", since=1)
def space_to_depth(ctx, node) -> list:
    x = ctx.input(node, 0)
    if known_rank(ctx, node, x) != 4:
        raise ctx.fail(node, f"input must be 4-D, got shape {list(x.shape)}")
    b = ctx.attr(node, "blocksize")
    y = from_nhwc(ctx, apply_op("SpaceToDepth", [to_nhwc(ctx, x)], {"block_size": b}))
    if ctx.attr(node, "mode", "DCR") == "CRD":
        y = _dcr_to_crd(ctx, node, y, b)
    return [y]


def _dcr_to_crd(ctx, node, y, b: int):
    """Reorders channels (i*b + j) * C + c (TF's order) to c * b*b + i*b + j (CRD)."""
    channels = y.shape[1]
    if channels is None:
        raise ctx.unsupported(node, "CRD mode on an unknown channel count")
    check_const_size(ctx, node, [channels])
    order = np.arange(channels).reshape(b * b, channels // (b * b)).T.reshape(-1)
    return apply_op("GatherV2", [y, const(ctx, order.astype(np.int64)), const(ctx, np.int32(1))])

