"""TensorProto <-> numpy, for every dtype that has a numpy equivalent.

    to_numpy(TensorProto(dtype=DT_FLOAT, tensor_shape=[2], float_val=[1.0]))  -> array([1., 1.])
    from_numpy(np.zeros((2, 3), np.float32))  -> TensorProto with tensor_content of 24 bytes

The byte size is computed from the shape, with overflow checks, and compared with
``Limits.max_tensor_bytes`` before anything is allocated: a 20-byte "splat" TensorProto that
claims 10^12 elements is refused, never materialized.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from schema import tensor_pb2, tensor_shape_pb2
from schema.dtypes import DType
from schema.errors import LimitExceeded, TensorError
from schema.limits import DEFAULT_LIMITS, Limits

__all__ = ["to_numpy", "from_numpy", "shape_from_proto", "shape_to_proto", "num_elements",
           "check_byte_budget", "Shape"]

Shape = Optional[tuple]  # None: unknown rank; a dim of None: unknown size

# The typed repeated field that carries each dtype's values when tensor_content is empty.
_TYPED_FIELD = {
    DType.FLOAT: "float_val", DType.DOUBLE: "double_val", DType.INT32: "int_val",
    DType.INT16: "int_val", DType.INT8: "int_val", DType.UINT8: "int_val",
    DType.UINT16: "int_val", DType.QINT8: "int_val", DType.QUINT8: "int_val",
    DType.QINT16: "int_val", DType.QUINT16: "int_val", DType.QINT32: "int_val",
    DType.INT4: "int_val", DType.UINT4: "int_val", DType.INT2: "int_val", DType.UINT2: "int_val",
    DType.INT64: "int64_val", DType.UINT32: "uint32_val", DType.UINT64: "uint64_val",
    DType.BOOL: "bool_val", DType.HALF: "half_val", DType.BFLOAT16: "half_val",
    DType.COMPLEX64: "scomplex_val", DType.COMPLEX128: "dcomplex_val",
    DType.STRING: "string_val",
}
_FLOAT8 = {DType.FLOAT8_E5M2, DType.FLOAT8_E4M3FN, DType.FLOAT8_E4M3FNUZ,
           DType.FLOAT8_E4M3B11FNUZ, DType.FLOAT8_E5M2FNUZ}
_SMALL = 16  # tensors up to this many elements are written with typed fields (readable .pbtxt)


def shape_from_proto(proto: tensor_shape_pb2.TensorShapeProto) -> Shape:
    """TensorShapeProto -> tuple of dims (None for -1), or None for unknown rank."""
    if proto.unknown_rank:
        return None
    dims = []
    for d in proto.dim:
        if d.size < -1:
            raise TensorError(f"negative dimension {d.size} in shape")
        dims.append(None if d.size == -1 else int(d.size))
    return tuple(dims)


def shape_to_proto(shape: Shape) -> tensor_shape_pb2.TensorShapeProto:
    proto = tensor_shape_pb2.TensorShapeProto()
    if shape is None:
        proto.unknown_rank = True
        return proto
    for d in shape:
        proto.dim.add().size = -1 if d is None else int(d)
    return proto


def num_elements(shape: Sequence[int]) -> int:
    """Exact element count (Python ints cannot overflow); TensorError on negative dims."""
    for d in shape:
        if d is None or d < 0:
            raise TensorError(f"shape {tuple(shape)} is not fully defined and non-negative")
    return math.prod(int(d) for d in shape)


def check_byte_budget(shape: Sequence[int], itemsize: int, limits: Limits = DEFAULT_LIMITS,
                      what: str = "tensor") -> int:
    """Returns the element count; LimitExceeded before anything is allocated when too big."""
    if len(shape) > limits.max_rank:
        raise LimitExceeded(f"{what} has rank {len(shape)}, above the limit {limits.max_rank}")
    n = num_elements(shape)
    if n * itemsize > limits.max_tensor_bytes:
        raise LimitExceeded(
            f"{what} of shape {list(shape)} needs {n * itemsize} bytes, above the limit "
            f"max_tensor_bytes={limits.max_tensor_bytes} (set GCC_FLOW_MAX_TENSOR_BYTES)")
    return n


def to_numpy(proto: tensor_pb2.TensorProto, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """Decodes a TensorProto. TensorError on malformed data, LimitExceeded when too large."""
    try:
        dtype = DType(proto.dtype)
    except ValueError:
        raise TensorError(f"invalid dtype enum {proto.dtype} in tensor") from None
    if dtype == DType.INVALID or dtype.is_ref:
        raise TensorError(f"tensor has dtype {dtype.tf_name}, which cannot hold values")
    if not dtype.has_numpy:
        raise TensorError(f"tensors of dtype {dtype.tf_name} cannot be decoded to numpy")
    shape = shape_from_proto(proto.tensor_shape)
    if shape is None or any(d is None for d in shape):
        raise TensorError("a tensor value must have a fully defined shape")
    np_dtype = dtype.np
    itemsize = 8 if dtype == DType.STRING else np_dtype.itemsize
    n = check_byte_budget(shape, itemsize, limits)
    typed = "float8_val" if dtype in _FLOAT8 else _TYPED_FIELD.get(dtype)
    has_typed = bool(typed) and len(getattr(proto, typed)) > 0
    if proto.tensor_content:
        if has_typed:
            raise TensorError(f"tensor of dtype {dtype.tf_name} has both tensor_content and "
                              f"{typed}: refusing to guess which one holds the values")
        if dtype == DType.STRING:  # TF's varint-prefixed string list: never written by TF's Python
            raise TensorError("string tensors encoded in tensor_content are not supported; "
                              "write them with string_val")
        return _from_content(proto.tensor_content, dtype, shape, n)
    return _from_typed(proto, dtype, typed, shape, n)


def _from_content(content: bytes, dtype: DType, shape: tuple, n: int) -> np.ndarray:
    np_dtype = dtype.np.newbyteorder("<") if dtype.np.byteorder != "|" else dtype.np
    expected = n * np_dtype.itemsize
    if len(content) != expected:
        raise TensorError(f"tensor_content has {len(content)} bytes but shape {list(shape)} of "
                          f"{dtype.tf_name} needs {expected}")
    if dtype == DType.BOOL and content.translate(None, b"\x00\x01"):
        raise TensorError("bool tensor_content holds bytes other than 0 and 1")
    arr = np.frombuffer(content, dtype=np_dtype).astype(dtype.np, copy=True)
    return arr.reshape(shape)


def _from_typed(proto, dtype: DType, field: str, shape: tuple, n: int) -> np.ndarray:
    values = getattr(proto, field)
    per_element = 2 if dtype.is_complex else 1
    m = len(values)
    if m % per_element:
        raise TensorError(f"{field} of a {dtype.tf_name} tensor has an odd number of values")
    m //= per_element
    if m > n:
        raise TensorError(f"tensor has {m} values in {field} but shape {list(shape)} holds {n}")
    if dtype == DType.STRING:
        out = np.full(n, bytes(values[-1]) if m else b"", dtype=object)
        out[:m] = [bytes(v) for v in values]
        return out.reshape(shape)
    if dtype in _FLOAT8:
        src = np.frombuffer(values, dtype=np.uint8).view(dtype.np)
    elif dtype.is_complex:
        flat = np.asarray(values, dtype=np.float64).reshape(-1, 2)
        src = np.empty(len(flat), dtype.np)  # not re + 1j * im: 1j * inf gives a NaN real part
        src.real, src.imag = flat[:, 0], flat[:, 1]
    elif dtype in (DType.HALF, DType.BFLOAT16):
        src = np.asarray(values, dtype=np.int64).astype(np.uint16).view(dtype.np)
    else:
        src = np.asarray(values).astype(dtype.np) if m else np.zeros(0, dtype.np)
    out = np.zeros(n, dtype=dtype.np)
    if m:
        out[:m] = src
        out[m:] = src[-1]  # TensorFlow repeats the last value ("splat")
    return out.reshape(shape)


def from_numpy(value, dtype: DType | None = None) -> tensor_pb2.TensorProto:
    """Encodes a numpy array (or anything np.asarray accepts) as a TensorProto."""
    if dtype is not None and dtype.base == DType.STRING:
        arr = np.asarray(value, dtype=object)
    else:
        arr = np.asarray(value, dtype=None if dtype is None else dtype.base.np)
    dt = dtype.base if dtype is not None else DType.from_numpy(arr.dtype)
    proto = tensor_pb2.TensorProto(dtype=dt.value)
    proto.tensor_shape.CopyFrom(shape_to_proto(arr.shape))
    if dt == DType.STRING:
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode() for v in arr.flat)
    elif arr.size <= _SMALL and dt in _TYPED_FIELD:
        _write_typed(proto, dt, arr)
    elif dt in _FLOAT8:
        proto.float8_val = arr.astype(dt.np).tobytes()
    else:
        proto.tensor_content = np.ascontiguousarray(arr, dtype=dt.np.newbyteorder("<")
                                                    if dt.np.byteorder != "|" else dt.np).tobytes()
    return proto


def _write_typed(proto, dt: DType, arr: np.ndarray) -> None:
    field = getattr(proto, _TYPED_FIELD[dt])
    flat = arr.reshape(-1)
    if dt.is_complex:
        field.extend(float(x) for c in flat for x in (c.real, c.imag))
    elif dt in (DType.HALF, DType.BFLOAT16):
        field.extend(int(x) for x in flat.astype(dt.np).view(np.uint16))
    elif dt == DType.BOOL:
        field.extend(bool(x) for x in flat)
    elif dt.is_floating:
        field.extend(float(x) for x in flat)
    else:
        field.extend(int(x) for x in flat)
