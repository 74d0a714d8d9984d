"""Runs one ONNX node through gcc-flow's backend and through onnx's ReferenceEvaluator, and
compares dtypes, shapes and values (a helper for the converter tests, not a test file).

    check(helper.make_node("Div", ["a", "b"], ["c"]), {"a": a, "b": b})
    check(node, feeds, opset=11)           # an older opset's semantics
"""
from __future__ import annotations

import warnings
from typing import Optional

import numpy as np
import onnx
from onnx import helper
from onnx.reference import ReferenceEvaluator

from gcc_flow.onnx.backend import GccFlowBackend


def node_model(node: onnx.NodeProto, feeds: dict, opset: Optional[int] = None,
               outputs: Optional[dict] = None) -> onnx.ModelProto:
    """A model of ``node`` alone; outputs typed from ``outputs`` (name -> array) when given."""
    version = opset or onnx.defs.onnx_opset_version()
    inputs = [helper.make_tensor_value_info(
        name, helper.np_dtype_to_tensor_dtype(np.asarray(v).dtype), np.shape(v))
        for name, v in feeds.items()]
    names = [n for n in node.output if n]
    if outputs is None:
        out_info = [helper.make_empty_tensor_value_info(n) for n in names]
    else:
        out_info = [helper.make_tensor_value_info(
            n, helper.np_dtype_to_tensor_dtype(outputs[n].dtype), outputs[n].shape)
            for n in names]
    graph = helper.make_graph([node], "check", inputs, out_info)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", version)])


def reference(node: onnx.NodeProto, feeds: dict, opset: Optional[int] = None) -> dict:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        values = ReferenceEvaluator(node_model(node, feeds, opset)).run(None, feeds)
    return {n: np.asarray(v) for n, v in zip([n for n in node.output if n], values)}


def run(node: onnx.NodeProto, feeds: dict, opset: Optional[int] = None,
        like: Optional[dict] = None) -> dict:
    expected = like if like is not None else reference(node, feeds, opset)
    rep = GccFlowBackend.prepare(node_model(node, feeds, opset, expected))
    got = rep.run([np.asarray(v) for v in feeds.values()])
    return dict(zip(rep.output_names, got))


def check(node: onnx.NodeProto, feeds: dict, opset: Optional[int] = None,
          rtol: float = 1e-5, atol: float = 1e-6) -> dict:
    """Asserts gcc-flow agrees with onnx's reference; returns gcc-flow's outputs."""
    expected = reference(node, feeds, opset)
    got = run(node, feeds, opset, expected)
    for name, want in expected.items():
        have = got[name]
        assert have.dtype == want.dtype, f"{name}: dtype {have.dtype} != {want.dtype}"
        assert have.shape == want.shape, f"{name}: shape {have.shape} != {want.shape}"
        if want.dtype.kind in "fc":
            np.testing.assert_allclose(have, want, rtol=rtol, atol=atol, err_msg=name)
        else:
            np.testing.assert_array_equal(have.astype(np.float64) if want.dtype.kind == "V"
                                          else have, want.astype(np.float64)
                                          if want.dtype.kind == "V" else want, err_msg=name)
    return got
