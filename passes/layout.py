"""layout: sinks Transposes through layout-agnostic ops so that they meet and cancel.

    y = Transpose(Mean(Add(Relu(Transpose(x, [0,3,1,2])), bias[1,C,1,1]), [2,3]), [0,2,3,1])
 => y = Mean(Add(Relu(x), bias'[1,1,1,C]), [1,2])                     (no Transpose left)

A region grows from a seed Transpose (static perm) down through the ops whose registry flag
``layout`` is set (``layout_kinds()``, also importable as LAYOUT_AGNOSTIC): elementwise ops (other
operands: region values with the same perm, Transposes with it, all-ones shapes, or
constants, transposed back), reductions and Squeeze (axes remapped, the perm shrinks), pads
(paddings rows permuted), ConcatV2 (axis remapped); Transposes reading a region value compose
with it. Each value leaving the region (outside users, a fetch) gets one Transpose back. A region
is rewritten only when that leaves strictly fewer Transposes (a cost rule like Grappler's and
onnxruntime's): no work is duplicated and the pass terminates. A fetched node keeps its name (the
Transpose back takes it; the computing node becomes ``<name>/untransposed``; a fetched Transpose
that cancels becomes an Identity). Dtypes, static shapes outside the region, devices and control
edges are kept. Stats: "sunk" (ops moved before a Transpose), "cancelled" (Transposes removed),
"transposes_remaining" (also noted).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Optional

import numpy as np

from passes.base import PassContext, PassResult, count, register_pass
from passes.edit import move_control_users
from schema.ir import Graph, Node, TensorRef
from schema.infer import infer_node, static_value
from schema.registry import all_ops

__all__ = ["layout", "layout_kinds", "LAYOUT_AGNOSTIC"]


@functools.cache
def layout_kinds() -> dict[str, str]:
    """Op -> how it maps through a Transpose, from the registry's ``layout`` flag (built once).

    layout_kinds()["Sum"] -> "reduce";  "Softmax", "BiasAdd" are absent (they use the last dim)
    """
    return {name: d.layout for name, d in all_ops().items() if d.layout}


def __getattr__(name: str):  # LAYOUT_AGNOSTIC (op -> kind) stays importable, built on first use
    if name == "LAYOUT_AGNOSTIC":
        return layout_kinds()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_MAX_REGION = 256   # nodes in one region: keeps the cost search (quadratic in it) cheap
_MAX_SWEEPS = 64
_VALUE = "value"    # plan action: the input is a region value; read its untransposed form

Perm = tuple


@register_pass("layout")
def layout(graph: Graph, ctx: PassContext) -> PassResult:
    stats: dict[str, int] = {}
    for _ in range(_MAX_SWEEPS):
        if not _sweep(graph, ctx, stats):
            break
    modified, remaining = bool(stats), sum(1 for n in graph if n.op == "Transpose")
    if remaining or modified:
        stats["transposes_remaining"] = remaining
        ctx.note(f"layout: {remaining} Transpose node(s) remain")
    return PassResult(graph, modified, stats)


def _sweep(graph: Graph, ctx: PassContext, stats: dict) -> bool:
    fired = False
    for node in graph.topological_order():
        if node.op != "Transpose" or graph.nodes.get(node.name) is not node:
            continue
        perm, shape = _static_perm(node), node.inputs[0].shape
        if perm is None or shape is not None and len(shape) != len(perm):
            continue
        region = _Region(graph, ctx, node)
        if region.grow(node, perm).prune().cost() < 0:
            count(stats, "cancelled", -region.cost())
            count(stats, "sunk", sum(1 for p in region.members.values() if p is not None))
            _Rewrite(graph, ctx, region).run()
            fired = True
    return fired


# -- permutations ---------------------------------------------------------------------------------

def _static_perm(node: Node) -> Optional[Perm]:
    value = static_value(node.inputs[1]) if len(node.inputs) == 2 else None
    if value is None or value.ndim != 1 or value.dtype.kind not in "iu":
        return None
    rank = value.size
    perm = tuple(int(p) + rank if p < 0 else int(p) for p in value.tolist())
    return perm if sorted(perm) == list(range(rank)) else None


def _identity(perm: Perm) -> bool:
    return perm == tuple(range(len(perm)))


def _inverse(perm: Perm) -> Perm:
    return tuple(int(i) for i in np.argsort(perm))


def _reduced_perm(perm: Perm, axes: list[int]) -> Perm:
    """The perm left after dims ``axes`` (of the transposed value) are dropped."""
    gone = {perm[a] for a in axes}
    position = {d: i for i, d in enumerate(sorted(set(range(len(perm))) - gone))}
    return tuple(position[perm[i]] for i in range(len(perm)) if i not in set(axes))


def _static_axes(ref: TensorRef, rank: int) -> Optional[tuple[np.ndarray, list[int]]]:
    """(the raw value, the axes in [0, rank)) of a static axis input; None if unusable."""
    value = static_value(ref)
    if value is None or value.dtype.kind not in "iu":
        return None
    axes = [int(a) % rank for a in value.reshape(-1).tolist() if -rank <= a < rank]
    return (value, axes) if len(set(axes)) == len(axes) == value.size else None


# -- regions -------------------------------------------------------------------------------------

@dataclasses.dataclass
class _Plan:
    """How a region node is rewritten: its output's perm, per-input actions, attr updates."""
    perm: Perm
    inputs: dict          # index -> _VALUE or (name suffix, new constant value)
    attrs: dict = dataclasses.field(default_factory=dict)
    joins: list = dataclasses.field(default_factory=list)   # Transposes entering with it
    shrinks: bool = False  # the output is smaller than the input: keep the Transpose after it


