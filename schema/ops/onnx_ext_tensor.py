"""Indexing ops the ONNX importer needs: TensorFlow's TopKV2 and ReverseSequence (declared with
TensorFlow's names and attrs), and extension ops, prefixed ``Onnx``, for ONNX ops that have no
TensorFlow equivalent.

    TopKV2(f32[3,5], k=2) index_type=int64             -> f32[3,2], i64[3,2]
    ReverseSequence(f32[4,2,3], i64[2]) seq_dim=0 batch_dim=1 -> f32[4,2,3]
    OnnxGatherElements(f32[3,4], i64[3,2]) axis=1      -> f32[3,2]
    OnnxScatterElements(f32[3,4], i64[2,4], f32[2,4]) axis=0 reduction='add' -> f32[3,4]
    OnnxScatterND(f32[4,5], i64[2,1], f32[2,5]) reduction='none' -> f32[4,5]
    OnnxUnique(f32[6]) sorted=true                     -> f32[?], i64[?], i64[6], i64[?]
"""
from __future__ import annotations

from schema.registry import op
from schema.shapes import same_as_input

__all__ = ["ONNX_REDUCTIONS"]

ONNX_REDUCTIONS = "{'none', 'add', 'mul', 'max', 'min'}"
_INDEX = "{int32, int64}"
_TOPK_T = ("{float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, "
           "uint64}")


def _topk_shape(ctx):
    shape = ctx.shape(0)
    k = ctx.value(1)
    if shape is None:
        return [None, None]
    if len(shape) < 1:
        raise ctx.fail("input must be at least 1-D")
    if k is not None:
        k = int(k.reshape(-1)[0])
        if k < 0:
            raise ctx.fail(f"Need k >= 0, got {k}")
        if shape[-1] is not None and shape[-1] < k:
            raise ctx.fail(f"input must have at least k={k} columns, has {shape[-1]}")
    out = tuple(shape[:-1]) + (k,)
    return [out, out]


op("TopKV2", inputs=["input: T", "k: Tk"], outputs=["values: T", "indices: index_type"],
   attrs=["sorted: bool = true", f"T: {_TOPK_T}", "Tk: {int16, int32, int64} = int32",
          "index_type: {int16, int32, int64} = int32"],
   shape=_topk_shape)


def _reverse_sequence_shape(ctx):
    shape = ctx.shape(0)
    if shape is not None:
        for name in ("seq_dim", "batch_dim"):
            axis = ctx.attr(name, 0)
            if not 0 <= axis < len(shape):
                raise ctx.fail(f"{name} {axis} is out of range for rank {len(shape)}")
        if ctx.attr("seq_dim") == ctx.attr("batch_dim", 0):
            raise ctx.fail("seq_dim and batch_dim must differ")
    return [shape]


op("ReverseSequence", inputs=["input: T", "seq_lengths: Tlen"], outputs=["output: T"],
   attrs=["seq_dim: int", "batch_dim: int = 0", "T: type", f"Tlen: {_INDEX} = int64"],
   shape=_reverse_sequence_shape)


def _gather_elements_shape(ctx):
    data, indices = ctx.shape(0), ctx.shape(1)
    if data is not None and indices is not None and len(data) != len(indices):
        raise ctx.fail(f"data (rank {len(data)}) and indices (rank {len(indices)}) must have "
                       f"the same rank")
    _check_axis(ctx, data)
    return [indices]


def _check_axis(ctx, shape) -> None:
    axis = ctx.attr("axis", 0)
    if shape is not None and not -len(shape) <= axis < max(len(shape), 1):
        raise ctx.fail(f"axis {axis} is out of range for rank {len(shape)}")


def _scatter_elements_shape(ctx):
    data, indices, updates = ctx.shape(0), ctx.shape(1), ctx.shape(2)
    if indices is not None and updates is not None and tuple(indices) != tuple(updates) and \
            None not in indices and None not in updates:
        raise ctx.fail(f"indices {list(indices)} and updates {list(updates)} must have the "
                       f"same shape")
    _check_axis(ctx, data)
    return [data]


op("OnnxGatherElements", inputs=["data: T", "indices: Tind"], outputs=["output: T"],
   attrs=["axis: int = 0", "T: type", f"Tind: {_INDEX}"], shape=_gather_elements_shape)
