"""Array ops with TensorFlow's Python names and signatures, and ``Tensor.__getitem__``.

    gf.reshape(x, [-1, 6])             -> Reshape
    gf.concat([a, b], axis=1)          -> ConcatV2
    gf.split(x, [1, -1], axis=2)       -> SplitV (a list of tensors)
    gf.pad(x, [[1, 1], [0, 0]], "REFLECT") -> MirrorPad
    x[1:, ::-1, gf.newaxis, 2]         -> StridedSlice with begin/end/shrink masks, like TF
    gf.group(train_op, update_op)      -> NoOp with control inputs

As in TensorFlow's graph mode, ``shape``/``size``/``rank`` of a tensor whose shape is fully
known are constants, and ``zeros``/``ones`` of a small static shape are constants (Fill
otherwise).
"""
from __future__ import annotations

import builtins
import math
from typing import Optional

import numpy as np

from gcc_flow import math_ops
from gcc_flow.constant_op import constant
from gcc_flow.framework import Operation, Tensor, apply_op, convert_to_tensor
from schema.dtypes import DType
from schema.errors import ValidationError

__all__ = [
    "reshape", "transpose", "concat", "split", "slice", "strided_slice", "squeeze",
    "expand_dims", "pad", "tile", "gather", "gather_nd", "shape", "shape_n", "size", "rank",
    "fill", "zeros", "ones", "zeros_like", "ones_like", "range", "stack", "unstack", "one_hot",
    "broadcast_to", "identity", "identity_n", "stop_gradient", "no_op", "group", "ensure_shape",
    "newaxis",
]

_SMALL_CONSTANT = 1000  # TensorFlow makes zeros()/ones() constants below this many elements
newaxis = None


def _dtype(dtype) -> Optional[DType]:
    return DType.parse(dtype) if isinstance(dtype, str) else dtype


def _tensor(value) -> Tensor:
    return convert_to_tensor(value)


def _is_tensor_like(value) -> bool:
    return isinstance(value, Tensor) or hasattr(value, "_as_tensor")


def shape_arg(value):
    """A shape argument: a list mixing ints and scalar tensors is packed; big ints -> int64."""
    if isinstance(value, (list, tuple)):
        if any(_is_tensor_like(v) for v in value):
            return stack(list(value))
        if any(abs(int(v)) > 2 ** 31 - 1 for v in value):
            return np.asarray(value, np.int64)
    return value


# -- reshaping ----------------------------------------------------------------------------------

def reshape(tensor, shape, name: Optional[str] = None) -> Tensor:
    return apply_op("Reshape", [tensor, shape_arg(shape)], name=name)


def transpose(a, perm=None, name: Optional[str] = None) -> Tensor:
    """perm None reverses the dims: [2,3,4] -> [4,3,2]."""
    a = _tensor(a)
    if perm is None:
        if a.shape is not None:
            perm = list(builtins.range(len(a.shape) - 1, -1, -1))
        else:
            perm = range(rank(a) - 1, -1, -1)
    return apply_op("Transpose", [a, perm], name=name)


