"""The IR's canonical text form, one line per node in graph order, and its parser.

    %x:0 f32[?,3] = Placeholder() dtype=f32 shape=shape[?,3]
    %y:0 f32[?,10] @/device:CPU:0 = MatMul(%x:0, %w:0) T=f32 transpose_a=false transpose_b=true
    %init = NoOp(^%y)

    parse_graph(str(graph))  -> a Graph equal to ``graph``: names, ops, devices, edges, attrs,
                                output dtypes and shapes

A line: outputs ``%name:i dtype[dims]`` (just ``%name`` when the node has none), an optional
``@device``, ``=``, the op, ``(`` data inputs ``%node:i`` then control inputs ``^%node`` ``)``,
then the attrs sorted by name, ``key=value`` (value syntax in ``schema.text_values``). Names
outside TensorFlow's charset are quoted: ``%"a b":0``. Blank lines and ``#`` comments are
ignored and ``%x`` means ``%x:0``, so small graphs for tests can be written by hand.
"""
from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Optional

from schema.errors import DecodeError, GccFlowError, GraphError, UnknownOpError
from schema.infer import infer_node
from schema.ops.control_flow import is_back_edge
from schema.ir import Graph, Node, TensorRef
from schema.limits import DEFAULT_LIMITS, Limits
from schema.text_values import (INT, KEY, NAME, Cursor, dims_text, format_value, ident_text,
                                parse_value, quote)
from schema.validate import check_node, topological_order

__all__ = ["format_graph", "format_node", "format_value", "parse_graph", "parse_value"]

_DEVICE = re.compile(r"[^\s\"=,(){}\[\]#%^@]+")


# -- writing ------------------------------------------------------------------------------------

def format_graph(graph: Graph) -> str:
    """Every node's line, in the graph's node order, joined by newlines."""
    return "\n".join(format_node(node) for node in graph.nodes.values())


def format_node(node: Node) -> str:
    """A Relu node y reading x -> '%y:0 f32[?,3] = Relu(%x:0) T=f32'."""
    name = ident_text(node.name, NAME)
    shapes = itertools.chain(node.out_shapes, itertools.repeat(None))
    outputs = ", ".join(f"%{name}:{i} {dtype.short}{dims_text(shape)}"
                        for i, (dtype, shape) in enumerate(zip(node.out_types, shapes)))
    device = f" @{_device_text(node.device)}" if node.device else ""
    args = [f"%{ident_text(r.node.name, NAME)}:{r.index}" for r in node.inputs]
    args += [f"^%{ident_text(c.name, NAME)}" for c in node.control_inputs]
    attrs = "".join(f" {ident_text(k, KEY)}={_attr_text(node, k)}" for k in sorted(node.attrs))
    op = ident_text(node.op, NAME)
    return f"{outputs or '%' + name}{device} = {op}({', '.join(args)}){attrs}"


def _attr_text(node: Node, key: str) -> str:
    try:
        return format_value(node.attrs[key])
    except (TypeError, ValueError, GccFlowError) as err:
        raise GraphError(f"node {node.name!r} ({node.op}) attr {key!r}: {err}") from None


def _device_text(device: str) -> str:
    return device if _DEVICE.fullmatch(device) else quote(device)


# -- reading one line ---------------------------------------------------------------------------

@dataclasses.dataclass
class _Line:
    lineno: int
    name: str
    outputs: Optional[list]          # [(dtype, shape)]; None when written as '%name = ...'
    device: str
    op: str
    inputs: list                     # [(node name, port)]
    controls: list                   # [node name]
    attrs: dict


def _parse_line(cur: Cursor) -> _Line:
    cur.expect("%")
    name = cur.ident(NAME, "a node name")
    if not name:
        raise cur.fail("empty node name")
    if len(name) > cur.limits.max_name_length:
        raise cur.fail(f"node name of {len(name)} characters is longer than the limit "
                       f"{cur.limits.max_name_length}")
    outputs = _parse_outputs(cur, name) if cur.peek(":") else None
    device = ""
    if cur.take("@"):
        device = cur.string() if cur.peek('"') else cur.match(_DEVICE, "a device")
    cur.expect("=")
    op = cur.ident(NAME, "an op name")
    if not op:
        raise cur.fail("empty op name")
    inputs, controls = _parse_inputs(cur)
    attrs: dict = {}
    while not cur.at_end():
        key = cur.ident(KEY, "an attr name")
        if key in attrs:
            raise cur.fail(f"attr {key!r} given twice")
        cur.expect("=")
        attrs[key] = cur.value()
    return _Line(cur.lineno, name, outputs, device, op, inputs, controls, attrs)


def _parse_outputs(cur: Cursor, name: str) -> list:
    """':0 f32[2], %s:1 i32[]' -> [(f32, (2,)), (i32, ())] for the node named ``name``."""
    outputs: list = []
    while True:
        cur.expect(":")
        port = int(cur.match(INT, "an output index"))
        if port != len(outputs):
            raise cur.fail(f"output %{name}:{port} is out of order: expected index "
                           f"{len(outputs)}")
        outputs.append((cur.dtype(), cur.dims("an output shape")))
        if not cur.take(","):
            return outputs
        cur.expect("%")
        other = cur.ident(NAME, "a node name")
        if other != name:
            raise cur.fail(f"output of {other!r} on the line of node {name!r}")


