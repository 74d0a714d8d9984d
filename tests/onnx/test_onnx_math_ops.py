"""Converters of gcc_flow/onnx/ops/math.py, checked against numpy by hand where the semantics
are subtle (integer Div, Mod, mixed Pow, Clip) and against onnx's reference otherwise."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from onnx_reference_check import check, run

I32 = np.int32


def _node(op, n_in=2, **attrs):
    return helper.make_node(op, [f"i{k}" for k in range(n_in)], ["o"], **attrs)


def test_integer_div_truncates_toward_zero():
    a, b = np.array([-7, 7, -7, 7, 6], I32), np.array([2, 2, -2, -2, 3], I32)
    out = check(_node("Div"), {"i0": a, "i1": b})["o"]
    np.testing.assert_array_equal(out, [-3, 3, 3, -3, 2])  # not floor: -7 // 2 == -4


def test_float_div_and_broadcasting():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = check(_node("Div"), {"i0": a, "i1": np.array([1, 2, 4], np.float32)})["o"]
    np.testing.assert_array_equal(out, a / np.array([1, 2, 4], np.float32))


@pytest.mark.parametrize("fmod, expected", [(0, [1, -2, 2, -1]), (1, [1, 1, -1, -1])])
def test_mod_sign_rules(fmod, expected):
    a, b = np.array([7, 7, -7, -7], I32), np.array([3, -3, 3, -3], I32)
    out = check(_node("Mod", fmod=fmod), {"i0": a, "i1": b})["o"]
    np.testing.assert_array_equal(out, expected)


def test_float_fmod():
    a, b = np.array([5.5, -5.5], np.float32), np.array([2, 2], np.float32)
    np.testing.assert_allclose(check(_node("Mod", fmod=1), {"i0": a, "i1": b})["o"], [1.5, -1.5])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=1, max_size=6), st.integers(1, 9),
       st.booleans(), st.integers(0, 1))
def test_integer_division_family_matches_reference(values, divisor, negative, fmod):
    a = np.array(values, np.int64)
    b = np.array([-divisor if negative else divisor], np.int64)
    check(_node("Div"), {"i0": a, "i1": b})
    check(_node("Mod", fmod=fmod), {"i0": a, "i1": b})


@pytest.mark.parametrize("x, y", [
    (np.array([1.5, 2, 3], np.float32), np.array([2, 3, -1], np.int64)),
    (np.array([2, 3, 4], np.int32), np.array([0.5, 2, 1.5], np.float32)),
    (np.array([2, 3, 4], np.int64), np.array([2, 0, 3], np.int64)),
    (np.array([2, 3], np.float64), np.array([0.5, 2], np.float32)),
])
def test_pow_mixed_types_keep_the_base_dtype(x, y):
    out = check(_node("Pow"), {"i0": x, "i1": y})["o"]
    assert out.dtype == x.dtype


def test_clip_before_opset11_uses_attrs():
    x = np.array([-5, -1, 0, 2, 9], np.float32)
    np.testing.assert_array_equal(check(_node("Clip", 1, min=-1.0, max=2.0), {"i0": x},
                                        opset=7)["o"], [-1, -1, 0, 2, 2])
    np.testing.assert_array_equal(check(_node("Clip", 1), {"i0": x}, opset=10)["o"], x)


@pytest.mark.parametrize("inputs, expected", [
    (["x", "lo", "hi"], [-1, -1, 0, 2, 2]),
    (["x", "lo", ""], [-1, -1, 0, 2, 9]),
    (["x", "", "hi"], [-5, -1, 0, 2, 2]),
    (["x"], [-5, -1, 0, 2, 9]),
])
def test_clip_opset11_optional_inputs(inputs, expected):
    values = {"x": np.array([-5, -1, 0, 2, 9], np.int32), "lo": np.int32(-1),
              "hi": np.int32(2)}
    node = helper.make_node("Clip", inputs, ["o"])
    out = check(node, {k: np.asarray(values[k]) for k in inputs if k})["o"]
    np.testing.assert_array_equal(out, expected)


def test_clip_min_above_max_gives_max():
    x = np.array([-1.0, 5.0], np.float32)
    out = check(_node("Clip", 3), {"i0": x, "i1": np.float32(3), "i2": np.float32(1)})["o"]
    np.testing.assert_array_equal(out, [1, 1])


@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
def test_variadic_with_broadcasting(op):
    rng = np.random.default_rng(0)
    feeds = {"i0": rng.standard_normal((2, 3)).astype(np.float32),
             "i1": rng.standard_normal((3,)).astype(np.float32),
             "i2": rng.standard_normal((2, 1)).astype(np.float32)}
    check(_node(op, 3), feeds)
    check(_node(op, 1), {"i0": feeds["i0"]})


@pytest.mark.parametrize("op", ["Neg", "Abs", "Sign", "Exp", "Log", "Sqrt", "Reciprocal",
                                "Floor", "Ceil", "Round", "Sin", "Cos", "Tan", "Atan", "Sinh",
                                "Cosh", "Asinh", "Erf", "Tanh", "Sigmoid", "Softsign",
                                "Softplus", "Relu", "Identity"])
def test_unary_float(op):
    x = np.array([-2.5, -0.5, 0.0, 0.5, 1.5, 2.5, 3.2], np.float32)
    check(_node(op, 1), {"i0": x}, rtol=1e-5, atol=1e-6)


def test_round_is_half_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5], np.float32)
    np.testing.assert_array_equal(check(_node("Round", 1), {"i0": x})["o"], [0, 2, 2, -0, -2])


def test_abs_of_unsigned_and_int():
    check(_node("Abs", 1), {"i0": np.array([0, 7, 255], np.uint8)})
    check(_node("Abs", 1), {"i0": np.array([-3, 7], np.int64)})


def test_einsum_and_det():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5))
    check(helper.make_node("Einsum", ["a", "b"], ["o"], equation="bij, bjk -> bik"),
          {"a": a, "b": b})
    check(helper.make_node("Einsum", ["a"], ["o"], equation="...ij->...ji"), {"a": a})
    check(helper.make_node("Einsum", ["a"], ["o"], equation="bij"), {"a": a})
    check(_node("Det", 1), {"i0": rng.standard_normal((3, 2, 2)).astype(np.float32)}, rtol=1e-4)


@pytest.mark.parametrize("attr, value", [
    ("value_float", 2.5), ("value_floats", [1.0, 2.0]), ("value_int", 7),
    ("value_ints", [1, -2]), ("value", helper.make_tensor("t", TensorProto.INT8, [2], [3, 4])),
])
def test_constant_value_attrs(attr, value):
    check(helper.make_node("Constant", [], ["o"], **{attr: value}), {})


def test_constant_strings():
    node = helper.make_node("Constant", [], ["o"], value_strings=["ab", "c"])
    out = run(node, {}, like={"o": np.array(["ab", "c"], dtype=object)})["o"]
    assert list(out) == ["ab", "c"]


def test_constant_of_shape_and_range():
    check(helper.make_node("ConstantOfShape", ["s"], ["o"]), {"s": np.array([2, 3], np.int64)})
    value = helper.make_tensor("v", TensorProto.INT32, [1], [7])
    check(helper.make_node("ConstantOfShape", ["s"], ["o"], value=value),
          {"s": np.array([2], np.int64)})
    check(helper.make_node("Range", ["a", "b", "c"], ["o"]),
          {"a": np.float32(1), "b": np.float32(2), "c": np.float32(0.25)})
    check(helper.make_node("Range", ["a", "b", "c"], ["o"]),
          {"a": np.int64(10), "b": np.int64(0), "c": np.int64(-3)})
