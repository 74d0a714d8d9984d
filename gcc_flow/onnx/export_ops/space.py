"""Space/batch/depth rearrangements -> ONNX Reshape/Transpose/Pad/Slice and DepthToSpace.

    SpaceToBatchND(x [B,H,W,C], block [2,2], pads) -> Reshape(Transpose(Reshape(Pad(x),
        [-1, H'/2, 2, W'/2, 2, C]), [2, 4, 0, 1, 3, 5]), [-1, H'/2, W'/2, C])
    DepthToSpace(x NHWC, 2) -> Transpose(DepthToSpace(Transpose(x), mode=DCR))

The block shape, paddings and crops must be constants and every dim but the batch known
(the reshapes spell them out; the batch is the one -1).
"""
from __future__ import annotations

import numpy as np

from gcc_flow.onnx.export_ops import emitter
from gcc_flow.onnx.export_ops.builder import ExportContext
from schema.ir import Node


def _known_dims(ctx: ExportContext, node: Node, first: int, count: int) -> list[int]:
    shape = ctx.shape(node, 0)
    if shape is None or len(shape) < first + count or None in shape[first:]:
        raise ctx.unsupported(node, f"input shape {shape} must be known past the batch dim")
    return [int(d) for d in shape[first:]]


def _block_and_pairs(ctx: ExportContext, node: Node, what: str) -> tuple[list, np.ndarray]:
    block = ctx.static_ints(node, 1, "block_shape")
    pairs = np.asarray(ctx.static_ints(node, 2, what), np.int64).reshape(-1, 2)
    if len(pairs) != len(block) or min(block, default=1) < 1:
        raise ctx.unsupported(node, f"block_shape {block} with {what} {pairs.tolist()}")
    return block, pairs


@emitter("SpaceToBatchND")
def space_to_batch(ctx: ExportContext, node: Node) -> str:
    block, pads = _block_and_pairs(ctx, node, "paddings")
    m = len(block)
    dims = _known_dims(ctx, node, 1, m)
    rank = 1 + len(dims)
    x = ctx.input(node, 0)
    if pads.any():
        full = np.zeros((rank, 2), np.int64)
        full[1:1 + m] = pads
        x = ctx.emit("Pad", [x, ctx.ints(full.T.reshape(-1).tolist())], mode="constant")
    padded = [d + int(p.sum()) for d, p in zip(dims[:m], pads)]
    if any(p % b for p, b in zip(padded, block)):
        raise ctx.unsupported(node, f"padded spatial dims {padded} not divisible by {block}")
    rest = dims[m:]
    split = [-1] + [v for p, b in zip(padded, block) for v in (p // b, b)] + rest
    x = ctx.emit("Reshape", [x, ctx.ints(split)])
    perm = ([2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)]
            + list(range(1 + 2 * m, 1 + 2 * m + len(rest))))
    x = ctx.transpose(x, perm)
    return ctx.emit("Reshape", [x, ctx.ints([-1] + [p // b for p, b in zip(padded, block)]
                                            + rest)])


@emitter("BatchToSpaceND")
def batch_to_space(ctx: ExportContext, node: Node) -> str:
    block, crops = _block_and_pairs(ctx, node, "crops")
    m = len(block)
    dims = _known_dims(ctx, node, 1, m)
    rest = dims[m:]
    x = ctx.emit("Reshape", [ctx.input(node, 0), ctx.ints(block + [-1] + dims)])
    perm = [m] + [v for i in range(m) for v in (m + 1 + i, i)] + list(
        range(2 * m + 1, 2 * m + 1 + len(rest)))
    x = ctx.transpose(x, perm)
    full = [s * b for s, b in zip(dims[:m], block)]
    x = ctx.emit("Reshape", [x, ctx.ints([-1] + full + rest)])
    if not crops.any():
        return x
    starts = [int(c[0]) for c in crops]
    ends = [f - int(c[1]) for f, c in zip(full, crops)]
    return ctx.emit("Slice", [x, ctx.ints(starts), ctx.ints(ends),
                              ctx.ints(list(range(1, 1 + m)))])


@emitter("DepthToSpace", "SpaceToDepth")
def depth_to_space(ctx: ExportContext, node: Node) -> str:
    """TF's channel order is ONNX's DCR (depth-column-row) order."""
    fmt = node.attrs.get("data_format", "NHWC")
    if fmt not in ("NHWC", "NCHW"):
        raise ctx.unsupported(node, f"data_format {fmt}")
    x = ctx.input(node, 0)
    if fmt == "NHWC":
        x = ctx.transpose(x, [0, 3, 1, 2])
    extra = {"mode": "DCR"} if node.op == "DepthToSpace" else {}
    y = ctx.emit(node.op, [x], blocksize=int(node.attrs["block_size"]), **extra)
    return ctx.transpose(y, [0, 2, 3, 1]) if fmt == "NHWC" else y