def squeeze(input, axis=None, name: Optional[str] = None, squeeze_dims=None) -> Tensor:
    axis = squeeze_dims if axis is None else axis
    dims = [] if axis is None else [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    return apply_op("Squeeze", [input], {"squeeze_dims": [int(d) for d in dims]}, name=name)


def expand_dims(input, axis, name: Optional[str] = None) -> Tensor:
    return apply_op("ExpandDims", [input, axis], name=name)


def ensure_shape(x, shape, name: Optional[str] = None) -> Tensor:
    dims = None if shape is None else tuple(None if d is None or d == -1 else int(d)
                                            for d in shape)
    return apply_op("EnsureShape", [x], {"shape": dims}, name=name)


# -- joining and splitting ------------------------------------------------------------------------

def concat(values, axis, name: str = "concat") -> Tensor:
    values = list(values)
    if len(values) == 1:
        return identity(values[0], name=name)
    return apply_op("ConcatV2", [values, axis], name=name)


def split(value, num_or_size_splits, axis=0, num=None, name: str = "split") -> list:
    """An int splits evenly (Split); a list of sizes, one of them maybe -1, uses SplitV."""
    if isinstance(num_or_size_splits, (int, np.integer)) and \
            not isinstance(num_or_size_splits, bool):
        return apply_op("Split", [axis, value], {"num_split": int(num_or_size_splits)},
                        name=name)
    sizes = num_or_size_splits
    if num is None:
        static = sizes.shape if isinstance(sizes, Tensor) else np.shape(sizes)
        if static is None or len(static) != 1 or static[0] is None:
            raise ValidationError(f"split: cannot infer the number of pieces from "
                                  f"size_splits of shape {static}; pass num=")
        num = static[0]
    return apply_op("SplitV", [value, sizes, axis], {"num_split": int(num)}, name=name)


def stack(values, axis=0, name: str = "stack") -> Tensor:
    """Pack; a list of plain values at axis 0 is one constant, as in TensorFlow."""
    values = list(values)
    if axis == 0 and values and not any(_is_tensor_like(v) for v in values):
        if any(isinstance(v, (np.ndarray, np.generic)) for v in values):
            values = np.asarray(values)
        return constant(values, name=name)
    return apply_op("Pack", [values], {"axis": axis}, name=name)


def unstack(value, num=None, axis=0, name: str = "unstack") -> list:
    value = _tensor(value)
    if num is None:
        shape = value.shape
        if shape is None or not -len(shape) <= axis < len(shape) or shape[axis] is None:
            raise ValidationError(f"Cannot infer argument `num` from shape {shape}")
        num = shape[axis]
    return apply_op("Unpack", [value], {"num": int(num), "axis": axis}, name=name)


# -- slicing --------------------------------------------------------------------------------------

def slice(input_, begin, size, name: Optional[str] = None) -> Tensor:  # noqa: A001 (TF's name)
    return apply_op("Slice", [input_, begin, size], name=name)


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0,
                  new_axis_mask=0, shrink_axis_mask=0, name: Optional[str] = None) -> Tensor:
    if strides is None:
        strides = ones_like(begin) if isinstance(begin, Tensor) else [1] * len(begin)
    attrs = {"begin_mask": begin_mask, "end_mask": end_mask, "ellipsis_mask": ellipsis_mask,
             "new_axis_mask": new_axis_mask, "shrink_axis_mask": shrink_axis_mask}
    return apply_op("StridedSlice", [input_, begin, end, strides], attrs, name=name)


def gather(params, indices, validate_indices=None, axis=None, batch_dims=0,
           name: Optional[str] = None) -> Tensor:
    axis = batch_dims if axis is None else axis
    return apply_op("GatherV2", [params, indices, axis], {"batch_dims": batch_dims}, name=name)


def gather_nd(params, indices, name: Optional[str] = None, batch_dims=0) -> Tensor:
    if batch_dims != 0:
        raise ValidationError("gather_nd with batch_dims != 0 is not supported")
    return apply_op("GatherNd", [params, indices], name=name)


# -- padding, tiling, broadcasting -----------------------------------------------------------------

def pad(tensor, paddings, mode: str = "CONSTANT", constant_values=0,
        name: Optional[str] = None) -> Tensor:
    """CONSTANT (Pad, or PadV2 for a non-zero constant_values), REFLECT or SYMMETRIC (MirrorPad)."""
    mode = mode.upper()
    if mode == "CONSTANT":
        plain_zero = not isinstance(constant_values, Tensor) and \
            np.ndim(constant_values) == 0 and constant_values == 0
        if plain_zero:
            return apply_op("Pad", [tensor, paddings], name=name)
        tensor = _tensor(tensor)
        fill_value = convert_to_tensor(constant_values, tensor.dtype)
        return apply_op("PadV2", [tensor, paddings, fill_value], name=name)
    if mode not in ("REFLECT", "SYMMETRIC"):
        raise ValidationError(f"pad: unknown padding mode {mode!r}: expected CONSTANT, "
                              f"REFLECT or SYMMETRIC")
    return apply_op("MirrorPad", [tensor, paddings], {"mode": mode}, name=name)


def tile(input, multiples, name: Optional[str] = None) -> Tensor:
    return apply_op("Tile", [input, shape_arg(multiples)], name=name)


def broadcast_to(input, shape, name: Optional[str] = None) -> Tensor:
    return apply_op("BroadcastTo", [input, shape_arg(shape)], name=name)


# -- shape queries -------------------------------------------------------------------------------

def shape(input, out_type=DType.INT32, name: Optional[str] = None) -> Tensor:
    input = _tensor(input)
    out_type = _dtype(out_type)
    static = input.shape
    if static is not None and all(d is not None for d in static):
        return constant(np.array(static, out_type.np), out_type, name=name or "Shape")
    return apply_op("Shape", [input], {"out_type": out_type}, name=name)


