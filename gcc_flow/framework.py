"""TF1-style graph building: Graph, Operation, Tensor, scopes, and generic op creation.

    g = gf.Graph()
    with g.as_default(), gf.name_scope("layer"), gf.device("/cpu:0"):
        x = gf.placeholder(gf.float32, [None, 3], name="x")
        y = gf.nn.relu(x)                   # node "layer/Relu", dtype and shape inferred
    g.as_graph_def()

Every op is created through ``apply_op``, which reads the op's registry declaration: it converts
Python values to constants of the right dtype, sets type attrs (T, N, Tin...) from the inputs,
fills defaults, validates, and infers output dtypes and shapes at build time.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from schema.dtypes import DType
from schema.errors import GraphError, ValidationError
from schema.ir import Graph as IRGraph
from schema.ir import Node, parse_tensor_name
from schema.registry import get_op
from schema.serde import graph_to_graph_def
from schema.validate import check_node

__all__ = ["Graph", "Operation", "Tensor", "get_default_graph", "reset_default_graph",
           "name_scope", "device", "control_dependencies", "convert_to_tensor", "apply_op"]

PRODUCER_VERSION = 1882  # TensorFlow 2.21's GraphDef producer version


class Tensor:
    """Output ``value_index`` of an Operation. Supports Python operators (+, -, *, @, [...])."""

    __slots__ = ("op", "value_index")

    def __init__(self, op: "Operation", value_index: int):
        self.op = op
        self.value_index = value_index

    @property
    def graph(self) -> "Graph":
        return self.op.graph

    @property
    def name(self) -> str:
        return f"{self.op.name}:{self.value_index}"

    @property
    def dtype(self) -> DType:
        return self.op._node.out_types[self.value_index]

    @property
    def shape(self):
        """A tuple with None for unknown dims, or None for unknown rank."""
        return self.op._node.out_shapes[self.value_index]

    def get_shape(self):
        return self.shape

    @property
    def device(self) -> str:
        return self.op.device

    @property
    def _ref(self):
        return self.op._node.output(self.value_index)

    def __repr__(self) -> str:
        shape = "?" if self.shape is None else [("?" if d is None else d) for d in self.shape]
        return f"<gf.Tensor '{self.name}' shape={shape} dtype={self.dtype.tf_name}>"

    def __hash__(self):
        return id(self)

    def __bool__(self):
        raise TypeError("a symbolic gf.Tensor has no truth value; use gf.cond or a Session")

    # Python operators are bound in gcc_flow.math_ops (to avoid an import cycle).


class Operation:
    """A node of the graph being built."""

    __slots__ = ("graph", "_node")

    def __init__(self, graph: "Graph", node: Node):
        self.graph = graph
        self._node = node

    name = property(lambda self: self._node.name)
    type = property(lambda self: self._node.op)
    device = property(lambda self: self._node.device)

    @property
    def inputs(self) -> list[Tensor]:
        return [self.graph._tensor(r) for r in self._node.inputs]

    @property
    def control_inputs(self) -> list["Operation"]:
        return [self.graph._op(n) for n in self._node.control_inputs]

    @property
    def outputs(self) -> list[Tensor]:
        return [Tensor(self, i) for i in range(self._node.num_outputs)]

    def get_attr(self, name: str) -> Any:
        if name not in self._node.attrs:
            raise ValueError(f"operation {self.name!r} has no attr {name!r}")
        return self._node.attrs[name]

    @property
    def node_def(self):
        from schema.serde import node_to_node_def
        return node_to_node_def(self._node)

    def __repr__(self) -> str:
        return f"<gf.Operation '{self.name}' type={self.type}>"


class Graph:
    """A graph under construction: the IR graph plus the scopes of TF1's graph building."""

    def __init__(self):
        self._ir = IRGraph()
        self._ir.producer = PRODUCER_VERSION
        self._ops: dict[Node, Operation] = {}
        self._scope = ""
        self._device_stack: list[str] = []
        self._control_stack: list[list[Operation]] = []
        self.collections: dict[str, list] = {}
        self.seed: Optional[int] = None
        self._last_id = 0

    # -- scopes --------------------------------------------------------------------------
    @contextlib.contextmanager
    def as_default(self):
        _DEFAULT.stack.append(self)
        try:
            yield self
        finally:
            _DEFAULT.stack.pop()

    @contextlib.contextmanager
    def name_scope(self, name: Optional[str]):
        """Nested scopes prefix names: "outer/inner/op". A name ending in "/" is absolute."""
        old = self._scope
        if name is None or name == "":
            self._scope = ""
        elif name.endswith("/"):
            self._scope = name[:-1]
        else:
            full = f"{old}/{name}" if old else name
            self._scope = self._ir.unique_name(full)
        try:
            yield self._scope + "/" if self._scope else ""
        finally:
            self._scope = old

    @contextlib.contextmanager
    def device(self, spec: Optional[str]):
        self._device_stack.append(_canonical_device(spec) if spec else "")
        try:
            yield
        finally:
            self._device_stack.pop()

    @contextlib.contextmanager
    def control_dependencies(self, ops: Optional[Iterable]):
        if ops is None:  # None clears the dependencies, as in TensorFlow
            saved, self._control_stack = self._control_stack, []
            try:
                yield
            finally:
                self._control_stack = saved
            return
        self._control_stack.append([_as_operation(o) for o in ops])
        try:
            yield
        finally:
            self._control_stack.pop()

    def unique_name(self, name: str) -> str:
        full = f"{self._scope}/{name}" if self._scope else name
        return self._ir.unique_name(full)

    # -- ops -----------------------------------------------------------------------------
    def create_op(self, op_type: str, inputs: Sequence[Tensor] = (), attrs: Optional[dict] = None,
                  name: Optional[str] = None, control_inputs: Sequence = ()) -> Operation:
        node_name = self.unique_name(name or op_type)
        device = self._device_stack[-1] if self._device_stack else ""
        controls = [o._node for group in self._control_stack for o in group]
        controls += [_as_operation(c)._node for c in control_inputs]
        for t in inputs:
            if t.graph is not self:
                raise GraphError(f"tensor {t.name} belongs to another graph than op {node_name}")
        node = self._ir.add_node(op_type, node_name, inputs=[t._ref for t in inputs],
                                 attrs=attrs or {}, device=device, infer=False)
        for c in dict.fromkeys(controls):
            self._ir.add_control_input(node, c)
        try:
            check_node(node)
        except Exception:
            for c in list(node.control_inputs):
                self._ir.remove_control_input(node, c)
            self._ir.remove_node(node)
            raise
        op = Operation(self, node)
        self._ops[node] = op
        return op

    def _op(self, node: Node) -> Operation:
        op = self._ops.get(node)
        if op is None:
            op = self._ops[node] = Operation(self, node)
        return op

    def _tensor(self, ref) -> Tensor:
        return Tensor(self._op(ref.node), ref.index)

    def get_operations(self) -> list[Operation]:
        return [self._op(n) for n in self._ir.nodes.values()]

    def get_operation_by_name(self, name: str) -> Operation:
        return self._op(self._ir.node(name))

    def get_tensor_by_name(self, name: str) -> Tensor:
        node_name, index = parse_tensor_name(name)
        return self._tensor(self._ir.node(node_name).output(index))

    def add_to_collection(self, key: str, value) -> None:
        self.collections.setdefault(key, []).append(value)

    def get_collection(self, key: str) -> list:
        return list(self.collections.get(key, []))

    def as_graph_def(self):
        return graph_to_graph_def(self._ir)

    @property
    def ir(self) -> IRGraph:
        return self._ir


