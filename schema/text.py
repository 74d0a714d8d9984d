"""The IR's canonical text form, one line per node in graph order, and its parser.

    %x:0 f32[?,3] = Placeholder() dtype=f32 shape=shape[?,3]
    %y:0 f32[?,10] @/device:CPU:0 = MatMul(%x:0, %w:0) T=f32 transpose_a=false transpose_b=true
    %init = NoOp(^%y)

    parse_graph(str(graph))  -> a Graph equal to ``graph``: names, ops, devices, edges, attrs

A line: outputs ``%name:i dtype[dims]`` (just ``%name`` when the node has none), an optional
``@device``, ``=``, the op, ``(`` data inputs ``%node:i`` then control inputs ``^%node`` ``)``,
then the attrs sorted by name. Attr values (see ``tensor_text`` for tensors): ``true``, ``42``,
``0.5``/``inf``/``-nan``, ``"text"``, ``b"\\xff"``, ``f32``, ``shape[?,3]``/``shape[*]``,
``[1, 2]``, ``f32[2]{1.0, 2.5}``, ``@fname{k=v}``. Shapes carry the ``shape`` prefix so that
``shape[3]`` (a shape) and ``[3]`` (a list of ints) stay distinct. Blank lines and ``#``
comments are ignored, so small graphs for tests can be written by hand.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import re
from typing import Any, Callable, Optional

import numpy as np

from schema.dtypes import DType
from schema.errors import DecodeError, GccFlowError, GraphError, UnknownOpError
from schema.ir import Graph, Node, TensorRef
from schema.limits import DEFAULT_LIMITS, Limits
from schema.registry import FuncAttr
from schema.tensor_text import parse_tensor_body, tensor_text
from schema.validate import check_node, topological_order

__all__ = ["format_graph", "format_node", "format_value", "parse_graph", "parse_value"]

_NAME = re.compile(r"[A-Za-z0-9._][A-Za-z0-9_.\-/>]*")       # node, op and function names
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")                   # attr names
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*&?")                # dtypes, true, false, shape
_DEVICE = re.compile(r"[^\s\"=,(){}\[\]#%^@]+")
_NUMBER = re.compile(r"[+-]?(?:inf|nan|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
                     r"(?![\w.&])")
_INT = re.compile(r"[+-]?\d+(?![\w.])")
_STRING = re.compile(r'b?"(?:[^"\\]|\\.)*"')
_SPACE = re.compile(r"\s*(?:#.*)?")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)")
_NAMED_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"'}
_ESCAPE_OF = {v: "\\" + k for k, v in _NAMED_ESCAPES.items()}


# -- writing ------------------------------------------------------------------------------------

def format_graph(graph: Graph) -> str:
    """Every node's line, in the graph's node order, joined by newlines."""
    return "\n".join(format_node(node) for node in graph.nodes.values())


def format_node(node: Node) -> str:
    """``Relu`` node y reading x -> ``%y:0 f32[?,3] = Relu(%x:0) T=f32``."""
    name = _ident(node.name, _NAME)
    shapes = itertools.chain(node.out_shapes, itertools.repeat(None))
    outputs = ", ".join(f"%{name}:{i} {_type_text(t, s)}"
                        for i, (t, s) in enumerate(zip(node.out_types, shapes)))
    device = f" @{_device_text(node.device)}" if node.device else ""
    args = [f"%{_ident(r.node.name, _NAME)}:{r.index}" for r in node.inputs]
    args += [f"^%{_ident(c.name, _NAME)}" for c in node.control_inputs]
    attrs = "".join(f" {_ident(k, _KEY)}={_attr_text(node, k)}" for k in sorted(node.attrs))
    return f"{outputs or '%' + name}{device} = {_ident(node.op, _NAME)}({', '.join(args)}){attrs}"


def _attr_text(node: Node, key: str) -> str:
    try:
        return format_value(node.attrs[key])
    except (TypeError, ValueError, GccFlowError) as err:
        raise GraphError(f"node {node.name!r} ({node.op}) attr {key!r}: {err}") from None


def _type_text(dtype: DType, shape) -> str:
    return f"{dtype.short}{_dims_text(shape)}"


def _dims_text(shape) -> str:
    if shape is None:
        return "[*]"
    return "[" + ",".join("?" if d is None else str(int(d)) for d in shape) + "]"


def _ident(text: str, pattern: re.Pattern) -> str:
    return text if pattern.fullmatch(text) else quote(text)


def _device_text(device: str) -> str:
    return device if _DEVICE.fullmatch(device) else quote(device)


def quote(text: str | bytes) -> str:
    """'a"b\\n' -> '"a\\"b\\n"';  b'\\xff' -> 'b"\\xff"'. Printable characters stay as they are."""
    if isinstance(text, bytes):
        body = "".join(_ESCAPE_OF.get(c) or (c if " " <= c <= "~" else f"\\x{ord(c):02x}")
                       for c in text.decode("latin-1"))
        return f'b"{body}"'
    return '"' + "".join(_ESCAPE_OF.get(c) or (c if c.isprintable() else _code_escape(c))
                         for c in text) + '"'


def _code_escape(c: str) -> str:
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def _float_text(x: float) -> str:
    if math.isnan(x):
        return "-nan" if math.copysign(1.0, x) < 0 else "nan"
    return repr(x)


def _list_text(items: list) -> str:
    return "[" + ", ".join(format_value(v) for v in items) + "]"


def _func_text(func: FuncAttr) -> str:
    inner = ", ".join(f"{_ident(k, _KEY)}={format_value(v)}" for k, v in func.attrs)
    return f"@{_ident(func.name, _NAME)}" + (f"{{{inner}}}" if inner else "")


# Checked in order: bool before DType before int (both are int subclasses).
_WRITERS: list[tuple[type | tuple, Callable[[Any], str]]] = [
    ((bool, np.bool_), lambda v: "true" if v else "false"),
    (DType, lambda v: v.short),
    ((int, np.integer), lambda v: str(int(v))),
    ((float, np.floating), lambda v: _float_text(float(v))),
    ((str, bytes), quote),
    ((tuple, type(None)), lambda v: "shape" + _dims_text(v)),
    (list, _list_text),
    (np.ndarray, tensor_text),
    (FuncAttr, _func_text),
]


def format_value(value: Any) -> str:
    """One attr value in the text form: (None, 3) -> 'shape[?,3]'; [1, 2] -> '[1, 2]'."""
    for kinds, write in _WRITERS:
        if isinstance(value, kinds):
            return write(value)
    raise TypeError(f"cannot write a value of type {type(value).__name__} in the text form")


# -- reading one line ---------------------------------------------------------------------------

class Cursor:
    """A position in one line, with token helpers that raise DecodeError naming line and column."""

    def __init__(self, text: str, lineno: int, limits: Limits = DEFAULT_LIMITS):
        self.text, self.pos, self.lineno, self.limits = text, 0, lineno, limits

    def fail(self, message: str) -> DecodeError:
        return DecodeError(f"line {self.lineno}, column {self.pos + 1}: {message}")

    def found(self) -> str:
        rest = self.text[self.pos:self.pos + 20]
        return repr(rest) if rest else "the end of the line"

    def skip(self) -> None:
        self.pos = _SPACE.match(self.text, self.pos).end()

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    def peek(self, token: str) -> bool:
        self.skip()
        return self.text.startswith(token, self.pos)

    def take(self, token: str) -> bool:
        if self.peek(token):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.take(token):
            raise self.fail(f"expected {token!r}, found {self.found()}")

    def try_match(self, pattern: re.Pattern) -> Optional[str]:
        self.skip()
        m = pattern.match(self.text, self.pos)
        if m is None:
            return None
        self.pos = m.end()
        return m.group()

    def match(self, pattern: re.Pattern, what: str) -> str:
        got = self.try_match(pattern)
        if got is None:
            raise self.fail(f"expected {what}, found {self.found()}")
        return got

    def string(self) -> str | bytes:
        """A quoted literal: "..." -> str, b"..." -> bytes."""
        token = self.match(_STRING, "a quoted string")
        body = _ESCAPE.sub(lambda m: self._unescape(m, token[0] == "b"),
                           token[2:-1] if token[0] == "b" else token[1:-1])
        if token[0] != "b":
            return body
        try:
            return body.encode("latin-1")
        except UnicodeEncodeError:
            raise self.fail(f"non-ASCII character in the bytes literal {token[:40]}") from None

    def _unescape(self, m: re.Match, is_bytes: bool) -> str:
        code = m.group(1)
        if code in _NAMED_ESCAPES:
            return _NAMED_ESCAPES[code]
        if code[0] == "x" or (code[0] in "uU" and len(code) > 1 and not is_bytes):
            value = int(code[1:], 16)
            if value <= 0x10FFFF:
                return chr(value)
        raise self.fail(f"bad escape sequence {m.group()!r} in a string")

    def ident(self, pattern: re.Pattern, what: str) -> str:
        if self.peek('"'):
            return self.string()
        return self.match(pattern, what)

    def dims(self, what: str, allow_unknown: bool = True) -> Optional[tuple]:
        """'[?,3]' -> (None, 3); '[*]' -> None; '[]' -> ()."""
        self.expect("[")
        if allow_unknown and self.take("*"):
            self.expect("]")
            return None
        dims: list = []
        while not self.take("]"):
            if dims and not self.take(","):
                raise self.fail(f"expected ',' or ']' in {what}, found {self.found()}")
            if allow_unknown and self.take("?"):
                dims.append(None)
            else:
                dims.append(self._dim(what))
            if len(dims) > self.limits.max_rank:
                raise self.fail(f"{what} has more than max_rank={self.limits.max_rank} dims")
        return tuple(dims)

    def _dim(self, what: str) -> int:
        dim = int(self.match(_INT, f"a dimension of {what}"))
        if dim < 0:
            raise self.fail(f"negative dimension {dim} in {what}")
        return dim

    def dtype(self) -> DType:
        word = self.match(_WORD, "a dtype")
        try:
            return DType.parse(word)
        except GccFlowError:
            raise self.fail(f"unknown dtype {word!r}") from None

    def value(self, depth: int = 0, in_list: bool = False) -> Any:
        """One attr value; DecodeError for anything else."""
        if depth > self.limits.max_recursion_depth:
            raise self.fail(f"attr value nested deeper than {self.limits.max_recursion_depth}")
        if self.peek('"') or self.peek('b"'):
            return self.string()
        if self.peek("["):
            if in_list:
                raise self.fail("a list attr cannot hold a list")
            return self._list(depth)
        if self.take("@"):
            return self._func(depth)
        number = self.try_match(_NUMBER)
        if number is not None:
            return float(number) if any(c in number for c in ".eEin") else int(number)
        return self._word_value()

    def _word_value(self) -> Any:
        start = self.pos
        word = self.match(_WORD, "an attr value")
        if word in ("true", "false"):
            return word == "true"
        if word == "shape" and self.peek("["):
            return self.dims("a shape")
        self.pos = start
        dtype = self.dtype()
        if not self.text.startswith("[", self.pos):
            return dtype
        shape = self.dims("a tensor shape", allow_unknown=False)
        self.expect("{")
        return parse_tensor_body(self, dtype, shape)

    def _list(self, depth: int) -> list:
        self.expect("[")
        items: list = []
        while not self.take("]"):
            if items and not self.take(","):
                raise self.fail(f"expected ',' or ']' in a list, found {self.found()}")
            items.append(self.value(depth + 1, in_list=True))
        return items

    def _func(self, depth: int) -> FuncAttr:
        name = self.ident(_NAME, "a function name")
        attrs: list = []
        if self.take("{"):
            while not self.take("}"):
                if attrs and not self.take(","):
                    raise self.fail(f"expected ',' or '}}' in a function attr, found "
                                    f"{self.found()}")
                key = self.ident(_KEY, "an attr name")
                self.expect("=")
                attrs.append((key, self.value(depth + 1)))
        return FuncAttr(name, tuple(attrs))


def parse_value(text: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """'shape[?,3]' -> (None, 3);  'f32[2]{1.0, 2.5}' -> np.array([1.0, 2.5], np.float32)."""
    cursor = Cursor(text, 1, limits)
    value = cursor.value()
    if not cursor.at_end():
        raise cursor.fail(f"unexpected {cursor.found()} after the value")
    return value


@dataclasses.dataclass
class _Line:
    lineno: int
    name: str
    outputs: Optional[list]          # [(dtype, shape)], or None when written as '%name ='
    device: str
    op: str
    inputs: list                     # [(node name, port)]
    controls: list                   # [node name]
    attrs: dict


def _parse_line(cur: Cursor) -> _Line:
    cur.expect("%")
    name = cur.ident(_NAME, "a node name")
    if len(name) > cur.limits.max_name_length:
        raise cur.fail(f"node name of {len(name)} characters is longer than the limit "
                       f"{cur.limits.max_name_length}")
    outputs = _parse_outputs(cur, name) if cur.peek(":") else None
    device = cur.string() if cur.take("@") and cur.peek('"') else None
    if device is None:
        device = cur.match(_DEVICE, "a device") if cur.text[cur.pos - 1] == "@" else ""
    cur.expect("=")
    op = cur.ident(_NAME, "an op name")
    inputs, controls = _parse_inputs(cur)
    attrs: dict = {}
    while not cur.at_end():
        key = cur.ident(_KEY, "an attr name")
        if key in attrs:
            raise cur.fail(f"attr {key!r} given twice")
        cur.expect("=")
        attrs[key] = cur.value()
    return _Line(cur.lineno, name, outputs, device, op, inputs, controls, attrs)


def _parse_outputs(cur: Cursor, name: str) -> list:
    outputs: list = []
    while True:
        cur.expect(":")
        port = int(cur.match(_INT, "an output index"))
        if port != len(outputs):
            raise cur.fail(f"output %{name}:{port} is out of order: expected index "
                           f"{len(outputs)}")
        outputs.append((cur.dtype(), cur.dims("an output shape")))
        if not cur.take(","):
            return outputs
        cur.expect("%")
        other = cur.ident(_NAME, "a node name")
        if other != name:
            raise cur.fail(f"output of {other!r} on the line of node {name!r}")


def _parse_inputs(cur: Cursor) -> tuple[list, list]:
    cur.expect("(")
    inputs: list = []
    controls: list = []
    while not cur.take(")"):
        if (inputs or controls) and not cur.take(","):
            raise cur.fail(f"expected ',' or ')' after an input, found {cur.found()}")
        if cur.take("^"):
            cur.expect("%")
            controls.append(cur.ident(_NAME, "a node name"))
            continue
        if controls:
            raise cur.fail("a data input after a control input")
        cur.expect("%")
        source = cur.ident(_NAME, "a node name")
        port = int(cur.match(_INT, "an output index")) if cur.take(":") else 0
        if port < 0:
            raise cur.fail(f"negative output index {port}")
        inputs.append((source, port))
    return inputs, controls


# -- reading a graph ----------------------------------------------------------------------------

def parse_graph(text: str, *, allow_unknown: bool = False, validate: bool = True,
                limits: Limits = DEFAULT_LIMITS) -> Graph:
    """The inverse of ``format_graph``: parse_graph(str(g)) equals g.

    Inputs may name nodes on later lines. Output dtypes and shapes come from the op registry;
    those written in the text must agree (a shape written more precisely is kept). Unknown ops
    (only with ``allow_unknown``) take their outputs from the text. Errors name the line.
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
            raise DecodeError(f"line {line.lineno}: control input of {node.name!r} names "
                              f"{source!r}, but no node is named so")
        graph.add_control_input(node, graph.nodes[source])


def _type_node(node: Node, line: _Line, allow_unknown: bool, validate: bool) -> None:
    for i, ref in enumerate(node.inputs):
        if ref.index >= ref.node.num_outputs:
            raise DecodeError(f"line {line.lineno}: input {i} of {node.name!r} reads "
                              f"%{ref.node.name}:{ref.index}, but {ref.node.name!r} "
                              f"({ref.node.op}) has {ref.node.num_outputs} outputs")
    if node.op_def is None:
        if not allow_unknown:
            raise UnknownOpError(f"line {line.lineno}: node {node.name!r} uses unknown op "
                                 f"{node.op!r} (pass allow_unknown=True to keep it opaque)")
        node.out_types = [t for t, _ in line.outputs or []]
        node.out_shapes = [s for _, s in line.outputs or []]
        return
    try:
        if validate:
            check_node(node)
        else:
            from schema.infer import infer_node
            infer_node(node)
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
            raise DecodeError(f"{where}: output {i} is written as {_dims_text(shape)} but "
                              f"inference gives {_dims_text(inferred)}")
        shapes.append(merged)
    node.out_shapes = shapes


def _merge_shapes(written, inferred):
    """The more precise of two compatible shapes; False when they disagree."""
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
