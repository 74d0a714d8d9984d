"""DataType: TensorFlow's enum numbers, names and their numpy equivalents.

    DType.FLOAT.np -> numpy.float32;  DType.from_numpy(np.int64) -> DType.INT64
    DType.FLOAT.as_ref -> DType.FLOAT_REF (101);  DType.FLOAT_REF.base -> DType.FLOAT
"""
from __future__ import annotations

import enum

import ml_dtypes
import numpy as np

from schema.errors import TensorError

__all__ = ["DType", "NUMERIC", "FLOATING", "INTEGER", "REAL"]

_REF_OFFSET = 100


class DType(enum.IntEnum):
    INVALID = 0
    FLOAT = 1
    DOUBLE = 2
    INT32 = 3
    UINT8 = 4
    INT16 = 5
    INT8 = 6
    STRING = 7
    COMPLEX64 = 8
    INT64 = 9
    BOOL = 10
    QINT8 = 11
    QUINT8 = 12
    QINT32 = 13
    BFLOAT16 = 14
    QINT16 = 15
    QUINT16 = 16
    UINT16 = 17
    COMPLEX128 = 18
    HALF = 19
    RESOURCE = 20
    VARIANT = 21
    UINT32 = 22
    UINT64 = 23
    FLOAT8_E5M2 = 24
    FLOAT8_E4M3FN = 25
    FLOAT8_E4M3FNUZ = 26
    FLOAT8_E4M3B11FNUZ = 27
    FLOAT8_E5M2FNUZ = 28
    INT4 = 29
    UINT4 = 30
    INT2 = 31
    UINT2 = 32
    FLOAT4_E2M1FN = 33  # no numpy mapping: tensors of it are refused, not guessed
    # Reference types (value type + 100), as TF1 reference variables produce them.
    FLOAT_REF = 101
    DOUBLE_REF = 102
    INT32_REF = 103
    UINT8_REF = 104
    INT16_REF = 105
    INT8_REF = 106
    STRING_REF = 107
    COMPLEX64_REF = 108
    INT64_REF = 109
    BOOL_REF = 110
    QINT8_REF = 111
    QUINT8_REF = 112
    QINT32_REF = 113
    BFLOAT16_REF = 114
    QINT16_REF = 115
    QUINT16_REF = 116
    UINT16_REF = 117
    COMPLEX128_REF = 118
    HALF_REF = 119
    RESOURCE_REF = 120
    VARIANT_REF = 121
    UINT32_REF = 122
    UINT64_REF = 123
    FLOAT8_E5M2_REF = 124
    FLOAT8_E4M3FN_REF = 125
    FLOAT8_E4M3FNUZ_REF = 126
    FLOAT8_E4M3B11FNUZ_REF = 127
    FLOAT8_E5M2FNUZ_REF = 128
    INT4_REF = 129
    UINT4_REF = 130
    INT2_REF = 131
    UINT2_REF = 132
    FLOAT4_E2M1FN_REF = 133

    # -- relations -----------------------------------------------------------------------
    @property
    def is_ref(self) -> bool:
        return self.value > _REF_OFFSET

    @property
    def base(self) -> "DType":
        """The value type of a reference type; itself otherwise."""
        return DType(self.value - _REF_OFFSET) if self.is_ref else self

    @property
    def as_ref(self) -> "DType":
        return self if self.is_ref else DType(self.value + _REF_OFFSET)

    # -- numpy ---------------------------------------------------------------------------
    @property
    def np(self) -> np.dtype:
        """The numpy dtype holding this type's values; TensorError when there is none."""
        try:
            return _TO_NUMPY[self.base]
        except KeyError:
            raise TensorError(f"dtype {self.tf_name} has no numpy equivalent") from None

    @property
    def has_numpy(self) -> bool:
        return self.base in _TO_NUMPY

    @property
    def itemsize(self) -> int:
        return self.np.itemsize

    @classmethod
    def from_numpy(cls, dtype) -> "DType":
        dt = np.dtype(dtype)
        if not dt.isnative:  # byte-swapped arrays hold the same type
            dt = dt.newbyteorder("=")
        if dt.kind in "SUO":
            return cls.STRING
        try:
            return _FROM_NUMPY[dt]
        except KeyError:
            raise TensorError(f"numpy dtype {dt} has no TensorFlow equivalent") from None

    # -- names ---------------------------------------------------------------------------
    @property
    def tf_name(self) -> str:
        """TensorFlow's Python name: float32, int64, bfloat16, resource, float32_ref."""
        base = _TF_NAMES.get(self.base, self.base.name.lower())
        return base + "_ref" if self.is_ref else base

    @property
    def short(self) -> str:
        """The compact name used in the IR text form: f32, i64, bf16, res."""
        base = _SHORT.get(self.base, self.base.name.lower())
        return base + "&" if self.is_ref else base

    @classmethod
    def parse(cls, name: str) -> "DType":
        """Accepts 'float', 'float32', 'DT_FLOAT', 'f32', 'float32_ref'."""
        key = name.strip()
        if key in _BY_NAME:
            return _BY_NAME[key]
        raise TensorError(f"unknown dtype name {name!r}")

    @property
    def is_floating(self) -> bool:
        return self.base in FLOATING

    @property
    def is_integer(self) -> bool:
        return self.base in INTEGER

    @property
    def is_complex(self) -> bool:
        return self.base in (DType.COMPLEX64, DType.COMPLEX128)

    def __repr__(self) -> str:
        return f"gf.{self.tf_name}"


