"""Shape-manipulating TF ops -> ONNX: Reshape, Transpose, Squeeze, ExpandDims, Shape/ShapeN,
Size, Rank, Fill, ZerosLike/OnesLike, Range, BroadcastTo, Tile, Where, Concat, Pack/Unpack,
Split/SplitV.

    Reshape(x, [0, -1]) -> Reshape(x, int64 [0, -1], allowzero=1)   (TF's 0 is a 0-size dim)
    Fill(dims, v) -> Expand(v, Cast(dims, int64));  Where(b) -> Transpose(NonZero(b), [1, 0])
    Pack([a, b], axis=1) -> Concat(Unsqueeze(a, [1]), Unsqueeze(b, [1]), axis=1)
"""
from __future__ import annotations

import numpy as np

from gcc_flow.onnx.context import dtype_to_onnx
from gcc_flow.onnx.export_ops import emitter
from gcc_flow.onnx.export_ops.builder import ExportContext
from schema.dtypes import DType
from schema.ir import Node


def _out_cast(ctx: ExportContext, node: Node, value: str, index: int = 0) -> str:
    """An int64 ONNX result as the node's output type (out_type int32 is TF's default)."""
    out = node.out_types[index].base
    return value if out == DType.INT64 else ctx.emit("Cast", [value], to=dtype_to_onnx(out))


@emitter("Reshape")
def reshape(ctx: ExportContext, node: Node) -> str:
    shape = ctx.static(node, 1)
    has_zero = shape is None or bool((np.asarray(shape) == 0).any())
    if has_zero and ctx.opset < 14:
        if shape is not None:
            raise ctx.unsupported(node, "a 0-size dim in the shape needs opset 14 (allowzero)")
        return ctx.emit("Reshape", [ctx.input(node, 0), ctx.int64_input(node, 1)])
    return ctx.emit("Reshape", [ctx.input(node, 0), ctx.int64_input(node, 1)],
                    allowzero=1 if has_zero else None)


@emitter("Transpose")
def transpose(ctx: ExportContext, node: Node) -> str:
    perm = ctx.static_ints(node, 1, "perm")
    return ctx.transpose(ctx.input(node, 0), perm) if perm else ctx.input(node, 0)


@emitter("Squeeze")
def squeeze(ctx: ExportContext, node: Node) -> str:
    dims = [int(d) for d in node.attrs.get("squeeze_dims") or []]
    return ctx.squeeze(ctx.input(node, 0), dims or None)


@emitter("ExpandDims")
def expand_dims(ctx: ExportContext, node: Node) -> str:
    dim = ctx.static_ints(node, 1, "dim")
    if len(dim) != 1:
        raise ctx.unsupported(node, f"dim {dim} must be one axis")
    return ctx.unsqueeze(ctx.input(node, 0), dim)


@emitter("Shape")
def shape(ctx: ExportContext, node: Node) -> str:
    return _out_cast(ctx, node, ctx.emit("Shape", [ctx.input(node, 0)]))


@emitter("ShapeN")
def shape_n(ctx: ExportContext, node: Node) -> list:
    return [_out_cast(ctx, node, ctx.emit("Shape", [x]), k)
            for k, x in enumerate(ctx.inputs(node))]


@emitter("Size")
def size(ctx: ExportContext, node: Node) -> str:
    return _out_cast(ctx, node, ctx.emit("Size", [ctx.input(node, 0)]))


@emitter("Rank")
def rank(ctx: ExportContext, node: Node) -> str:
    known = ctx.rank(node, 0)
    if known is not None:
        return ctx.scalar(known, DType.INT32)
    count = ctx.emit("Size", [ctx.emit("Shape", [ctx.input(node, 0)])])
    return ctx.emit("Cast", [count], to=dtype_to_onnx(DType.INT32))


@emitter("Fill")
def fill(ctx: ExportContext, node: Node) -> str:
    return ctx.emit("Expand", [ctx.input(node, 1), ctx.int64_input(node, 0)])


@emitter("ZerosLike", "OnesLike")
def zeros_like(ctx: ExportContext, node: Node) -> str:
    dtype = ctx.dtype(node, 0)
    value = np.asarray(0 if node.op == "ZerosLike" else 1).astype(dtype.np)
    if dtype == DType.STRING:
        raise ctx.unsupported(node, "string tensors")
    return ctx.emit("Expand", [ctx.const(value), ctx.emit("Shape", [ctx.input(node, 0)])])


@emitter("Range")
def range_(ctx: ExportContext, node: Node) -> str:
    return ctx.emit("Range", ctx.inputs(node))


@emitter("BroadcastTo")
def broadcast_to(ctx: ExportContext, node: Node) -> str:
    return ctx.emit("Expand", [ctx.input(node, 0), ctx.int64_input(node, 1)])


