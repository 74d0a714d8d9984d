"""prune: keeps only what the fetches and targets need; removes Identity/IdentityN/StopGradient
chains and NoOps that only forward control dependencies.

    x -> Identity -> Identity -> Relu (fetched)        =>  x -> Relu
    a, b -> NoOp n;  c waits for ^n                    =>  c waits for ^a, ^b

A fetched Identity of a tensor nothing else reads hands its name to the producer:
    Softmax -> Identity "y" (fetched)                  =>  Softmax named "y"

Kept: preserved (fetched or target) nodes (under their names), nodes the kept ones need by data or control edges,
identities that read references or resources (they are reads, not copies), identities that
change device, and anything whose op the registry does not know.
"""
from __future__ import annotations

from passes.base import PassContext, PassResult, count, register_pass
from passes.edit import bypass, move_control_users
from schema.ir import needed_nodes
from schema.dtypes import DType
from schema.ir import Graph, Node

_FORWARDING = frozenset({"Identity", "IdentityN", "StopGradient", "Snapshot"})
# A NoOp forwarding dependencies is replaced by its inputs while this keeps edges few.
_MAX_NOOP_EDGES = 16


@register_pass("prune")
def prune(graph: Graph, ctx: PassContext) -> PassResult:
    stats: dict[str, int] = {}
    _drop_vacuous_control_edges(graph, stats)
    _remove_unneeded(graph, ctx, stats)
    for node in graph.topological_order():
        if node.name not in graph.nodes:
            continue
        if ctx.is_preserved(node):
            if node.op in _FORWARDING and _can_absorb(node, ctx):
                _absorb_into_producer(graph, node)
                count(stats, "fetched_identity")
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


def _can_absorb(node: Node, ctx: PassContext) -> bool:
    """A fetched Identity of a tensor nothing else reads can hand its name to the producer."""
    if len(node.inputs) != 1 or not _safe_to_bypass(node):
        return False
    producer = node.inputs[0].node
    op_def = producer.op_def
    return (producer.num_outputs == 1 and not ctx.is_preserved(producer)
            and not op_def.has_side_effects and not op_def.is_feed
            and list(producer._users.items()) == [(node, 1)]
            and producer.device == node.device)


def _absorb_into_producer(graph: Graph, node: Node) -> None:
    """Softmax -> Identity "y" (fetched)  =>  Softmax named "y"."""
    producer = node.inputs[0].node
    name = node.name
    graph.replace_all_uses(node.output(0), producer.output(0))
    move_control_users(graph, node, [producer])
    for ctl in list(node.control_inputs):
        graph.remove_control_input(node, ctl)
        graph.add_control_input(producer, ctl)
    graph.remove_node(node)
    graph.rename(producer, name)


def _drop_vacuous_control_edges(graph: Graph, stats: dict) -> None:
    """Waiting for a node that has no inputs and no effects waits for nothing: drop the edge.

    y waits for ^NoOp waits for ^Const x 260 (as frozen Keras graphs are)  =>  y waits for none.
    Also drops a control edge duplicating a data edge from the same node. Nodes are visited
    in topological order, so a NoOp emptied here frees its own users in the same sweep.
    """
    for node in graph.topological_order():
        data_sources = {r.node for r in node.inputs}
        for ctl in list(node.control_inputs):
            if ctl in data_sources:
                graph.remove_control_input(node, ctl)
                count(stats, "redundant_control")
            elif _is_vacuous(ctl):
                graph.remove_control_input(node, ctl)
                count(stats, "control_on_inert")


def _is_vacuous(node: Node) -> bool:
    op_def = node.op_def
    return (op_def is not None and not op_def.has_side_effects and not node.inputs
            and not node.control_inputs)


def _remove_unneeded(graph: Graph, ctx: PassContext, stats: dict) -> None:
    roots = [graph.nodes[n] for n in ctx.preserved if n in graph.nodes]
    keep = set(needed_nodes([], roots, set()))
    dead = [n for n in graph.topological_order() if n not in keep]
    for node in dead:  # every user of a dead node is dead too; a dead loop has back edges,
        graph.set_inputs(node, [])  # so cut all edges first, then remove
        for ctl in list(node.control_inputs):
            graph.remove_control_input(node, ctl)
    for node in dead:
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
        # An Identity after a Switch is a branch pivot: what waits for it must stay dead with
        # the branch; after an Enter or Merge it carries a loop variable. Keep those.
        if producer.op_def is None or producer.op_def.is_control_flow:
            return False
        if node.device and producer.device and node.device != producer.device:
            return False
    return all(u.op_def is not None and not u.op_def.is_control_flow for u in node.users)


def _small_fan(node: Node) -> bool:
    if node.num_outputs or not node.users:
        return False
    return len(node.control_inputs) * len(node.users) <= _MAX_NOOP_EDGES