class _Region:
    """Nodes computed in the untransposed layout. ``perms[v] = q`` means: the original value v
    equals Transpose(v', q), v' being what the rewritten graph computes. Transposes of the
    region have plan None; ``entries`` are those whose input comes from outside."""

    def __init__(self, graph: Graph, ctx: PassContext, seed: Node):
        self.graph, self.ctx, self.seed = graph, ctx, seed
        self.perms: dict[TensorRef, Perm] = {}
        self.members: dict[Node, Optional[_Plan]] = {}
        self.entries: set[Node] = set()

    def add_transpose(self, node: Node, perm: Perm, entry: bool) -> TensorRef:
        self.members[node], self.perms[node.output(0)] = None, perm
        self.entries.update([node] if entry else [])
        return node.output(0)

    def grow(self, seed: Node, perm: Perm) -> "_Region":
        frontier = [self.add_transpose(seed, perm, entry=True)]
        pending: dict[Node, None] = {}
        while frontier:
            for ref in frontier:
                if not _identity(self.perms[ref]):  # the value is back in its own layout
                    pending.update((u, None) for u, _ in self.graph.consumers(ref)
                                   if u not in self.members)
            frontier = []
            for node in list(pending):
                if len(self.members) >= _MAX_REGION:
                    self.ctx.note(f"layout: region of {seed.name!r} capped at {_MAX_REGION}")
                    return self
                added = self._absorb(node)
                if added:
                    del pending[node]
                    frontier.extend(added)
        return self

    def _absorb(self, node: Node) -> list[TensorRef]:
        if node in self.members or node.num_outputs != 1 or any(
                u in self.entries for u, _ in self.graph.consumers(node.output(0))):
            return []
        perm = _static_perm(node) if node.op == "Transpose" else None
        if perm is not None and node.inputs[0] in self.perms:
            source = self.perms[node.inputs[0]]
            return [self.add_transpose(node, tuple(source[i] for i in perm), entry=False)]
        planner = _PLANNERS.get(layout_kinds().get(node.op, ""))
        plan = planner(node, self) if planner and node.op_def is not None else None
        if plan is None:
            return []
        self.members[node], self.perms[node.output(0)] = plan, plan.perm
        joined = [self.add_transpose(j, plan.perm, entry=True) for j in dict.fromkeys(plan.joins)]
        return [node.output(0)] + joined

    def needs_exit(self, node: Node) -> bool:
        """A Transpose back is needed after ``node`` (for outside users or a fetch)."""
        ref = node.output(0)
        return not _identity(self.perms[ref]) and (self.ctx.is_preserved(node) or any(
            u not in self.members for u, _ in self.graph.consumers(ref)))

    def cost(self) -> int:
        """Transposes after the rewrite minus Transposes before it (negative: a gain)."""
        before = sum(1 for plan in self.members.values() if plan is None)
        return sum(1 for node in self.members if self.needs_exit(node)) - before

    def prune(self) -> "_Region":
        """Drops end nodes while that does not cost a Transpose (ties favour the smaller region,
        except after a shrinking op, where the Transpose back is cheaper)."""
        changed = True
        while changed:
            changed = False
            for node in reversed(list(self.members)):
                if any(u in self.members for u, _ in self.graph.consumers(node.output(0))):
                    continue
                base = self.cost()
                plan, perm = self.members.pop(node), self.perms.pop(node.output(0))
                after = self.cost()
                if after < base or (after == base and not (plan and plan.shrinks)):
                    self.entries.discard(node)
                    changed = True
                else:
                    self.members[node], self.perms[node.output(0)] = plan, perm
        return self

    # -- what planners ask -------------------------------------------------------------------
    def region_perm(self, node: Node, positions) -> Optional[Perm]:
        """The one perm of the region values among ``positions``; None when there is none, they
        disagree, or a region value sits at another position."""
        inside = {i: self.perms[r] for i, r in enumerate(node.inputs) if r in self.perms}
        found = set(inside.values())
        return found.pop() if len(found) == 1 and set(inside) <= set(positions) else None

    def joinable(self, ref: TensorRef, perm: Perm) -> bool:
        """``ref`` is a Transpose from outside with the region's perm: it can enter too."""
        node = ref.node
        return (node.op == "Transpose" and node not in self.members and ref.index == 0
                and node.inputs[0] not in self.perms and _static_perm(node) == perm)

    def operand(self, ref: TensorRef, perm: Perm, same_rank: bool):
        """The action for a non-region data operand: _VALUE (a Transpose that joins), None
        (kept: it broadcasts the same in any layout), a transposed constant, or False."""
        rank, shape = len(perm), ref.shape
        if not same_rank and shape is not None and len(shape) <= rank and set(shape) <= {1}:
            return None
        if self.joinable(ref, perm):
            return _VALUE
        value = static_value(ref)
        if value is None or value.ndim > rank or (same_rank and value.ndim != rank):
            return False
        if value.nbytes > self.ctx.max_folded_bytes:
            self.ctx.note(f"layout: constant {ref.name} ({value.nbytes} bytes) is over "
                          f"max_folded_bytes; not transposed")
            return False
        full = value.reshape((1,) * (rank - value.ndim) + value.shape)
        return ("const", np.ascontiguousarray(np.transpose(full, _inverse(perm))))


