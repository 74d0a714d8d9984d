"""ONNX ModelProto -> gcc-flow graph, built with the frontend so dtypes and shapes are inferred.

    graph_def = import_model("model.onnx")            # or bytes, or an onnx.ModelProto
    sess = runtime.load(graph_def)
    sess.run("y", {"x": x})                           # sanitized names; the original ONNX names
                                                      # are in the `_alias` attr of each input
                                                      # Placeholder and output Identity

Mapping: initializers -> Const; graph inputs -> Placeholder (dtype and shape from the
ValueInfo, symbolic dims unknown), or PlaceholderWithDefault when an initializer of the same
name gives a default; each node -> ops made by its converter (gcc_flow.onnx.ops), inside a name
scope named after the node; ops without a converter but with an ONNX function body are
expanded into their body (gcc_flow.onnx.functions); graph outputs -> Identity nodes named after
the output. Names are sanitized to TensorFlow's node name rule.
"""
from __future__ import annotations

import dataclasses
import os
import re
import stat
from typing import Optional, Union

import onnx
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError as _ProtoDecodeError

from gcc_flow.framework import Graph, Tensor, apply_op
from gcc_flow.onnx.context import (ConvertContext, NotSupported, OnnxImportError, decode_tensor,
                                   onnx_to_dtype)
from gcc_flow.onnx.external_data import resolve_external_data
from gcc_flow.onnx.functions import convert_node
from schema.errors import GccFlowError
from schema.limits import DEFAULT_LIMITS, Limits

__all__ = ["import_model", "import_graph", "load_model", "ImportResult", "ALIAS_ATTR",
           "MIN_OPSET", "sanitize_name"]

ALIAS_ATTR = "_alias"   # the original ONNX name, on input Placeholders and output Identities
MIN_OPSET = 7
MAX_MODEL_BYTES = 2 << 30  # protobuf's own limit for one message
_DEFAULT_DOMAINS = ("", "ai.onnx")
_VARIANT_INPUTS = ("sequence_type", "optional_type")   # variant Placeholders (ops/sequence.py)

ModelSource = Union[onnx.ModelProto, bytes, bytearray, memoryview, str, os.PathLike]


@dataclasses.dataclass
class ImportResult:
    """The built graph and how ONNX names map onto its tensors ("name:0")."""
    graph: Graph
    inputs: list[tuple[str, str]]          # (ONNX name, tensor name), in ONNX order
    outputs: list[tuple[str, str]]
    defaults: set[str]                     # ONNX inputs that have an initializer default
    opsets: dict[str, int]

    @property
    def feed_inputs(self) -> list[tuple[str, str]]:
        """Inputs without a default: the ones a caller must feed."""
        return [(o, t) for o, t in self.inputs if o not in self.defaults]


def import_model(model: ModelSource, *, base_dir: Optional[str] = None, optimize: bool = False,
                 limits: Limits = DEFAULT_LIMITS):
    """An ONNX model (ModelProto, serialized bytes or a path) as a GraphDef.

    ``base_dir`` is the folder external data lives in (default: the model file's folder; a
    model given as bytes or a ModelProto has none). ``optimize`` runs the default pass
    pipeline (``passes.optimize``), keeping every input and output.
    """
    result = import_graph(model, base_dir=base_dir, limits=limits)
    if optimize:
        optimize_result(result)
    return result.graph.as_graph_def()


def optimize_result(result: ImportResult) -> None:
    """Runs the default pipeline in place; inputs and outputs survive under their names."""
    import passes
    available = set(passes.available())
    pipeline = [p for p in passes.DEFAULT_PIPELINE if p in available]
    targets = [t.split(":")[0] for _, t in result.inputs]
    passes.optimize_graph(result.graph.ir, fetches=[t for _, t in result.outputs],
                          pipeline=pipeline, targets=targets)


def import_graph(model: ModelSource, *, base_dir: Optional[str] = None,
                 limits: Limits = DEFAULT_LIMITS) -> ImportResult:
    proto, folder = load_model(model, base_dir, limits)
    opsets = check_model(proto)
    proto = resolve_external_data(proto, folder, limits)
    _run_checker(proto)
    if len(proto.functions):
        proto = _inline_local_functions(proto)
    return _GraphBuilder(proto.graph, opsets, limits).build()


# -- loading and model-level checks ------------------------------------------------------------

def load_model(model: ModelSource, base_dir: Optional[str],
               limits: Limits = DEFAULT_LIMITS) -> tuple[onnx.ModelProto, Optional[str]]:
    """(ModelProto, folder for external data). Never lets onnx read external data."""
    if isinstance(model, onnx.ModelProto):
        return model, base_dir
    if isinstance(model, (bytes, bytearray, memoryview)):
        return _parse(bytes(model), "bytes"), base_dir
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        data = _read_model_file(path)
        return _parse(data, repr(path)), (base_dir if base_dir is not None
                                          else os.path.dirname(os.path.abspath(path)))
    raise OnnxImportError(f"cannot import an ONNX model from {type(model).__name__}")