def _parse_inputs(cur: Cursor) -> tuple[list, list]:
    """'(%x:0, %w:1, ^%init)' -> ([('x', 0), ('w', 1)], ['init'])."""
    cur.expect("(")
    inputs: list = []
    controls: list = []
    while not cur.separator(inputs or controls, ")", "the inputs"):
        if cur.take("^"):
            cur.expect("%")
            controls.append(cur.ident(NAME, "a node name"))
            continue
        if controls:
            raise cur.fail("a data input after a control input")
        cur.expect("%")
        source = cur.ident(NAME, "a node name")
        port = int(cur.match(INT, "an output index")) if cur.take(":") else 0
        if port < 0:
            raise cur.fail(f"negative output index {port}")
        inputs.append((source, port))
    return inputs, controls


# -- reading a graph ----------------------------------------------------------------------------

def parse_graph(text: str | bytes, *, allow_unknown: bool = False, validate: bool = True,
                limits: Limits = DEFAULT_LIMITS) -> Graph:
    """The inverse of ``format_graph``: parse_graph(str(g)) equals g.

    Inputs may name nodes on later lines. Output dtypes and shapes come from the op registry;
    those written in the text must agree (a shape written more precisely is kept). Unknown ops
    (only with ``allow_unknown``) take their outputs from the text. DecodeError for malformed
    text, naming the line; GraphError for a cycle; ValidationError (with the line) for a node
    that breaks its op's declaration.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DecodeError(f"graph text is not valid UTF-8: {err}") from None
    graph = Graph()
    lines: dict[Node, _Line] = {}
    for lineno, raw in enumerate(text.split("\n"), 1):
        cursor = Cursor(raw, lineno, limits)
        if cursor.at_end():
            continue
        line = _parse_line(cursor)
        if line.name in graph.nodes:
            raise DecodeError(f"line {lineno}: duplicate node name {line.name!r}")
        node = graph.add_node(line.op, line.name, attrs=line.attrs, device=line.device,
                              infer=False)
        lines[node] = line
    for node, line in lines.items():
        _link(graph, node, line)
    for node in topological_order(graph):
        _type_node(node, lines[node], allow_unknown, validate)
    return graph


def _link(graph: Graph, node: Node, line: _Line) -> None:
    refs = []
    for i, (source, port) in enumerate(line.inputs):
        if source not in graph.nodes:
            raise DecodeError(f"line {line.lineno}: input {i} of {node.name!r} reads "
                              f"%{source}:{port}, but no node is named {source!r}")
        refs.append(TensorRef(graph.nodes[source], port))
    graph.set_inputs(node, refs)
    for source in line.controls:
        if source not in graph.nodes:
            raise DecodeError(f"line {line.lineno}: control input ^%{source} of "
                              f"{node.name!r} names no node")
        graph.add_control_input(node, graph.nodes[source])


def _type_node(node: Node, line: _Line, allow_unknown: bool, validate: bool) -> None:
    """Sets the node's output dtypes and shapes (its inputs' are already set)."""
    for i, ref in enumerate(node.inputs):
        if not ref.node.out_types and is_back_edge(ref.node, node):
            continue  # a loop's NextIteration is typed after the Merge it feeds
        if ref.index >= ref.node.num_outputs:
            raise DecodeError(f"line {line.lineno}: input {i} of {node.name!r} reads "
                              f"%{ref.node.name}:{ref.index}, but {ref.node.name!r} "
                              f"({ref.node.op}) has {ref.node.num_outputs} outputs")
    if node.op_def is None:
        if not allow_unknown:
            raise UnknownOpError(f"line {line.lineno}: node {node.name!r} uses unknown op "
                                 f"{node.op!r} (pass allow_unknown=True to keep it opaque)")
        node.out_types = [dtype for dtype, _ in line.outputs or []]
        node.out_shapes = [shape for _, shape in line.outputs or []]
        return
    try:
        check_node(node) if validate else infer_node(node)
    except GccFlowError as err:
        raise type(err)(f"line {line.lineno}: {err}") from None
    if line.outputs is not None:
        _check_written_outputs(node, line)


def _check_written_outputs(node: Node, line: _Line) -> None:
    where = f"line {line.lineno}: node {node.name!r} ({node.op})"
    if len(line.outputs) != node.num_outputs:
        raise DecodeError(f"{where} is written with {len(line.outputs)} outputs but its op "
                          f"makes {node.num_outputs}")
    shapes = []
    for i, ((dtype, shape), inferred) in enumerate(zip(line.outputs, node.out_shapes)):
        if dtype != node.out_types[i]:
            raise DecodeError(f"{where}: output {i} is written as {dtype.short} but its op "
                              f"makes {node.out_types[i].short}")
        merged = _merge_shapes(shape, inferred)
        if merged is False:
            raise DecodeError(f"{where}: output {i} is written as {dims_text(shape)} but "
                              f"inference gives {dims_text(inferred)}")
        shapes.append(merged)
    node.out_shapes = shapes


def _merge_shapes(written, inferred):
    """The more precise of two compatible shapes; False when they disagree.

    ([None, 3], [2, None]) -> (2, 3);  ([2], [3]) -> False;  (None, [2]) -> (2,)
    """
    if written is None or inferred is None:
        return inferred if written is None else written
    if len(written) != len(inferred):
        return False
    merged = []
    for a, b in zip(written, inferred):
        if a is not None and b is not None and a != b:
            return False
        merged.append(b if a is None else a)
    return tuple(merged)
