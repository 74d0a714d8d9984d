"""Array ops that read or make values: gathers, shape queries, Fill, Range, OneHot, Where, the
*Like ops, Snapshot, EnsureShape. (Declared from schema/ops/array.py, which imports this.)

    GatherV2(f32[2,3,4], i32[5], axis=1) -> f32[2,5,4];  GatherNd(f32[2,3,4], i32[7,2]) -> f32[7,4]
    Fill(Const [2,3], f32[]) -> f32[2,3];  Range(0, 10, 3) -> i32[4];  OneHot(i32[5], 3) -> f32[5,3]
"""
from __future__ import annotations

import numpy as np

from schema.ops import array_rules as rules
from schema.ops.array import apply_rule, require_scalar, scalar_int, shape_tensor
from schema.registry import op
from schema.shapes import same_as_input, scalar

__all__ = ["merge_shapes"]

_INDEX = "{int32, int64}"


# -- gathers ------------------------------------------------------------------------------------

def _gather_shape(ctx):
    params, indices = ctx.shape(0), ctx.shape(1)
    axis = scalar_int(ctx, 2, "axis")
    if params is None or indices is None:
        return [None]
    if axis is None:
        batch = ctx.attr("batch_dims", 0)
        batch = batch + len(indices) if batch < 0 else batch
        return [(None,) * (len(params) + len(indices) - 1 - batch)]
    _, _, out = apply_rule(ctx, rules.gather_dims, params, indices, axis, ctx.attr("batch_dims", 0))
    return [tuple(out)]


def _gather_nd_shape(ctx):
    params, indices = ctx.shape(0), ctx.shape(1)
    if params is None or indices is None:
        return [None]
    out = apply_rule(ctx, rules.gather_nd_dims, params, indices)
    return [None if out is None else tuple(out)]


op("GatherV2", inputs=["params: Tparams", "indices: Tindices", "axis: Taxis"],
   outputs=["output: Tparams"],
   attrs=["batch_dims: int = 0", "Tparams: type", "Tindices: {int16, int32, int64}",
          f"Taxis: {_INDEX}"], shape=_gather_shape)
op("GatherNd", inputs=["params: Tparams", "indices: Tindices"], outputs=["output: Tparams"],
   attrs=["Tparams: type", "Tindices: {int16, int32, int64}", "bad_indices_policy: string = ''"],
   shape=_gather_nd_shape)


# -- shape queries ------------------------------------------------------------------------------

def _shape_shape(ctx):
    return [(None if ctx.shape(i) is None else len(ctx.shape(i)),)
            for i in range(ctx.num_inputs)]


op("Shape", inputs=["input: T"], outputs=["output: out_type"],
   attrs=["T: type", f"out_type: {_INDEX} = int32"], shape=_shape_shape)
op("ShapeN", inputs=["input: N * T"], outputs=["output: N * out_type"],
   attrs=["N: int >= 1", "T: type", f"out_type: {_INDEX} = int32"], shape=_shape_shape)
op("Size", inputs=["input: T"], outputs=["output: out_type"],
   attrs=["T: type", f"out_type: {_INDEX} = int32"], shape=scalar)
op("Rank", inputs=["input: T"], outputs=["output: int32"], attrs=["T: type"], shape=scalar)


# -- making values ------------------------------------------------------------------------------

def _fill_shape(ctx):
    require_scalar(ctx, 1, "value")
    dims = ctx.value(0)
    if dims is not None and np.ndim(dims) != 1:
        raise ctx.fail(f"dims must be a vector, got shape {rules.fmt_shape(np.shape(dims))}")
    dims = shape_tensor(ctx, 0)
    for d in dims or ():
        if d is not None and d < 0:
            raise ctx.fail(f"Dimension {d} must be >= 0")
    return [None if dims is None else tuple(dims)]


def _range_shape(ctx):
    for i, what in enumerate(("start", "limit", "delta")):
        require_scalar(ctx, i, what)
    values = [ctx.value(i) for i in range(3)]
    if any(v is None or np.size(v) != 1 for v in values):
        return [(None,)]
    dtype = ctx.attr("Tidx")
    start, limit, delta = (np.asarray(v).reshape(-1)[0].astype(dtype.np) for v in values)
    return [(apply_rule(ctx, rules.range_size, start, limit, delta, dtype.is_integer),)]


