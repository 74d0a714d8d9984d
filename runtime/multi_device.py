"""Running one graph on several devices at once: place, partition, one worker thread per device.

    sess = MultiDeviceSession(graph, devices=["cpu:0", "cpu:1"])
    y = sess.run("y:0", {"x:0": x})          # same API and results as runtime.Session
    print(format_placement(sess.placed_graph))
    sess.partitions                          # {"/job:localhost/.../device:CPU:0": Graph, ...}

At the first run the graph (a copy: the caller's graph is left as it is) is placed
(passes.place), cut into partitions joined by _Send/_Recv pairs (passes.partition), and every
partition checked (each _Send has its _Recv). Each (fetches, feeds) signature compiles to one
runtime.plan Plan per partition that the signature needs: a partition's plan fetches the
fetched tensors produced there, runs its needed _Sends as targets, and is fed the fed tensors
produced there. A step gives every such plan to its device's worker thread; all share one
rendezvous (runtime.rendezvous) and one ResourceManager (variables colocate with their users,
so a variable is touched by one device only). Plans run their nodes in sequence and a _Recv
blocks, so while a signature compiles each partition's needed transfers are chained by control
edges in one global topological order (``_ordered``): then no two partitions can wait on each
other. A GPU partition runs through runtime.gpu's DeviceHooks; values cross devices in host
memory.

An error in one partition aborts the step's rendezvous: partitions blocked in a _Recv wake at
once, and run() raises the first error, which names the failing node and its device. Steps of
one session run one at a time (a worker per device: two interleaved steps could deadlock).
v1 control flow stays on one device (see passes.place); feeds and fetches are numpy arrays.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import threading
from typing import Iterator, Optional, Sequence

from passes.partition import (RECV_OPS, SEND_OPS, check_partitions, copy_graph,
                              insert_send_recv, split_by_device)
from passes.place import PlacementReport, place_graph
from runtime import rendezvous
from runtime.devices import Device, resolve_devices
from runtime.plan import compile_plan
from runtime.session import Session, _as_graph
from schema.errors import GraphError
from schema.ir import Graph, Node, TensorRef
from schema.limits import DEFAULT_LIMITS, Limits
from schema.ops.control_flow import is_back_edge
from schema.validate import check_control_flow

__all__ = ["MultiDeviceSession", "MultiDevicePlan", "load_multi_device"]


def load_multi_device(model, devices: Optional[Sequence[str]] = None, *,
                      allow_unknown: bool = False, limits: Limits = DEFAULT_LIMITS,
                      **options) -> "MultiDeviceSession":
    """runtime.load's twin: a MultiDeviceSession over a GraphDef, bytes, a path or IR."""
    return MultiDeviceSession(_as_graph(model, allow_unknown, limits), devices=devices,
                              limits=limits, **options)


@dataclasses.dataclass
class _Layout:
    """The placed graph with its transfers (``union``) and its partitions, for one graph size."""
    union: Graph
    partitions: dict[str, Graph]
    report: PlacementReport
    graph_size: int
    sends: dict = dataclasses.field(default_factory=dict)   # (send, recv, tensor_name) -> node


@dataclasses.dataclass
class _PartPlan:
    device: Device
    plan: object                    # runtime.plan.Plan or runtime.dataflow.DataflowPlan
    feeds: list[int]                # positions in the step's feed list
    fetches: list[int]              # positions in the step's fetch list


class MultiDevicePlan:
    """The plans of one signature, one per device the signature needs; ``execute`` runs them
    concurrently on the session's device workers."""

    def __init__(self, session: "MultiDeviceSession", parts: list[_PartPlan], n_fetches: int):
        self.session, self.parts, self.n_fetches = session, parts, n_fetches

    def execute(self, feed_values) -> list:
        session = self.session
        with session._step_lock:
            rdv = session._rendezvous.new_step()
            try:
                running = {p.device.name for p in self.parts}
                for device in session.devices:
                    if device.name not in running:
                        rdv.sender_done(device.name)
                results = self._run_parts(rdv, list(feed_values))
            finally:
                session._rendezvous.cleanup(rdv.step_id)
        outputs: list = [None] * self.n_fetches
        for part, values in zip(self.parts, results):
            for position, value in zip(part.fetches, values):
                outputs[position] = value
        return outputs

    def _run_parts(self, rdv: rendezvous.LocalRendezvous, feeds: list) -> list:
        if len(self.parts) == 1:
            return [_run_part(self.parts[0], rdv, feeds)]
        futures = [self.session._worker(p.device).submit(_run_part, p, rdv, feeds)
                   for p in self.parts]
        try:
            concurrent.futures.wait(futures)
        except BaseException as err:  # KeyboardInterrupt in the caller: stop every partition
            rdv.abort(err)
            concurrent.futures.wait(futures)
            raise
        if rdv.error is not None:
            raise rdv.error
        return [f.result() for f in futures]


