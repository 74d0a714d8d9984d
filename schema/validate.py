"""Validation of a whole graph against the op registry, with errors that name the node.

    validate(graph)  # GraphError / ValidationError / UnknownOpError, or None when valid

Checks: every op is declared (unless ``allow_unknown``), required attrs present and of the right
type and allowed values, arity (including N * T and type-list args), input dtypes equal the
declared ones, ports in range, no cycle (the path is reported; found iteratively), and v1
control flow that pairs (``check_control_flow``: frames, Exit and NextIteration placement).

A back edge (NextIteration -> Merge, see schema/ops/control_flow.py) is left out of topological
orders: a while loop is no cycle. A Merge is checked before the NextIteration that feeds it, so
the back edge's dtype is checked when the NextIteration is.
"""
from __future__ import annotations

from collections import deque
from typing import Iterable, Optional

from schema.dtypes import DType
from schema.errors import GraphError, UnknownOpError, ValidationError
from schema.infer import arg_types, fill_default_attrs, infer_shapes
from schema.ops.control_flow import FLOW_ROLES, NEXT_ITERATION_OPS, flow_role, is_back_edge
from schema.registry import check_attr_value

__all__ = ["validate", "check_node", "topological_order", "check_control_flow",
           "control_flow_frames", "FrameMap", "ROOT_FRAME"]

_FLOW_OPS = frozenset(FLOW_ROLES)
ROOT_FRAME = ""  # the frame of every node outside while loops


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
        closes_loop = node.op in NEXT_ITERATION_OPS
        for user in node._users:
            if user in indegree and not (closes_loop and is_back_edge(node, user)):
                indegree[user] -= node._users[user] if members is None or node in members else 0
                if indegree[user] == 0:
                    ready.append(user)
    if len(order) != len(subset):
        raise GraphError("graph has a cycle: " + " -> ".join(_find_cycle(indegree)))
    return order


def _deps(node) -> list:
    """The nodes ``node`` waits for: data and control inputs, less back edges."""
    deps = [r.node for r in node.inputs] + list(node.control_inputs)
    if flow_role(node) == "merge":
        return [d for d in deps if not is_back_edge(d, node)]
    return deps


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
        if not ref.node.out_types and ref.index == 0 and is_back_edge(ref.node, node):
            continue  # checked with the NextIteration (it comes later in the order)
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
    if node.op in NEXT_ITERATION_OPS:
        _check_back_edge_types(node)


def _check_back_edge_types(node) -> None:
    """The dtype a NextIteration sends back must be the one its (already checked) Merge takes."""
    got = node.out_types[0]
    for user in node._users:
        if not user.out_types or not is_back_edge(node, user):
            continue
        expected = arg_types(user.name, user.op_def, user.op_def.inputs, user.attrs, "input")
        for i, (ref, want) in enumerate(zip(user.inputs, expected)):
            if ref.node is node and got != want:
                raise ValidationError(f"node {user.name!r} ({user.op}) input {i} expects "
                                      f"{want.tf_name} but {node.name}:0 is {got.tf_name}")


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
    has_control_flow = False
    for node in topological_order(graph):
        check_node(node, allow_unknown=allow_unknown)
        has_control_flow = has_control_flow or node.op in _FLOW_OPS
    if has_control_flow:
        check_control_flow(graph)


# -- v1 control flow: frames -------------------------------------------------------------------

class FrameMap:
    """Which while-loop frame each node runs in (TensorFlow's ControlFlowInfo).

    frames.frame_of[node] -> "while/while_context" ("" outside loops);
    frames.parent["while/while_context"] -> ""
    """

    def __init__(self):
        self.frame_of: dict = {}
        self.parent: dict[str, str] = {}
        self.entered_by: dict[str, object] = {}   # frame -> the first Enter node into it

    def inner_frame(self, node) -> str:
        """The frame that ``node``'s consumers run in (a child frame after an Enter)."""
        role = FLOW_ROLES.get(node.op)
        if role == "enter":
            return node.attrs.get("frame_name")
        if role == "exit":
            return self.parent[self.frame_of[node]]
        return self.frame_of[node]


def _show(frame: str) -> str:
    return "the root frame" if frame == ROOT_FRAME else f"frame {frame!r}"


