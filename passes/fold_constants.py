"""fold_constants: evaluates what is known before the graph runs, with the runtime's own kernels.

    Add(Const 2, Const 3)                      =>  Const 5           (same name, same device)
    Shape(x: f32[2,3]); Rank(y: f32[?,3])      =>  Const [2, 3] ^x;  Const 2 ^y
    AddN(x, Const a, y, Const b)               =>  AddN(x, Const a+b, y)
    ConcatV2(x, Const a, Const b, axis)        =>  ConcatV2(x, Const [a;b], axis)
    (x * Const c1) * Const c2                  =>  x * Const c1*c2    (also AddV2 / Add)

One topological sweep: a folded value is a Const that later nodes of the same sweep read.
Values come from ``runtime.kernels`` (CPU), so folding and execution cannot disagree.

Never folded: stateful, random or side-effecting ops, placeholders, v1 control flow and anything
downstream of a Switch or Enter output (a frame or a branch that may be dead), preserved
(fetched or target) nodes, ops without a CPU kernel, resource/variant/reference values, and
results over ``ctx.max_folded_bytes``: checked from the static shape before any allocation, by
the kernels' own byte budget, and on the result. A kernel that fails (integer division by zero)
leaves the node to fail at run time. Skips are noted (``ctx.note``) and counted.

Control edges survive: a new Const waits for the folded node's control inputs and those of the
Consts it read; a materialized shape waits for the tensor it describes (Grappler does the same).
The partial rewrites keep their node (name, outputs), so they also apply to preserved nodes.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Iterable, Optional

import numpy as np

from passes.base import PassContext, PassResult, count, register_pass
from passes.edit import move_control_users
from passes.rewrite import broadcasts_into
from runtime.kernels import KERNELS, KernelContext, compile_node
from schema.dtypes import DType
from schema.errors import GccFlowError, LimitExceeded
from schema.infer import infer_node
from schema.ir import Graph, Node, TensorRef
from schema.limits import DEFAULT_LIMITS
from schema.shapes import broadcast_shapes

__all__ = ["fold_constants", "REWRITE_RULES"]

REWRITE_RULES = ("folded", "materialized_shape", "partial_addn", "partial_concat",
                 "reassociated")
_OPAQUE = frozenset({DType.RESOURCE, DType.VARIANT})
# Shape queries: (needs every dim known, value from the static shape). Output i describes
# input i for ShapeN, input 0 otherwise.
_SHAPE_QUERIES: dict[str, tuple[bool, Callable[[tuple], object]]] = {
    "Shape": (True, list), "ShapeN": (True, list), "Size": (True, math.prod), "Rank": (False, len),
}
# Associative and commutative binary ops that reassociation may regroup.
_REGROUPABLE = frozenset({"Mul", "AddV2", "Add"})


@register_pass("fold_constants")
def fold_constants(graph: Graph, ctx: PassContext) -> PassResult:
    folder = _Folder(graph, ctx)
    for node in graph.topological_order():
        if graph.nodes.get(node.name) is node:
            folder.visit(node)
    stats = folder.stats
    return PassResult(graph, any(stats.get(rule) for rule in REWRITE_RULES), stats)


class _Folder:
    def __init__(self, graph: Graph, ctx: PassContext):
        self.graph, self.ctx = graph, ctx
        self.stats: dict[str, int] = {}
        self.in_frame: set[Node] = set()
        self.cap = ctx.max_folded_bytes
        self.limits = dataclasses.replace(
            DEFAULT_LIMITS, max_tensor_bytes=min(self.cap, DEFAULT_LIMITS.max_tensor_bytes))

    def visit(self, node: Node) -> None:
        if self._enters_frame(node) or not _foldable_kind(node):
            return
        if not self.ctx.is_preserved(node) and (self.materialize(node) or self.fold(node)):
            return
        rule = _PARTIAL_RULES.get(node.op)
        if rule is not None:
            rule(self, node)

    def _enters_frame(self, node: Node) -> bool:
        deps = [r.node for r in node.inputs] + node.control_inputs
        # v1 control flow (op flag) is never folded, and what it reaches runs in a frame or a
        # possibly dead branch, so it is never folded either.
        if _is_control_flow(node) or any(d in self.in_frame for d in deps):
            self.in_frame.add(node)
            return True
        return False

    # -- whole nodes ---------------------------------------------------------------------
    def fold(self, node: Node) -> bool:
        """Replaces a node whose data inputs are all Const; True when it was tried."""
        if not node.inputs or not all(_is_const(r) for r in node.inputs):
            return False
        used = _used_outputs(node)
        if not used:
            return False
        values = self.evaluate(node, used, node)
        if values is not None:
            self.replace(node, values, _forwarded_controls(node.inputs, node.control_inputs))
            count(self.stats, "folded")
        return True

    def materialize(self, node: Node) -> bool:
        """Shape/ShapeN/Size/Rank of a statically known shape -> Const ^input."""
        query = _SHAPE_QUERIES.get(node.op)
        if query is None or not node.inputs:
            return False
        values, sources = {}, []
        for i in _used_outputs(node):
            ref = node.inputs[i if node.num_outputs > 1 else 0]
            value = _shape_value(query, ref.shape, node.out_types[i])
            if value is not None:
                values[i] = value
                sources.append(ref)
        if not values:
            return False
        self.replace(node, values, _forwarded_controls(sources, node.control_inputs))
        count(self.stats, "materialized_shape")
        return True

    # -- evaluation ----------------------------------------------------------------------
    def evaluate(self, node: Node, used: list[int], owner: Node) -> Optional[dict]:
        """{output index: value} for ``used`` outputs, or None (noted) when too big or failing."""
        if KERNELS.lookup(node.op, "cpu") is None:
            return None
        for i in used:
            size = _static_bytes(node.out_shapes[i], node.out_types[i])
            if size is not None and size > self.cap:
                return self.too_large(owner, f"result of {size} bytes")
        args = [r.node.attrs["value"] for r in node.inputs]
        try:
            fn = compile_node(KernelContext(node=node, limits=self.limits))
            with np.errstate(all="ignore"):
                outputs = _as_outputs(fn(*args), node.num_outputs)
            values = {i: _checked_value(node, i, outputs[i], args) for i in used}
        except LimitExceeded:  # the kernel's byte budget (limits) refused before allocating
            return self.too_large(owner, "result")
        except Exception as err:  # noqa: BLE001  (any kernel failure: the runtime decides)
            return self.skip("skipped_error", owner,
                             f"evaluation failed: {type(err).__name__}: {str(err)[:200]}")
        for value in values.values():
            if value.nbytes > self.cap:
                return self.too_large(owner, f"result of {value.nbytes} bytes")
        return values

    def too_large(self, node: Node, what: str) -> None:
        return self.skip("skipped_too_large", node,
                         f"{what} is over max_folded_bytes={self.cap}")

    def skip(self, rule: str, node: Node, why: str) -> None:
        count(self.stats, rule)
        self.ctx.note(f"fold_constants: kept {node.name} ({node.op}): {why}")
        return None

    # -- graph edits ---------------------------------------------------------------------
    def new_const(self, base: str, value: np.ndarray, dtype: DType, device: str,
                  controls: list[Node]) -> Node:
        return self.graph.add_node("Const", self.graph.unique_name(base),
                                   attrs={"value": value, "dtype": dtype.base}, device=device,
                                   control_inputs=controls)

    def replace(self, node: Node, values: dict, controls: list[Node]) -> None:
        """Users of node's output i read a new Const holding values[i]; node goes once unused."""
        consts = []
        for i, value in values.items():
            const = self.new_const(f"{node.name}/folded_{i}", value, node.out_types[i],
                                   node.device, controls)
            self.graph.replace_all_uses(node.output(i), const.output(0))
            consts.append(const)
        if _used_outputs(node):  # a ShapeN with some shapes still unknown
            return
        move_control_users(self.graph, node, consts)
        sources = [r.node for r in node.inputs]
        self.graph.remove_node(node)
        if node.num_outputs == 1:
            self.graph.rename(consts[0], node.name)
        self.drop_dead_consts(sources)

    def fold_group(self, node: Node, refs: list[TensorRef], suffix: str,
                   **attrs) -> Optional[TensorRef]:
        """A new Const holding ``node.op`` applied to the Const ``refs``, or None (noted)."""
        try:
            probe = _probe(node, refs, attrs)
        except GccFlowError as err:
            return self.skip("skipped_error", node, f"constant operands do not combine: {err}")
        values = self.evaluate(probe, [0], node)
        if values is None:
            return None
        const = self.new_const(f"{node.name}/{suffix}", values[0], probe.out_types[0],
                               node.device, _forwarded_controls(refs, ()))
        return const.output(0)

    def rewire(self, node: Node, refs: list[TensorRef], rule: str, **attrs) -> None:
        old = [r.node for r in node.inputs]
        self.graph.set_inputs(node, refs)
        node.attrs.update(attrs)
        count(self.stats, rule)
        self.drop_dead_consts(old)

    def drop_dead_consts(self, nodes: Iterable[Node]) -> None:
        for node in dict.fromkeys(nodes):
            if (node.op == "Const" and not node.users and not self.ctx.is_preserved(node)
                    and self.graph.nodes.get(node.name) is node):
                self.graph.remove_node(node)

    # -- partial rewrites ----------------------------------------------------------------
    def partial_addn(self, node: Node) -> None:
        """AddN(x, Const a, y, Const b) -> AddN(x, Const a+b, y) for same-shaped constants."""
        consts = [i for i, r in enumerate(node.inputs) if _is_const(r)]
        if len(consts) < 2 or len(consts) == len(node.inputs):
            return
        refs = [node.inputs[i] for i in consts]
        if len({r.shape for r in refs}) != 1:  # TF's AddN needs equal shapes
            return
        folded = self.fold_group(node, refs, "folded_sum", N=len(refs))
        if folded is None:
            return
        inputs = [folded if i == consts[0] else r for i, r in enumerate(node.inputs)
                  if i == consts[0] or not _is_const(r)]
        self.rewire(node, inputs, "partial_addn", N=len(inputs))

    def partial_concat(self, node: Node) -> None:
        """ConcatV2(x, Const a, Const b, y, axis) -> ConcatV2(x, Const [a;b], y, axis)."""
        *values, axis = node.inputs
        if not _is_const(axis) or all(_is_const(r) for r in values):
            return
        new, folded = list(values), 0
        for start, end in reversed(_const_runs(values)):
            ref = self.fold_group(node, values[start:end] + [axis], "folded_concat",
                                  N=end - start)
            if ref is not None:
                new[start:end] = [ref]
                folded += 1
        if folded:
            self.rewire(node, new + [axis], "partial_concat", N=len(new))
            count(self.stats, "partial_concat", folded - 1)

    def reassociate(self, node: Node) -> None:
        """(x op Const c1) op Const c2 -> x op Const (c1 op c2), when c1 op c2 broadcasts
        within x's static shape (so the result's shape and dtype cannot change)."""
        if node.attrs.get("T") == DType.STRING:  # string Add concatenates: not commutative
            return
        outer = _const_and_other(node)
        if outer is None:
            return
        c2, inner_ref = outer
        inner = inner_ref.node
        if inner.op != node.op or inner in self.in_frame or inner.control_inputs:
            return
        split = _const_and_other(inner)
        if split is None or not _fits_within(split[0].shape, c2.shape, split[1].shape):
            return
        c1, x = split
        folded = self.fold_group(node, [c1, c2], "folded_operand")
        if folded is None:
            return
        self.rewire(node, [x, folded], "reassociated")
        if not inner.users and not self.ctx.is_preserved(inner):
            self.graph.remove_node(inner)
            self.drop_dead_consts([c1.node])


