"""The dynamic executor for graphs with v1 control flow: a ready-queue dataflow interpreter with
TensorFlow's semantics of dead tensors, frames and iterations.

    plan = compile_dataflow_plan(graph, fetch_refs, targets, feed_refs, kernel_for, device,
                                 limits)
    outputs = plan.execute([x_value])

Used only when the pruned graph holds control-flow ops (runtime/plan.py checks); everything
else runs on the straight-line Plan. The rules (TensorFlow's executor):

* Dead tensors. A Switch's untaken output is dead. A node with any dead input (data or control)
  does not run: all its outputs are dead. A Merge waits for its control inputs, then forwards
  the first live data input and its index (``value_index``); it is dead when every data input
  is dead, or at once when a dead value comes from an Enter (a loop on an untaken branch).
  A ControlTrigger's control outputs are never dead.
* Frames and iterations. Every value is tagged with a frame instance and an iteration. Enter
  moves a value into iteration 0 of a child frame (one instance per parent frame instance and
  iteration, per frame name); an ``is_constant`` Enter's value reaches every iteration.
  NextIteration moves a live value to the next iteration (a dead one stops there); Exit moves a
  live value to the parent frame. Exits that are dead in a frame's last iteration deliver
  their deadness to the parent when the frame instance finishes.
* At most ``parallel_iterations`` iterations of a frame are in flight; further NextIteration
  values wait. ``Limits.max_loop_iterations`` caps the iterations of one frame instance.

Fetching a dead tensor is an ExecutionError (TensorFlow: "Retval does not have value").
"""
from __future__ import annotations

from collections import deque
from typing import Callable, Optional

import numpy as np

from runtime.dataflow_nodes import FlowNode, build_flow_nodes
from runtime.kernels.control_flow import DEAD
from schema.errors import ExecutionError, GccFlowError
from schema.limits import DEFAULT_LIMITS, Limits

__all__ = ["DataflowPlan", "compile_dataflow_plan"]


class _Iteration:
    """One iteration of one frame instance: per-node input states, work in flight."""

    __slots__ = ("number", "frame", "pending", "outstanding", "child_frames")

    def __init__(self, frame: "_Frame", number: int):
        self.frame, self.number = frame, number
        self.pending: dict[FlowNode, list] = {}
        self.outstanding = 0       # queued nodes of this iteration
        self.child_frames = 0      # live child frame instances started from this iteration


class _Frame:
    """One instance of a while-loop frame (or the root frame)."""

    __slots__ = ("name", "parent", "pending_enters", "max_parallel", "iterations", "last",
                 "invariants", "deferred", "dead_exits")

    def __init__(self, name: str, parent: Optional[_Iteration], enters: int, max_parallel: int):
        self.name, self.parent = name, parent
        self.pending_enters = enters          # Enter nodes that have not delivered yet
        self.max_parallel = max_parallel
        self.iterations: dict[int, _Iteration] = {0: _Iteration(self, 0)}
        self.last = 0                          # the newest iteration's number
        self.invariants: list[tuple[FlowNode, object]] = []   # (constant Enter, value)
        self.deferred: list[tuple[FlowNode, object]] = []     # NextIteration values waiting
        self.dead_exits: list[FlowNode] = []

    def iteration_done(self, it: _Iteration) -> bool:
        if it.outstanding or it.child_frames:
            return False
        if it.number == 0:
            return self.pending_enters == 0
        return it.number - 1 not in self.iterations


class DataflowPlan:
    """A compiled (fetches, feeds) signature over a graph with control flow."""

    def __init__(self, nodes: list[FlowNode], feed_edges: list, fetches: list, enter_counts,
                 device_name: str, limits: Limits, fetch_names: list):
        self.nodes = nodes
        self.fetch_names = fetch_names
        self.sources = [n for n in nodes if n.in_count == 0]
        self.feed_edges = feed_edges      # per feed: [(FlowNode, slot)]
        self.fetches = fetches            # per fetch: None, ("feed", i) or ("sink", i)
        self.enter_counts = enter_counts  # frame name -> Enter nodes into it
        self.device_name = device_name
        self.limits = limits

    def execute(self, feed_values) -> list:
        run = _Run(self)
        try:
            with np.errstate(all="ignore"):
                run.start(feed_values)
                run.drain()
        except _NodeFailure as failure:
            raise failure.explain(self.device_name) from failure.__cause__
        return run.results(feed_values)


class _NodeFailure(Exception):
    def __init__(self, node: FlowNode, it: _Iteration, inputs: list, err: Exception):
        super().__init__(str(err))
        self.node, self.it, self.inputs, self.err = node, it, inputs, err

    def explain(self, device_name: str) -> Exception:
        node, err = self.node.node, self.err
        shown = ", ".join(_describe(v) for v in self.inputs)
        frame = self.it.frame
        where = (f"node {node.name!r} (op {node.op}) on {device_name}"
                 + (f" in frame {frame.name!r} iteration {self.it.number}" if frame.name else "")
                 + f" with inputs [{shown}]")
        if isinstance(err, GccFlowError):
            own = f"node {node.name!r} ({node.op}): "
            return type(err)(f"{where}: {str(err).removeprefix(own)}")
        return ExecutionError(f"{where} failed: {type(err).__name__}: {err}")


def _describe(value) -> str:
    if value is DEAD:
        return "dead"
    if isinstance(value, (np.ndarray, np.generic)):
        return f"{value.dtype}{list(np.shape(value))}"
    return type(value).__name__