def _one_hot_shape(ctx):
    require_scalar(ctx, 2, "on_value")
    require_scalar(ctx, 3, "off_value")
    indices = ctx.shape(0)
    depth = scalar_int(ctx, 1, "depth")
    axis = ctx.attr("axis", -1)
    if axis < -1:
        raise ctx.fail(f"axis must be >= -1, got {axis}")
    if indices is None:
        if depth is not None and depth < 0:
            raise ctx.fail(f"depth must be non-negative, got: {depth}")
        return [None]
    return [tuple(apply_rule(ctx, rules.one_hot_dims, indices, depth, axis))]


def _where_shape(ctx):
    shape = ctx.shape(0)
    if shape is not None and len(shape) == 0:
        raise ctx.fail("WhereOp : Unhandled input dimensions: 0")
    return [(None, None if shape is None else len(shape))]


_ONES_TYPES = ("{bfloat16, half, float, double, int8, uint8, int16, uint16, int32, uint32, "
               "int64, uint64, complex64, complex128, bool}")
_RANGE_TYPES = ("{bfloat16, half, float, double, int8, int16, int32, int64, uint16, uint32, "
                "uint64} = int32")
_WHERE_TYPES = ("{float, double, int32, uint8, int16, int8, complex64, int64, qint8, quint8, "
                "qint32, bfloat16, qint16, quint16, uint16, complex128, half, uint32, uint64, "
                "bool} = bool")

op("Fill", inputs=["dims: index_type", "value: T"], outputs=["output: T"],
   attrs=["T: type", f"index_type: {_INDEX} = int32"], shape=_fill_shape)
op("ZerosLike", inputs=["x: T"], outputs=["y: T"], attrs=["T: type"], shape=same_as_input(0),
   layout="elementwise")
op("OnesLike", inputs=["x: T"], outputs=["y: T"], attrs=[f"T: {_ONES_TYPES}"],
   shape=same_as_input(0), layout="elementwise")
op("Range", inputs=["start: Tidx", "limit: Tidx", "delta: Tidx"], outputs=["output: Tidx"],
   attrs=[f"Tidx: {_RANGE_TYPES}"], shape=_range_shape)
op("OneHot", inputs=["indices: TI", "depth: int32", "on_value: T", "off_value: T"],
   outputs=["output: T"],
   attrs=["axis: int = -1", "T: type", "TI: {uint8, int8, int32, int64} = int64"],
   shape=_one_hot_shape)
op("Where", inputs=["input: T"], outputs=["index: int64"], attrs=[f"T: {_WHERE_TYPES}"],
   shape=_where_shape)


# -- identities with a check or a copy ----------------------------------------------------------

def merge_shapes(a, b):
    """The most specific shape compatible with both; None when they disagree.

    merge_shapes((None, 3), (2, None)) -> (2, 3);  merge_shapes((2,), (3,)) -> None
    """
    if a is None or b is None:
        return b if a is None else a
    if len(a) != len(b) or any(x is not None and y is not None and x != y for x, y in zip(a, b)):
        return None
    return tuple(y if x is None else x for x, y in zip(a, b))


def _ensure_shape_shape(ctx):
    shape, expected = ctx.shape(0), ctx.attr("shape")
    merged = merge_shapes(shape, expected)
    if merged is None and shape is not None and expected is not None:
        raise ctx.fail(f"Shape of tensor {ctx.node.inputs[0].name} {rules.fmt_shape(shape)} is "
                       f"not compatible with expected shape {rules.fmt_shape(expected)}.")
    return [merged]


op("Snapshot", inputs=["input: T"], outputs=["output: T"], attrs=["T: type"],
   shape=same_as_input(0), layout="elementwise")
op("EnsureShape", inputs=["input: T"], outputs=["output: T"], attrs=["shape: shape", "T: type"],
   shape=_ensure_shape_shape)