def _canonical_device(spec: str) -> str:
    from schema.devices import canonical_device
    return canonical_device(spec)


def _as_operation(x) -> Operation:
    if isinstance(x, Operation):
        return x
    if isinstance(x, Tensor):
        return x.op
    op = getattr(x, "op", None)
    if isinstance(op, Operation):
        return op
    raise TypeError(f"control dependency must be an Operation or Tensor, got {type(x).__name__}")


# -- the default graph ---------------------------------------------------------------------------

class _DefaultStack(threading.local):
    def __init__(self):
        self.stack: list[Graph] = []


_DEFAULT = _DefaultStack()
_GLOBAL_GRAPH = [Graph()]


def get_default_graph() -> Graph:
    return _DEFAULT.stack[-1] if _DEFAULT.stack else _GLOBAL_GRAPH[0]


def reset_default_graph() -> None:
    if _DEFAULT.stack:
        raise RuntimeError("reset_default_graph() inside a 'with graph.as_default()' block")
    _GLOBAL_GRAPH[0] = Graph()


def name_scope(name: Optional[str]):
    return get_default_graph().name_scope(name)


def device(spec: Optional[str]):
    return get_default_graph().device(spec)


def control_dependencies(ops):
    return get_default_graph().control_dependencies(ops)


# -- conversion and generic op creation ------------------------------------------------------------

