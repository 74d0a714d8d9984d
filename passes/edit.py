"""Graph edits that several passes share: bypassing a node, removing dead nodes.

    bypass(graph, identity_node)   # users of Identity(x) now read x; control edges kept
"""
from __future__ import annotations

from schema.ir import Graph, Node, TensorRef

__all__ = ["bypass", "replace_node_outputs", "remove_unused", "move_control_users"]


def move_control_users(graph: Graph, node: Node, replacements: list[Node]) -> None:
    """Users that wait for ``node`` by a control edge wait for ``replacements`` instead."""
    for user in graph.users(node):
        if node in user.control_inputs:
            graph.remove_control_input(user, node)
            for other in replacements:
                if other is not user:
                    graph.add_control_input(user, other)


def replace_node_outputs(graph: Graph, node: Node, new_refs: list[TensorRef]) -> None:
    """Points every data user of node's output i at new_refs[i], then moves control users to
    the new producers (and node's own control inputs, so ordering is kept)."""
    for i, ref in enumerate(new_refs):
        graph.replace_all_uses(node.output(i), ref)
    producers = list(dict.fromkeys([r.node for r in new_refs] + list(node.control_inputs)))
    move_control_users(graph, node, producers)


def bypass(graph: Graph, node: Node) -> None:
    """Removes a node whose output i equals its input i (Identity, IdentityN, StopGradient).

    Data users read the input directly; the node's control inputs move to its users, so any
    ordering it enforced is kept.
    """
    users = [u for u in graph.users(node)]
    for i in range(node.num_outputs):
        graph.replace_all_uses(node.output(i), node.inputs[i])
    for user in users:
        for ctl in node.control_inputs:
            if ctl is not user:
                graph.add_control_input(user, ctl)
    move_control_users(graph, node, list(dict.fromkeys(
        [r.node for r in node.inputs] + list(node.control_inputs))))
    graph.remove_node(node)


def remove_unused(graph: Graph, keep) -> int:
    """Removes nodes (iteratively) that nothing uses and ``keep(node)`` does not protect."""
    removed = 0
    stack = [n for n in graph if not n.users and not keep(n)]
    while stack:
        node = stack.pop()
        if node.name not in graph.nodes or node.users or keep(node):
            continue
        sources = [r.node for r in node.inputs] + list(node.control_inputs)
        graph.remove_node(node)
        removed += 1
        stack.extend(s for s in sources if s.name in graph.nodes and not s.users)
    return removed
