"""prune: keeps only what the fetches and targets need; removes Identity/IdentityN/StopGradient
chains and NoOps that only forward control dependencies.

    x -> Identity -> Identity -> Relu (fetched)        =>  x -> Relu
    a, b -> NoOp n;  c waits for ^n                    =>  c waits for ^a, ^b

Kept: preserved (fetched or target) nodes, nodes the kept ones need by data or control edges,
identities that read references or resources (they are reads, not copies), identities that
change device, and anything whose op the registry does not know.
"""
from __future__ import annotations

from passes.base import PassContext, PassResult, count, register_pass
from passes.edit import bypass, move_control_users
from runtime.plan import needed_nodes
from schema.dtypes import DType
from schema.ir import Graph, Node

_FORWARDING = frozenset({"Identity", "IdentityN", "StopGradient", "Snapshot"})
# A NoOp forwarding dependencies is replaced by its inputs while this keeps edges few.
_MAX_NOOP_EDGES = 16


@register_pass("prune")
def prune(graph: Graph, ctx: PassContext) -> PassResult:
    stats: dict[str, int] = {}
    _remove_unneeded(graph, ctx, stats)
    for node in graph.topological_order():
        if node.name not in graph.nodes or ctx.is_preserved(node):
            continue
        if node.op in _FORWARDING and _safe_to_bypass(node):
            bypass(graph, node)
            count(stats, node.op)
        elif node.op == "NoOp" and _small_fan(node):
            move_control_users(graph, node, list(node.control_inputs))
            for ctl in list(node.control_inputs):
                graph.remove_control_input(node, ctl)
            graph.remove_node(node)
            count(stats, "NoOp")
    return PassResult(graph, bool(stats), stats)


def _remove_unneeded(graph: Graph, ctx: PassContext, stats: dict) -> None:
    roots = [graph.nodes[n] for n in ctx.preserved if n in graph.nodes]
    keep = set(needed_nodes([], roots, set()))
    dead = [n for n in graph.topological_order() if n not in keep]
    for node in reversed(dead):  # users first: every user of a dead node is dead too
        graph.remove_node(node)
    if dead:
        count(stats, "unreachable", len(dead))


def _safe_to_bypass(node: Node) -> bool:
    if len(node.inputs) != node.num_outputs or node.num_outputs == 0:
        return False
    for ref in node.inputs:
        producer = ref.node
        if ref.dtype.is_ref or ref.dtype.base in (DType.RESOURCE, DType.VARIANT):
            return False
        if producer.op_def is None:
            return False
        if node.device and producer.device and node.device != producer.device:
            return False
    return all(u.op_def is not None for u in node.users)


def _small_fan(node: Node) -> bool:
    if node.num_outputs or not node.users:
        return False
    return len(node.control_inputs) * len(node.users) <= _MAX_NOOP_EDGES
