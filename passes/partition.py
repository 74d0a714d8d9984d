"""The partitioner: cuts a placed graph into one graph per device joined by _Send/_Recv pairs.

    x @CPU:0 -> y @CPU:1, z @CPU:1                       (y and z both read x:0)
      -> CPU:0: x, x/_send_0_to_CPU_1 = _Send(x:0) tensor_name="edge_1_x"
         CPU:1: x/_recv_0_on_CPU_1 = _Recv() tensor_name="edge_1_x" -> y, z  (one Recv)
    a @CPU:0 -> ^b @CPU:1                                (a control edge)
      -> CPU:0: a/_ctrl_to_CPU_1 = Const(^a), a/_ctrl_send_to_CPU_1 = _Send(it)
         CPU:1: a/_ctrl_recv_on_CPU_1 = _Recv(), b waits for ^a/_ctrl_recv_on_CPU_1

As TensorFlow's graph_partition.cc: one _Send/_Recv pair per (tensor, destination device),
however many consumers there are on that device; a control edge travels as a dummy scalar
Const made on the source device after the source (TF's AddDummyConst). The pair's rendezvous
key is "send_device;send_device_incarnation;recv_device;tensor_name;0:0" (runtime.rendezvous).
New names come from ``graph.unique_name`` and tensor names from a counter that skips the ones
already used, so they never collide with existing nodes or transfers.

Two forms of the result:
- ``insert_send_recv(graph)`` edits the graph in place into the *union* of the partitions:
  every node keeps its device and no edge crosses devices any more. The registered pass
  ``partition`` does this (placing first, with the ``place`` pass's rules, when some node is
  not on one of ``ctx.devices`` yet), so a pipeline still returns one graph that validates and
  round-trips through GraphDef; a second run changes nothing.
- ``partition_graph(graph) -> {device: Graph}`` copies, inserts, and splits the union into one
  ordinary graph per device (``split_by_device``): what runtime.multi_device executes.

Refused (GraphError naming the edge): a resource edge across devices (resource handles stay
with their variable: run ``place``, which colocates them), and an edge leaving v1 control flow
across devices (passes.place.control_flow_region).
"""
from __future__ import annotations

import itertools
from typing import Optional

import numpy as np

from passes.base import PassContext, PassResult, count, register_pass
from passes.place import DEFAULT_DEVICE, control_flow_region, full_device_name, place_graph
from schema.devices import parse_device
from schema.dtypes import DType
from schema.errors import GraphError
from schema.ir import Graph, Node, TensorRef

__all__ = ["partition", "partition_graph", "insert_send_recv", "split_by_device", "copy_graph",
           "check_partitions", "SEND_OPS", "RECV_OPS", "DEFAULT_INCARNATION"]

SEND_OPS = frozenset({"_Send", "_HostSend"})
RECV_OPS = frozenset({"_Recv", "_HostRecv"})
DEFAULT_INCARNATION = 1


def _tag(device: str) -> str:
    """".../device:CPU:1" -> "CPU_1": the readable part of a device in new node names."""
    spec = parse_device(device)
    return f"{spec.type}_{spec.index}"


