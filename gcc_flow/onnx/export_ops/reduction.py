"""Reductions and ArgMax/ArgMin -> ONNX Reduce*/ArgMax/ArgMin.

    Sum(x, axes=[1], keep_dims=false) -> ReduceSum(x, [1], keepdims=0)
    All(b, [0]) -> Greater(ReduceMin(Cast(b, int32), [0]), 0)
    ArgMax(x, 1) output_type=int32 -> Cast(ArgMax(x, axis=1, keepdims=0), int32)

Empty reduction axes leave the tensor as it is (TensorFlow), which ONNX says with
noop_with_empty_axes; a computed axes tensor is an input (opset 18, or 13 for ReduceSum).
"""
from __future__ import annotations

from gcc_flow.onnx.context import dtype_to_onnx
from gcc_flow.onnx.export_ops import emitter
from gcc_flow.onnx.export_ops.builder import ExportContext
from schema.dtypes import DType
from schema.ir import Node

_REDUCE = {"Sum": "ReduceSum", "Mean": "ReduceMean", "Max": "ReduceMax", "Min": "ReduceMin",
           "Prod": "ReduceProd", "EuclideanNorm": "ReduceL2"}
# Boolean reductions run on int32 (ONNX Reduce* take bool only from opset 20).
_BOOL_REDUCE = {"All": "ReduceMin", "Any": "ReduceMax"}


def _reduce(ctx: ExportContext, node: Node, op_type: str, x: str) -> str:
    keep = bool(node.attrs.get("keep_dims", False))
    axes = ctx.static(node, 1)
    if axes is not None:
        axes = [int(a) for a in axes.reshape(-1)]
        if not axes:
            return x
        return ctx.reduce(op_type, x, axes, keep)
    if op_type != "ReduceSum" and ctx.opset < 18:
        raise ctx.unsupported(node, f"computed reduction axes need opset 18 (exporting "
                                    f"{ctx.opset})")
    axes_value = ctx.emit("Reshape", [ctx.int64_input(node, 1), ctx.ints([-1])])
    return ctx.emit(op_type, [x, axes_value], keepdims=int(keep), noop_with_empty_axes=1)


@emitter(*_REDUCE)
def reduce(ctx: ExportContext, node: Node) -> str:
    return _reduce(ctx, node, _REDUCE[node.op], ctx.input(node, 0))


@emitter(*_BOOL_REDUCE)
def reduce_bool(ctx: ExportContext, node: Node) -> str:
    """0/1 reduced, then > 0: an empty All gives ReduceMin's int max (true), an empty Any
    ReduceMax's int min (false), as in TensorFlow."""
    as_int = ctx.cast(ctx.input(node, 0), DType.BOOL, DType.INT32)
    reduced = _reduce(ctx, node, _BOOL_REDUCE[node.op], as_int)
    if reduced == as_int:
        return ctx.input(node, 0)
    return ctx.emit("Greater", [reduced, ctx.scalar(0, DType.INT32)])


@emitter("ArgMax", "ArgMin")
def arg_max(ctx: ExportContext, node: Node) -> str:
    axis = ctx.static_ints(node, 1, "dimension")
    if len(axis) != 1:
        raise ctx.unsupported(node, f"dimension {axis} must be one axis")
    index = ctx.emit(node.op, [ctx.input(node, 0)], axis=axis[0], keepdims=0)
    out = node.attrs.get("output_type", DType.INT64).base
    if out == DType.INT64:
        return index
    return ctx.emit("Cast", [index], to=dtype_to_onnx(out))