_PARTIAL_RULES: dict[str, Callable[[_Folder, Node], None]] = {
    "AddN": _Folder.partial_addn,
    "ConcatV2": _Folder.partial_concat,
    **{op: _Folder.reassociate for op in _REGROUPABLE},
}


# -- helpers ------------------------------------------------------------------------------------

def _foldable_kind(node: Node) -> bool:
    """A pure op with a registry entry whose values can live in a Const."""
    op_def = node.op_def
    if (op_def is None or op_def.has_side_effects or op_def.is_random or op_def.is_stateful
            or op_def.is_feed):  # a feed replaces a placeholder's default
        return False
    if op_def.is_control_flow or node.op == "Const":
        return False
    if not node.num_outputs:
        return False
    types = [r.dtype for r in node.inputs] + list(node.out_types)
    return all(not t.is_ref and t not in _OPAQUE and t.has_numpy for t in types)


def _is_control_flow(node: Node) -> bool:
    return node.op_def is not None and node.op_def.is_control_flow


def _is_const(ref: TensorRef) -> bool:
    return ref.node.op == "Const" and isinstance(ref.node.attrs.get("value"), np.ndarray)


def _used_outputs(node: Node) -> list[int]:
    return sorted({r.index for user in node.users for r in user.inputs if r.node is node})