class _Inserter:
    """Adds the transfer pairs for one graph; remembers them per (tensor, destination)."""

    def __init__(self, graph: Graph, incarnation: int):
        self.graph, self.incarnation = graph, incarnation
        self.data: dict[tuple[Node, int, str], Node] = {}
        self.control: dict[tuple[Node, str], Node] = {}
        used = {n.attrs.get("tensor_name") for n in graph if n.op in SEND_OPS | RECV_OPS}
        self._names = (f"edge_{i}" for i in itertools.count(1))
        self._used = used
        self._region: Optional[set] = None
        self.stats: dict[str, int] = {}

    def tensor_name(self, source: Node) -> str:
        while True:
            name = f"{next(self._names)}_{source.name}"
            if name not in self._used:
                self._used.add(name)
                return name

    def region(self) -> set:
        if self._region is None:
            self._region = set(control_flow_region(self.graph))
        return self._region

    def check_edge(self, source: Node, dest: Node, what: str) -> None:
        if what.startswith("resource"):
            raise GraphError(f"{what} {source.name} -> {dest.name} crosses devices "
                             f"({source.device} -> {dest.device}): a resource handle stays on "
                             f"its variable's device; run the place pass, which colocates them")
        if source in self.region():
            raise GraphError(f"{what} {source.name} -> {dest.name} leaves v1 control flow across "
                             f"devices ({source.device} -> {dest.device}): frames and dead "
                             f"tensors do not cross devices yet; place them on one device")

    def pair(self, ref: TensorRef, dest_device: str, names: tuple[str, str],
             origin: Optional[Node] = None) -> Node:
        source = ref.node
        attrs = {"tensor_name": self.tensor_name(origin or source), "send_device": source.device,
                 "send_device_incarnation": self.incarnation, "recv_device": dest_device,
                 "client_terminated": False}
        dtype = ref.dtype.base
        self.graph.add_node("_Send", self.graph.unique_name(names[0]), inputs=[ref],
                            attrs={"T": dtype, **attrs}, device=source.device)
        recv = self.graph.add_node("_Recv", self.graph.unique_name(names[1]),
                                   attrs={"tensor_type": dtype, **attrs}, device=dest_device)
        recv.out_shapes = [ref.shape]  # the static shape travels with the tensor
        count(self.stats, "send_recv_pairs")
        return recv

    def data_recv(self, ref: TensorRef, dest: Node) -> Node:
        key = (ref.node, ref.index, dest.device)
        recv = self.data.get(key)
        if recv is None:
            what = "resource edge" if ref.dtype.base == DType.RESOURCE else "edge"
            self.check_edge(ref.node, dest, what)
            tag = _tag(dest.device)
            recv = self.data[key] = self.pair(ref, dest.device, (
                f"{ref.node.name}/_send_{ref.index}_to_{tag}",
                f"{ref.node.name}/_recv_{ref.index}_on_{tag}"))
        return recv

    def control_recv(self, source: Node, dest: Node) -> Node:
        key = (source, dest.device)
        recv = self.control.get(key)
        if recv is None:
            self.check_edge(source, dest, "control edge")
            tag = _tag(dest.device)
            dummy = self.graph.add_node(
                "Const", self.graph.unique_name(f"{source.name}/_ctrl_to_{tag}"),
                attrs={"value": np.zeros((), np.float32), "dtype": DType.FLOAT},
                device=source.device, control_inputs=[source])
            recv = self.control[key] = self.pair(dummy.output(0), dest.device, (
                f"{source.name}/_ctrl_send_to_{tag}", f"{source.name}/_ctrl_recv_on_{tag}"),
                origin=source)
            count(self.stats, "control_pairs")
        return recv


def _check_placed(graph: Graph) -> None:
    for node in graph:
        if not node.device or full_device_name(node.device) != node.device:
            raise GraphError(f"node {node.name!r} ({node.op}) is not placed (device "
                             f"{node.device!r}): run the place pass before partitioning")


def insert_send_recv(graph: Graph, incarnation: int = DEFAULT_INCARNATION) -> dict[str, int]:
    """Replaces every cross-device edge of a placed graph by a transfer pair, in place.

    Returns stats: send_recv_pairs, control_pairs (0 each when no edge crosses devices).
    """
    _check_placed(graph)
    inserter = _Inserter(graph, incarnation)
    for node in list(graph):
        for i, ref in enumerate(node.inputs):
            if ref.node.device != node.device:
                graph.set_input(node, i, inserter.data_recv(ref, node).output(0))
        for ctl in list(node.control_inputs):
            if ctl.device != node.device:
                recv = inserter.control_recv(ctl, node)
                graph.remove_control_input(node, ctl)
                graph.add_control_input(node, recv)
    return inserter.stats


