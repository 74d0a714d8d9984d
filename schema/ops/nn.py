"""Neural-network and linear-algebra ops: activations, softmax, bias, matmul, batch norm,
SpaceToBatchND / BatchToSpaceND. Convolution and pooling are declared in schema/ops/nn_conv.py.

    MatMul(f32[4,3], f32[3,2]) -> f32[4,2];  BatchMatMulV2(f32[5,1,2,3], f32[7,3,4]) -> f32[5,7,2,4]
    BiasAdd(f32[2,8,8,16], f32[16]) -> f32[2,8,8,16];  Softmax(f32[4,10]) -> f32[4,10]
"""
from __future__ import annotations

import math

import numpy as np

from schema.errors import ValidationError
from schema.ops import nn_conv  # noqa: F401  (declares Conv2D, DepthwiseConv2dNative, pools)
from schema.registry import op
from schema.shapes import broadcast_shapes, same_as_input

__all__ = ["space_to_batch_shape", "batch_to_space_shape", "batch_norm_channel_axis",
           "matmul_shape"]

_FLOAT = "{half, bfloat16, float, double}"
_RELU_T = ("{float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, "
           "uint64")


def _at_least_rank(ctx, index: int, rank: int, what: str):
    shape = ctx.shape(index)
    if shape is not None and len(shape) < rank:
        raise ctx.fail(f"{what} must be at least rank {rank}, but has shape {list(shape)}")
    return shape


def _exact_rank(ctx, index: int, rank: int, what: str):
    shape = ctx.shape(index)
    if shape is not None and len(shape) != rank:
        raise ctx.fail(f"{what} must be rank {rank}, but has shape {list(shape)}")
    return shape


def _merge_dim(ctx, a, b, what: str):
    """Two sizes of the same dimension: the known one; ctx.fail when both known and unequal."""
    if a is not None and b is not None and a != b:
        raise ctx.fail(f"{what}: dimensions must be equal, but are {a} and {b}")
    return a if a is not None else b


# -- activations and softmax ---------------------------------------------------------------------

op("Relu", inputs=["features: T"], outputs=["activations: T"], attrs=[f"T: {_RELU_T}, qint8}}"],
   shape=same_as_input(0), layout="elementwise")
op("Relu6", inputs=["features: T"], outputs=["activations: T"], attrs=[f"T: {_RELU_T}}}"],
   shape=same_as_input(0), layout="elementwise")
for _name in ("Elu", "Selu", "Softplus"):
    op(_name, inputs=["features: T"], outputs=["activations: T"], attrs=[f"T: {_FLOAT}"],
       shape=same_as_input(0), layout="elementwise")
op("LeakyRelu", inputs=["features: T"], outputs=["activations: T"],
   attrs=["alpha: float = 0.2", f"T: {_FLOAT} = float"], shape=same_as_input(0),
   layout="elementwise")


def _softmax_shape(ctx):
    return [_at_least_rank(ctx, 0, 1, "logits")]


op("Softmax", inputs=["logits: T"], outputs=["softmax: T"], attrs=[f"T: {_FLOAT}"],
   shape=_softmax_shape)
op("LogSoftmax", inputs=["logits: T"], outputs=["logsoftmax: T"], attrs=[f"T: {_FLOAT}"],
   shape=_softmax_shape)


# -- BiasAdd ---------------------------------------------------------------------------------------

def _bias_add_shape(ctx):
    """NHWC: bias matches the last dimension; NCHW: dimension 1 (and the value has rank >= 3)."""
    nchw = ctx.attr("data_format", "NHWC") == "NCHW"
    value = _at_least_rank(ctx, 0, 3 if nchw else 2, "value")
    bias = _exact_rank(ctx, 1, 1, "bias")
    if value is None:
        return [None]
    axis = 1 if nchw else len(value) - 1
    out = list(value)
    out[axis] = _merge_dim(ctx, value[axis], bias[0] if bias else None,
                           "bias length and the value's channel dimension")
    return [tuple(out)]


_BIAS_T = ("T: {float, double, int32, uint8, int16, int8, complex64, int64, qint8, quint8, "
           "qint32, bfloat16, qint16, quint16, uint16, complex128, half, uint32, uint64}")
op("BiasAdd", inputs=["value: T", "bias: T"], outputs=["output: T"],
   attrs=[_BIAS_T, "data_format: {'NHWC', 'NCHW'} = 'NHWC'"], shape=_bias_add_shape)
op("BiasAddV1", inputs=["value: T", "bias: T"], outputs=["output: T"], attrs=[_BIAS_T],
   shape=_bias_add_shape)


# -- MatMul, BatchMatMulV2 ---------------------------------------------------------------------

