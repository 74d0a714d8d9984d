"""Control-flow contexts of the frontend: what TensorFlow 1.x's CondContext and WhileContext do
when ops are created inside a branch or a loop body, done once the branch or body is built.

    ctx = CondContext(graph, pred_id, pivot=switch_t, branch=1)
    with ctx.building() as created:
        y = x * 2.0                    # x from outside, 2.0 a new Const
    ctx.fix(created)  ->  y = Mul(cond/mul/Switch:1, cond/mul/y ^cond/switch_t)

Fixing a context's new nodes: a data input from outside the context goes through the context's
gate, made once per outside tensor (a Switch on the cond's predicate for a branch; a constant
Enter into the frame for a loop); a node with no data input and no control input from inside
gets a control input from the context's pivot, so it runs (or is dead) with the branch or
iteration. In a loop, a control input from outside becomes one from a constant Enter.

Contexts nest: the one being built when a context starts is its ``outer`` context, whose own
fix later handles the gates this one made. ``flatten`` / ``pack`` handle nested loop variables
and branch results (lists, tuples, namedtuples, dicts).
"""
from __future__ import annotations

import contextlib
import itertools
import weakref
from typing import Any, Optional

import numpy as np

from gcc_flow.framework import Graph, Tensor, apply_op
from schema.dtypes import DType
from schema.ir import Node

__all__ = ["ControlFlowContext", "CondContext", "WhileContext", "current_context", "flatten",
           "pack", "same_structure", "discard_nodes_since"]

_ACTIVE: "weakref.WeakKeyDictionary[Graph, list]" = weakref.WeakKeyDictionary()


def current_context(graph: Graph) -> Optional["ControlFlowContext"]:
    """The innermost context being built in ``graph``, or None."""
    stack = _ACTIVE.get(graph)
    return stack[-1] if stack else None


class ControlFlowContext:
    """Nodes created since the context started are its own (``internal``); others are outside."""

    gate_name = ""               # "Switch" / "Enter": the op that brings a tensor in

    def __init__(self, graph: Graph, scope: str = ""):
        self.graph = graph
        self.scope = scope                    # name prefix, e.g. "cond/" or "while/"
        self.outer = current_context(graph)
        self._seen = len(graph.ir.nodes)      # nodes before this index are outside
        self.internal: set[Node] = set()
        self.skip: set[Node] = set()          # own boundary nodes the fix leaves alone
        self.gates: dict = {}                 # outside TensorRef -> Tensor inside

    @contextlib.contextmanager
    def building(self):
        """Makes this the current context; yields the list of nodes created in the block."""
        created: list[Node] = []
        start = len(self.graph.ir.nodes)
        _ACTIVE.setdefault(self.graph, []).append(self)
        try:
            yield created
        finally:
            _ACTIVE[self.graph].pop()
            created.extend(itertools.islice(self.graph.ir.nodes.values(), start, None))
            self.refresh()

    def refresh(self) -> None:
        """Counts every node created since the context started as internal."""
        nodes = self.graph.ir.nodes
        self.internal.update(itertools.islice(nodes.values(), self._seen, None))
        self._seen = len(nodes)

    def fix(self, created: list[Node], pivot: Tensor) -> None:
        """Gates outside inputs and pins input-less nodes to ``pivot`` (see module doc)."""
        self.refresh()
        graph = self.graph
        with graph.name_scope(""), graph.control_dependencies(None):
            for node in created:
                if node in self.skip or node not in self.internal:
                    continue
                for i, ref in enumerate(node.inputs):
                    if ref.node not in self.internal:
                        graph.ir.set_input(node, i, self.gate(graph._tensor(ref), node)._ref)
                self._fix_controls(node, pivot)

    def _fix_controls(self, node: Node, pivot: Tensor) -> None:
        outside = [c for c in node.control_inputs if c not in self.internal]
        for ctl in outside:
            self.replace_outside_control(node, ctl)
        if not node.inputs and not any(c in self.internal for c in node.control_inputs):
            self.graph.ir.add_control_input(node, pivot.op._node)

    def replace_outside_control(self, node: Node, ctl: Node) -> None:
        """A control input from outside the context; kept as it is in a cond branch."""

    def gate(self, tensor: Tensor, consumer: Optional[Node] = None) -> Tensor:
        """``tensor`` (from outside) as seen inside the context; made once per tensor."""
        found = self.gates.get(tensor._ref)
        if found is None:
            base = (f"{consumer.name}/{self.gate_name}" if consumer is not None
                    else f"{self.scope}{self.gate_name}")
            with self.graph.name_scope(""), self.graph.device(tensor.device or None):
                found = self.make_gate(tensor, base)
            self.gates[tensor._ref] = found
            self.refresh()
        return found

    def value(self, tensor: Tensor) -> Tensor:
        """``tensor`` itself when it is internal, else through the gate."""
        return tensor if tensor.op._node in self.internal else self.gate(tensor)

    def make_gate(self, tensor: Tensor, name: str) -> Tensor:
        raise NotImplementedError


