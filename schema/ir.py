"""The in-memory graph IR shared by passes and the runtime: nodes with use-def links.

    g = Graph()
    x = g.add_node("Placeholder", "x", attrs={"dtype": DType.FLOAT, "shape": (None, 3)})
    y = g.add_node("Relu", "y", inputs=[x.output(0)])
    g.users(x)  -> [y]

Passes edit this graph, never protobuf. ``schema.serde`` converts GraphDef <-> Graph once at the
edges. Every added node gets its output dtypes and shapes from the op registry (``infer``).
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Iterator, NamedTuple, Optional

from schema.dtypes import DType
from schema.errors import GraphError
from schema.registry import OpDef, find_op

__all__ = ["Graph", "Node", "TensorRef", "parse_tensor_name", "needed_nodes", "NAME_RE"]

# TensorFlow's node name rule, also accepting a leading underscore (internal nodes).
NAME_RE = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9_.\-/>]*$")


class TensorRef(NamedTuple):
    """Output ``index`` of ``node``: the edge source. ``str(ref)`` is TensorFlow's "name:index"."""
    node: "Node"
    index: int

    @property
    def name(self) -> str:
        return f"{self.node.name}:{self.index}"

    @property
    def dtype(self) -> DType:
        return self.node.out_types[self.index]

    @property
    def shape(self):
        return self.node.out_shapes[self.index]

    def __repr__(self) -> str:
        return f"%{self.node.name}:{self.index}"


class Node:
    """One op instance. ``inputs`` are data edges, ``control_inputs`` order-only edges."""

    __slots__ = ("name", "op", "attrs", "device", "inputs", "control_inputs", "out_types",
                 "out_shapes", "graph", "_users", "debug_info", "__weakref__")

    def __init__(self, graph: "Graph", name: str, op: str, attrs: dict, device: str):
        self.graph = graph
        self.name = name
        self.op = op
        self.attrs = attrs
        self.device = device
        self.inputs: list[TensorRef] = []
        self.control_inputs: list[Node] = []
        self.out_types: list[DType] = []
        self.out_shapes: list = []
        self._users: dict[Node, int] = {}   # consumer -> number of edges (data + control)
        self.debug_info = None              # opaque NodeDef fields kept for the round trip

    @property
    def op_def(self) -> Optional[OpDef]:
        return find_op(self.op)

    @property
    def num_outputs(self) -> int:
        return len(self.out_types)

    def output(self, index: int = 0) -> TensorRef:
        if not 0 <= index < len(self.out_types):
            raise GraphError(f"node {self.name!r} ({self.op}) has {len(self.out_types)} outputs; "
                             f"output {index} does not exist")
        return TensorRef(self, index)

    @property
    def outputs(self) -> list[TensorRef]:
        return [TensorRef(self, i) for i in range(len(self.out_types))]

    @property
    def users(self) -> list["Node"]:
        return list(self._users)

    def __repr__(self) -> str:
        return f"<Node {self.name} = {self.op}>"