def matmul_shape(ctx):
    """MatMul's shape function (also _FusedMatMul's): a [2, 3], b [3, 4] -> [[2, 4]]."""
    a, b = _exact_rank(ctx, 0, 2, "a"), _exact_rank(ctx, 1, 2, "b")
    m, ka = _matrix_dims(a, ctx.attr("transpose_a", False))
    kb, n = _matrix_dims(b, ctx.attr("transpose_b", False))
    _merge_dim(ctx, ka, kb, f"inner dimensions of a {_shown(a)} and b {_shown(b)} (transpose_a="
                            f"{ctx.attr('transpose_a', False)}, transpose_b="
                            f"{ctx.attr('transpose_b', False)})")
    return [(m, n)]


def _matrix_dims(shape, transposed: bool) -> tuple:
    if shape is None:
        return None, None
    rows, cols = shape[-2], shape[-1]
    return (cols, rows) if transposed else (rows, cols)


def _shown(shape) -> str:
    return "<unknown>" if shape is None else str(["?" if d is None else d for d in shape])


def _batch_matmul_shape(ctx):
    x, y = _at_least_rank(ctx, 0, 2, "x"), _at_least_rank(ctx, 1, 2, "y")
    m, kx = _matrix_dims(x, ctx.attr("adj_x", False))
    ky, n = _matrix_dims(y, ctx.attr("adj_y", False))
    _merge_dim(ctx, kx, ky, f"inner dimensions of x {_shown(x)} and y {_shown(y)} (adj_x="
                            f"{ctx.attr('adj_x', False)}, adj_y={ctx.attr('adj_y', False)})")
    if x is None or y is None:
        return [None]
    try:
        batch = broadcast_shapes(x[:-2], y[:-2])
    except ValidationError as err:
        raise ctx.fail(f"batch dimensions cannot be broadcast: {err}") from None
    return [tuple(batch) + (m, n)]


op("MatMul", inputs=["a: T", "b: T"], outputs=["product: T"],
   attrs=["transpose_a: bool = false", "transpose_b: bool = false",
          "T: {bfloat16, half, float, double, int32, int64, uint8, uint16, uint32, uint64, "
          "complex64, complex128}", "grad_a: bool = false", "grad_b: bool = false"],
   shape=matmul_shape)
op("BatchMatMulV2", inputs=["x: T", "y: T"], outputs=["output: T"],
   attrs=["T: {bfloat16, half, float, double, int16, int32, int64, uint8, uint16, uint32, "
          "uint64, complex64, complex128}", "adj_x: bool = false", "adj_y: bool = false",
          "grad_x: bool = false", "grad_y: bool = false"],
   shape=_batch_matmul_shape)


# -- FusedBatchNorm -------------------------------------------------------------------------------

def batch_norm_channel_axis(data_format: str) -> tuple:
    """(rank, channel axis): 'NHWC' -> (4, 3), 'NCHW' -> (4, 1), 'NDHWC' -> (5, 4)."""
    rank = 5 if "D" in data_format else 4
    return rank, (1 if data_format.startswith("NC") else rank - 1)


def _batch_norm_shape(ctx):
    rank, axis = batch_norm_channel_axis(ctx.attr("data_format", "NHWC"))
    x = _exact_rank(ctx, 0, rank, "x")
    channels = x[axis] if x is not None else None
    params = ["scale", "offset"] + ([] if ctx.attr("is_training", True) else ["mean", "variance"])
    for i, name in enumerate(params):
        shape = _exact_rank(ctx, i + 1, 1, name)
        channels = _merge_dim(ctx, channels, shape[0] if shape else None,
                              f"{name} length and the channel dimension of x {_shown(x)}")
    extra = [None] if len(ctx.node.out_types) == 6 else []
    y = None if x is None else tuple(channels if i == axis else d for i, d in enumerate(x))
    return [y] + [(channels,)] * 4 + extra


_BN_ATTRS = ["epsilon: float = 0.0001", "exponential_avg_factor: float = 1.0",
             "is_training: bool = true"]
_BN_OUTS = ["y: T", "batch_mean: U", "batch_variance: U", "reserve_space_1: U",
            "reserve_space_2: U"]
_BN_INS = ["x: T", "scale: U", "offset: U", "mean: U", "variance: U"]
op("FusedBatchNorm", inputs=[s.replace(": U", ": T") for s in _BN_INS],
   outputs=[s.replace(": U", ": T") for s in _BN_OUTS],
   attrs=["T: {float}", "data_format: {'NHWC', 'NCHW'} = 'NHWC'"] + _BN_ATTRS,
   shape=_batch_norm_shape)
op("FusedBatchNormV2", inputs=_BN_INS, outputs=_BN_OUTS,
   attrs=["T: {half, bfloat16, float}", "U: {float}",
          "data_format: {'NHWC', 'NCHW'} = 'NHWC'"] + _BN_ATTRS,
   shape=_batch_norm_shape)