def _ref_variant(op_type: str, tensor: Tensor) -> str:
    return f"Ref{op_type}" if tensor.dtype.is_ref else op_type


class CondContext(ControlFlowContext):
    """One branch of a cond: ``branch`` 1 (true) or 0 (false) of ``Switch(x, pred)``."""

    gate_name = "Switch"

    def __init__(self, graph: Graph, scope: str, pred: Tensor, pivot: Tensor, branch: int):
        super().__init__(graph, scope)
        self.pred, self.pivot, self.branch = pred, pivot, branch

    def make_gate(self, tensor: Tensor, name: str) -> Tensor:
        return apply_op(_ref_variant("Switch", tensor), [tensor, self.pred], name=name)[
            self.branch]


class WhileContext(ControlFlowContext):
    """A while loop's frame: outside tensors come in through constant Enters."""

    gate_name = "Enter"

    def __init__(self, graph: Graph, scope: str, frame_name: str, parallel_iterations: int):
        super().__init__(graph, scope)
        self.frame_name = frame_name
        self.parallel_iterations = parallel_iterations
        self.loop: Any = None                   # the finished loop's record (control_flow_ops)

    def enter(self, tensor: Tensor, name: str, is_constant: bool) -> Tensor:
        attrs = {"frame_name": self.frame_name, "is_constant": is_constant,
                 "parallel_iterations": self.parallel_iterations}
        return apply_op(_ref_variant("Enter", tensor), [tensor], attrs, name=name)

    def make_gate(self, tensor: Tensor, name: str) -> Tensor:
        return self.enter(tensor, name, is_constant=True)

    def replace_outside_control(self, node: Node, ctl: Node) -> None:
        """^outside -> ^Enter(outside:0), or ^Enter(Const(^outside)) for an op without outputs:
        the loop waits for it without taking an edge from another frame."""
        graph = self.graph
        graph.ir.remove_control_input(node, ctl)
        op = graph._op(ctl)
        if op.outputs:
            source = op.outputs[0]
        else:
            with graph.control_dependencies([op]):
                source = apply_op("Const", [], {"value": np.zeros((), np.int32),
                                                "dtype": DType.INT32}, name=f"{ctl.name}/control")
        graph.ir.add_control_input(node, self.gate(source, node).op._node)


@contextlib.contextmanager
def discard_nodes_since(graph: Graph):
    """On an exception in the block, removes every node the block created, so a cond or loop
    that failed to build leaves no half-made control flow behind."""
    start = len(graph.ir.nodes)
    try:
        yield
    except BaseException:
        ir = graph.ir
        made = list(itertools.islice(ir.nodes.values(), start, None))
        for node in made:
            ir.set_inputs(node, [])
            for ctl in list(node.control_inputs):
                ir.remove_control_input(node, ctl)
        for node in reversed(made):
            ir.remove_node(node)
        raise


# -- nested structures ---------------------------------------------------------------------------

def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def flatten(structure) -> list:
    """Leaves in order: [a, (b, {"k": c})] -> [a, b, c] (dicts by sorted key, as tf.nest)."""
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in flatten(structure[key])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    return [structure]


def pack(structure, leaves: list):
    """The inverse of ``flatten``: ``structure``'s shape filled with ``leaves`` in order."""
    it = iter(leaves)

    def build(s):
        if isinstance(s, dict):
            return {k: build(s[k]) for k in sorted(s)}
        if _is_namedtuple(s):
            return type(s)(*[build(x) for x in s])
        if isinstance(s, (list, tuple)):
            return type(s)(build(x) for x in s)
        return next(it)
    return build(structure)


def same_structure(a, b) -> bool:
    """True when ``a`` and ``b`` nest the same way (leaf types aside; list vs tuple matters
    only through length)."""
    if isinstance(a, dict) or isinstance(b, dict):
        return (isinstance(a, dict) and isinstance(b, dict) and sorted(a) == sorted(b)
                and all(same_structure(a[k], b[k]) for k in a))
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))
                and len(a) == len(b) and all(same_structure(x, y) for x, y in zip(a, b)))
    return True