def _run_part(part: _PartPlan, rdv: rendezvous.LocalRendezvous, feeds: list) -> list:
    """Runs one partition's plan; any error aborts the whole step."""
    try:
        with rendezvous.bind(rdv):
            return part.plan.execute([feeds[i] for i in part.feeds])
    except BaseException as err:
        rdv.abort(err)
        raise
    finally:
        rdv.sender_done(part.device.name)


class _Uploading:
    """A GPU partition's plan whose feeds are uploaded first (DeviceHooks.feed)."""

    def __init__(self, plan, hooks, feed_refs: list[TensorRef]):
        self.plan, self.hooks, self.feed_refs = plan, hooks, feed_refs

    def execute(self, feed_values: list) -> list:
        return self.plan.execute([self.hooks.feed(ref, value)
                                  for ref, value in zip(self.feed_refs, feed_values)])


class MultiDeviceSession(Session):
    """A Session whose graph runs split over ``devices`` (default: runtime.devices.discover())."""

    def __init__(self, graph: Graph, devices: Optional[Sequence[str]] = None,
                 limits: Limits = DEFAULT_LIMITS, allow_soft_placement: bool = True,
                 cost_model: bool = True):
        super().__init__(graph, device="cpu", limits=limits)
        self.devices: list[Device] = resolve_devices(devices)
        self._device_by_name = {d.name: d for d in self.devices}
        self.allow_soft_placement, self.cost_model = allow_soft_placement, cost_model
        self._rendezvous = rendezvous.RendezvousManager()
        self._workers: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
        self._step_lock = threading.Lock()
        self._layout: Optional[_Layout] = None
        self._gpu_hooks: dict = {}

    # -- layout --------------------------------------------------------------------------
    @property
    def placed_graph(self) -> Graph:
        """The placed graph with its _Send/_Recv pairs (every partition, side by side)."""
        return self._current_layout().union

    @property
    def partitions(self) -> dict[str, Graph]:
        return self._current_layout().partitions

    @property
    def placement_report(self) -> PlacementReport:
        return self._current_layout().report

    def _current_layout(self) -> _Layout:
        size = len(self.graph.nodes)
        if self._layout is None or self._layout.graph_size != size:
            self._layout = self._make_layout(size)
            self._kernels.clear()
            self._gpu_hooks.clear()
        return self._layout

    def _make_layout(self, size: int) -> _Layout:
        union = copy_graph(self.graph)
        report = place_graph(union, [d.name for d in self.devices], self.allow_soft_placement,
                             self.cost_model)
        insert_send_recv(union, self.devices[0].incarnation)
        partitions = split_by_device(union)
        check_partitions(partitions)
        layout = _Layout(union, partitions, report, size)
        for node in union:
            if node.op in SEND_OPS:
                layout.sends[_transfer_key(node)] = node
        return layout

    # -- compilation ---------------------------------------------------------------------
    def _plan_for(self, fetch_refs: list, targets: list, feed_refs: list):
        return self._build_plan(self._current_layout(), fetch_refs, targets, feed_refs)

    def _build_plan(self, layout: _Layout, fetch_refs: list[Optional[TensorRef]],
                    targets: list[Node], feed_refs: list[TensorRef]) -> MultiDevicePlan:
        union = layout.union
        fed = {(r.node.name, r.index) for r in feed_refs}
        fetch_nodes = [union.nodes[r.node.name] for r in fetch_refs
                       if r is not None and (r.node.name, r.index) not in fed]
        target_nodes = [union.nodes[t.name] for t in targets]
        order = _needed_in_order(layout, fetch_nodes + target_nodes, fed)
        parts = []
        for device_name, part_graph in layout.partitions.items():
            transfers = [part_graph.nodes[n.name] for n in order if n.device == device_name
                         and (n.op in SEND_OPS or n.op in RECV_OPS)]
            with _ordered(part_graph, transfers):
                part = self._part_plan(device_name, part_graph, transfers, fetch_refs,
                                       targets, feed_refs)
            if part is not None:
                parts.append(part)
        return MultiDevicePlan(self, parts, len(fetch_refs))

    def _part_plan(self, device_name: str, part_graph: Graph, transfers: list[Node],
                   fetch_refs, targets, feed_refs) -> Optional[_PartPlan]:
        here = part_graph.nodes
        fetches = [i for i, r in enumerate(fetch_refs) if r is not None and r.node.name in here]
        local_targets = [here[t.name] for t in targets if t.name in here]
        local_targets += [n for n in transfers if n.op in SEND_OPS]
        if not fetches and not local_targets:
            return None
        feeds = [i for i, r in enumerate(feed_refs) if r.node.name in here]
        device = self._device_by_name[device_name]
        local_feeds = [here[feed_refs[i].node.name].output(feed_refs[i].index) for i in feeds]
        hooks = self._hooks(device, part_graph)
        plan = compile_plan(part_graph, [here[fetch_refs[i].node.name].output(
                                fetch_refs[i].index) for i in fetches],
                            local_targets, local_feeds,
                            self._kernel_for if hooks is None else hooks.kernel_for,
                            device_name, self.limits, lambda: check_control_flow(part_graph))
        if hooks is not None:
            plan = _Uploading(hooks.wrap_plan(plan), hooks, local_feeds)
        return _PartPlan(device, plan, feeds, fetches)

    def _hooks(self, device: Device, part_graph: Graph):
        """runtime.gpu's DeviceHooks for a GPU partition (kernels placed per node, fetches
        downloaded); None on a CPU, whose kernels are the Session's own."""
        if device.type != "GPU":
            return None
        hooks = self._gpu_hooks.get(device.name)
        if hooks is None:
            from runtime.gpu import compile_for_device
            hooks = self._gpu_hooks[device.name] = compile_for_device(
                part_graph, f"/device:GPU:{device.index}", self.resources, self.limits)
        return hooks

    # -- workers -------------------------------------------------------------------------
    def _worker(self, device: Device) -> concurrent.futures.ThreadPoolExecutor:
        worker = self._workers.get(device.name)
        if worker is None:
            tag = device.name.rsplit("/device:", 1)[-1].replace(":", "_")
            worker = self._workers[device.name] = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"gcc-flow-{tag}")
        return worker

    def close(self) -> None:
        """Stops the device worker threads (a later run starts them again)."""
        for worker in self._workers.values():
            worker.shutdown(wait=True)
        self._workers.clear()

    def __enter__(self) -> "MultiDeviceSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _transfer_key(node: Node) -> tuple[str, str, str]:
    return (node.attrs["send_device"], node.attrs["recv_device"], node.attrs["tensor_name"])