def control_flow_frames(graph, nodes=None) -> FrameMap:
    """Assigns every node (all, or ``nodes``) its frame in one topological sweep; raises
    ValidationError naming the node when control flow does not pair (CVE-2021-41217)."""
    frames = FrameMap()
    for node in topological_order(graph, nodes):
        frame = _frame_from_inputs(node, frames)
        frames.frame_of[node] = frame
        role = FLOW_ROLES.get(node.op)
        if role == "enter":
            _register_enter(node, frame, frames)
        elif role == "exit" and frame == ROOT_FRAME:
            raise ValidationError(f"node {node.name!r} ({node.op}) is outside every while-loop "
                                  f"frame: no Enter leads to this Exit")
    return frames


def _frame_from_inputs(node, frames: FrameMap) -> str:
    """The one frame all of ``node``'s (non-back-edge) inputs deliver to; root without any."""
    frame, source = None, None
    for dep in _deps(node):
        if dep not in frames.frame_of:
            continue  # outside ``nodes``: fed, or not needed
        got = frames.inner_frame(dep)
        if frame is None:
            frame, source = got, dep
        elif got != frame:
            raise ValidationError(f"node {node.name!r} ({node.op}) has inputs from different "
                                  f"frames: {source.name!r} is in {_show(frame)} and "
                                  f"{dep.name!r} is in {_show(got)}")
    return ROOT_FRAME if frame is None else frame


def _register_enter(node, frame: str, frames: FrameMap) -> None:
    name = node.attrs.get("frame_name")
    if not isinstance(name, str) or not name:
        raise ValidationError(f"node {node.name!r} ({node.op}): attr 'frame_name' must name "
                              f"the frame it enters")
    known = frames.parent.get(name)
    if known is None and name not in frames.parent:
        frames.parent[name], frames.entered_by[name] = frame, node
    elif known != frame:
        first = frames.entered_by[name]
        raise ValidationError(f"node {node.name!r} ({node.op}) enters frame {name!r} from "
                              f"{_show(frame)}, but {first.name!r} enters it from {_show(known)}")


def check_control_flow(graph, nodes=None) -> FrameMap:
    """Frames, then back edges and loop merges; returns the FrameMap. Linear time.

    Refused: Exit outside any frame; inputs from different frames; a frame entered from two
    frames; NextIteration outside a frame, feeding anything but a Merge of its own frame; a
    loop Merge (one with an Enter input) without a NextIteration input, or one with nothing
    but NextIteration inputs; LoopCond outside a frame.
    """
    frames = control_flow_frames(graph, nodes)
    for node, frame in frames.frame_of.items():
        check = _ROLE_CHECKS.get(FLOW_ROLES.get(node.op))
        if check is not None:
            check(node, frame, frames)
    return frames


def _check_next_iteration(node, frame: str, frames: FrameMap) -> None:
    if frame == ROOT_FRAME:
        raise ValidationError(f"node {node.name!r} ({node.op}) is outside every while-loop "
                              f"frame: a NextIteration must be inside the loop it continues")
    for user in node._users:
        if user not in frames.frame_of:
            continue
        if FLOW_ROLES.get(user.op) != "merge" or node in user.control_inputs:
            raise ValidationError(f"node {node.name!r} ({node.op}) feeds {user.name!r} "
                                  f"({user.op}): a NextIteration may only feed a Merge's data "
                                  f"input")
        if frames.frame_of[user] != frame:
            raise ValidationError(f"node {node.name!r} ({node.op}) in {_show(frame)} feeds "
                                  f"Merge {user.name!r} in {_show(frames.frame_of[user])}")


def _check_merge(node, frame: str, frames: FrameMap) -> None:
    roles = [FLOW_ROLES.get(r.node.op) for r in node.inputs]
    if roles and all(r == "next_iteration" for r in roles):
        raise ValidationError(f"node {node.name!r} ({node.op}) has only NextIteration inputs: "
                              f"nothing enters its loop")
    if "enter" in roles and "next_iteration" not in roles:
        entry = node.inputs[roles.index("enter")].node
        raise ValidationError(f"node {node.name!r} ({node.op}) merges the loop entry "
                              f"{entry.name!r} but has no NextIteration input: its loop has "
                              f"no back edge")


def _check_loop_cond(node, frame: str, frames: FrameMap) -> None:
    if frame == ROOT_FRAME:
        raise ValidationError(f"node {node.name!r} ({node.op}) is outside every while-loop "
                              f"frame: a LoopCond must be inside its loop")


_ROLE_CHECKS = {"next_iteration": _check_next_iteration, "merge": _check_merge,
                "loop_cond": _check_loop_cond}
