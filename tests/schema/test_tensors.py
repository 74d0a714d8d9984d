"""TensorProto <-> numpy: round trips for every dtype, TensorFlow's splat rule, and bad tensors.

    from_numpy(np.arange(3, dtype=np.int16)) -> TensorProto(dtype=DT_INT16, int_val=[0, 1, 2])
    to_numpy(TensorProto(float_val=[1, 2], shape=[4])) -> [1, 2, 2, 2]
"""
from __future__ import annotations

import tracemalloc

import hypothesis.extra.numpy as hnp
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schema import tensor_pb2
from schema.dtypes import DType
from schema.errors import GccFlowError, LimitExceeded, TensorError
from schema.limits import Limits
from schema.tensors import (
    check_byte_budget, from_numpy, num_elements, shape_from_proto, shape_to_proto, to_numpy,
)

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)
NATIVE = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8,
          np.uint16, np.uint32, np.uint64, np.bool_, np.complex64, np.complex128]
# ml_dtypes types, generated from their raw bit patterns (every pattern, NaNs included).
BITS = {ml_dtypes.bfloat16: np.uint16, ml_dtypes.float8_e5m2: np.uint8,
        ml_dtypes.float8_e4m3fn: np.uint8, ml_dtypes.float8_e4m3fnuz: np.uint8,
        ml_dtypes.float8_e4m3b11fnuz: np.uint8, ml_dtypes.float8_e5m2fnuz: np.uint8}
SMALL_INTS = {ml_dtypes.int4: (-8, 7), ml_dtypes.uint4: (0, 15), ml_dtypes.int2: (-2, 1),
              ml_dtypes.uint2: (0, 3)}


def proto(dtype: DType, shape, **fields) -> tensor_pb2.TensorProto:
    out = tensor_pb2.TensorProto(dtype=int(dtype), **fields)
    out.tensor_shape.CopyFrom(shape_to_proto(shape))
    return out


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    """Same dtype, shape and values; NaN equals NaN, -0.0 differs from 0.0."""
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype.type in BITS or want.dtype.type in SMALL_INTS:  # ml_dtypes: compare bit patterns
        assert got.tobytes() == want.tobytes()
    elif want.dtype.kind in "fc":
        np.testing.assert_array_equal(got, want)
        finite = ~np.isnan(want)
        assert np.array_equal(np.signbit(got.real[finite]), np.signbit(want.real[finite]))
    else:
        assert np.array_equal(got, want)


def round_trip(arr: np.ndarray, dtype: DType | None = None) -> np.ndarray:
    wire = from_numpy(arr, dtype).SerializeToString()
    return to_numpy(tensor_pb2.TensorProto.FromString(wire))


# -- round trips ------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(data=st.data(), np_type=st.sampled_from(NATIVE))
def test_numpy_dtypes_round_trip(data, np_type):
    arr = data.draw(hnp.arrays(np.dtype(np_type).newbyteorder("="), SHAPES))
    assert_same(round_trip(arr), arr)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), ml_type=st.sampled_from(list(BITS)))
def test_bfloat16_and_float8_round_trip_bit_exact(data, ml_type):
    bits = data.draw(hnp.arrays(BITS[ml_type], SHAPES))
    arr = bits.view(ml_type)
    assert_same(round_trip(arr), arr)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), ml_type=st.sampled_from(list(SMALL_INTS)))
def test_int4_and_int2_round_trip(data, ml_type):
    low, high = SMALL_INTS[ml_type]
    values = data.draw(hnp.arrays(np.int8, SHAPES, elements=st.integers(low, high)))
    arr = values.astype(ml_type)
    got = round_trip(arr)
    assert got.dtype == np.dtype(ml_type)
    assert np.array_equal(got.astype(np.int8), values)


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.binary(max_size=12), max_size=20))
def test_strings_round_trip(values):
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    got = round_trip(arr)
    assert got.dtype == object and got.shape == arr.shape and list(got) == values


def test_unicode_strings_are_encoded_as_utf8():
    got = round_trip(np.array([["é", "b"]]))
    assert got.shape == (1, 2) and list(got.flat) == ["é".encode(), b"b"]


@pytest.mark.parametrize("size, field", [(3, "float_val"), (40, "tensor_content")])
def test_small_tensors_use_typed_fields_large_ones_content(size, field):
    out = from_numpy(np.arange(size, dtype=np.float32))
    assert len(getattr(out, field)) > 0
    other = "tensor_content" if field == "float_val" else "float_val"
    assert len(getattr(out, other)) == 0