op("FusedBatchNormV3", inputs=_BN_INS, outputs=_BN_OUTS + ["reserve_space_3: U"],
   attrs=["T: {half, bfloat16, float}", "U: {bfloat16, float}",
          "data_format: {'NHWC', 'NCHW', 'NDHWC', 'NCDHW'} = 'NHWC'"] + _BN_ATTRS,
   shape=_batch_norm_shape)


# -- SpaceToBatchND, BatchToSpaceND ----------------------------------------------------------------

def _block_and_pairs(block, pairs, what: str, fail) -> tuple:
    block = np.asarray(block)
    pairs = np.asarray(pairs)
    if block.ndim != 1:
        raise fail(f"block_shape must be a vector, but has shape {list(block.shape)}")
    m = block.shape[0]
    if pairs.shape != (m, 2):
        raise fail(f"{what} must have shape [{m}, 2] to match block_shape, but has shape "
                   f"{list(pairs.shape)}")
    block_list = [int(b) for b in block]
    if any(b < 1 for b in block_list):
        raise fail(f"block_shape must be positive, got {block_list}")
    pair_list = [(int(a), int(b)) for a, b in pairs]
    if any(a < 0 or b < 0 for a, b in pair_list):
        raise fail(f"{what} must be non-negative, got {[list(p) for p in pair_list]}")
    return block_list, pair_list


def _check_spatial_rank(shape, m: int, fail) -> None:
    if len(shape) < 1 + m:
        raise fail(f"input rank should be > block_shape's length {m}, but input has shape "
                   f"{_shown(shape)}")


def space_to_batch_shape(shape, block, paddings, fail) -> tuple:
    """Output shape of SpaceToBatchND; None entries stay unknown.

    [2, 5, 5, 3] with block [2, 2], paddings [[1, 0], [1, 0]] -> [8, 3, 3, 3]
    """
    block, pads = _block_and_pairs(block, paddings, "paddings", fail)
    _check_spatial_rank(shape, len(block), fail)
    batch = shape[0] * math.prod(block) if shape[0] is not None else None
    spatial = []
    for i, (b, (before, after)) in enumerate(zip(block, pads)):
        size = shape[1 + i]
        padded = None if size is None else size + before + after
        if padded is not None and padded % b != 0:
            raise fail(f"padded size {padded} of spatial dimension {i} (input shape "
                       f"{_shown(shape)}) is not divisible by block_shape[{i}] = {b}")
        spatial.append(None if padded is None else padded // b)
    return (batch, *spatial, *shape[1 + len(block):])


def batch_to_space_shape(shape, block, crops, fail) -> tuple:
    """Output shape of BatchToSpaceND; None entries stay unknown.

    [8, 3, 3, 3] with block [2, 2], crops [[1, 0], [1, 0]] -> [2, 5, 5, 3]
    """
    block, crops = _block_and_pairs(block, crops, "crops", fail)
    _check_spatial_rank(shape, len(block), fail)
    total = math.prod(block)
    if shape[0] is not None and shape[0] % total != 0:
        raise fail(f"input batch {shape[0]} is not divisible by the product of block_shape "
                   f"{block} = {total}")
    spatial = []
    for i, (b, (start, end)) in enumerate(zip(block, crops)):
        full = None if shape[1 + i] is None else shape[1 + i] * b
        if full is not None and start + end > full:
            raise fail(f"crops {[start, end]} of spatial dimension {i} exceed its size {full}")
        spatial.append(None if full is None else full - start - end)
    batch = None if shape[0] is None else shape[0] // total
    return (batch, *spatial, *shape[1 + len(block):])


def _space_batch_shape(compute):
    def shape_fn(ctx):
        shape = _at_least_rank(ctx, 0, 1, "input")
        _exact_rank(ctx, 1, 1, "block_shape")
        _exact_rank(ctx, 2, 2, "paddings/crops")
        block, pairs = ctx.value(1), ctx.value(2)
        if shape is None:
            return [None]
        if block is None or pairs is None:
            return [(None,) * len(shape)]
        return [compute(shape, block, pairs, ctx.fail)]
    return shape_fn


op("SpaceToBatchND", inputs=["input: T", "block_shape: Tblock_shape", "paddings: Tpaddings"],
   outputs=["output: T"],
   attrs=["T: type", "Tblock_shape: {int32, int64} = int32", "Tpaddings: {int32, int64} = int32"],
   shape=_space_batch_shape(space_to_batch_shape))
op("BatchToSpaceND", inputs=["input: T", "block_shape: Tblock_shape", "crops: Tcrops"],
   outputs=["output: T"],
   attrs=["T: type", "Tblock_shape: {int32, int64} = int32", "Tcrops: {int32, int64} = int32"],
   shape=_space_batch_shape(batch_to_space_shape))