def shape_n(input, out_type=DType.INT32, name: Optional[str] = None) -> list:
    return apply_op("ShapeN", [list(input)], {"out_type": _dtype(out_type)}, name=name)


def size(input, out_type=DType.INT32, name: Optional[str] = None) -> Tensor:
    input = _tensor(input)
    out_type = _dtype(out_type)
    static = input.shape
    if static is not None and all(d is not None for d in static):
        return constant(np.array(math.prod(static), out_type.np), out_type, name=name or "Size")
    return apply_op("Size", [input], {"out_type": out_type}, name=name)


def rank(input, name: Optional[str] = None) -> Tensor:
    input = _tensor(input)
    if input.shape is not None:
        return constant(np.int32(len(input.shape)), DType.INT32, name=name or "Rank")
    return apply_op("Rank", [input], name=name)


# -- making values -------------------------------------------------------------------------------

def fill(dims, value, name: Optional[str] = None) -> Tensor:
    return apply_op("Fill", [shape_arg(dims), value], name=name)


def _filled(shape, value, dtype, name: Optional[str]) -> Tensor:
    dtype = _dtype(dtype)
    static = None if isinstance(shape, Tensor) else np.asarray(shape)
    if static is not None and static.dtype.kind in "iu" and static.ndim == 1 and \
            (static >= 0).all() and math.prod(static.tolist()) <= _SMALL_CONSTANT:
        return constant(value, dtype, shape=static.tolist(), name=name or "Const")
    return fill(shape, convert_to_tensor(value, dtype), name=name)


def zeros(shape, dtype=DType.FLOAT, name: Optional[str] = None) -> Tensor:
    return _filled(shape, "" if _dtype(dtype) == DType.STRING else 0, dtype, name)


def ones(shape, dtype=DType.FLOAT, name: Optional[str] = None) -> Tensor:
    return _filled(shape, 1, dtype, name)


def zeros_like(tensor, dtype=None, name: Optional[str] = None) -> Tensor:
    tensor = _tensor(tensor)
    dtype = _dtype(dtype)
    if dtype is not None and dtype != tensor.dtype.base:
        return zeros(shape(tensor), dtype, name=name)
    return apply_op("ZerosLike", [tensor], name=name)


def ones_like(tensor, dtype=None, name: Optional[str] = None) -> Tensor:
    tensor = _tensor(tensor)
    dtype = _dtype(dtype)
    if dtype is not None and dtype != tensor.dtype.base:
        return ones(shape(tensor), dtype, name=name)
    return apply_op("OnesLike", [tensor], name=name)


_RANGE_HIERARCHY = [DType.INT32, DType.INT64, DType.HALF, DType.BFLOAT16, DType.FLOAT,
                    DType.DOUBLE]


def _natural_dtype(value) -> DType:
    """The dtype TensorFlow gives a value with no dtype asked: 2 -> int32, 2.0 -> float32."""
    if _is_tensor_like(value):
        return _tensor(value).dtype.base
    if isinstance(value, (np.ndarray, np.generic)):
        return DType.from_numpy(value.dtype)
    return DType.FLOAT if np.asarray(value).dtype.kind == "f" else DType.INT32


def range(start, limit=None, delta=1, dtype=None, name: str = "range") -> Tensor:  # noqa: A001
    """range(5) -> [0 1 2 3 4];  range(1., 2., 0.25) -> float32 [1. 1.25 1.5 1.75]."""
    if limit is None:
        start, limit = 0, start
    dtype = _dtype(dtype)
    values = (start, limit, delta)
    if dtype is None:
        kinds = [_natural_dtype(v) for v in values]
        for kind in kinds:
            if kind not in _RANGE_HIERARCHY:
                raise ValidationError(f"range: unsupported dtype {kind.tf_name}")
        dtype = max(kinds, key=_RANGE_HIERARCHY.index)
    # Python values are converted straight to the result dtype (a constant the shape function
    # can read); tensors of another dtype are cast.
    args = [math_ops.cast(v, dtype) if _is_tensor_like(v) else convert_to_tensor(v, dtype)
            for v in values]
    return apply_op("Range", args, name=name)


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None,
            name: Optional[str] = None) -> Tensor:
    """dtype from on_value/off_value when given, else ``dtype``, else float32."""
    dtype = _dtype(dtype)
    given = [None if v is None else v if isinstance(v, Tensor) else convert_to_tensor(v, dtype)
             for v in (on_value, off_value)]
    kinds = {v.dtype.base for v in given if v is not None}
    if len(kinds) > 1 or (kinds and dtype is not None and kinds != {dtype}):
        raise ValidationError(f"one_hot: on_value, off_value and dtype disagree: "
                              f"{sorted(k.tf_name for k in kinds)} vs {dtype}")
    dtype = next(iter(kinds)) if kinds else dtype or DType.FLOAT
    on, off = (v if v is not None else constant(d, dtype) for v, d in zip(given, (1, 0)))
    return apply_op("OneHot", [indices, depth, on, off], {"axis": -1 if axis is None else axis},
                    name=name)


