"""An ``onnx.backend.base.Backend`` over gcc-flow: import -> default passes -> runtime.

    from gcc_flow.onnx import backend
    rep = backend.prepare(model)              # or GccFlowBackend.prepare(model, "CPU")
    (y,) = rep.run([x])                       # inputs in ONNX input order, outputs likewise
    rep.run({"x": x}).y                       # or by ONNX name; outputs are a named tuple

Inputs with an initializer default may be left out (feed only the others) or all be given in
ONNX order. String tensors go in and come out as numpy object arrays of str, as onnx's test
data has them (TensorFlow strings are bytes inside).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep, Device, DeviceType, namedtupledict

from gcc_flow.onnx.context import OnnxImportError
from gcc_flow.onnx.importer import ImportResult, import_graph, optimize_result
from runtime.session import Session
from schema.limits import DEFAULT_LIMITS, Limits

__all__ = ["GccFlowBackend", "GccFlowRep", "prepare", "run_model", "run_node",
           "supports_device"]


class GccFlowRep(BackendRep):
    """A prepared model: one runtime Session, compiled once, run many times."""

    def __init__(self, result: ImportResult, session: Session):
        self.result = result
        self.session = session
        self.output_names = [name for name, _ in result.outputs]
        self._fetches = [tensor for _, tensor in result.outputs]
        self._callables: dict[tuple, Any] = {}

    def run(self, inputs: Any, **kwargs: Any) -> tuple:
        feeds = self._feeds(inputs)
        key = tuple(feeds)
        call = self._callables.get(key)
        if call is None:
            call = self._callables[key] = self.session.make_callable(self._fetches, list(key))
        outputs = [_from_runtime(v) for v in call(*feeds.values())]
        return namedtupledict("Outputs", self.output_names)(*outputs)

    def _feeds(self, inputs: Any) -> dict[str, Any]:
        if isinstance(inputs, dict):
            by_name = dict(self.result.inputs)
            unknown = [k for k in inputs if k not in by_name]
            if unknown:
                raise OnnxImportError(f"unknown input names {unknown}; the model's inputs are "
                                      f"{list(by_name)}")
            return {by_name[k]: _to_runtime(v) for k, v in inputs.items()}
        values = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        required, every = self.result.feed_inputs, self.result.inputs
        if len(values) == len(required):
            chosen = required
        elif len(values) == len(every):
            chosen = every
        else:
            raise OnnxImportError(f"the model takes {len(required)} inputs "
                                  f"({[n for n, _ in required]}), got {len(values)}")
        return {tensor: _to_runtime(v) for (_, tensor), v in zip(chosen, values)}


def _to_runtime(value: Any) -> Any:
    """str object arrays -> bytes object arrays (TensorFlow's strings)."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "OU" and value.size and \
            any(isinstance(v, str) for v in value.flat):
        out = np.empty(value.shape, dtype=object)
        out.flat[:] = [v.encode() if isinstance(v, str) else v for v in value.flat]
        return out
    return value


def _from_runtime(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype == object:
        out = np.empty(value.shape, dtype=object)
        out.flat[:] = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                       for v in value.flat]
        return out
    return value


class GccFlowBackend(Backend):
    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", *,
                base_dir: Optional[str] = None, optimize: bool = True,
                limits: Limits = DEFAULT_LIMITS, **kwargs: Any) -> GccFlowRep:
        if not cls.supports_device(device):
            raise OnnxImportError(f"device {device!r} is not supported: gcc-flow's backend "
                                  f"runs on CPU")
        result = import_graph(model, base_dir=base_dir, limits=limits)
        if optimize:
            optimize_result(result)
        return GccFlowRep(result, Session(result.graph.ir, limits=limits))

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU",
                  **kwargs: Any) -> tuple:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Any, device: str = "CPU",
                 outputs_info: Optional[Sequence] = None, **kwargs: Any) -> tuple:
        """Runs one node: wraps it in a model whose inputs are typed from ``inputs``."""
        opset = int(kwargs.pop("opset_version", onnx.defs.onnx_opset_version()))
        values = [np.asarray(v) for v in inputs]
        graph_inputs = [onnx.helper.make_tensor_value_info(
            name, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
            for name, v in zip([n for n in node.input if n], values)]
        graph = onnx.helper.make_graph([node], "run_node", graph_inputs, [])
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("",
                                                                                      opset)])
        _type_outputs(model, [n for n in node.output if n])
        return cls.run_model(model, values, device, **kwargs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        try:
            return Device(device).type == DeviceType.CPU
        except (AttributeError, ValueError):
            return False


def _type_outputs(model: onnx.ModelProto, names: list[str]) -> None:
    """Declares the outputs with the types onnx's shape inference gives them."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as err:  # InferenceError, ValidationError
        raise OnnxImportError(f"run_node: cannot infer the outputs' types: {err}") from None
    known = {info.name: info for info in inferred.graph.value_info}
    for name in names:
        if name not in known:
            raise OnnxImportError(f"run_node: cannot infer the type of output {name!r}")
        model.graph.output.append(known[name])


prepare = GccFlowBackend.prepare
run_model = GccFlowBackend.run_model
run_node = GccFlowBackend.run_node
supports_device = GccFlowBackend.supports_device
