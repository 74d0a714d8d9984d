"""Reductions (axes as attr or input by opset, keepdims, noop_with_empty_axes, axes fed at run
time), ArgMax/ArgMin (keepdims, select_last_index) and CumSum against onnx's reference."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from onnx_reference_check import check

REDUCTIONS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
              "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]
X = (np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 5) / 7


@pytest.mark.parametrize("op", REDUCTIONS)
@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("axes", [None, [1], [0, -1]])
def test_axes_as_attr_opset13(op, keepdims, axes):
    x = np.abs(X) + 0.1 if op == "ReduceLogSum" else X
    attrs = {"keepdims": keepdims} | ({} if axes is None else {"axes": axes})
    if op == "ReduceSum" and axes is not None:
        node = helper.make_node(op, ["x", "a"], ["y"], keepdims=keepdims)
        check(node, {"x": x, "a": np.array(axes, np.int64)}, opset=13, rtol=1e-5)
    else:
        check(helper.make_node(op, ["x"], ["y"], **attrs), {"x": x}, opset=13, rtol=1e-5)


@pytest.mark.parametrize("op", REDUCTIONS)
@pytest.mark.parametrize("axes", [[2], [], [-3, 1]])
@pytest.mark.parametrize("noop", [0, 1])
def test_axes_fed_at_run_time_opset18(op, axes, noop):
    """The axes input is a graph input here, so its value is only known when the graph runs."""
    x = np.abs(X) + 0.1 if op == "ReduceLogSum" else X
    node = helper.make_node(op, ["x", "a"], ["y"], keepdims=0, noop_with_empty_axes=noop)
    check(node, {"x": x, "a": np.array(axes, np.int64)}, opset=18, rtol=1e-5)


@pytest.mark.parametrize("op", REDUCTIONS)
def test_no_axes_input_opset18(op):
    x = np.abs(X) + 0.1 if op == "ReduceLogSum" else X
    check(helper.make_node(op, ["x"], ["y"]), {"x": x}, opset=18, rtol=1e-5)
    check(helper.make_node(op, ["x"], ["y"], noop_with_empty_axes=1), {"x": x}, opset=18)


def test_empty_set_reductions():
    x = np.zeros((2, 0, 4), np.float32)
    axes = np.array([1], np.int64)
    for op in ["ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceLogSumExp",
               "ReduceSumSquare", "ReduceL1", "ReduceL2"]:
        check(helper.make_node(op, ["x", "a"], ["y"], keepdims=1), {"x": x, "a": axes},
              opset=18)


def test_log_sum_exp_is_stable_for_large_values():
    x = np.array([[1000.0, 1000.0], [-1000.0, -np.inf]], np.float32)
    node = helper.make_node("ReduceLogSumExp", ["x", "a"], ["y"], keepdims=0)
    y = check(node, {"x": x[:1], "a": np.array([1], np.int64)}, opset=18)  # finite reference
    from onnx_reference_check import run
    got = run(node, {"x": x, "a": np.array([1], np.int64)}, opset=18,
              like={"y": np.zeros(2, np.float32)})["y"]
    np.testing.assert_allclose(got, [1000 + np.log(2), -1000], rtol=1e-6)
    assert np.isfinite(y["y"]).all()


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.float64])
def test_integer_and_double_reductions(dtype):
    x = np.arange(12).reshape(3, 4).astype(dtype)
    for op in ["ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceMean", "ReduceL2"]:
        check(helper.make_node(op, ["x"], ["y"], axes=[1]), {"x": x}, opset=12)


def test_bool_max_min():
    x = np.array([[True, False], [False, False]])
    for op in ("ReduceMax", "ReduceMin"):
        check(helper.make_node(op, ["x", "a"], ["y"], keepdims=0),
              {"x": x, "a": np.array([1], np.int64)}, opset=20)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("last", [0, 1])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_arg_reductions(op, keepdims, last, axis):
    x = np.array([[2, 5, 5, 1], [7, 7, 0, 0], [3, 1, 1, 3]], np.float32)
    node = helper.make_node(op, ["x"], ["y"], axis=axis, keepdims=keepdims,
                            select_last_index=last)
    check(node, {"x": x})


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumsum(exclusive, reverse, axis):
    x = np.arange(1, 13, dtype=np.float64).reshape(3, 4)
    node = helper.make_node("CumSum", ["x", "a"], ["y"], exclusive=exclusive, reverse=reverse)
    check(node, {"x": x, "a": np.array(axis, np.int32)})
    check(node, {"x": x.astype(np.int64), "a": np.array(axis, np.int64)})