def _read_model_file(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise OnnxImportError(f"cannot open {path!r}: {err.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OnnxImportError(f"{path!r} is not a regular file")
        if info.st_size > MAX_MODEL_BYTES:
            raise OnnxImportError(f"{path!r} is {info.st_size} bytes, above protobuf's 2 GiB "
                                  f"limit; big weights belong in external data")
        with os.fdopen(os.dup(fd), "rb") as f:
            # Read what fstat promised (and one byte more to notice growth): read(2 GiB) would
            # reserve its whole buffer up front.
            data = f.read(info.st_size + 1)
        if len(data) > info.st_size:
            raise OnnxImportError(f"{path!r} grew while it was being read")
        return data
    finally:
        os.close(fd)


def _parse(data: bytes, what: str) -> onnx.ModelProto:
    if not data:
        raise OnnxImportError(f"ONNX model from {what} is empty")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (_ProtoDecodeError, RecursionError, ValueError) as err:
        raise OnnxImportError(f"{what} is not an ONNX model (protobuf: {err})") from None
    return proto


def _check_text(model: onnx.ModelProto) -> None:
    """Every string field must be valid UTF-8: proto2 hands invalid bytes through as bytes."""
    stack: list = [model]
    while stack:
        message = stack.pop()
        for field, value in message.ListFields():
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                stack.extend(value if field.is_repeated else [value])
            elif field.type == FieldDescriptor.TYPE_STRING:
                for text in (value if field.is_repeated else [value]):
                    if not isinstance(text, str):
                        raise OnnxImportError(f"invalid UTF-8 in {message.DESCRIPTOR.name}."
                                              f"{field.name}: {bytes(text)[:60]!r}")


def check_model(model: onnx.ModelProto) -> dict[str, int]:
    """The opsets by domain ("" for the default); OnnxImportError for an unusable model."""
    newest_ir = onnx.IR_VERSION
    if model.ir_version <= 0:
        raise OnnxImportError("not an ONNX model: ir_version is missing (wrong format, e.g. a "
                              "TensorFlow GraphDef, or an empty message?)")
    if model.ir_version > newest_ir:
        raise OnnxImportError(f"ir_version {model.ir_version} is newer than the newest this "
                              f"onnx package knows ({newest_ir})")
    if model.ir_version < 3:
        raise NotSupported(f"not supported: ir_version {model.ir_version} (below 3, which has "
                           f"no opset_import)")
    _check_text(model)
    opsets: dict[str, int] = {}
    for entry in model.opset_import:
        domain = "" if entry.domain in _DEFAULT_DOMAINS else entry.domain
        if domain in opsets:
            raise OnnxImportError(f"opset_import lists domain {domain or 'ai.onnx'!r} twice")
        if entry.version <= 0:
            raise OnnxImportError(f"opset_import: domain {domain or 'ai.onnx'!r} has invalid "
                                  f"version {entry.version}")
        opsets[domain] = int(entry.version)
    newest = onnx.defs.onnx_opset_version()
    if not opsets:
        raise OnnxImportError("opset_import is empty: the model names no opset")
    if "" not in opsets:
        raise NotSupported(f"not supported: a model without the default domain (ai.onnx) in "
                           f"opset_import (it imports only {sorted(opsets)})")
    if opsets[""] > newest:
        raise OnnxImportError(f"opset {opsets['']} of the default domain does not exist (the "
                              f"newest is {newest})")
    if opsets[""] < MIN_OPSET:
        raise NotSupported(f"not supported: opset {opsets['']} (supported: {MIN_OPSET} to "
                           f"{newest})")
    return opsets


def _run_checker(model: onnx.ModelProto) -> None:
    """onnx.checker on a model whose external data is already inlined (so it opens nothing)."""
    try:
        onnx.checker.check_model(model, full_check=False)
    except (onnx.checker.ValidationError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OnnxImportError(f"invalid ONNX model: {first[:500]}") from None


def _inline_local_functions(model: onnx.ModelProto) -> onnx.ModelProto:
    import onnx.inliner
    try:
        return onnx.inliner.inline_local_functions(model)
    except Exception as err:  # the C++ inliner raises plain exceptions on bad input
        raise OnnxImportError(f"cannot inline the model's local functions: {err}") from None


# -- names ---------------------------------------------------------------------------------------

_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.\-/]")
_MAX_NAME = 200


def sanitize_name(name: str, fallback: str = "value") -> str:
    """Any ONNX name -> a TensorFlow node name: "/conv1/Conv:0" -> "conv1/Conv_0"."""
    text = _BAD_CHARS.sub("_", name)
    text = re.sub(r"/+", "/", text).strip("/")
    if not text:
        text = fallback
    if not re.match(r"[A-Za-z0-9._]", text[0]):
        text = "_" + text
    if len(text) > _MAX_NAME:
        text = f"{text[:_MAX_NAME - 9]}_{abs(hash(name)) % 16 ** 8:08x}"
    return text


# -- the graph -------------------------------------------------------------------------------------

class _GraphBuilder:
    def __init__(self, graph: onnx.GraphProto, opsets: dict[str, int], limits: Limits):
        self.proto = graph
        self.graph = Graph()
        self.ctx = ConvertContext(self.graph, opsets, limits)
        self.limits = limits

    def build(self) -> ImportResult:
        with self.graph.as_default():
            initializers = self._initializers()
            inputs, defaults = self._inputs(initializers)
            for name, value in initializers.items():
                if name not in self.ctx.tensors:
                    self.ctx.tensors[name] = self.ctx.const(value, name=sanitize_name(name))
            for node in self.proto.node:
                convert_node(self.ctx, node)
            outputs = self._outputs(inputs)
        return ImportResult(self.graph, inputs, outputs, defaults, dict(self.ctx.opsets))

    def _initializers(self) -> dict:
        values = {}
        for tensor in self.proto.initializer:
            if tensor.name in values:
                raise OnnxImportError(f"initializer {tensor.name!r} is defined twice")
            values[tensor.name] = decode_tensor(tensor, self.limits,
                                                f"initializer {tensor.name!r}")
        for sparse in self.proto.sparse_initializer:
            raise NotSupported(f"not supported: sparse initializer {sparse.values.name!r}")
        return values

    def _inputs(self, initializers: dict) -> tuple[list, set]:
        inputs, defaults = [], set()
        for info in self.proto.input:
            if info.name in self.ctx.tensors:
                raise OnnxImportError(f"graph input {info.name!r} is listed twice")
            name = sanitize_name(info.name, "input")
            attrs = {ALIAS_ATTR: info.name}
            if info.type.WhichOneof("value") in _VARIANT_INPUTS:
                from gcc_flow.onnx.ops.sequence import variant_placeholder
                tensor = variant_placeholder(info, name, attrs)
                self.ctx.tensors[info.name] = tensor
                inputs.append((info.name, tensor.name))
                continue
            dtype, shape = _tensor_type(info, "graph input")
            if info.name in initializers:
                default = self.ctx.const(initializers[info.name], dtype,
                                         name=f"{name}/default")
                tensor = apply_op("PlaceholderWithDefault", [default],
                                  {"shape": shape, **attrs}, name=name)
                defaults.add(info.name)
            else:
                tensor = apply_op("Placeholder", [], {"dtype": dtype, "shape": shape, **attrs},
                                  name=name)
            self.ctx.tensors[info.name] = tensor
            inputs.append((info.name, tensor.name))
        return inputs, defaults

    def _outputs(self, inputs: list) -> list:
        by_input = dict(inputs)
        outputs = []
        for info in self.proto.output:
            if info.name in by_input:  # an input passed straight through: one node, one alias
                outputs.append((info.name, by_input[info.name]))
                continue
            tensor = self.ctx.tensors.get(info.name)
            if tensor is None:
                raise OnnxImportError(f"graph output {info.name!r} is produced by no node")
            _check_output_type(info, tensor)
            out = apply_op("Identity", [tensor], {ALIAS_ATTR: info.name},
                           name=sanitize_name(info.name, "output"))
            outputs.append((info.name, out.name))
        return outputs


def _tensor_type(info: onnx.ValueInfoProto, what: str):
    """(DType, shape) of a tensor ValueInfo: symbolic or missing dims are None."""
    kind = info.type.WhichOneof("value")
    if kind != "tensor_type":
        raise NotSupported(f"not supported: {what} {info.name!r} of type {kind or 'unknown'} "
                           f"(only tensors)")
    tensor_type = info.type.tensor_type
    if tensor_type.elem_type == 0:
        raise OnnxImportError(f"{what} {info.name!r} has no element type")
    dtype = onnx_to_dtype(tensor_type.elem_type, f"{what} {info.name!r}")
    if not tensor_type.HasField("shape"):
        return dtype, None
    dims = []
    for dim in tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            if dim.dim_value < 0:
                raise OnnxImportError(f"{what} {info.name!r} has a negative dimension")
            dims.append(int(dim.dim_value))
        else:
            dims.append(None)
    return dtype, tuple(dims)


def _check_output_type(info: onnx.ValueInfoProto, tensor: Tensor) -> None:
    if info.type.WhichOneof("value") != "tensor_type" or not info.type.tensor_type.elem_type:
        return
    try:
        want = onnx_to_dtype(info.type.tensor_type.elem_type)
    except GccFlowError:
        return
    if tensor.dtype.base != want:
        raise OnnxImportError(f"graph output {info.name!r}: the model declares "
                              f"{want.tf_name}, the converted graph computes "
                              f"{tensor.dtype.tf_name}")
