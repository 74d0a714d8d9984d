"""Activations and the softmax family against onnx's reference, including attrs and the
opset < 13 softmax semantics (coerced to 2-D) versus opset >= 13 (one axis)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from onnx_reference_check import check, run

X = np.linspace(-3, 3, 24, dtype=np.float32).reshape(2, 3, 4)


@pytest.mark.parametrize("op, attrs", [
    ("LeakyRelu", {}), ("LeakyRelu", {"alpha": 0.3}), ("Elu", {}), ("Elu", {"alpha": 2.0}),
    ("Selu", {}), ("Selu", {"alpha": 2.0, "gamma": 3.0}), ("Celu", {}), ("Celu", {"alpha": 2.0}),
    ("HardSigmoid", {}), ("HardSigmoid", {"alpha": 0.5, "beta": 0.1}), ("HardSwish", {}),
    ("ThresholdedRelu", {}), ("ThresholdedRelu", {"alpha": 0.5}), ("Shrink", {}),
    ("Shrink", {"bias": 0.5, "lambd": 1.0}), ("Gelu", {}), ("Gelu", {"approximate": "tanh"}),
    ("Mish", {}), ("Softplus", {}), ("Softsign", {}),
])
def test_activation(op, attrs):
    check(helper.make_node(op, ["x"], ["y"], **attrs), {"x": X}, rtol=1e-5, atol=1e-6)


def test_selu_default_constants_are_onnx_not_tensorflow():
    y = check(helper.make_node("Selu", ["x"], ["y"]), {"x": np.float32([-1.0])})["y"]
    np.testing.assert_allclose(y, 1.05070102214813232421875 * 1.67326319217681884765625
                               * (np.exp(np.float32(-1)) - 1), rtol=1e-6)


def test_prelu_broadcasts_slope():
    check(helper.make_node("PRelu", ["x", "s"], ["y"]),
          {"x": X, "s": np.array([0.1, 0.2, 0.3, 0.4], np.float32)})
    check(helper.make_node("PRelu", ["x", "s"], ["y"]),
          {"x": X, "s": np.array([[0.1], [0.2], [0.3]], np.float32)})


def _coerced_reference(op: str, x: np.ndarray, axis: int) -> np.ndarray:
    """Opset < 13 by hand (onnx's ReferenceEvaluator only knows the opset 13 meaning)."""
    flat = x.reshape(int(np.prod(x.shape[:axis])), -1)
    shifted = flat - flat.max(axis=1, keepdims=True)
    if op == "Hardmax":
        out = np.zeros_like(flat)
        out[np.arange(len(flat)), flat.argmax(axis=1)] = 1
    elif op == "Softmax":
        out = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    else:
        out = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return out.reshape(x.shape)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_softmax_family_opset13_one_axis(op, axis):
    attrs = {} if axis is None else {"axis": axis}
    check(helper.make_node(op, ["x"], ["y"], **attrs), {"x": X}, opset=13)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1])
def test_softmax_family_opset11_coerced_to_2d(op, axis):
    attrs = {} if axis is None else {"axis": axis}
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    want = _coerced_reference(op, X, (1 if axis is None else axis) % 3)
    got = run(node, {"x": X}, opset=11, like={"y": want})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_hardmax_ties_pick_the_first():
    x = np.array([[1, 3, 3], [2, 2, 0]], np.float32)
    y = check(helper.make_node("Hardmax", ["x"], ["y"]), {"x": x})["y"]
    np.testing.assert_array_equal(y, [[0, 1, 0], [1, 0, 0]])
