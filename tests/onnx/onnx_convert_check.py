"""Test helper for the converter tests: a one-node ONNX model run by gcc-flow and onnxruntime
(or onnx's reference implementation where onnxruntime refuses the case).

    outs = compare("Gemm", [a, b, Init(c)], transB=1)   # asserts gcc-flow == onnxruntime

An ndarray becomes a graph input fed at run time, ``Init(array)`` an initializer (a constant at
import), None an absent optional input. The model goes through the converters exactly as the
importer builds it (gcc_flow.onnx.importer.import_graph).
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

import gcc_flow as gf
from gcc_flow.onnx.importer import import_graph

__all__ = ["Init", "make_model", "run_gcc_flow", "run_onnxruntime", "compare",
           "import_one_node"]


@dataclasses.dataclass
class Init:
    """An input given as an initializer (its value is known at import time)."""
    value: np.ndarray


def make_model(op_type: str, inputs: Sequence, n_outputs: int = 1, opset: int = 18,
               domain: str = "", node_name: str = "", symbolic: bool = False,
               **attrs) -> tuple[onnx.ModelProto, dict]:
    """A model with one node; returns it and the feeds for its graph inputs. ``symbolic``
    declares every dim of the graph inputs unknown (a dim_param), as exporters do for batch."""
    names, graph_inputs, inits, feeds = [], [], [], {}
    for i, value in enumerate(inputs):
        if value is None:
            names.append("")
            continue
        name = f"in{i}"
        names.append(name)
        if isinstance(value, Init):
            inits.append(numpy_helper.from_array(np.asarray(value.value), name))
        else:
            value = np.asarray(value)
            elem = helper.np_dtype_to_tensor_dtype(value.dtype)
            dims = [f"{name}_d{k}" for k in range(value.ndim)] if symbolic else value.shape
            graph_inputs.append(helper.make_tensor_value_info(name, elem, dims))
            feeds[name] = value
    outputs = [f"out{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outputs, domain=domain, name=node_name, **attrs)
    graph = helper.make_graph([node], "one_node", graph_inputs,
                              [helper.make_empty_tensor_value_info(o) for o in outputs],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model, feeds


def run_gcc_flow(model: onnx.ModelProto, feeds: dict) -> list:
    """Imports with gcc_flow.onnx's importer and runs the graph with the runtime."""
    result = import_graph(model)
    by_name = dict(result.inputs)
    with gf.Session(result.graph) as sess:
        return sess.run([t for _, t in result.outputs],
                        {by_name[k]: v for k, v in feeds.items()})


def run_onnxruntime(model: onnx.ModelProto, feeds: dict) -> list:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _type_outputs(model: onnx.ModelProto, values: list) -> None:
    """Gives the graph outputs the dtypes and shapes onnxruntime computed (the checker in the
    importer wants typed outputs)."""
    for output, value in zip(model.graph.output, values):
        value = np.asarray(value)
        output.CopyFrom(helper.make_tensor_value_info(
            output.name, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape))


def run_reference(model: onnx.ModelProto, feeds: dict) -> list:
    """onnx's own Python reference implementation (for what onnxruntime does not run)."""
    from onnx.reference import ReferenceEvaluator
    return ReferenceEvaluator(model).run(None, feeds)


def compare(op_type: str, inputs: Sequence, n_outputs: int = 1, opset: int = 18,
            rtol: float = 1e-5, atol: float = 1e-5, check: Optional[Sequence[int]] = None,
            reference: bool = False, **attrs) -> list:
    """Runs both and asserts equal dtypes, shapes and values (outputs in ``check``, default all).
    ``reference``: compare with onnx's reference implementation instead of onnxruntime."""
    model, feeds = make_model(op_type, inputs, n_outputs, opset, **attrs)
    theirs = (run_reference if reference else run_onnxruntime)(model, feeds)
    _type_outputs(model, theirs)
    ours = run_gcc_flow(model, feeds)
    for i in (range(n_outputs) if check is None else check):
        got, want = np.asarray(ours[i]), np.asarray(theirs[i])
        assert got.dtype == want.dtype, (op_type, i, got.dtype, want.dtype)
        assert got.shape == want.shape, (op_type, i, got.shape, want.shape)
        if want.dtype.kind in "fc":
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=op_type)
        else:
            np.testing.assert_array_equal(got, want, err_msg=op_type)
    return ours


def import_one_node(op_type: str, inputs: Sequence, n_outputs: int = 1, opset: int = 18,
                    out_types: Sequence[int] = (), **attrs):
    """Imports (without running) a one-node model whose outputs are declared ``out_types``
    (default float) of unknown shape; returns the importer's ImportResult."""
    model, _ = make_model(op_type, inputs, n_outputs, opset, **attrs)
    for i, output in enumerate(model.graph.output):
        elem = out_types[i] if i < len(out_types) else onnx.TensorProto.FLOAT
        output.type.tensor_type.elem_type = elem
        output.type.tensor_type.shape.SetInParent()
    return import_graph(model)