@pytest.mark.parametrize("dtype, field", [
    (DType.HALF, "half_val"), (DType.BFLOAT16, "half_val"), (DType.INT16, "int_val"),
    (DType.UINT16, "int_val"), (DType.INT64, "int64_val"), (DType.UINT32, "uint32_val"),
    (DType.UINT64, "uint64_val"), (DType.BOOL, "bool_val"), (DType.COMPLEX64, "scomplex_val"),
    (DType.COMPLEX128, "dcomplex_val"), (DType.DOUBLE, "double_val"),
    (DType.FLOAT8_E4M3FN, "float8_val"), (DType.INT4, "int_val"),
])
def test_typed_field_per_dtype_matches_tensorflow(dtype, field):
    out = from_numpy(np.ones(2, dtype.np))
    assert out.dtype == dtype and len(getattr(out, field)) > 0 and not out.tensor_content


def test_big_endian_and_strided_inputs():
    big = np.arange(40, dtype=">i4")
    assert_same(round_trip(big), np.arange(40, dtype=np.int32))
    strided = np.arange(100, dtype=np.float64).reshape(10, 10)[::2, ::3]
    assert_same(round_trip(strided), np.ascontiguousarray(strided))


def test_explicit_dtype_converts():
    got = round_trip(np.array([1, 2, 3]), DType.INT16)
    assert_same(got, np.array([1, 2, 3], np.int16))
    assert_same(round_trip(np.array(["a"]), DType.STRING), np.array([b"a"], dtype=object))


def test_content_is_little_endian():
    out = from_numpy(np.arange(20, dtype=np.int32))
    assert out.tensor_content[:8] == b"\x00\x00\x00\x00\x01\x00\x00\x00"


# -- TensorFlow's splat rule ------------------------------------------------------------------

@pytest.mark.parametrize("dtype, fields, want", [
    (DType.FLOAT, {"float_val": [1.0, 2.0]}, [1, 2, 2, 2]),
    (DType.INT32, {"int_val": [7]}, [7, 7, 7, 7]),
    (DType.INT64, {"int64_val": [-1, 5]}, [-1, 5, 5, 5]),
    (DType.BOOL, {"bool_val": [False, True]}, [False, True, True, True]),
    (DType.DOUBLE, {"double_val": [0.5]}, [0.5] * 4),
    (DType.UINT8, {"int_val": [3, 4, 5]}, [3, 4, 5, 5]),
    (DType.HALF, {"half_val": [0x3C00]}, [1.0] * 4),          # 0x3C00 is float16 1.0
    (DType.BFLOAT16, {"half_val": [0x3F80, 0x4000]}, [1, 2, 2, 2]),  # bfloat16 1.0, 2.0
    (DType.COMPLEX64, {"scomplex_val": [1, 2]}, [1 + 2j] * 4),
    (DType.FLOAT8_E4M3FN, {"float8_val": bytes([0x38, 0x40])}, [1, 2, 2, 2]),
    (DType.INT4, {"int_val": [-3]}, [-3] * 4),
])
def test_fewer_values_than_elements_repeat_the_last(dtype, fields, want):
    got = to_numpy(proto(dtype, (2, 2), **fields))
    assert got.dtype == dtype.np and got.shape == (2, 2)
    assert np.array_equal(got.astype(np.complex128).ravel(), np.array(want, np.complex128))


@pytest.mark.parametrize("dtype", [DType.FLOAT, DType.INT32, DType.BOOL, DType.HALF,
                                   DType.BFLOAT16, DType.COMPLEX128, DType.FLOAT8_E5M2,
                                   DType.UINT64, DType.INT4])
def test_no_values_means_zeros(dtype):
    got = to_numpy(proto(dtype, (3,)))
    assert got.dtype == dtype.np and got.shape == (3,)
    assert not np.any(got.astype(np.complex128))


def test_strings_splat_and_default_to_empty():
    assert list(to_numpy(proto(DType.STRING, (3,), string_val=[b"a", b"b"]))) == \
        [b"a", b"b", b"b"]
    assert list(to_numpy(proto(DType.STRING, (2,)))) == [b"", b""]