# -- planners: one per kind of LAYOUT_AGNOSTIC ----------------------------------------------------

def _plan_operands(node: Node, region: _Region, positions, same_rank: bool) -> Optional[_Plan]:
    perm = region.region_perm(node, positions)
    if perm is None:
        return None
    plan = _Plan(perm, {})
    for i in positions:
        ref = node.inputs[i]
        action = _VALUE if ref in region.perms else region.operand(ref, perm, same_rank)
        if action is False:
            return None
        if action is _VALUE and ref not in region.perms:
            plan.joins.append(ref.node)
        if action is not None:
            plan.inputs[i] = action
    return plan


def _plan_elementwise(node: Node, region: _Region) -> Optional[_Plan]:
    # Add(Transpose(x, p), c) -> Transpose(Add(x, c'), p), c' = c padded to rank, transposed back
    return _plan_operands(node, region, range(len(node.inputs)), same_rank=False)


def _plan_concat(node: Node, region: _Region) -> Optional[_Plan]:
    # ConcatV2(Transpose(a, p), Transpose(b, p), axis) -> Transpose(ConcatV2(a, b, p[axis]), p)
    n = len(node.inputs) - 1
    plan = _plan_operands(node, region, range(n), same_rank=True)
    axis = _static_axes(node.inputs[n], len(plan.perm)) if plan else None
    if axis is None or axis[0].ndim != 0:
        return None
    plan.inputs[n] = ("axis", np.asarray(plan.perm[axis[1][0]], axis[0].dtype))
    return plan


def _plan_reduce(node: Node, region: _Region) -> Optional[_Plan]:
    # Mean(Transpose(x, p), axes) -> Mean(x, p[axes]), then the perm left (or p, keep_dims)
    perm = region.region_perm(node, (0,))
    axes = _static_axes(node.inputs[1], len(perm)) if perm else None
    if axes is None:
        return None
    new_axes = np.asarray([perm[a] for a in axes[1]], axes[0].dtype).reshape(axes[0].shape)
    out = perm if node.attrs.get("keep_dims", False) else _reduced_perm(perm, axes[1])
    return _Plan(out, {0: _VALUE, 1: ("axes", new_axes)}, shrinks=True)


def _plan_pad(node: Node, region: _Region) -> Optional[_Plan]:
    # Pad(Transpose(x, p), pads) -> Transpose(Pad(x, pads[inverse(p)]), p)
    perm = region.region_perm(node, (0,))
    paddings = static_value(node.inputs[1]) if perm else None
    if paddings is None or paddings.shape != (len(perm), 2):
        return None
    return _Plan(perm, {0: _VALUE, 1: ("paddings", paddings[list(_inverse(perm))])})


def _plan_squeeze(node: Node, region: _Region) -> Optional[_Plan]:
    # Squeeze(Transpose(x, p), dims) -> Squeeze(x, p[dims]), then the perm left
    perm = region.region_perm(node, (0,))
    dims = [int(d) for d in node.attrs.get("squeeze_dims") or []]
    rank = len(perm) if perm else 0
    if not dims or any(not -rank <= d < rank for d in dims):
        return None
    dims = sorted({d % rank for d in dims})
    return _Plan(_reduced_perm(perm, dims), {0: _VALUE},
                 attrs={"squeeze_dims": sorted(perm[d] for d in dims)}, shrinks=True)