_TO_NUMPY = {
    DType.FLOAT: np.dtype(np.float32), DType.DOUBLE: np.dtype(np.float64),
    DType.HALF: np.dtype(np.float16), DType.BFLOAT16: np.dtype(ml_dtypes.bfloat16),
    DType.INT8: np.dtype(np.int8), DType.INT16: np.dtype(np.int16),
    DType.INT32: np.dtype(np.int32), DType.INT64: np.dtype(np.int64),
    DType.UINT8: np.dtype(np.uint8), DType.UINT16: np.dtype(np.uint16),
    DType.UINT32: np.dtype(np.uint32), DType.UINT64: np.dtype(np.uint64),
    DType.BOOL: np.dtype(np.bool_), DType.COMPLEX64: np.dtype(np.complex64),
    DType.COMPLEX128: np.dtype(np.complex128), DType.STRING: np.dtype(object),
    DType.FLOAT8_E5M2: np.dtype(ml_dtypes.float8_e5m2),
    DType.FLOAT8_E4M3FN: np.dtype(ml_dtypes.float8_e4m3fn),
    DType.FLOAT8_E4M3FNUZ: np.dtype(ml_dtypes.float8_e4m3fnuz),
    DType.FLOAT8_E4M3B11FNUZ: np.dtype(ml_dtypes.float8_e4m3b11fnuz),
    DType.FLOAT8_E5M2FNUZ: np.dtype(ml_dtypes.float8_e5m2fnuz),
    DType.INT4: np.dtype(ml_dtypes.int4), DType.UINT4: np.dtype(ml_dtypes.uint4),
    DType.INT2: np.dtype(ml_dtypes.int2), DType.UINT2: np.dtype(ml_dtypes.uint2),
    # Quantized types share their storage type's layout.
    DType.QINT8: np.dtype(np.int8), DType.QUINT8: np.dtype(np.uint8),
    DType.QINT16: np.dtype(np.int16), DType.QUINT16: np.dtype(np.uint16),
    DType.QINT32: np.dtype(np.int32),
}
_QUANTIZED = {DType.QINT8, DType.QUINT8, DType.QINT16, DType.QUINT16, DType.QINT32}
_FROM_NUMPY = {v: k for k, v in _TO_NUMPY.items() if k not in _QUANTIZED and k != DType.STRING}

_TF_NAMES = {
    DType.FLOAT: "float32", DType.DOUBLE: "float64", DType.HALF: "float16",
    DType.INVALID: "invalid",
}
_SHORT = {
    DType.FLOAT: "f32", DType.DOUBLE: "f64", DType.HALF: "f16", DType.BFLOAT16: "bf16",
    DType.INT8: "i8", DType.INT16: "i16", DType.INT32: "i32", DType.INT64: "i64",
    DType.UINT8: "u8", DType.UINT16: "u16", DType.UINT32: "u32", DType.UINT64: "u64",
    DType.BOOL: "bool", DType.STRING: "str", DType.COMPLEX64: "c64", DType.COMPLEX128: "c128",
    DType.RESOURCE: "res", DType.VARIANT: "var",
}


def _names() -> dict[str, DType]:
    names: dict[str, DType] = {}
    for dt in DType:
        names[dt.name] = dt
        names[dt.name.lower()] = dt
        names["DT_" + dt.name] = dt
        names[dt.tf_name] = dt
        names[dt.short] = dt
    return names


_BY_NAME = _names()

FLOATING = frozenset({DType.HALF, DType.BFLOAT16, DType.FLOAT, DType.DOUBLE})
INTEGER = frozenset({DType.INT8, DType.INT16, DType.INT32, DType.INT64, DType.UINT8,
                     DType.UINT16, DType.UINT32, DType.UINT64})
REAL = FLOATING | INTEGER
NUMERIC = REAL | {DType.COMPLEX64, DType.COMPLEX128}
