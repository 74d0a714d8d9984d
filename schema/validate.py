"""Validation of a whole graph against the op registry, with errors that name the node.

    validate(graph)  # GraphError / ValidationError / UnknownOpError, or None when valid

Checks: every op is declared (unless ``allow_unknown``), required attrs present and of the right
type and allowed values, arity (including N * T and type-list args), input dtypes equal the
declared ones, ports in range, no cycle (the path is reported; found iteratively).
"""
from __future__ import annotations

from collections import deque
from typing import Iterable, Optional

from schema.dtypes import DType
from schema.errors import GraphError, UnknownOpError, ValidationError
from schema.infer import arg_types, fill_default_attrs, infer_shapes
from schema.registry import check_attr_value

__all__ = ["validate", "check_node", "topological_order"]


def topological_order(graph, nodes: Optional[Iterable] = None) -> list:
    """Nodes (all, or the given subset) in an order where every input comes first."""
    subset = list(graph.nodes.values()) if nodes is None else list(nodes)
    members = set(subset) if nodes is not None else None
    indegree = {}
    for node in subset:
        deps = _deps(node)
        indegree[node] = sum(1 for d in deps if members is None or d in members)
    ready = deque(n for n in subset if indegree[n] == 0)
    order = []
    while ready:
        node = ready.popleft()
        order.append(node)
        for user in node._users:
            if user in indegree:
                indegree[user] -= node._users[user] if members is None or node in members else 0
                if indegree[user] == 0:
                    ready.append(user)
    if len(order) != len(subset):
        raise GraphError("graph has a cycle: " + " -> ".join(_find_cycle(indegree)))
    return order


def _deps(node) -> list:
    return [r.node for r in node.inputs] + list(node.control_inputs)


def _find_cycle(indegree: dict) -> list[str]:
    """Follows unprocessed inputs from a node still waiting until a node repeats."""
    stuck = {n for n, d in indegree.items() if d > 0}
    node = next(iter(stuck))
    seen: dict = {}
    path = []
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(d for d in _deps(node) if d in stuck)
    cycle = path[seen[node]:] + [node]
    return [n.name for n in cycle]


def check_node(node, allow_unknown: bool = False) -> None:
    """Checks one node against its declaration and fills its output dtypes and shapes."""
    op_def = node.op_def
    if op_def is None:
        if allow_unknown:
            return
        raise UnknownOpError(f"node {node.name!r} uses unknown op {node.op!r}")
    fill_default_attrs(node)
    for name, spec in op_def.attrs.items():
        if name not in node.attrs:
            raise ValidationError(f"node {node.name!r} ({node.op}): missing required attr "
                                  f"{name!r} of type {spec.type}")
        check_attr_value(node.name, node.op, spec, node.attrs[name])
        _refuse_invalid_dtype(node, spec)
    expected = arg_types(node.name, op_def, op_def.inputs, node.attrs, "input")
    if len(expected) != len(node.inputs):
        raise ValidationError(f"node {node.name!r} ({node.op}) has {len(node.inputs)} data "
                              f"inputs but its op takes {len(expected)}")
    for i, (ref, want) in enumerate(zip(node.inputs, expected)):
        if ref.index >= len(ref.node.out_types):
            raise GraphError(f"node {node.name!r} input {i} reads {ref.node.name}:{ref.index}, "
                             f"but {ref.node.name!r} ({ref.node.op}) has "
                             f"{len(ref.node.out_types)} outputs")
        got = ref.node.out_types[ref.index]
        if got != want and not (got.is_ref and not want.is_ref and got.base == want):
            if got.value == 0:  # produced by an unknown op passed through: cannot check
                continue
            raise ValidationError(f"node {node.name!r} ({node.op}) input {i} expects "
                                  f"{want.tf_name} but {ref.node.name}:{ref.index} is "
                                  f"{got.tf_name}")
    node.out_types = arg_types(node.name, op_def, op_def.outputs, node.attrs, "output")
    node.out_shapes = infer_shapes(node, op_def)


def _refuse_invalid_dtype(node, spec) -> None:
    """DT_INVALID (enum 0) decodes to a DType but names no type: refuse it in type attrs."""
    if spec.type not in ("type", "list(type)"):
        return
    value = node.attrs[spec.name]
    values = value if spec.type == "list(type)" else [value]
    if any(v == DType.INVALID for v in values):
        raise ValidationError(f"node {node.name!r} ({node.op}): attr {spec.name!r} is "
                              f"DT_INVALID (dtype enum 0), which names no type")


def validate(graph, allow_unknown: bool = False) -> None:
    """Validates every node in topological order; raises on the first problem."""
    for node in topological_order(graph):
        check_node(node, allow_unknown=allow_unknown)