class _Run:
    """The state of one execute() call."""

    def __init__(self, plan: DataflowPlan):
        self.plan = plan
        self.queue: deque = deque()
        self.root = _Frame("", None, 0, 1)
        self.children: dict[tuple, _Frame] = {}   # (parent iteration id, frame name) -> frame
        self.values: dict[int, object] = {}   # fetch index -> value (or DEAD)
        self.cap = plan.limits.max_loop_iterations

    # -- driving -------------------------------------------------------------------------
    def start(self, feed_values) -> None:
        it0 = self.root.iterations[0]
        for node in self.plan.sources:
            self.enqueue(node, it0, [], False)
        for edges, value in zip(self.plan.feed_edges, feed_values):
            for dst, slot in edges:
                dst.receive(self, slot, value, it0, False)

    def drain(self) -> None:
        queue = self.queue
        while queue:
            node, it, inputs, dead = queue.popleft()
            outputs = None
            if not dead:
                try:
                    outputs = node.run(inputs)
                except Exception as err:
                    raise _NodeFailure(node, it, inputs, err) from err
            node.propagate(self, it, outputs, dead)
            it.outstanding -= 1
            if not it.outstanding:
                self.cleanup(it.frame, it)

    def results(self, feed_values) -> list:
        out = []
        for fetch in self.plan.fetches:
            if fetch is None:
                out.append(None)
            elif fetch[0] == "feed":
                out.append(feed_values[fetch[1]])
            else:
                out.append(self.fetched(fetch[1]))
        return out

    def fetched(self, index: int):
        value = self.values.get(index, None)
        name = self.plan.fetch_names[index]
        if index not in self.values:
            raise ExecutionError(f"fetch {name} was never computed: the graph stopped with "
                                 f"nodes still waiting for inputs ({self.waiting()})")
        if value is DEAD:
            raise ExecutionError(f"fetch {name} is dead: it lies on the untaken side of a "
                                 f"Switch (cond branch or finished loop), so it has no value")
        return value

    def waiting(self) -> str:
        names = [n.node.name for it in self.root.iterations.values() for n in it.pending]
        return ", ".join(names[:5]) or "none"

    # -- activation ----------------------------------------------------------------------
    def enqueue(self, node: FlowNode, it: _Iteration, inputs: list, dead: bool) -> None:
        it.outstanding += 1
        self.queue.append((node, it, inputs, dead))

    # -- frames --------------------------------------------------------------------------
    def child_frame(self, enter: FlowNode, it: _Iteration) -> _Frame:
        key = (id(it), enter.frame_name)
        frame = self.children.get(key)
        if frame is None:
            frame = _Frame(enter.frame_name, it, self.plan.enter_counts[enter.frame_name],
                           enter.parallel_iterations)
            self.children[key] = frame
            it.child_frames += 1
        return frame

    def next_iteration(self, node: FlowNode, it: _Iteration, value) -> None:
        frame = self.frame_after_next(node, it, value)
        if frame is not None:
            node.send(self, frame.iterations[it.number + 1], value)

    def frame_after_next(self, node: FlowNode, it: _Iteration, value) -> Optional[_Frame]:
        frame = it.frame
        if it.number + 1 in frame.iterations:
            return frame
        if len(frame.iterations) >= frame.max_parallel:
            frame.deferred.append((node, value))
            return None
        self.new_iteration(frame)
        return frame

    def new_iteration(self, frame: _Frame) -> _Iteration:
        number = frame.last + 1
        if number > self.cap:
            raise ExecutionError(f"while loop {frame.name!r} ran past {self.cap} iterations "
                                 f"(Limits.max_loop_iterations); its condition never became "
                                 f"false, or the limit is too low for it")
        frame.last = number
        it = frame.iterations[number] = _Iteration(frame, number)
        frame.dead_exits.clear()
        for enter, value in frame.invariants:
            enter.send(self, it, value, True)
        return it

    def cleanup(self, frame: _Frame, it: _Iteration) -> None:
        """Retires finished iterations in order, starts deferred ones, retires the frame."""
        while frame is not self.root:
            while it is not None and frame.iteration_done(it):
                del frame.iterations[it.number]
                if frame.deferred:
                    self.start_deferred(frame)
                it = frame.iterations.get(it.number + 1)
            if frame.iterations or frame.pending_enters:
                return
            parent = frame.parent
            del self.children[(id(parent), frame.name)]
            for exit_node in frame.dead_exits:
                exit_node.send(self, parent, DEAD)
            parent.child_frames -= 1
            frame, it = parent.frame, parent

    def start_deferred(self, frame: _Frame) -> None:
        it = self.new_iteration(frame)
        waiting, frame.deferred = frame.deferred, []
        for node, value in waiting:
            node.send(self, it, value)


def compile_dataflow_plan(graph, fetch_refs, target_nodes, feed_refs,
                          kernel_for: Callable, device_name: str,
                          limits: Limits = DEFAULT_LIMITS, frames=None) -> DataflowPlan:
    """Compiles the needed part of ``graph`` for the dataflow executor. ``frames``: the
    graph's schema.validate.FrameMap (checked control flow), used to refuse fetching or feeding
    a tensor inside a loop frame."""
    nodes, feed_edges, fetches, enter_counts = build_flow_nodes(
        graph, fetch_refs, target_nodes, feed_refs, kernel_for, frames)
    names = [None if r is None else r.name for r in fetch_refs]
    return DataflowPlan(nodes, feed_edges, fetches, enter_counts, device_name, limits, names)