def _needed_in_order(layout: _Layout, roots: list[Node], fed: set) -> list[Node]:
    """The union-graph nodes the roots depend on (not looking past fed tensors; a _Recv depends
    on its _Send), in one topological order of them all."""
    deps: dict[Node, list[Node]] = {}
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node in deps:
            continue
        found = [r.node for r in node.inputs if (r.node.name, r.index) not in fed]
        found += node.control_inputs
        if node.op in RECV_OPS:
            send = layout.sends.get(_transfer_key(node))
            if send is None:
                raise GraphError(f"_Recv {node.name!r} has no matching _Send")
            found.append(send)
        stack.extend(d for d in found if d not in deps)
        deps[node] = [d for d in found if not is_back_edge(d, node)]  # a loop is no cycle
    return _kahn(deps)


def _kahn(deps: dict[Node, list[Node]]) -> list[Node]:
    waiting = {node: len(found) for node, found in deps.items()}
    users: dict[Node, list[Node]] = {}
    for node, found in deps.items():
        for dep in found:
            users.setdefault(dep, []).append(node)
    ready = [node for node, n in waiting.items() if n == 0]
    order = []
    while ready:
        node = ready.pop()
        order.append(node)
        for user in users.get(node, ()):
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    if len(order) != len(deps):
        stuck = sorted(n.name for n, k in waiting.items() if k > 0)[:5]
        raise GraphError(f"the partitions wait on each other in a cycle (through {stuck})")
    return order


@contextlib.contextmanager
def _ordered(part_graph: Graph, transfers: list[Node]) -> Iterator[None]:
    """Chains a partition's needed transfers with control edges, in the step's global order,
    while its plan compiles.

    Plans run their nodes one after another and a _Recv blocks, so each partition must meet
    its transfers in one order shared by all partitions: then the earliest blocked _Recv's
    _Send always comes first on its own device, and no two partitions wait on each other.
    The edges are removed again: they hold for this (fetches, feeds) signature only.
    """
    added = []
    for before, after in zip(transfers, transfers[1:]):
        if before not in after.control_inputs:
            part_graph.add_control_input(after, before)
            added.append((after, before))
    try:
        yield
    finally:
        for after, before in added:
            part_graph.remove_control_input(after, before)
