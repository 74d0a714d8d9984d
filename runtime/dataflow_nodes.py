"""The per-node rules of the dataflow executor (runtime/dataflow.py), one class per role, and
their construction from the IR.

    Add(x, y)          FlowNode:          runs when every input has arrived; dead if any is dead
    Merge(a, b)        MergeNode:         runs on the first live data input (after its controls)
    Enter / Exit / NextIteration / ControlTrigger: FlowNode subclasses that send their output
                       to another frame or iteration (or never dead, for ControlTrigger)

A node's input state lives in the iteration it runs in (``it.pending[node]``); ``run`` is the
executor's _Run (enqueue, child_frame, next_iteration). Fetches are FetchSinks: consumers
that keep what reaches them in the root frame.
"""
from __future__ import annotations

from typing import Callable

from runtime.kernels.control_flow import DEAD
from schema.errors import ExecutionError, FeedError, FetchError
from schema.infer import arg_types
from schema.ir import needed_nodes
from schema.ops.control_flow import FLOW_ROLES
from schema.validate import ROOT_FRAME, check_control_flow

__all__ = ["FlowNode", "MergeNode", "FetchSink", "build_flow_nodes"]


class FlowNode:
    """An ordinary node: runs once every data and control input has arrived."""

    __slots__ = ("node", "fn", "n_inputs", "n_outputs", "in_count", "n_controls", "out_edges",
                 "control_out", "frame_name", "is_constant", "parallel_iterations", "deref")

    def __init__(self, node, fn: Callable):
        self.node, self.fn = node, fn
        self.deref = _deref_slots(node)   # reference inputs read as values when the node runs
        self.n_inputs, self.n_outputs = len(node.inputs), node.num_outputs
        self.in_count = 0          # data + control in-edges, fed ones included
        self.n_controls = 0
        self.out_edges: list[list] = [[] for _ in range(node.num_outputs)]
        self.control_out: list = []
        self.frame_name = node.attrs.get("frame_name", "")
        self.is_constant = bool(node.attrs.get("is_constant", False))
        self.parallel_iterations = int(node.attrs.get("parallel_iterations", 1) or 1)

    def run(self, inputs: list):
        for slot in self.deref:
            if inputs[slot] is not DEAD:
                inputs[slot] = inputs[slot].get()
        result = self.fn(*inputs)
        if self.n_outputs == 1:
            return (result,)
        if self.n_outputs == 0:
            return ()
        if len(result) != self.n_outputs:
            raise ExecutionError(f"kernel returned {len(result)} outputs, expected "
                                 f"{self.n_outputs}")
        return result

    # -- inputs --------------------------------------------------------------------------
    def receive(self, run, slot: int, value, it, from_enter: bool) -> None:
        if self.in_count == 1:   # one input, no waiting (most nodes of a loop)
            run.enqueue(self, it, [value], value is DEAD)
            return
        state = it.pending.get(self)
        if state is None:
            state = it.pending[self] = [self.in_count, False, [None] * self.n_inputs]
        state[2][slot] = value
        if value is DEAD:
            state[1] = True
        self._arrived(run, state, it)

    def receive_control(self, run, dead: bool, it) -> None:
        state = it.pending.get(self)
        if state is None:
            state = it.pending[self] = [self.in_count, False, [None] * self.n_inputs]
        if dead:
            state[1] = True
        self._arrived(run, state, it)

    def _arrived(self, run, state: list, it) -> None:
        state[0] -= 1
        if state[0] == 0:
            del it.pending[self]
            run.enqueue(self, it, state[2], state[1])

    # -- outputs -------------------------------------------------------------------------
    def propagate(self, run, it, outputs, dead: bool) -> None:
        """Sends the outputs (all dead when ``dead``) along every edge, within ``it``."""
        for port, edges in enumerate(self.out_edges):
            value = DEAD if dead else outputs[port]
            for dst, slot in edges:
                dst.receive(run, slot, value, it, False)
        for dst in self.control_out:
            dst.receive_control(run, dead, it)

    def send(self, run, it, value, from_enter: bool = False) -> None:
        """Sends a one-output node's ``value`` (DEAD or not) into iteration ``it``."""
        for dst, slot in self.out_edges[0] if self.out_edges else ():
            dst.receive(run, slot, value, it, from_enter)
        dead = value is DEAD
        for dst in self.control_out:
            dst.receive_control(run, dead, it)


def _deref_slots(node) -> tuple:
    """Inputs where a reference (a VariableV2 cell) meets a non-reference input: read then."""
    if node.op_def is None or not any(r.dtype.is_ref for r in node.inputs):
        return ()
    expected = arg_types(node.name, node.op_def, node.op_def.inputs, node.attrs, "input")
    return tuple(i for i, (ref, want) in enumerate(zip(node.inputs, expected))
                 if ref.dtype.is_ref and not want.is_ref)