def copy_graph(graph: Graph, nodes=None) -> Graph:
    """A copy of ``graph`` (or of the subgraph of ``nodes``, whose edges must stay inside it)
    with the same names, attrs, devices, dtypes and shapes; nothing is re-inferred."""
    out = Graph()
    out.producer, out.min_consumer = graph.producer, graph.min_consumer
    out.bad_consumers, out.library = list(graph.bad_consumers), graph.library
    out.unknown_fields = graph.unknown_fields
    chosen = list(graph.nodes.values()) if nodes is None else list(nodes)
    for node in chosen:
        copy = out.add_node(node.op, node.name, attrs=dict(node.attrs), device=node.device,
                            infer=False)
        copy.out_types, copy.out_shapes = list(node.out_types), list(node.out_shapes)
        copy.debug_info = node.debug_info
    for node in chosen:
        copy = out.nodes[node.name]
        try:
            out.set_inputs(copy, [out.nodes[r.node.name].output(r.index) for r in node.inputs])
            for ctl in node.control_inputs:
                out.add_control_input(copy, out.nodes[ctl.name])
        except KeyError as err:
            raise GraphError(f"node {node.name!r} reads {err.args[0]!r}, which is outside the "
                             f"copied subgraph") from None
    return out


def split_by_device(graph: Graph) -> dict[str, Graph]:
    """One graph per device of a union graph (no edge may cross devices): device -> Graph."""
    by_device: dict[str, list[Node]] = {}
    for node in graph:
        by_device.setdefault(node.device, []).append(node)
    for node in graph:
        for source in [r.node for r in node.inputs] + node.control_inputs:
            if source.device != node.device:
                raise GraphError(f"edge {source.name} -> {node.name} crosses devices "
                                 f"({source.device} -> {node.device}): insert _Send/_Recv first")
    return {device: copy_graph(graph, nodes) for device, nodes in by_device.items()}


def partition_graph(graph: Graph, incarnation: int = DEFAULT_INCARNATION) -> dict[str, Graph]:
    """device -> partition of a placed ``graph`` (left unchanged)."""
    union = copy_graph(graph)
    insert_send_recv(union, incarnation)
    return split_by_device(union)


def check_partitions(partitions: dict[str, Graph]) -> None:
    """GraphError unless every _Send has exactly one _Recv (same key) on its recv_device and
    every _Recv one _Send, each transfer on the device its attrs name."""
    sends, recvs = {}, {}
    for device, part in partitions.items():
        for node in part:
            table = sends if node.op in SEND_OPS else recvs if node.op in RECV_OPS else None
            if table is None:
                continue
            key = (node.attrs["send_device"], node.attrs["recv_device"], node.attrs["tensor_name"])
            own = node.attrs["send_device" if table is sends else "recv_device"]
            if own != device:
                raise GraphError(f"{node.op} {node.name!r} is on {device} but its attrs put it "
                                 f"on {own}")
            if key in table:
                raise GraphError(f"two {node.op} nodes share the key {key}: "
                                 f"{table[key].name!r} and {node.name!r}")
            table[key] = node
    for mine, other, what in ((sends, recvs, "_Recv"), (recvs, sends, "_Send")):
        for key, node in mine.items():
            if key not in other:
                raise GraphError(f"{node.op} {node.name!r} (tensor {key[2]!r}) has no matching "
                                 f"{what}")


@register_pass("partition")
def partition(graph: Graph, ctx: PassContext) -> PassResult:
    """Places (when needed) and inserts _Send/_Recv pairs in place: the union of the partitions.

    x @CPU:0 -> y @CPU:1   ->   x -> x/_send_0_to_CPU_1 (@CPU:0);  x/_recv_0_on_CPU_1 -> y (@CPU:1)
    """
    devices = [full_device_name(d) for d in ctx.devices or [DEFAULT_DEVICE]]
    stats: dict[str, int] = {}
    modified = False
    if any(node.device not in devices for node in graph):
        report = place_graph(graph, devices,
                             bool(ctx.options.get("allow_soft_placement", True)),
                             bool(ctx.options.get("cost_model", True)))
        for note in report.notes:
            ctx.note(note)
        modified = report.modified
    stats.update(insert_send_recv(graph))
    modified = modified or bool(stats)
    if modified:
        stats["partitions_remaining"] = len({node.device for node in graph})
    return PassResult(graph, modified, stats)