def _forwarded_controls(refs: Iterable[TensorRef], extra: Iterable[Node]) -> list[Node]:
    """What a replacement Const must wait for: ``extra``, the control inputs of Const inputs,
    and any non-Const input itself (a materialized shape still waits for its tensor)."""
    out = dict.fromkeys(extra)
    for ref in refs:
        if _is_const(ref):
            out.update(dict.fromkeys(ref.node.control_inputs))
        else:
            out[ref.node] = None
    return list(out)


def _static_bytes(shape, dtype: DType) -> Optional[int]:
    if shape is None or any(d is None for d in shape):
        return None
    return math.prod(shape) * dtype.np.itemsize


def _shape_value(query, shape, dtype: DType) -> Optional[np.ndarray]:
    needs_dims, compute = query
    if shape is None or (needs_dims and any(d is None for d in shape)) or not dtype.is_integer:
        return None
    value = compute(shape)
    info = np.iinfo(dtype.np)
    if any(v > info.max for v in (value if isinstance(value, list) else [value])):
        return None  # not representable in out_type: the runtime reports it
    return np.array(value, dtype=dtype.np)


def _as_outputs(result, n: int) -> list:
    if n == 1:
        return [result]
    if not isinstance(result, (tuple, list)) or len(result) != n:
        raise ValueError(f"kernel returned {type(result).__name__}, expected {n} outputs")
    return list(result)


