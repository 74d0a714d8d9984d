"""The placer: gives every node a device, with TensorFlow's rules and a cost model for the rest.

    x  = Placeholder()                              ->  x   @/job:localhost/.../device:CPU:0
    v  = VarHandleOp()  @/device:CPU:0              ->  v   @.../device:CPU:0
    r  = ReadVariableOp(v)  @/device:CPU:1          ->  r   @.../device:CPU:0  (resource edge:
                                                            colocated with v; a soft-placement note)
    mm = MatMul(x, r)                               ->  mm  where the cost model finishes it first

Rules, in TensorFlow's order (tensorflow/core/common_runtime/placer.cc, colocation_graph.cc):
1. Colocation groups (union-find): ``_class: ["loc:@v"]`` attrs; every resource edge (a node
   taking a resource handle runs with the handle's producer); every reference edge (VariableV2
   with its Assign and Identity readers: every consumer of a Ref-typed output); and, in graphs
   with v1 control flow, the control-flow ops, every node inside a while frame and everything
   downstream of a Switch (dead tensors and frames do not cross devices yet).
2. A group's request is the merge of its members' device strings (full or partial names), the
   variable's own request first. Requests that disagree are an error naming both nodes and the
   colocation reason, or, with soft placement, the later one yields (a note says so).
3. Candidates: the available devices that match the request and have a kernel for every
   member's op (ops without a kernel anywhere constrain nothing). No candidate: with soft
   placement any device that can run the group (a note), else an error naming the request.
4. A group with several candidates is placed by the cost model (passes/cost_model.py): nodes
   without data inputs (Const, Placeholder), tiny ops (<= 1 KiB in and out) and light ops
   reading only such followers (a weight's Identity) follow their consumers; shape ops (Shape, Size, Rank) stay with their input; every other group goes to
   the candidate where it would finish first in a list-scheduling simulation, counting
   transfers between devices. Each such decision's estimate goes into the notes.

Soft placement defaults to True, as TensorFlow 2 (tf.config.get_soft_device_placement() and
tf.function); pass ``allow_soft_placement=False`` for a TF1 Session's strictness. Devices come
from ``ctx.devices`` (default: CPU:0); results are canonical full names such as
"/job:localhost/replica:0/task:0/device:CPU:1", so a second run changes nothing.
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Callable, Optional, Sequence

from passes import cost_model
from passes.base import PassContext, PassResult, count, register_pass
from schema.devices import DeviceSpec, parse_device
from schema.dtypes import DType
from schema.errors import GraphError
from schema.ir import Graph, Node
from schema.ops.control_flow import flow_role
from schema.validate import ROOT_FRAME, control_flow_frames

__all__ = ["place", "place_graph", "format_placement", "full_device_name", "colocation_groups",
           "control_flow_region", "PlacementReport", "Decision", "DEFAULT_DEVICE", "TINY_BYTES"]

DEFAULT_DEVICE = "/job:localhost/replica:0/task:0/device:CPU:0"
TINY_BYTES = 1024
_KERNEL_KEYS = {"CPU": "cpu", "GPU": "gpu"}
_FIELDS = ("job", "replica", "task", "type", "index")


def full_device_name(spec: str) -> str:
    """"cpu:1" -> "/job:localhost/replica:0/task:0/device:CPU:1"; GraphError without a type."""
    parsed = parse_device(spec)
    if parsed.type is None:
        raise GraphError(f"device {spec!r} names no device type (expected e.g. 'cpu:0')")
    return str(DeviceSpec(job=parsed.job or "localhost", replica=parsed.replica or 0,
                          task=parsed.task or 0, type=parsed.type, index=parsed.index or 0))


@dataclasses.dataclass
class Decision:
    """Why ``node`` went to ``device``; estimates in seconds (0 when no estimate was made)."""
    node: str
    device: str
    reason: str                  # requested, colocated, cost, follows_consumer, shape_with_input
    compute_s: float = 0.0
    finish_s: float = 0.0
    alternatives: dict = dataclasses.field(default_factory=dict)   # device -> finish_s


@dataclasses.dataclass
class PlacementReport:
    decisions: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    stats: dict = dataclasses.field(default_factory=dict)
    estimated_step_s: float = 0.0
    modified: bool = False


# -- colocation groups ------------------------------------------------------------------------

class _Groups:
    """Union-find over nodes; ``why[node]`` is the first reason the node joined a group."""

    def __init__(self, nodes):
        self.parent = {n: n for n in nodes}
        self.why: dict[Node, str] = {}

    def find(self, node: Node) -> Node:
        parent = self.parent
        while parent[node] is not node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(self, a: Node, b: Node, why: str) -> None:
        ra, rb = self.find(a), self.find(b)
        self.why.setdefault(a, why)
        self.why.setdefault(b, why)
        if ra is not rb:
            self.parent[rb] = ra

    def members(self, order: list[Node]) -> dict[Node, list[Node]]:
        groups: dict[Node, list[Node]] = {}
        for node in order:
            groups.setdefault(self.find(node), []).append(node)
        return groups


def colocation_groups(graph: Graph) -> _Groups:
    """Groups of nodes that must share a device (rule 1 of the module docstring)."""
    groups = _Groups(graph.nodes.values())
    by_class: dict[str, Node] = {}
    for node in graph:
        for entry in node.attrs.get("_class") or []:
            entry = entry.decode() if isinstance(entry, bytes) else str(entry)
            if entry.startswith("loc:@"):
                anchor = graph.nodes.get(entry[5:]) or by_class.setdefault(entry, node)
                groups.union(anchor, node, f"colocation attr _class={entry!r}")
        for ref in node.inputs:
            if ref.dtype.base == DType.RESOURCE:
                groups.union(ref.node, node, f"resource edge {ref.name} -> {node.name}")
            elif ref.dtype.is_ref:
                groups.union(ref.node, node, f"reference edge {ref.name} -> {node.name}")
    region = control_flow_region(graph)
    for node in region[1:]:
        groups.union(region[0], node, "v1 control flow (frames, dead branches) stays on one "
                                      "device")
    return groups


def control_flow_region(graph: Graph) -> list[Node]:
    """Control-flow ops, nodes in a while frame, and everything downstream of a Switch (a dead
    tensor may reach it, and dead tensors do not cross devices yet); [] without control flow.
    """
    flow = [n for n in graph if flow_role(n) is not None]
    if not flow:
        return []
    frames = control_flow_frames(graph)
    region = {n: None for n in flow}
    for node in graph:
        if frames.frame_of.get(node, ROOT_FRAME) != ROOT_FRAME or (
                node in frames.frame_of and frames.inner_frame(node) != ROOT_FRAME):
            region[node] = None
    stack = [n for n in flow if flow_role(n) == "switch"]
    reached = set(stack)
    while stack:
        for user in stack.pop()._users:
            if user not in reached:
                reached.add(user)
                region[user] = None
                stack.append(user)
    return list(region)


# -- requests and candidates ------------------------------------------------------------------

def _request(node: Node) -> DeviceSpec:
    try:
        return parse_device(node.device)
    except GraphError as err:
        raise GraphError(f"node {node.name!r} ({node.op}): {err}") from None


def _merge(a: DeviceSpec, b: DeviceSpec) -> Optional[DeviceSpec]:
    """The spec satisfying both, or None when a field differs."""
    fields = {}
    for f in _FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        if x is not None and y is not None and x != y:
            return None
        fields[f] = x if x is not None else y
    return DeviceSpec(**fields)


def _matches(request: DeviceSpec, device: DeviceSpec) -> bool:
    return all(getattr(request, f) is None or getattr(request, f) == getattr(device, f)
               for f in _FIELDS)


def _holds_state(node: Node) -> bool:
    return any(t.base == DType.RESOURCE or t.is_ref for t in node.out_types)


class _Placer:
    def __init__(self, devices: Sequence[str], soft: bool, has_kernel, report: PlacementReport):
        names = [full_device_name(d) for d in devices]
        if not names:
            raise GraphError("zero devices: nothing to place the graph on")
        self.devices = {name: parse_device(name) for name in dict.fromkeys(names)}
        self.types = {spec.type for spec in self.devices.values()}
        self.soft, self.has_kernel, self.report = soft, has_kernel, report
        self._kernel_types: dict[str, frozenset] = {}

    def kernel_types(self, op: str) -> frozenset:
        found = self._kernel_types.get(op)
        if found is None:
            found = frozenset(t for t in self.types if self.has_kernel(op, t))
            self._kernel_types[op] = found
        return found

    def merged_request(self, members: list[Node], groups: _Groups):
        spec, owner = DeviceSpec(), None
        for node in sorted(members, key=lambda n: not _holds_state(n)):
            if not node.device:
                continue
            merged = _merge(spec, _request(node))
            if merged is None:
                why = groups.why.get(node) or groups.why.get(owner, "colocation")
                problem = (f"cannot colocate node {node.name!r} (requests {node.device!r}) with "
                           f"node {owner.name!r} (requests {owner.device!r}): {why}")
                self._soft_or_fail(problem, f"{node.name!r} goes with {owner.name!r}")
                continue
            spec, owner = merged, owner or node
        return spec, owner

    def candidates(self, members: list[Node], groups: _Groups) -> list[str]:
        request, owner = self.merged_request(members, groups)
        supported = set(self.types)
        for node in members:
            supported &= self.kernel_types(node.op) or supported
        able = [name for name, spec in self.devices.items() if spec.type in supported]
        if not able:
            ops = sorted({n.op for n in members})
            raise GraphError(f"no available device can run every op of the group of "
                             f"{members[0].name!r} (ops {ops}) on one device; devices: "
                             f"{list(self.devices)}")
        matching = [n for n, spec in self.devices.items() if _matches(request, spec)]
        chosen = [n for n in able if n in matching]
        if chosen:
            return chosen
        if not matching:
            problem = (f"node {owner.name!r} ({owner.op}) requests device {owner.device!r}, "
                       f"which matches none of the available devices {list(self.devices)}")
        else:
            lacking = next((n for n in members if self.kernel_types(n.op)
                            and not any(self.devices[m].type in self.kernel_types(n.op)
                                        for m in matching)), owner)
            problem = (f"node {owner.name!r} requests device {owner.device!r}, but op "
                       f"{lacking.op} (node {lacking.name!r}) has no kernel on "
                       f"{sorted({self.devices[m].type for m in matching})}")
        self._soft_or_fail(problem, f"placing it on one of {able}")
        return able

    def _soft_or_fail(self, problem: str, fallback: str) -> None:
        if not self.soft:
            raise GraphError(f"{problem} (soft placement is off)")
        self.report.notes.append(f"soft placement: {problem}; {fallback}")
        count(self.report.stats, "soft_placed")


# -- choosing among candidates ----------------------------------------------------------------

def _is_follower(node: Node, followers: set) -> bool:
    """Nodes without data inputs (Const, Placeholder), tiny ops, and light ops reading only
    followers (Identity of a weight, batch-norm folding on constants) follow their consumers."""
    if not node.inputs:
        return True
    if all(cost_model.tensor_bytes(r) <= TINY_BYTES for r in node.inputs + node.outputs):
        return True
    return not cost_model.is_heavy(node) and all(r.node in followers for r in node.inputs)


def _short(device: str) -> str:
    return device.rsplit("/device:", 1)[-1]


class _Chooser:
    """Rule 4: one device per group, in topological order, by the cost model."""

    def __init__(self, placer: _Placer, groups: _Groups, members: dict, candidates: dict,
                 use_cost: bool):
        self.groups, self.members = groups, members
        self.candidates, self.use_cost = candidates, use_cost
        self.report = placer.report
        self.schedule = cost_model.Schedule({n: s.type for n, s in placer.devices.items()})
        self.decided: dict[Node, str] = {r: c[0] for r, c in candidates.items() if len(c) == 1}
        self.device_of: dict[Node, str] = {}

    def run(self, order: list[Node]) -> dict[Node, str]:
        followers: dict[Node, None] = {}
        for node in order:
            root = self.groups.find(node)
            if root not in self.decided:
                if self.use_cost and len(self.members[root]) == 1 and \
                        _is_follower(node, followers):
                    followers[node] = None
                    self.schedule.pass_through(node)
                    continue
                self.decided[root] = self._choose(node, self.candidates[root])
            device = self.device_of[node] = self.decided[root]
            self.schedule.commit(node, device, self.device_of)
        for node in reversed(followers):
            self.device_of[node] = self._follow(node)
            self._decide(node, self.device_of[node], "follows_consumer")
        self.report.estimated_step_s = self.schedule.makespan
        return self.device_of

    def _choose(self, node: Node, candidates: list[str]) -> str:
        if not self.use_cost:
            return candidates[0]
        if cost_model.is_shape_only(node) and node.inputs:
            source = self.device_of.get(node.inputs[0].node)
            if source in candidates:
                self._decide(node, source, "shape_with_input")
                return source
        options = {d: self.schedule.finish_on(node, d, self.device_of) for d in candidates}
        best = min(candidates, key=lambda d: options[d][2])
        _, compute, finish = options[best]
        self._decide(node, best, "cost", compute, finish,
                     {d: f for d, (_, _, f) in options.items()})
        return best

    def _follow(self, node: Node) -> str:
        """The device most of ``node``'s consumers use, else its first input's, else the first
        candidate."""
        candidates = self.candidates[self.groups.find(node)]
        used = [self.device_of[u] for u in node._users
                if self.device_of.get(u) in candidates]
        if used:
            return collections.Counter(used).most_common(1)[0][0]
        inputs = [self.device_of.get(r.node) for r in node.inputs]
        inputs += [self.device_of.get(c) for c in node.control_inputs]
        return next((d for d in inputs if d in candidates), candidates[0])

    def _decide(self, node: Node, device: str, reason: str, compute: float = 0.0,
                finish: float = 0.0, alternatives: Optional[dict] = None) -> None:
        self.report.decisions.append(Decision(node.name, device, reason, compute, finish,
                                              alternatives or {}))
        count(self.report.stats, f"placed_{reason}")
        if reason == "cost":
            others = ", ".join(f"{_short(d)} {t * 1e6:.1f} us" for d, t in
                               (alternatives or {}).items() if d != device)
            self.report.notes.append(
                f"placed {node.name} ({node.op}) on {_short(device)}: est. compute "
                f"{compute * 1e6:.1f} us, done at {finish * 1e6:.1f} us (elsewhere: {others})")


# -- entry points -----------------------------------------------------------------------------

def _kernel_exists(op: str, device_type: str) -> bool:
    from runtime.kernels import KERNELS
    return KERNELS.lookup(op, _KERNEL_KEYS.get(device_type, device_type.lower())) is not None


def place_graph(graph: Graph, devices: Sequence[str] = (DEFAULT_DEVICE,),
                allow_soft_placement: bool = True, use_cost_model: bool = True,
                has_kernel: Optional[Callable[[str, str], bool]] = None) -> PlacementReport:
    """Writes a canonical full device name into every node's ``device``; returns the report.

    ``has_kernel(op, device_type)`` defaults to the runtime's kernel table.
    """
    report = PlacementReport()
    placer = _Placer(devices, allow_soft_placement, has_kernel or _kernel_exists, report)
    order = graph.topological_order()
    groups = colocation_groups(graph)
    members = groups.members(order)
    candidates = {root: placer.candidates(nodes, groups) for root, nodes in members.items()}
    count(report.stats, "placed_fixed", sum(len(members[r]) for r, c in candidates.items()
                                            if len(c) == 1))
    chosen = _Chooser(placer, groups, members, candidates, use_cost_model).run(order)
    for node in order:
        if node.device != chosen[node]:
            node.device = chosen[node]
            report.modified = True
    report.stats["estimated_step_us"] = int(round(report.estimated_step_s * 1e6))
    return report


@register_pass("place")
def place(graph: Graph, ctx: PassContext) -> PassResult:
    """Places every node on one of ``ctx.devices`` (options: allow_soft_placement, cost_model).

    x (no device), y = Relu(x) @/cpu:1, devices [cpu:0, cpu:1]
        -> x @/job:localhost/replica:0/task:0/device:CPU:1 (follows y), y @.../device:CPU:1
    """
    report = place_graph(graph, ctx.devices or [DEFAULT_DEVICE],
                         bool(ctx.options.get("allow_soft_placement", True)),
                         bool(ctx.options.get("cost_model", True)))
    for note in report.notes:
        ctx.note(note)
    return PassResult(graph, report.modified, report.stats if report.modified else {})


def format_placement(graph: Graph) -> str:
    """Nodes by device, one line per node, e.g.

        /job:localhost/replica:0/task:0/device:CPU:0  (2 nodes)
          x  Placeholder
          y  Relu
    """
    by_device: dict[str, list[Node]] = {}
    for node in graph:
        by_device.setdefault(node.device or "(no device)", []).append(node)
    lines = []
    for device in sorted(by_device):
        nodes = by_device[device]
        lines.append(f"{device}  ({len(nodes)} node{'s' if len(nodes) != 1 else ''})")
        width = max(len(n.name) for n in nodes)
        lines += [f"  {n.name:<{width}}  {n.op}" for n in nodes]
    return "\n".join(lines)