op("OnnxScatterElements", inputs=["data: T", "indices: Tind", "updates: T"],
   outputs=["output: T"],
   attrs=["axis: int = 0", f"reduction: {ONNX_REDUCTIONS} = 'none'", "T: type",
          f"Tind: {_INDEX}"], shape=_scatter_elements_shape)
op("OnnxScatterND", inputs=["data: T", "indices: Tind", "updates: T"], outputs=["output: T"],
   attrs=[f"reduction: {ONNX_REDUCTIONS} = 'none'", "T: type", f"Tind: {_INDEX}"],
   shape=same_as_input(0))


def _unique_shape(ctx):
    shape = ctx.shape(0)
    if not ctx.attr("has_axis", False):
        return [(None,), (None,), (None,), (None,)]
    if shape is None:
        return [None, (None,), (None,), (None,)]
    _check_axis(ctx, shape)
    axis = ctx.attr("axis", 0) % len(shape)
    y = tuple(None if i == axis else d for i, d in enumerate(shape))
    return [y, (None,), (shape[axis],), (None,)]


op("OnnxUnique", inputs=["x: T"],
   outputs=["y: T", "indices: int64", "inverse_indices: int64", "counts: int64"],
   attrs=["sorted: bool = true", "axis: int = 0", "has_axis: bool = false", "T: type"],
   shape=_unique_shape)


# -- run-time axes and pads: what the TF mappings need as constants -------------------------------

def _axes_value(ctx, i: int):
    value = ctx.value(i)
    return None if value is None else [int(v) for v in value.reshape(-1)]


def _squeeze_shape(ctx):
    shape, axes = ctx.shape(0), _axes_value(ctx, 1)
    if shape is None or axes is None:
        return [None]
    rank = len(shape)
    if any(not -rank <= a < rank for a in axes):
        raise ctx.fail(f"axes {axes} are out of range for rank {rank}")
    drop = {a % rank for a in axes} if axes else {i for i, d in enumerate(shape) if d == 1}
    if not axes and None in shape:
        return [None]
    return [tuple(d for i, d in enumerate(shape) if i not in drop)]


def _unsqueeze_shape(ctx):
    shape, axes = ctx.shape(0), _axes_value(ctx, 1)
    count = ctx.shape(1)[0] if ctx.shape(1) is not None and len(ctx.shape(1)) == 1 else None
    if shape is None or count is None:
        return [None]
    if axes is None:
        return [(None,) * (len(shape) + count)]
    rank = len(shape) + len(axes)
    if any(not -rank <= a < rank for a in axes) or len({a % rank for a in axes}) != len(axes):
        raise ctx.fail(f"axes {axes} are out of range or repeated for output rank {rank}")
    dims = iter(shape)
    new = {a % rank for a in axes}
    return [tuple(1 if i in new else next(dims) for i in range(rank))]


op("OnnxSqueeze", inputs=["x: T", "axes: int64"], outputs=["y: T"], attrs=["T: type"],
   shape=_squeeze_shape)
op("OnnxUnsqueeze", inputs=["x: T", "axes: int64"], outputs=["y: T"], attrs=["T: type"],
   shape=_unsqueeze_shape)


def _pad_shape(ctx):
    shape = ctx.shape(0)
    pads, axes = _axes_value(ctx, 1), _axes_value(ctx, 3)
    if shape is None or pads is None or axes is None:
        return [None if shape is None else (None,) * len(shape)]
    axes = axes or list(range(len(shape)))
    if len(pads) != 2 * len(axes):
        raise ctx.fail(f"pads {pads} must hold 2 values for each of the axes {axes}")
    out = list(shape)
    for i, a in enumerate(axes):
        a %= len(shape)
        out[a] = None if out[a] is None else out[a] + pads[i] + pads[i + len(axes)]
    return [tuple(out)]


op("OnnxPad", inputs=["x: T", "pads: int64", "constant_value: T", "axes: int64"],
   outputs=["y: T"], attrs=["mode: {'constant', 'reflect', 'edge', 'wrap'} = 'constant'",
                            "T: type"], shape=_pad_shape)


op("OnnxTensorScatter", inputs=["past_cache: T", "update: T", "write_indices: int64"],
   outputs=["present_cache: T"],
   attrs=["axis: int = -2", "mode: {'linear', 'circular'} = 'linear'", "T: type"],
   shape=same_as_input(0))