class Graph:
    """Nodes by name, in insertion order, plus the GraphDef fields passes do not touch."""

    def __init__(self):
        self.nodes: dict[str, Node] = {}
        self.producer = 0
        self.min_consumer = 0
        self.bad_consumers: list[int] = []
        self.library = None          # FunctionDefLibrary proto, kept opaque for now
        self.unknown_fields = b""    # GraphDef fields this schema does not declare (debug_info)
        self._name_counts: dict[str, int] = {}

    # -- construction --------------------------------------------------------------------
    def add_node(self, op: str, name: str, inputs: Iterable[TensorRef] = (),
                 attrs: Optional[dict] = None, device: str = "",
                 control_inputs: Iterable[Node] = (), infer: bool = True) -> Node:
        """Adds a node; fills default attrs and infers output dtypes and shapes."""
        if name in self.nodes:
            raise GraphError(f"duplicate node name {name!r}")
        node = Node(self, name, op, dict(attrs or {}), device)
        self.nodes[name] = node
        for ref in inputs:
            self._link(node, ref)
        for ctl in control_inputs:
            self._link_control(node, ctl)
        if infer:
            from schema.infer import infer_node
            infer_node(node)
        return node

    def unique_name(self, base: str) -> str:
        """``base`` if free, else ``base_1``, ``base_2``... (TensorFlow's scheme)."""
        if base not in self.nodes and base not in self._name_counts:
            self._name_counts[base] = 0
            return base
        count = self._name_counts.get(base, 0)
        while True:
            count += 1
            candidate = f"{base}_{count}"
            if candidate not in self.nodes:
                self._name_counts[base] = count
                self._name_counts.setdefault(candidate, 0)
                return candidate

    def rename(self, node: Node, name: str) -> None:
        """Gives ``node`` the free ``name`` (a pass keeping a replaced node's name)."""
        if name in self.nodes and self.nodes[name] is not node:
            raise GraphError(f"cannot rename {node.name!r} to {name!r}: the name is taken")
        del self.nodes[node.name]
        node.name = name
        self.nodes[name] = node

    # -- use-def edits -------------------------------------------------------------------
    def _link(self, node: Node, ref: TensorRef) -> None:
        node.inputs.append(ref)
        ref.node._users[node] = ref.node._users.get(node, 0) + 1

    def _link_control(self, node: Node, ctl: Node) -> None:
        if ctl not in node.control_inputs:
            node.control_inputs.append(ctl)
            ctl._users[node] = ctl._users.get(node, 0) + 1

    def _unlink(self, source: Node, user: Node) -> None:
        left = source._users.get(user, 0) - 1
        if left > 0:
            source._users[user] = left
        else:
            source._users.pop(user, None)

    def set_input(self, node: Node, index: int, ref: TensorRef) -> None:
        self._unlink(node.inputs[index].node, node)
        node.inputs[index] = ref
        ref.node._users[node] = ref.node._users.get(node, 0) + 1

    def set_inputs(self, node: Node, refs: Iterable[TensorRef]) -> None:
        for old in node.inputs:
            self._unlink(old.node, node)
        node.inputs = []
        for ref in refs:
            self._link(node, ref)

    def add_control_input(self, node: Node, ctl: Node) -> None:
        self._link_control(node, ctl)

    def remove_control_input(self, node: Node, ctl: Node) -> None:
        if ctl in node.control_inputs:
            node.control_inputs.remove(ctl)
            self._unlink(ctl, node)

    def replace_all_uses(self, old: TensorRef, new: TensorRef) -> int:
        """Points every data edge from ``old`` to ``new``; returns the number changed."""
        changed = 0
        for user in list(old.node._users):
            for i, ref in enumerate(user.inputs):
                if ref.node is old.node and ref.index == old.index and user is not new.node:
                    self.set_input(user, i, new)
                    changed += 1
        return changed

    def remove_node(self, node: Node) -> None:
        """Removes a node that nothing uses any more."""
        if node._users:
            raise GraphError(f"cannot remove node {node.name!r}: still used by "
                             f"{[u.name for u in node._users][:5]}")
        for ref in node.inputs:
            self._unlink(ref.node, node)
        for ctl in node.control_inputs:
            self._unlink(ctl, node)
        node.inputs, node.control_inputs = [], []
        del self.nodes[node.name]

    # -- queries -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Node]:
        return iter(list(self.nodes.values()))

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, name: str) -> bool:
        return name in self.nodes

    def node(self, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise GraphError(f"graph has no node named {name!r}") from None

    def users(self, node: Node) -> list[Node]:
        return list(node._users)

    def consumers(self, ref: TensorRef) -> list[tuple[Node, int]]:
        """(user, input index) pairs reading ``ref``."""
        return [(user, i) for user in node_users(ref.node)
                for i, r in enumerate(user.inputs) if r.node is ref.node and r.index == ref.index]

    def tensor(self, name: str) -> TensorRef:
        node_name, index = parse_tensor_name(name)
        return self.node(node_name).output(index)

    def topological_order(self, nodes: Optional[Iterable[Node]] = None) -> list[Node]:
        """Kahn's algorithm, iterative. GraphError naming a cycle's path when there is one."""
        from schema.validate import topological_order
        return topological_order(self, nodes)

    def __str__(self) -> str:
        from schema.text import format_graph
        return format_graph(self)


def needed_nodes(fetch_refs, target_nodes, fed: set) -> list[Node]:
    """Nodes the fetches and targets depend on, not looking past fed tensors."""
    seen: dict[Node, None] = {}
    stack = [r.node for r in fetch_refs if (r.node.name, r.index) not in fed]
    stack += list(target_nodes)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen[node] = None
        for ref in node.inputs:
            if (ref.node.name, ref.index) not in fed and ref.node not in seen:
                stack.append(ref.node)
        stack.extend(c for c in node.control_inputs if c not in seen)
    return list(seen)


def node_users(node: Node) -> list[Node]:
    return list(node._users)


def parse_tensor_name(name: str) -> tuple[str, int]:
    """"x" -> ("x", 0); "x:1" -> ("x", 1). GraphError on a bad port."""
    if not name:
        raise GraphError("empty tensor name")
    base, sep, port = name.rpartition(":")
    if not sep:
        return name, 0
    if not (port.isascii() and port.isdigit()) or not base:  # "²".isdigit() is True
        raise GraphError(f"bad tensor name {name!r}: the port after ':' must be a "
                         f"non-negative integer")
    return base, int(port)


def attr_equal(a: Any, b: Any) -> bool:
    """Attr values compare by value, numpy arrays included."""
    if hasattr(a, "shape") and hasattr(b, "shape"):
        return (a.dtype == b.dtype and a.shape == b.shape
                and a.tobytes() == b.tobytes())
    return type(a) is type(b) and a == b