def convert_to_tensor(value, dtype: Optional[DType] = None, name: Optional[str] = None) -> Tensor:
    """A Tensor as is (checking ``dtype``), a Variable's value, or a new Const."""
    if isinstance(value, Tensor):
        if dtype is not None and value.dtype.base != dtype.base:
            raise ValidationError(f"tensor {value.name} is {value.dtype.tf_name}, "
                                  f"expected {dtype.tf_name}")
        return value
    to_tensor = getattr(value, "_as_tensor", None)
    if to_tensor is not None:
        return convert_to_tensor(to_tensor(), dtype, name)
    from gcc_flow.constant_op import constant
    return constant(value, dtype=dtype, name=name or "Const")


def apply_op(op_type: str, inputs: Sequence = (), attrs: Optional[dict] = None,
             name: Optional[str] = None, control_inputs: Sequence = ()):
    """Creates ``op_type`` from positional inputs (one entry per declared input argument; a list
    for N * T and type-list args) and returns its output Tensor, a list for several outputs, or
    the Operation when it has none."""
    op_def = get_op(op_type)
    attrs = dict(attrs or {})
    if len(inputs) != len(op_def.inputs):
        raise ValidationError(f"{op_type} takes {len(op_def.inputs)} inputs "
                              f"({[a.name for a in op_def.inputs]}), got {len(inputs)}")
    graph = _graph_of(inputs)
    with graph.as_default():
        flat = _convert_inputs(op_def, inputs, attrs)
        op = graph.create_op(op_type, flat, attrs, name=name, control_inputs=control_inputs)
    outs = op.outputs
    if not outs:
        return op
    return outs[0] if len(outs) == 1 and not _is_list_output(op_def) else outs


def _is_list_output(op_def) -> bool:
    return any(a.number_attr or a.type_list_attr for a in op_def.outputs)


def _graph_of(inputs) -> Graph:
    for item in inputs:
        for x in (item if isinstance(item, (list, tuple)) else [item]):
            if isinstance(x, Tensor):
                return x.graph
            t = getattr(x, "_graph", None)
            if isinstance(t, Graph):
                return t
    return get_default_graph()


def _convert_inputs(op_def, inputs, attrs: dict) -> list[Tensor]:
    """Converts each input argument, inferring T / N / type-list attrs as TensorFlow does."""
    flat: list[Tensor] = []
    for arg, value in zip(op_def.inputs, inputs):
        if arg.type_list_attr:
            tensors = [convert_to_tensor(v) for v in value]
            attrs.setdefault(arg.type_list_attr, [t.dtype.base for t in tensors])
            flat.extend(tensors)
            continue
        values = list(value) if arg.number_attr else [value]
        if arg.number_attr:
            attrs.setdefault(arg.number_attr, len(values))
        dtype = arg.type if arg.type is not None else attrs.get(arg.type_attr)
        if dtype is None:
            dtype = _first_dtype(values) or _python_dtype(values[0], op_def.attrs[arg.type_attr])
        tensors = [_convert_arg(v, dtype, arg) for v in values]
        if arg.type_attr and arg.type_attr not in attrs:
            attrs[arg.type_attr] = tensors[0].dtype.base if tensors else dtype
        flat.extend(tensors)
    return flat


def _convert_arg(value, dtype: Optional[DType], arg) -> Tensor:
    if arg.is_ref:
        return value._ref_tensor() if hasattr(value, "_ref_tensor") else value
    tensor = convert_to_tensor(value, dtype.base if dtype is not None else None)
    return tensor


def _first_dtype(values) -> Optional[DType]:
    for v in values:
        if isinstance(v, Tensor):
            return v.dtype.base
        t = getattr(v, "dtype", None)
        if isinstance(t, DType) and hasattr(v, "_as_tensor"):
            return t.base
    return None


def _python_dtype(value, spec) -> Optional[DType]:
    """The dtype a Python or numpy value gets when no tensor input fixes T."""
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        return DType.from_numpy(value.dtype)
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return DType.FLOAT
    if arr.dtype.kind in "iu":
        return DType.INT32
    if arr.dtype.kind == "b":
        return DType.BOOL
    if arr.dtype.kind in "SUO":
        return DType.STRING
    return None