class MergeNode(FlowNode):
    """Forwards the first live data input once its control inputs have arrived; dead when
    every data input is dead, or at once for a dead value from an Enter. State:
    [controls left, dead inputs, (slot, value) chosen, fired, all dead]."""

    __slots__ = ()

    def _state(self, it) -> list:
        state = it.pending.get(self)
        if state is None:
            state = it.pending[self] = [self.n_controls, 0, None, False, False]
        return state

    def receive(self, run, slot: int, value, it, from_enter: bool) -> None:
        state = self._state(it)
        if state[3]:
            return
        if value is DEAD:
            state[1] += 1
            state[4] = state[4] or from_enter or state[1] == self.n_inputs
        elif state[2] is None:
            state[2] = (slot, value)
        self._maybe_fire(run, state, it)

    def receive_control(self, run, dead: bool, it) -> None:
        state = self._state(it)
        state[0] -= 1
        if not state[3]:
            self._maybe_fire(run, state, it)

    def _maybe_fire(self, run, state: list, it) -> None:
        if state[0] > 0 or (state[2] is None and not state[4]):
            return
        state[3] = True
        inputs = [DEAD] * self.n_inputs
        if state[2] is not None:
            inputs[state[2][0]] = state[2][1]
        run.enqueue(self, it, inputs, state[2] is None)


class ControlTriggerNode(FlowNode):
    __slots__ = ()

    def propagate(self, run, it, outputs, dead: bool) -> None:
        super().propagate(run, it, outputs, False)   # never dead


class EnterNode(FlowNode):
    __slots__ = ()

    def propagate(self, run, it, outputs, dead: bool) -> None:
        frame = run.child_frame(self, it)
        value = DEAD if dead else outputs[0]
        if self.is_constant:
            frame.invariants.append((self, value))
            for child in list(frame.iterations.values()):
                self.send(run, child, value, True)
        else:
            self.send(run, frame.iterations[0], value, True)
        frame.pending_enters -= 1
        if frame.pending_enters == 0:
            run.cleanup(frame, next(iter(frame.iterations.values())))


class ExitNode(FlowNode):
    __slots__ = ()

    def propagate(self, run, it, outputs, dead: bool) -> None:
        frame = it.frame
        if not dead:
            self.send(run, frame.parent, outputs[0])
        elif it.number == frame.last:
            frame.dead_exits.append(self)    # delivered when the frame instance finishes


class NextIterationNode(FlowNode):
    __slots__ = ()

    def propagate(self, run, it, outputs, dead: bool) -> None:
        if not dead:   # a dead NextIteration ends its loop's work here
            run.next_iteration(self, it, outputs[0])


class FetchSink:
    """Keeps the value that reaches a fetched tensor in the root frame."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index

    def receive(self, run, slot: int, value, it, from_enter: bool) -> None:
        run.values[self.index] = value


_CLASSES = {"merge": MergeNode, "enter": EnterNode, "exit": ExitNode,
            "next_iteration": NextIterationNode, "control_trigger": ControlTriggerNode}


def build_flow_nodes(graph, fetch_refs, target_nodes, feed_refs, kernel_for: Callable,
                     frames=None):
    """(flow nodes, per-feed [(node, slot)], per-fetch sink info, Enter count per frame).

    Checks control flow on the needed nodes when ``frames`` is not given; refuses fetches and
    feeds of tensors inside a while-loop frame.
    """
    fed = {(r.node.name, r.index): i for i, r in enumerate(feed_refs)}
    needed = needed_nodes([r for r in fetch_refs if r is not None], target_nodes, set(fed))
    frames = frames or check_control_flow(graph, needed)
    flow = {n: _CLASSES.get(FLOW_ROLES.get(n.op), FlowNode)(n, kernel_for(n)) for n in needed}
    feed_edges: list[list] = [[] for _ in feed_refs]
    for node, fnode in flow.items():
        _link(node, fnode, flow, fed, feed_edges)
    for ref in feed_refs:
        _refuse_in_frame(ref, frames, FeedError, "feed")
    fetches = []
    for i, ref in enumerate(fetch_refs):
        fetches.append(_fetch(i, ref, flow, fed, frames))
    enter_counts: dict[str, int] = {}
    for fnode in flow.values():
        if isinstance(fnode, EnterNode):
            enter_counts[fnode.frame_name] = enter_counts.get(fnode.frame_name, 0) + 1
    return list(flow.values()), feed_edges, fetches, enter_counts


def _link(node, fnode: FlowNode, flow: dict, fed: dict, feed_edges: list) -> None:
    for slot, ref in enumerate(node.inputs):
        fnode.in_count += 1
        feed = fed.get((ref.node.name, ref.index))
        if feed is not None:
            feed_edges[feed].append((fnode, slot))
        else:
            flow[ref.node].out_edges[ref.index].append((fnode, slot))
    for ctl in node.control_inputs:
        fnode.in_count += 1
        fnode.n_controls += 1
        flow[ctl].control_out.append(fnode)


def _refuse_in_frame(ref, frames, error, what: str) -> None:
    """Only tensors outside while loops can be fed or fetched (a loop's result: its Exit)."""
    node = ref.node
    if node in frames.frame_of and frames.inner_frame(node) != ROOT_FRAME:
        raise error(f"{what} {ref.name}: the tensor is inside while-loop frame "
                    f"{frames.inner_frame(node)!r}; only tensors outside loops can be fed or "
                    f"fetched (a loop's result is its Exit's output)")


def _fetch(i: int, ref, flow: dict, fed: dict, frames):
    if ref is None:
        return None
    feed = fed.get((ref.node.name, ref.index))
    if feed is not None:
        return ("feed", feed)
    _refuse_in_frame(ref, frames, FetchError, "fetch")
    flow[ref.node].out_edges[ref.index].append((FetchSink(i), 0))
    return ("sink", i)
