"""Neural-network TF ops -> ONNX: Softmax/LogSoftmax, BiasAdd, MatMul, BatchMatMul,
FusedBatchNorm (inference), _FusedMatMul; the fused activations shared with conv.py.

    MatMul(a, b, transpose_b) f32 -> Gemm(a, b, transB=1)
    FusedBatchNormV3(x, s, o, m, v) -> Add(Mul(Sub(x, m), s * rsqrt(v + eps)), o)
    _FusedMatMul(a, b, [bias]) fused_ops=["BiasAdd", "Relu"] -> Relu(Gemm(a, b, bias))
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from gcc_flow.onnx.export_ops import emitter
from gcc_flow.onnx.export_ops.builder import ExportContext
from schema.dtypes import DType
from schema.ir import Node
from schema.ops.fused import parse_fused_ops

_GEMM_TYPES = (DType.FLOAT, DType.DOUBLE, DType.HALF)


def _relu6(ctx: ExportContext, x: str, node: Node, dtype: DType) -> str:
    return ctx.emit("Clip", [x, ctx.scalar(0, dtype), ctx.scalar(6, dtype)])


def _leaky(ctx: ExportContext, x: str, node: Node, dtype: DType) -> str:
    return ctx.emit("LeakyRelu", [x], alpha=float(node.attrs.get("leakyrelu_alpha", 0.2)))


# Activation a fused op may end with -> how to emit it.
ACTIVATIONS: dict[str, Callable] = {
    "Relu": lambda ctx, x, node, dtype: ctx.emit("Relu", [x]),
    "Relu6": _relu6,
    "Elu": lambda ctx, x, node, dtype: ctx.emit("Elu", [x], alpha=1.0),
    "LeakyRelu": _leaky,
    "Tanh": lambda ctx, x, node, dtype: ctx.emit("Tanh", [x]),
    "Sigmoid": lambda ctx, x, node, dtype: ctx.emit("Sigmoid", [x]),
}


def apply_activation(ctx: ExportContext, node: Node, x: str, activation: Optional[str]) -> str:
    if activation is None:
        return x
    return ACTIVATIONS[activation](ctx, x, node, node.out_types[0].base)


def fused_parts(ctx: ExportContext, node: Node) -> tuple[str, Optional[str]]:
    """(first fused op, activation) of a _Fused* node; ExportNotSupported when malformed."""
    return parse_fused_ops(node.op, node.attrs.get("fused_ops"),
                           lambda msg: ctx.unsupported(node, msg))


@emitter("Softmax", "LogSoftmax")
def softmax(ctx: ExportContext, node: Node) -> str:
    return ctx.emit(node.op, [ctx.input(node, 0)], axis=-1)


@emitter("BiasAdd", "BiasAddV1")
def bias_add(ctx: ExportContext, node: Node) -> str:
    """Add with the bias broadcast along the channel axis. On a transposed value (NHWC after
    an NCHW convolution) the Add moves before the Transpose, the bias shaped for the source."""
    value, bias = ctx.inputs(node)
    rank = ctx.rank(node, 0)
    nchw = node.attrs.get("data_format", "NHWC") == "NCHW"
    source = ctx.transposed(value)
    if rank is not None and source is not None and len(source[1]) == rank:
        channel = source[1][1 if nchw else rank - 1]   # the channel axis in the source
        static = ctx.static(node, 1)
        shaped = ctx.unsqueeze(bias, list(range(1, rank - channel))) if static is None else \
            ctx.const(np.asarray(static).reshape([-1] + [1] * (rank - 1 - channel)))
        return ctx.transpose(ctx.emit("Add", [source[0], shaped]), source[1])
    if nchw:
        bias = ctx.unsqueeze(bias, list(range(1, ctx.need_rank(node, 0) - 1)))
    return ctx.emit("Add", [value, bias])


def matmul(ctx: ExportContext, node: Node, a: str, b: str, bias: Optional[str] = None) -> str:
    """2-D a @ b with the node's transpose flags: Gemm for float types, else MatMul."""
    ta, tb = bool(node.attrs.get("transpose_a")), bool(node.attrs.get("transpose_b"))
    if ctx.dtype(node, 0) in _GEMM_TYPES:
        return ctx.emit("Gemm", [a, b] + ([bias] if bias else []), transA=int(ta),
                        transB=int(tb))
    product = ctx.emit("MatMul", [ctx.transpose(a, [1, 0]) if ta else a,
                                  ctx.transpose(b, [1, 0]) if tb else b])
    return ctx.emit("Add", [product, bias]) if bias else product