def test_scalar_and_empty_tensors():
    assert_same(to_numpy(proto(DType.FLOAT, (), float_val=[3.0])), np.array(3.0, np.float32))
    assert_same(to_numpy(proto(DType.FLOAT, (0, 4))), np.zeros((0, 4), np.float32))


# -- bad tensors ------------------------------------------------------------------------------

@pytest.mark.parametrize("nbytes", [4, 12, 15, 17, 400])
def test_content_length_must_match_shape(nbytes):
    with pytest.raises(TensorError, match="tensor_content has"):
        to_numpy(proto(DType.FLOAT, (2, 2), tensor_content=b"\0" * nbytes))


def test_both_typed_values_and_content_is_refused():
    with pytest.raises(TensorError, match="both tensor_content and float_val"):
        to_numpy(proto(DType.FLOAT, (1,), tensor_content=b"\0" * 4, float_val=[1.0]))


def test_more_typed_values_than_elements_is_refused():
    with pytest.raises(TensorError, match="3 values"):
        to_numpy(proto(DType.INT32, (2,), int_val=[1, 2, 3]))


def test_odd_number_of_complex_parts_is_refused():
    with pytest.raises(TensorError, match="odd number"):
        to_numpy(proto(DType.COMPLEX64, (2,), scomplex_val=[1, 2, 3]))


def test_bool_content_must_hold_zeros_and_ones():
    with pytest.raises(TensorError, match="bool"):
        to_numpy(proto(DType.BOOL, (2,), tensor_content=b"\x01\x02"))


def test_string_content_is_refused_not_ignored():
    with pytest.raises(TensorError, match="string"):
        to_numpy(proto(DType.STRING, (1,), tensor_content=b"\x01a"))


def test_negative_dimension_is_refused():
    bad = tensor_pb2.TensorProto(dtype=int(DType.FLOAT))
    bad.tensor_shape.dim.add().size = -2
    with pytest.raises(TensorError, match="negative dimension"):
        to_numpy(bad)


@pytest.mark.parametrize("shape", [None, (None, 2)])
def test_value_needs_a_fully_defined_shape(shape):
    with pytest.raises(TensorError, match="fully defined"):
        to_numpy(proto(DType.FLOAT, shape, float_val=[1.0]))


@pytest.mark.parametrize("enum, message", [(0, "cannot hold values"), (999, "invalid dtype"),
                                           (101, "cannot hold values"),
                                           (20, "cannot be decoded"), (33, "cannot be decoded")])
def test_invalid_or_undecodable_dtype(enum, message):
    bad = tensor_pb2.TensorProto(dtype=enum, float_val=[1.0])
    bad.tensor_shape.dim.add().size = 1
    with pytest.raises(TensorError, match=message):
        to_numpy(bad)


@pytest.mark.parametrize("shape", [(10**6, 10**6), (2**62, 8), (2**63 - 1,)])
def test_huge_splat_is_refused_without_allocating(shape):
    bad = proto(DType.FLOAT, shape, float_val=[1.0])
    assert bad.ByteSize() < 40
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded, match="max_tensor_bytes"):
            to_numpy(bad)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


@pytest.mark.parametrize("rank", [255, 10_000])
def test_rank_over_the_limit_is_refused(rank):
    with pytest.raises(LimitExceeded, match="rank"):
        to_numpy(proto(DType.FLOAT, (1,) * rank, float_val=[1.0]))


def test_limits_are_per_call_settings():
    tight = Limits(max_tensor_bytes=399)
    with pytest.raises(LimitExceeded):
        to_numpy(proto(DType.FLOAT, (100,)), tight)
    assert to_numpy(proto(DType.FLOAT, (100,)), Limits(max_tensor_bytes=400)).shape == (100,)
    assert issubclass(LimitExceeded, TensorError) and issubclass(TensorError, GccFlowError)


# -- shape helpers ----------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [None, (), (0,), (None, 3), (2, None, 1)])
def test_shape_proto_round_trip(shape):
    assert shape_from_proto(shape_to_proto(shape)) == shape


def test_num_elements_and_byte_budget():
    assert num_elements((2, 3, 4)) == 24 and num_elements(()) == 1
    assert check_byte_budget((2, 3), 8) == 6
    with pytest.raises(TensorError):
        num_elements((2, -1))
    with pytest.raises(LimitExceeded, match="tensor of shape"):
        check_byte_budget((1 << 40,), 4)