_PLANNERS: dict[str, Callable[[Node, _Region], Optional[_Plan]]] = {
    "elementwise": _plan_elementwise, "reduce": _plan_reduce, "pad": _plan_pad,
    "concat": _plan_concat, "squeeze": _plan_squeeze,
}


# -- the rewrite ---------------------------------------------------------------------------------

class _Rewrite:
    """Applies a region in topological order: each member reads the untransposed forms of its
    region inputs; values leaving the region get a Transpose back."""

    def __init__(self, graph: Graph, ctx: PassContext, region: _Region):
        self.graph, self.ctx, self.region = graph, ctx, region
        self.new: dict[TensorRef, TensorRef] = {}     # region value -> its untransposed form
        self.dissolved: list[tuple[Node, Optional[Node]]] = []   # (Transpose, its keeper)
        self.orphans: list[Node] = []                 # constants that may be left unused

    def run(self) -> None:
        for node in self.graph.topological_order(list(self.region.members)):
            outside = [(u, i) for u, i in self.graph.consumers(node.output(0))
                       if u not in self.region.members]
            plan = self.region.members[node]
            if plan is None:
                self._transpose(node, outside)
            else:
                self._member(node, plan, outside)
        for node, keeper in reversed(self.dissolved):  # users first
            name = node.name
            self.graph.remove_node(node)
            if keeper is not None:
                self.graph.rename(keeper, name)
        for node in self.orphans:
            if self.graph.nodes.get(node.name) is node and node.op == "Const" \
                    and not node.users and not self.ctx.is_preserved(node):
                self.graph.remove_node(node)

    def _rewire(self, user: Node, index: int, ref: TensorRef) -> None:
        """``user`` reads ``ref``; a Transpose it read before hands on its control inputs."""
        old = user.inputs[index].node
        if self.region.members.get(old, False) is None:
            for ctl in old.control_inputs:
                if ctl is not user:
                    self.graph.add_control_input(user, ctl)
        self.graph.set_input(user, index, ref)

    def _transpose(self, node: Node, outside: list) -> None:
        source = node.inputs[0]
        untransposed = self.new.get(source, source)
        perm = self.region.perms[node.output(0)]
        self.new[node.output(0)] = untransposed
        if self.region.needs_exit(node):  # kept, reading the untransposed value
            if untransposed != source:
                self._rewire(node, 0, untransposed)
            if _static_perm(node) != perm:
                self.orphans.append(node.inputs[1].node)
                self._rewire(node, 1, self._const(f"{node.name}/perm", perm, node.inputs[1]))
            infer_node(node)
            return
        for user, i in outside:
            self._rewire(user, i, untransposed)
        keeper = None
        if self.ctx.is_preserved(node):  # a fetched Transpose that cancels: Identity(x)
            keeper = self.graph.add_node(
                "Identity", self.graph.unique_name(f"{node.name}/cancelled"),
                inputs=[untransposed], attrs={"T": untransposed.dtype},
                device=node.device, control_inputs=node.control_inputs)
        move_control_users(self.graph, node,
                           [keeper] if keeper else [untransposed.node] + node.control_inputs)
        self.orphans.append(node.inputs[1].node)
        self.dissolved.append((node, keeper))

    def _member(self, node: Node, plan: _Plan, outside: list) -> None:
        for i, action in plan.inputs.items():
            ref = node.inputs[i]
            if action is _VALUE:
                self._rewire(node, i, self.new[ref])
            else:
                self.orphans.append(ref.node)
                self._rewire(node, i, self._const(f"{node.name}/{action[0]}", action[1], ref))
        node.attrs.update(plan.attrs)
        infer_node(node)
        self.new[node.output(0)] = node.output(0)
        if not self.region.needs_exit(node):
            return
        name = node.name
        if self.ctx.is_preserved(node):  # the Transpose back takes the fetched name
            self.graph.rename(node, self.graph.unique_name(f"{name}/untransposed"))
        else:
            name = self.graph.unique_name(f"{name}/transpose")
        like = self.region.seed.inputs[1]  # new perms: the seed's perm dtype, device and frame
        back = self.graph.add_node(
            "Transpose", name, device=node.device,
            inputs=[node.output(0), self._const(f"{name}/perm", plan.perm, like)],
            attrs={"T": node.out_types[0], "Tperm": like.dtype.base})
        for user, i in outside:
            self.graph.set_input(user, i, back.output(0))

    def _const(self, name: str, value, like: TensorRef) -> TensorRef:
        """A constant in place of ``like``: its dtype, device and control inputs (frame)."""
        dtype, source = like.dtype.base, like.node
        const = self.graph.add_node(
            "Const", self.graph.unique_name(name), device=source.device,
            attrs={"value": np.asarray(value).astype(dtype.np), "dtype": dtype},
            control_inputs=source.control_inputs)
        return const.output(0)