def _checked_value(node: Node, i: int, raw, args: list) -> np.ndarray:
    """The kernel's output i as an owned array, checked against the declared dtype and shape."""
    value = np.asarray(raw)
    want = node.out_types[i].np
    if value.dtype != want:
        raise TypeError(f"output {i} is {value.dtype}, declared {node.out_types[i].tf_name}")
    static = node.out_shapes[i]
    if static is not None and (len(static) != value.ndim or any(
            d is not None and d != v for d, v in zip(static, value.shape))):
        raise ValueError(f"output {i} has shape {list(value.shape)}, inferred {list(static)}")
    if not value.flags.owndata or not value.flags.c_contiguous or any(value is a for a in args):
        value = np.array(value, copy=True)
    return value


def _probe(like: Node, refs: list[TensorRef], attrs: dict) -> Node:
    """A node outside the graph (no use-def links): ``like``'s op on ``refs``, to evaluate."""
    probe = Node(like.graph, like.name, like.op, {**like.attrs, **attrs}, like.device)
    probe.inputs = list(refs)
    infer_node(probe)
    return probe


def _const_and_other(node: Node) -> Optional[tuple[TensorRef, TensorRef]]:
    if len(node.inputs) != 2:
        return None
    a, b = node.inputs
    if _is_const(a) == _is_const(b):
        return None
    return (a, b) if _is_const(a) else (b, a)


def _fits_within(c1, c2, x) -> bool:
    """c1 and c2 broadcast together to a shape that broadcasts into x without growing it."""
    try:
        return broadcasts_into(broadcast_shapes(c1, c2), x)
    except GccFlowError:
        return False


def _const_runs(refs: list[TensorRef]) -> list[tuple[int, int]]:
    """[start, end) of each run of two or more adjacent Const refs."""
    runs, start = [], None
    for i, ref in enumerate(refs + [None]):
        if ref is not None and _is_const(ref):
            start = i if start is None else start
            continue
        if start is not None and i - start >= 2:
            runs.append((start, i))
        start = None
    return runs
