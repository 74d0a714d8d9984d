"""cse: common subexpression elimination in one topological sweep (linear time).

    a = Mul(x, y); b = Mul(y, x); c = Add(a, b)      =>  a = Mul(x, y); c = Add(a, a)
    Const 2.0 (twice)                                =>  one Const 2.0

Two nodes are equal when op, device, attrs (tensors by value), data inputs (in order, or as a
multiset for commutative ops) and control inputs (as a set) are equal. Stateful and random ops
and feed points (Placeholder) are never merged; a fetched or target node is never removed (it may absorb an equal one).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from passes.base import PassContext, PassResult, count, register_pass
from passes.edit import replace_node_outputs
from schema.ir import Graph, Node


@register_pass("cse")
def cse(graph: Graph, ctx: PassContext) -> PassResult:
    stats: dict[str, int] = {}
    seen: dict[Any, Node] = {}
    for node in graph.topological_order():
        op_def = node.op_def
        if (op_def is None or op_def.has_side_effects or op_def.is_feed
                or node.num_outputs == 0):
            continue
        key = _key(node, op_def.is_commutative)
        rep = seen.get(key)
        if rep is None:
            seen[key] = node
            continue
        if ctx.is_preserved(node):
            if ctx.is_preserved(rep):
                continue
            seen[key] = node
            node, rep = rep, node  # the preserved node survives
        replace_node_outputs(graph, node, rep.outputs)
        for ctl in list(node.control_inputs):
            graph.remove_control_input(node, ctl)
        graph.remove_node(node)
        count(stats, "Const" if rep.op == "Const" else "merged")
    return PassResult(graph, bool(stats), stats)


def _key(node: Node, commutative: bool) -> tuple:
    inputs = [(id(r.node), r.index) for r in node.inputs]
    if commutative:
        inputs.sort()
    controls = frozenset(id(c) for c in node.control_inputs)
    attrs = tuple(sorted((k, _hashable(v)) for k, v in node.attrs.items()))
    return (node.op, node.device, tuple(inputs), controls, attrs)


def _hashable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return ("tensor", value.shape, tuple(value.reshape(-1).tolist()))
        return ("tensor", str(value.dtype), value.shape, value.tobytes())
    if isinstance(value, list):
        return ("list",) + tuple(_hashable(v) for v in value)
    if isinstance(value, float):
        return ("float", value.hex()) if value == value else ("float", "nan")
    return (type(value).__name__, value)
