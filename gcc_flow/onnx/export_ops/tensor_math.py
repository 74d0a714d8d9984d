"""Other TF ops with a close ONNX form: TopKV2, Cumsum/Cumprod, Einsum, MatrixDeterminant,
ReverseSequence, LeftShift/RightShift, Erfc, L2Loss.

    TopKV2(x, k) -> TopK(x, Reshape(k, [1]), axis=-1)  (indices cast to index_type)
    Cumsum(x, axis, exclusive, reverse) -> CumSum(x, axis, exclusive, reverse)
    L2Loss(t) -> Mul(ReduceSum(Mul(t, t)), 0.5)
"""
from __future__ import annotations

from gcc_flow.onnx.context import dtype_to_onnx
from gcc_flow.onnx.export_ops import emitter
from gcc_flow.onnx.export_ops.builder import ExportContext
from schema.dtypes import DType
from schema.ir import Node

_CUMULATIVE = {"Cumsum": ("CumSum", 11), "Cumprod": ("CumProd", 26)}


@emitter("TopKV2")
def top_k(ctx: ExportContext, node: Node) -> list:
    k = ctx.emit("Reshape", [ctx.int64_input(node, 1), ctx.ints([1])])
    values, indices = ctx.emit("TopK", [ctx.input(node, 0), k], outputs=2, axis=-1,
                               largest=1, sorted=int(bool(node.attrs.get("sorted", True))))
    out = node.out_types[1].base
    if out != DType.INT64:
        indices = ctx.emit("Cast", [indices], to=dtype_to_onnx(out))
    return [values, indices]


@emitter(*_CUMULATIVE)
def cumulative(ctx: ExportContext, node: Node) -> str:
    op_type, since = _CUMULATIVE[node.op]
    if ctx.opset < since:
        raise ctx.unsupported(node, f"ONNX has {op_type} from opset {since} (exporting "
                                    f"{ctx.opset})")
    return ctx.emit(op_type, ctx.inputs(node), exclusive=int(bool(node.attrs.get("exclusive"))),
                    reverse=int(bool(node.attrs.get("reverse"))))


@emitter("Einsum")
def einsum(ctx: ExportContext, node: Node) -> str:
    return ctx.emit("Einsum", ctx.inputs(node), equation=str(node.attrs["equation"]))


@emitter("MatrixDeterminant")
def determinant(ctx: ExportContext, node: Node) -> str:
    return ctx.emit("Det", [ctx.input(node, 0)])


@emitter("ReverseSequence")
def reverse_sequence(ctx: ExportContext, node: Node) -> str:
    batch, seq = int(node.attrs.get("batch_dim", 0)), int(node.attrs["seq_dim"])
    if {batch, seq} != {0, 1}:
        raise ctx.unsupported(node, f"batch_dim {batch} and seq_dim {seq} (ONNX takes 0 and 1)")
    lengths = ctx.cast(ctx.input(node, 1), ctx.dtype(node, 1), DType.INT64)
    return ctx.emit("ReverseSequence", [ctx.input(node, 0), lengths], batch_axis=batch,
                    time_axis=seq)


@emitter("LeftShift", "RightShift")
def bit_shift(ctx: ExportContext, node: Node) -> str:
    dtype = ctx.dtype(node, 0)
    if dtype.np.kind != "u":
        raise ctx.unsupported(node, f"{dtype.tf_name} (ONNX BitShift takes unsigned types)")
    direction = "LEFT" if node.op == "LeftShift" else "RIGHT"
    return ctx.emit("BitShift", ctx.inputs(node), direction=direction)


@emitter("Erfc")
def erfc(ctx: ExportContext, node: Node) -> str:
    one = ctx.scalar(1, ctx.dtype(node, 0))
    return ctx.emit("Sub", [one, ctx.emit("Erf", [ctx.input(node, 0)])])


@emitter("L2Loss")
def l2_loss(ctx: ExportContext, node: Node) -> str:
    t = ctx.input(node, 0)
    total = ctx.reduce("ReduceSum", ctx.emit("Mul", [t, t]), None, keepdims=False)
    return ctx.emit("Mul", [total, ctx.scalar(0.5, ctx.dtype(node, 0))])