# -- identities and grouping ---------------------------------------------------------------------

def identity(input, name: Optional[str] = None) -> Tensor:
    return apply_op("Identity", [input], name=name)


def identity_n(input, name: Optional[str] = None) -> list:
    return apply_op("IdentityN", [list(input)], name=name)


def stop_gradient(input, name: Optional[str] = None) -> Tensor:
    return apply_op("StopGradient", [input], name=name)


def no_op(name: Optional[str] = None) -> Operation:
    return apply_op("NoOp", [], name=name)


def group(*inputs, name: Optional[str] = None) -> Operation:
    """A NoOp that runs after every input: gf.group(a, [b, c]) -> NoOp ^a ^b ^c."""
    flat: list = []
    stack_ = list(inputs)
    while stack_:
        item = stack_.pop(0)
        if isinstance(item, (list, tuple)):
            stack_[:0] = list(item)
        elif item is not None:
            flat.append(item)
    return apply_op("NoOp", [], name=name, control_inputs=flat)


# -- Tensor.__getitem__ ---------------------------------------------------------------------------

_BAD_INDEX = ("Only integers, slices (`:`), ellipsis (`...`), gf.newaxis (`None`) and scalar "
              "int32/int64 tensors are valid indices, got {!r}")


def _check_index(value):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if _is_tensor_like(value):
        value = _tensor(value)
        if value.dtype.base in (DType.INT32, DType.INT64) and value.shape in (None, ()):
            return value
    raise TypeError(_BAD_INDEX.format(value))


def _pack_indices(values: list):
    """Python ints -> one int32 (int64 when needed) constant; with tensors -> Pack."""
    if not any(isinstance(v, Tensor) for v in values):
        wide = any(abs(v) > 2 ** 31 - 1 for v in values)
        return np.array(values, np.int64 if wide else np.int32)
    wide = any(isinstance(v, Tensor) and v.dtype.base == DType.INT64 for v in values)
    kind = DType.INT64 if wide else DType.INT32
    return stack([math_ops.cast(v, kind) if isinstance(v, Tensor) else v for v in values])


def _slice_helper(tensor: Tensor, slice_spec) -> Tensor:
    """Python indexing mapped onto StridedSlice as TensorFlow's _slice_helper does it.

    x[1:, ::-1, None, 2] -> begin [1,0,0,2], end [0,0,0,3], strides [1,-1,1,1],
    begin_mask 0b0010, end_mask 0b0011, new_axis_mask 0b0100, shrink_axis_mask 0b1000
    """
    if not isinstance(slice_spec, (list, tuple)):
        slice_spec = [slice_spec]
    begin, end, strides = [], [], []
    masks = dict.fromkeys(("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                           "shrink_axis_mask"), 0)
    for index, s in enumerate(slice_spec):
        bit = 1 << index
        if isinstance(s, builtins.slice):
            for value, out, mask in ((s.start, begin, "begin_mask"), (s.stop, end, "end_mask")):
                out.append(0 if value is None else _check_index(value))
                masks[mask] |= bit if value is None else 0
            strides.append(1 if s.step is None else _check_index(s.step))
            continue
        begin.append(0)
        end.append(0)
        strides.append(1)
        if s is Ellipsis:
            masks["ellipsis_mask"] |= bit
        elif s is None:
            masks["new_axis_mask"] |= bit
        else:
            begin[-1] = _check_index(s)
            end[-1] = begin[-1] + 1
            masks["shrink_axis_mask"] |= bit
    packed = [_pack_indices(v) for v in (begin, end, strides)]
    return apply_op("StridedSlice", [tensor] + packed, masks, name="strided_slice")


def _no_iteration(tensor: Tensor):
    raise TypeError(f"gf.Tensor {tensor.name} is not iterable in graph mode: use gf.unstack")


Tensor.__getitem__ = _slice_helper
Tensor.__iter__ = _no_iteration