@emitter("Tile")
def tile(ctx: ExportContext, node: Node) -> str:
    return ctx.emit("Tile", [ctx.input(node, 0), ctx.int64_input(node, 1)])


@emitter("Where")
def where(ctx: ExportContext, node: Node) -> str:
    """TF's Where(x) lists coordinates as [n, rank]; ONNX NonZero as [rank, n]."""
    return ctx.emit("Transpose", [ctx.emit("NonZero", [ctx.input(node, 0)])], perm=[1, 0])


@emitter("InvertPermutation")
def invert_permutation(ctx: ExportContext, node: Node) -> str:
    """inverse[p[i]] = i: ScatterElements of Range(0, n) at p."""
    p = ctx.input(node, 0)
    dtype = ctx.dtype(node, 0)
    n = ctx.emit("Cast", [ctx.emit("Size", [p])], to=dtype_to_onnx(dtype))
    ids = ctx.emit("Range", [ctx.scalar(0, dtype), n, ctx.scalar(1, dtype)])
    return ctx.emit("ScatterElements", [ids, p, ids], axis=0)


# -- joining and splitting ----------------------------------------------------------------------

@emitter("ConcatV2")
def concat_v2(ctx: ExportContext, node: Node) -> str:
    values = ctx.inputs(node)
    axis = ctx.static_ints(node, len(values) - 1, "axis")[0]
    return ctx.emit("Concat", values[:-1], axis=axis)


@emitter("Concat")
def concat_v1(ctx: ExportContext, node: Node) -> str:
    axis = ctx.static_ints(node, 0, "concat_dim")[0]
    return ctx.emit("Concat", ctx.inputs(node)[1:], axis=axis)


@emitter("Pack")
def pack(ctx: ExportContext, node: Node) -> str:
    axis = int(node.attrs.get("axis", 0))
    parts = [ctx.unsqueeze(x, [axis]) for x in ctx.inputs(node)]
    return parts[0] if len(parts) == 1 else ctx.emit("Concat", parts, axis=axis)


def split(ctx: ExportContext, x: str, sizes: list[int], axis: int) -> list[str]:
    if len(sizes) == 1:
        return [x]
    return ctx.emit("Split", [x, ctx.ints(sizes)], outputs=len(sizes), axis=axis)


@emitter("Unpack")
def unpack(ctx: ExportContext, node: Node) -> list:
    num, axis = int(node.attrs["num"]), int(node.attrs.get("axis", 0))
    parts = split(ctx, ctx.input(node, 0), [1] * num, axis)
    return [ctx.squeeze(p, [axis]) for p in parts]


def _dim(ctx: ExportContext, node: Node, i: int, axis: int):
    shape = ctx.shape(node, i)
    return None if shape is None or not -len(shape) <= axis < len(shape) else shape[axis]


@emitter("Split")
def split_(ctx: ExportContext, node: Node) -> list:
    axis = ctx.static_ints(node, 0, "split_dim")[0]
    num = int(node.attrs["num_split"])
    dim = _dim(ctx, node, 1, axis)
    x = ctx.input(node, 1)
    if dim is not None:
        return split(ctx, x, [dim // num] * num, axis)
    if num == 1:
        return [x]
    if ctx.opset < 18:
        raise ctx.unsupported(node, f"splitting a dim of unknown size needs opset 18 "
                                    f"(exporting {ctx.opset})")
    return ctx.emit("Split", [x], outputs=num, axis=axis, num_outputs=num)


@emitter("SplitV")
def split_v(ctx: ExportContext, node: Node) -> list:
    axis = ctx.static_ints(node, 2, "split_dim")[0]
    if ctx.static(node, 1) is None:
        return _split_v_computed(ctx, node, axis)
    sizes = ctx.static_ints(node, 1, "size_splits")
    if -1 in sizes:
        dim = _dim(ctx, node, 0, axis)
        if dim is None:
            raise ctx.unsupported(node, "size_splits with -1 on a dim of unknown size")
        sizes[sizes.index(-1)] = dim - (sum(sizes) + 1)
    return split(ctx, ctx.input(node, 0), sizes, axis)


def _split_v_computed(ctx: ExportContext, node: Node, axis: int) -> list:
    """Computed size_splits: a -1 becomes what the others leave of the dim."""
    num = int(node.attrs["num_split"])
    sizes = ctx.int64_input(node, 1)
    x = ctx.input(node, 0)
    dim = ctx.emit("Gather", [ctx.emit("Shape", [x]), ctx.ints([axis])], axis=0)
    total = ctx.reduce("ReduceSum", sizes, [0], keepdims=True)
    rest = ctx.emit("Sub", [dim, ctx.emit("Add", [total, ctx.ints([1])])])
    fixed = ctx.emit("Where", [ctx.emit("Equal", [sizes, ctx.ints([-1])]), rest, sizes])
    parts = ctx.emit("Split", [x, fixed], outputs=num, axis=axis)
    return [parts] if num == 1 else parts
