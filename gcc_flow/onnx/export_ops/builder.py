"""What an export emitter sees: the TF node's inputs as ONNX value names, static values, shapes,
and a builder that appends ONNX nodes and initializers with unique names.

    x = ctx.input(node, 0)                       # "conv1/Relu" (an ONNX value name)
    axes = ctx.static_ints(node, 1, "axes")      # [1, 2], or ExportNotSupported if dynamic
    y = ctx.emit("Transpose", [x], perm=[0, 3, 1, 2])
    w = ctx.const(np.ones((3,), np.float32))     # an initializer
    raise ctx.unsupported(node, "padding EXPLICIT with dilations")

The value a TF tensor ``n:0`` gets in ONNX is named ``n``; ``n:k`` keeps its name (``onnx_name``).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from gcc_flow.onnx.context import dtype_to_onnx
from schema.dtypes import DType
from schema.errors import GccFlowError
from schema.infer import static_value
from schema.ir import Node, TensorRef

__all__ = ["ExportContext", "OnnxExportError", "ExportNotSupported", "onnx_name",
           "tensor_name_of", "INT64_MAX", "INT64_MIN"]

INT64_MAX = int(np.iinfo(np.int64).max)
INT64_MIN = int(np.iinfo(np.int64).min)
_DEDUPE_MAX_BYTES = 256   # small constants (axes, shapes, scalars) are shared, not repeated


class OnnxExportError(GccFlowError):
    """A graph cannot be exported to ONNX (or an exported model cannot be written)."""


class ExportNotSupported(OnnxExportError):
    """A TF op, attr or dtype the exporter does not map; the message names the node."""


def onnx_name(tensor: str) -> str:
    """TF tensor name -> ONNX value name: "y:0" -> "y", "split:1" -> "split:1", "y" -> "y"."""
    base, sep, port = tensor.rpartition(":")
    if sep and port == "0":
        return base
    return tensor


def tensor_name_of(value: str) -> str:
    """The inverse of ``onnx_name``: "y" -> "y:0", "split:1" -> "split:1"."""
    base, sep, port = value.rpartition(":")
    if sep and base and port.isascii() and port.isdigit():
        return value
    return f"{value}:0"


class ExportContext:
    """ONNX nodes, initializers and the TF-tensor -> ONNX-value map of one export."""

    def __init__(self, opset: int, reserved: set[str]):
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.values: dict[tuple[str, int], Optional[str]] = {}
        # TF Consts become initializers when an emitter first reads them as a value (a Const
        # read only for its static value, such as axes or a perm, is not exported).
        self.lazy_consts: dict[tuple[str, int], tuple] = {}
        self._reserved = set(reserved)       # TF-derived names, kept for their own tensors
        self._names: set[str] = set()        # value names in use
        self._node_names: set[str] = set()
        self._consts: dict[tuple, str] = {}
        self.producer: dict[str, onnx.NodeProto] = {}   # value -> the node that makes it
        self.const_shapes: dict[str, tuple] = {}        # initializer -> its shape
        self.fed: set[tuple[str, int]] = set()          # graph inputs: never static
        self.current: Optional[Node] = None  # the TF node being emitted (names, errors)
        self.first_new_node = 0              # index into nodes where its emission started

    # -- names ---------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        """A value name nobody uses: ``base``, else ``base__1``, ``base__2``..."""
        name, k = base, 0
        while name in self._names or name in self._reserved:
            k += 1
            name = f"{base}__{k}"
        self._names.add(name)
        return name

    def _node_name(self, base: str) -> str:
        name, k = base, 0
        while name in self._node_names:
            k += 1
            name = f"{base}__{k}"
        self._node_names.add(name)
        return name

    def _scope(self) -> str:
        return self.current.name if self.current is not None else "gcc_flow"

    # -- TF side -------------------------------------------------------------------------
    def defer_const(self, ref: TensorRef, value: np.ndarray, dtype: DType,
                    name: Optional[str]) -> None:
        """Binds ``ref`` to a constant written as an initializer (``name`` or a fresh one) on
        first use."""
        self.lazy_consts[(ref.node.name, ref.index)] = (value, dtype, name)

    def value_of(self, ref: TensorRef) -> str:
        key = (ref.node.name, ref.index)
        if key in self.lazy_consts:
            value, dtype, name = self.lazy_consts.pop(key)
            if name is not None:
                self.claim(name)
            self.values[key] = self.const(value, dtype, name=name or self.fresh(ref.node.name))
        name = self.values.get(key, "")
        if name is None:
            raise ExportNotSupported(f"not supported: output {ref.index} of node "
                                     f"{ref.node.name!r} ({ref.node.op}) has no ONNX form, but "
                                     f"{self._scope()!r} uses it")
        if not name:
            raise OnnxExportError(f"internal: tensor {ref.name} used before it was exported")
        return name

    def input(self, node: Node, i: int) -> str:
        return self.value_of(node.inputs[i])

    def inputs(self, node: Node) -> list[str]:
        return [self.value_of(r) for r in node.inputs]

    def static(self, node: Node, i: int) -> Optional[np.ndarray]:
        """Input ``i``'s value when known before run time (a Const), else None."""
        ref = node.inputs[i]
        return None if (ref.node.name, ref.index) in self.fed else static_value(ref)

    def static_ints(self, node: Node, i: int, what: str) -> list[int]:
        value = self.static(node, i)
        if value is None:
            raise self.unsupported(node, f"{what} (input {i}) must be a constant")
        return [int(v) for v in np.asarray(value).reshape(-1)]

    def shape(self, node: Node, i: int) -> Optional[tuple]:
        return node.inputs[i].shape

    def rank(self, node: Node, i: int) -> Optional[int]:
        shape = node.inputs[i].shape
        return None if shape is None else len(shape)

    def need_rank(self, node: Node, i: int) -> int:
        rank = self.rank(node, i)
        if rank is None:
            raise self.unsupported(node, f"input {i} must have a known rank")
        return rank

    def dtype(self, node: Node, i: int) -> DType:
        return node.inputs[i].dtype.base

    def unsupported(self, node: Node, what: str) -> ExportNotSupported:
        return ExportNotSupported(f"not supported: node {node.name!r} ({node.op}): {what}")

    # -- ONNX side -----------------------------------------------------------------------
    def emit(self, op_type: str, inputs: Sequence[Optional[str]], outputs: int = 1,
             **attrs: Any):
        """Appends one ONNX node; returns its output name (or list of names)."""
        base = f"{self._scope()}/{op_type}"
        names = [self.fresh(base if k == 0 else f"{base}:{k}") for k in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        made = helper.make_node(op_type, ["" if i is None else i for i in inputs], names,
                                name=self._node_name(base), **attrs)
        self.nodes.append(made)
        self.producer.update((n, made) for n in names)
        return names[0] if outputs == 1 else names

    def elementwise(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        """An elementwise op, moved past the Transposes that made its inputs when they share
        one perm (scalars aside): Add(Transpose(a, p), Transpose(b, p)) -> Transpose(Add(a, b),
        p), so NHWC ops between NCHW convolutions leave no Transpose pairs."""
        sources = [self.transposed(v) for v in inputs]
        perms = {tuple(s[1]) for s in sources if s is not None}
        movable = all(s is not None or self.const_shapes.get(v) == () for v, s in
                      zip(inputs, sources))
        if len(perms) != 1 or not movable:
            return self.emit(op_type, inputs, **attrs)
        inner = [v if s is None else s[0] for v, s in zip(inputs, sources)]
        return self.transpose(self.emit(op_type, inner, **attrs), list(perms.pop()))

    def transposed(self, value: str) -> Optional[tuple[str, list[int]]]:
        """(source, perm) when ``value`` is made by a Transpose of ``source``, else None."""
        source = self.producer.get(value)
        if source is None or source.op_type != "Transpose":
            return None
        perm = [list(a.ints) for a in source.attribute if a.name == "perm"]
        return (source.input[0], perm[0]) if perm else None

    def identity_to(self, value: str, name: str) -> str:
        """An Identity whose output has the given (reserved, unused) name."""
        self.claim(name)
        self.nodes.append(helper.make_node("Identity", [value], [name],
                                           name=self._node_name(f"{name}/Identity")))
        return name

    def const(self, value, dtype: Optional[DType] = None, name: Optional[str] = None) -> str:
        """An initializer holding ``value`` (as ``dtype`` if given); small ones are shared."""
        array = np.asarray(value, dtype=None if dtype is None else dtype.np)
        key = None
        if name is None and array.dtype != object and array.nbytes <= _DEDUPE_MAX_BYTES:
            key = (array.dtype.str, array.shape, array.tobytes())
            if key in self._consts:
                return self._consts[key]
        name = name if name is not None else self.fresh(f"{self._scope()}/const")
        self.initializers.append(make_tensor(array, name))
        self.const_shapes[name] = array.shape
        if key is not None:
            self._consts[key] = name
        return name

    def ints(self, values: Sequence[int]) -> str:
        """A 1-D int64 initializer: axes, shapes, pads, starts..."""
        return self.const(np.asarray(list(values), dtype=np.int64))

    def scalar(self, value, dtype: DType) -> str:
        return self.const(np.asarray(value, dtype=dtype.np))

    def cast(self, value: str, src: DType, dst: DType) -> str:
        if src.base == dst.base:
            return value
        return self.emit("Cast", [value], to=dtype_to_onnx(dst))

    def int64_input(self, node: Node, i: int) -> str:
        """Input ``i`` as int64 (shapes, axes, indices): a constant when it is known."""
        value = self.static(node, i)
        if value is not None:
            return self.const(np.asarray(value).astype(np.int64))
        return self.cast(self.input(node, i), self.dtype(node, i), DType.INT64)

    def transpose(self, value: str, perm: Sequence[int]) -> str:
        """Transpose, folded into a Transpose that made ``value`` (NHWC<->NCHW pairs around
        consecutive convolutions cancel): Transpose(Transpose(x, p), q) -> Transpose(x, p[q])."""
        perm = [int(p) for p in perm]
        source = self.transposed(value)
        if source is not None and len(source[1]) == len(perm):
            value, perm = source[0], [source[1][p] for p in perm]
        if perm == list(range(len(perm))):
            return value
        return self.emit("Transpose", [value], perm=perm)

    def unsqueeze(self, value: str, axes: Sequence[int]) -> str:
        return self.emit("Unsqueeze", [value, self.ints(axes)]) if len(axes) else value

    def squeeze(self, value: str, axes: Optional[Sequence[int]]) -> str:
        if axes is None:
            return self.emit("Squeeze", [value])
        return self.emit("Squeeze", [value, self.ints(axes)]) if len(axes) else value

    def reduce(self, op_type: str, value: str, axes: Optional[Sequence[int]],
               keepdims: bool) -> str:
        """Reduce* over ``axes`` (None: all), with the attr or input form of the opset."""
        keep = int(bool(keepdims))
        if axes is None:
            return self.emit(op_type, [value], keepdims=keep)
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.emit(op_type, [value, self.ints(axes)], keepdims=keep)
        return self.emit(op_type, [value], axes=list(axes), keepdims=keep)

    def rename_new_value(self, old: str, new: str) -> bool:
        """Renames a value produced by a node of the current emission (so a TF tensor's value
        carries the TF name). False when ``old`` was not produced there or ``new`` is taken."""
        produced = [n for n in self.nodes[self.first_new_node:] if old in n.output]
        if not produced or new in self._names:
            return False
        self._names.add(new)
        if old in self.producer:
            self.producer[new] = self.producer.pop(old)
        for n in self.nodes[self.first_new_node:]:
            for field in (n.input, n.output):
                for k, name in enumerate(field):
                    if name == old:
                        field[k] = new
        return True

    def claim(self, name: str) -> None:
        """Marks a reserved TF-derived name as used by the caller (inputs, initializers)."""
        self._names.add(name)


def make_tensor(array: np.ndarray, name: str) -> onnx.TensorProto:
    """numpy -> TensorProto, raw bytes for numeric types; strings as bytes."""
    if array.dtype == object:
        data = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.reshape(-1)]
        return helper.make_tensor(name, onnx.TensorProto.STRING, array.shape, data)
    if array.dtype.kind == "S":
        return make_tensor(array.astype(object), name)
    dtype = DType.from_numpy(array.dtype)
    elem = dtype_to_onnx(dtype)
    if array.dtype.kind in "biufc" and array.dtype.names is None and dtype.has_numpy:
        tensor = numpy_helper.from_array(_contiguous(array), name)
        if tensor.data_type == elem:
            return tensor
    tensor = onnx.TensorProto(name=name, data_type=elem, dims=list(array.shape))
    tensor.raw_data = _contiguous(array).tobytes()
    return tensor


def _contiguous(array: np.ndarray) -> np.ndarray:
    """C order, keeping 0-d arrays 0-d (np.ascontiguousarray makes them 1-d)."""
    return array if array.flags.c_contiguous else array.copy(order="C")
