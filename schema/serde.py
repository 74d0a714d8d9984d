"""GraphDef <-> IR: the one place that reads and writes graph protobufs.

    graph = graph_from_graph_def(graph_def)      # validates; errors name the node
    graph_def = graph_to_graph_def(graph)

Loading fills default attrs, links inputs (forward references allowed), rejects cycles, dangling
inputs, bad ports, duplicate or illegal names, unknown ops (unless ``allow_unknown``), then
checks every node against the registry and infers dtypes and shapes.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from schema import attr_value_pb2, graph_pb2, node_def_pb2
from schema.devices import parse_device
from schema.dtypes import DType
from schema.gc_pause import gc_paused
from schema.errors import GccFlowError, GraphError, TensorError, ValidationError
from schema.ir import NAME_RE, Graph, Node, TensorRef, parse_tensor_name
from schema.limits import DEFAULT_LIMITS, Limits
from schema.registry import FuncAttr, find_op
from schema.tensors import from_numpy, shape_from_proto, shape_to_proto, to_numpy
from schema.infer import infer_node
from schema.validate import check_control_flow, check_node, topological_order

__all__ = ["graph_from_graph_def", "graph_to_graph_def", "attr_from_proto", "attr_to_proto"]


# -- attrs --------------------------------------------------------------------------------------

def attr_from_proto(value: attr_value_pb2.AttrValue, limits: Limits = DEFAULT_LIMITS) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return []  # an empty AttrValue is how TensorFlow writes an empty list
    if kind == "list":
        return _list_from_proto(value.list, limits)
    if kind == "placeholder":
        raise ValidationError(f"attr placeholder {value.placeholder!r} outside a function body")
    return _scalar_from_proto(kind, getattr(value, kind), limits)


def _scalar_from_proto(kind: str, raw: Any, limits: Limits) -> Any:
    if kind == "s":
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return bytes(raw)
    if kind == "type":
        try:
            return DType(raw)
        except ValueError:
            raise ValidationError(f"invalid dtype enum {raw}") from None
    if kind == "shape":
        return shape_from_proto(raw)
    if kind == "tensor":
        return to_numpy(raw, limits)
    if kind == "func":
        return FuncAttr(raw.name, tuple(sorted((k, attr_from_proto(v, limits))
                                               for k, v in raw.attr.items())))
    if kind == "f":
        return float(raw)
    return raw  # i -> int, b -> bool


_LIST_FIELDS = ("s", "i", "f", "b", "type", "shape", "tensor", "func")


def _list_from_proto(lst, limits: Limits) -> list:
    for kind in _LIST_FIELDS:
        items = getattr(lst, kind)
        if len(items):
            return [_scalar_from_proto(kind, item, limits) for item in items]
    return []


def attr_to_proto(value: Any, attr_type: Optional[str] = None) -> attr_value_pb2.AttrValue:
    """Encodes a Python attr value; ``attr_type`` (from the op's declaration) resolves ambiguity
    such as an int given for a float attr."""
    out = attr_value_pb2.AttrValue()
    if attr_type and attr_type.startswith("list(") or (attr_type is None
                                                        and isinstance(value, list)):
        inner = attr_type[5:-1] if attr_type else None
        out.list.SetInParent()
        for item in value:
            kind = _kind_of(item, inner)
            field = getattr(out.list, kind)
            if kind in ("shape", "tensor", "func"):
                field.add().CopyFrom(_encode_message(kind, item))
            else:
                field.append(_encode_scalar(kind, item))
        return out
    kind = _kind_of(value, attr_type)
    if kind in ("shape", "tensor", "func"):
        getattr(out, kind).CopyFrom(_encode_message(kind, value))
    else:
        setattr(out, kind, _encode_scalar(kind, value))
    return out


_KIND_BY_TYPE = {"type": "type", "int": "i", "float": "f", "bool": "b", "string": "s",
                 "shape": "shape", "tensor": "tensor", "func": "func"}


def _kind_of(value: Any, attr_type: Optional[str]) -> str:
    if attr_type in _KIND_BY_TYPE:
        return _KIND_BY_TYPE[attr_type]
    if isinstance(value, DType):
        return "type"
    if isinstance(value, bool):
        return "b"
    if isinstance(value, (int, np.integer)):
        return "i"
    if isinstance(value, (float, np.floating)):
        return "f"
    if isinstance(value, (str, bytes)):
        return "s"
    if isinstance(value, np.ndarray):
        return "tensor"
    if isinstance(value, FuncAttr):
        return "func"
    if value is None or isinstance(value, tuple):
        return "shape"
    raise ValidationError(f"cannot encode attr value of type {type(value).__name__}")


def _encode_scalar(kind: str, value: Any) -> Any:
    if kind == "s":
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if kind == "type":
        return int(value)
    if kind == "f":
        return float(value)
    if kind == "i":
        return int(value)
    return bool(value)


def _encode_message(kind: str, value: Any):
    if kind == "shape":
        return shape_to_proto(value)
    if kind == "tensor":
        return from_numpy(value)
    func = attr_value_pb2.NameAttrList(name=value.name)
    for k, v in value.attrs:
        func.attr[k].CopyFrom(attr_to_proto(v))
    return func


# -- GraphDef -> IR -----------------------------------------------------------------------------

def graph_from_graph_def(graph_def: graph_pb2.GraphDef, *, allow_unknown: bool = False,
                         limits: Limits = DEFAULT_LIMITS, validate: bool = True) -> Graph:
    with gc_paused():
        return _graph_from_graph_def(graph_def, allow_unknown, limits, validate)


def _graph_from_graph_def(graph_def, allow_unknown: bool, limits: Limits,
                          validate: bool) -> Graph:
    graph = Graph()
    graph.producer = graph_def.versions.producer
    graph.min_consumer = graph_def.versions.min_consumer
    graph.bad_consumers = list(graph_def.versions.bad_consumers)
    if graph_def.HasField("library"):
        graph.library = graph_def.library
    graph.unknown_fields = _unknown_fields(graph_def)
    pending: list[tuple[Node, node_def_pb2.NodeDef]] = []
    for node_def in graph_def.node:
        pending.append((_make_node(graph, node_def, limits), node_def))
    for node, node_def in pending:
        _link_inputs(graph, node, node_def, limits)
    order = topological_order(graph)
    has_control_flow = False
    for node in order:
        if node.op_def is None:
            _shape_unknown_op(node, allow_unknown)
            continue
        if validate:
            check_node(node)
        else:
            infer_node(node)
        has_control_flow = has_control_flow or node.op_def.is_control_flow
    if validate and has_control_flow:
        check_control_flow(graph)  # unpaired Enter/Exit/NextIteration are refused at load
    return graph


def _unknown_fields(message) -> bytes:
    stripped = type(message)()
    stripped.CopyFrom(message)
    for field in ("node", "versions", "version", "library"):
        stripped.ClearField(field)
    return stripped.SerializeToString()


def _make_node(graph: Graph, node_def, limits: Limits) -> Node:
    name = node_def.name
    if len(name) > limits.max_name_length:
        raise GraphError(f"node name of {len(name)} characters is longer than the limit "
                         f"{limits.max_name_length}")
    if not name or not NAME_RE.match(name):
        raise GraphError(f"illegal node name {name!r}: names match {NAME_RE.pattern}")
    if name in graph.nodes:
        raise GraphError(f"duplicate node name {name!r}")
    if not node_def.op:
        raise GraphError(f"node {name!r} has an empty op")
    if len(node_def.op) > limits.max_name_length:
        raise GraphError(f"node {name!r} has an op name of {len(node_def.op)} characters, "
                         f"longer than the limit {limits.max_name_length}")
    _check_device(name, node_def.device, limits)
    attrs = {}
    for key, value in node_def.attr.items():
        try:
            attrs[key] = attr_from_proto(value, limits)
        except GccFlowError as err:
            raise type(err)(f"node {name!r} ({node_def.op}) attr {key!r}: {err}") from None
    _check_const_dtype(name, node_def.op, attrs)
    node = Node(graph, name, node_def.op, attrs, node_def.device)
    if node_def.HasField("experimental_debug_info") or node_def.HasField("experimental_type"):
        node.debug_info = (node_def.experimental_debug_info, node_def.experimental_type)
    graph.nodes[name] = node
    return node


def _check_device(name: str, device: str, limits: Limits) -> None:
    """GraphError naming the node for a device string that cannot be parsed."""
    if not device:
        return
    if len(device) > limits.max_name_length:
        raise GraphError(f"node {name!r} has a device string of {len(device)} characters, "
                         f"longer than the limit {limits.max_name_length}")
    try:
        parse_device(device)
    except GraphError as err:
        raise GraphError(f"node {name!r}: {err}") from None


def _check_const_dtype(name: str, op: str, attrs: dict) -> None:
    value, dtype = attrs.get("value"), attrs.get("dtype")
    if op == "Const" and isinstance(value, np.ndarray) and isinstance(dtype, DType):
        if dtype.base.has_numpy and dtype.base.np != value.dtype:
            raise TensorError(f"node {name!r} (Const): attr dtype is {dtype.tf_name} but its "
                              f"tensor holds {value.dtype}")


def _link_inputs(graph: Graph, node: Node, node_def, limits: Limits = DEFAULT_LIMITS) -> None:
    seen_control = False
    for text in node_def.input:
        if len(text) > limits.max_name_length + 24:  # room for "^" and ":<port>"
            raise GraphError(f"node {node.name!r} has an input name of {len(text)} characters, "
                             f"longer than the limit {limits.max_name_length}")
        if text.startswith("^"):
            source = graph.nodes.get(text[1:])
            if source is None:
                raise GraphError(f"node {node.name!r} has a control input from {text[1:]!r}, "
                                 f"which does not exist")
            graph.add_control_input(node, source)
            seen_control = True
            continue
        if seen_control:
            raise GraphError(f"node {node.name!r}: data input {text!r} after a control input")
        try:
            source_name, port = parse_tensor_name(text)
        except GraphError as err:
            raise GraphError(f"node {node.name!r}: {err}") from None
        source = graph.nodes.get(source_name)
        if source is None:
            raise GraphError(f"node {node.name!r} input {len(node.inputs)} reads "
                             f"{text!r}, but no node is named {source_name!r}")
        graph._link(node, TensorRef(source, port))


def _shape_unknown_op(node: Node, allow_unknown: bool) -> None:
    if not allow_unknown:
        from schema.errors import UnknownOpError
        raise UnknownOpError(f"node {node.name!r} uses unknown op {node.op!r} (not in the "
                             f"registry; pass allow_unknown=True to keep it opaque)")
    ports = [r.index for user in node._users for r in user.inputs if r.node is node]
    count = max(ports, default=-1) + 1
    node.out_types = [DType.INVALID] * count
    node.out_shapes = [None] * count


# -- IR -> GraphDef -----------------------------------------------------------------------------

def graph_to_graph_def(graph: Graph) -> graph_pb2.GraphDef:
    out = graph_pb2.GraphDef()
    if graph.unknown_fields:
        out.MergeFromString(graph.unknown_fields)
    out.versions.producer = graph.producer
    out.versions.min_consumer = graph.min_consumer
    out.versions.bad_consumers.extend(graph.bad_consumers)
    if graph.library is not None:
        out.library.CopyFrom(graph.library)
    for node in graph.nodes.values():
        out.node.append(node_to_node_def(node))
    return out


def node_to_node_def(node: Node) -> node_def_pb2.NodeDef:
    nd = node_def_pb2.NodeDef(name=node.name, op=node.op, device=node.device)
    nd.input.extend(r.node.name if r.index == 0 else f"{r.node.name}:{r.index}"
                    for r in node.inputs)
    nd.input.extend("^" + c.name for c in node.control_inputs)
    op_def = find_op(node.op)
    for key, value in node.attrs.items():
        spec = op_def.attrs.get(key) if op_def else None
        nd.attr[key].CopyFrom(attr_to_proto(value, spec.type if spec else None))
    if node.debug_info is not None:
        debug, full_type = node.debug_info
        if debug.ByteSize():
            nd.experimental_debug_info.CopyFrom(debug)
        if full_type.ByteSize():
            nd.experimental_type.CopyFrom(full_type)
    return nd