@emitter("MatMul")
def mat_mul(ctx: ExportContext, node: Node) -> str:
    a, b = ctx.inputs(node)
    return matmul(ctx, node, a, b)


def _swap_last_two(ctx: ExportContext, node: Node, i: int, value: str) -> str:
    rank = ctx.need_rank(node, i)
    perm = list(range(rank))
    perm[-2:] = [rank - 1, rank - 2]
    return ctx.transpose(value, perm)


@emitter("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def batch_mat_mul(ctx: ExportContext, node: Node) -> str:
    """ONNX MatMul broadcasts batch dims like BatchMatMulV2; adj_x/adj_y transpose."""
    x, y = ctx.inputs(node)
    if node.attrs.get("adj_x"):
        x = _swap_last_two(ctx, node, 0, x)
    if node.attrs.get("adj_y"):
        y = _swap_last_two(ctx, node, 1, y)
    if node.op == "BatchMatMulV3" and node.out_types[0].base != ctx.dtype(node, 0):
        raise ctx.unsupported(node, "Tout different from the input type")
    return ctx.emit("MatMul", [x, y])


@emitter("_FusedMatMul")
def fused_matmul(ctx: ExportContext, node: Node) -> str:
    _, activation = fused_parts(ctx, node)
    a, b, bias = ctx.inputs(node)[:3]
    return apply_activation(ctx, node, matmul(ctx, node, a, b, bias), activation)


# -- batch normalization -----------------------------------------------------------------------

def batch_norm_params(ctx: ExportContext, node: Node, first: int, channel_shape: list,
                      dtype: DType) -> tuple[str, str, str]:
    """(mean, factor, offset) as ONNX values shaped ``channel_shape`` for broadcasting, with
    factor = scale * rsqrt(variance + epsilon) as TensorFlow's inference kernel computes it."""
    eps = float(node.attrs.get("epsilon", 1e-4))
    statics = [ctx.static(node, first + k) for k in range(4)]
    if all(v is not None for v in statics):
        scale, offset, mean, variance = (np.asarray(v, np.float32) for v in statics)
        factor = (np.float32(1) / np.sqrt(variance + np.float32(eps))) * scale
        return tuple(ctx.const(v.reshape(channel_shape).astype(dtype.np))
                     for v in (mean, factor, offset))
    scale, offset, mean, variance = (ctx.cast(ctx.input(node, first + k),
                                              ctx.dtype(node, first + k), dtype)
                                     for k in range(4))
    eps_value = ctx.scalar(eps, dtype)
    root = ctx.emit("Sqrt", [ctx.emit("Add", [variance, eps_value])])
    factor = ctx.emit("Mul", [ctx.emit("Reciprocal", [root]), scale])
    shape = ctx.ints(channel_shape)
    return tuple(ctx.emit("Reshape", [v, shape]) for v in (mean, factor, offset))


def apply_batch_norm(ctx: ExportContext, x: str, params: tuple[str, str, str]) -> str:
    mean, factor, offset = params
    return ctx.emit("Add", [ctx.emit("Mul", [ctx.emit("Sub", [x, mean]), factor]), offset])


@emitter("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def fused_batch_norm(ctx: ExportContext, node: Node) -> list:
    if node.attrs.get("is_training", True):
        raise ctx.unsupported(node, "is_training=true (only inference batch norm exports)")
    rank = ctx.need_rank(node, 0)
    data_format = node.attrs.get("data_format", "NHWC")
    channel_shape = [-1] + [1] * (rank - 2) if data_format.startswith("NC") else [-1]
    params = batch_norm_params(ctx, node, 1, channel_shape, ctx.dtype(node, 0))
    y = apply_batch_norm(ctx, ctx.input(node, 0), params)
    mean, variance = ctx.input(node, 3), ctx.input(node, 4)
    extra = [mean, variance, mean, variance, None][:node.num_outputs - 1]
    return [y] + extra
