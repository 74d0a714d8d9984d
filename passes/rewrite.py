"""The rewrite-rule driver: local peephole rewrites written as (pattern, replacement, check).

    MUL_ONE = Rule("mul_one",                                   # Mul(x, 1) -> x
                   P("Mul", P.any("x"), P.const("one", value=1)),
                   replace=lambda graph, m: m["x"],
                   check=lambda m: broadcasts_into(m["one"].shape, m["x"].shape))
    stats = apply_rules(graph, ctx, [MUL_ONE])                  # {"mul_one": 2}

A pattern matches a node by op (or a set of ops) and its data inputs by nested patterns;
``P.any("x")`` matches any tensor and ``P.const("c", value=1)`` a Const whose elements all equal 1.
A name used twice must bind the same tensor (``Mul(x, x)``). Two-input patterns on commutative ops
(the registry's flag) also try the swapped inputs.

``replace(graph, match)`` returns the tensor that takes the place of the root's output 0 (new nodes
are made with ``match.add`` / ``match.const``) or None to decline. The driver then moves the root's
users to it and removes nodes left dead. Ordering is kept: the control inputs of every matched
node (root and inner) go to the new node, or, when the replacement is an existing tensor, to the
root's users; a new node without data inputs gets them too (a new Const stays in its frame).
A preserved (fetched or target) root keeps its name: the new node takes it (``Mul(x, x) ->
Square`` named as the Mul), or else ``Identity(replacement)`` does. A replacement whose dtype or
static shape differs is refused. Roots nothing uses (dead code) are left to prune.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Optional, Union

import numpy as np

from passes.base import PassContext, count
from schema.dtypes import DType
from schema.ir import Graph, Node, TensorRef

__all__ = ["P", "Rule", "Match", "apply_rules", "broadcasts_into", "DEFAULT_MAX_SWEEPS"]

DEFAULT_MAX_SWEEPS = 16
# Fed by the user: a dead one is still a valid feed name, so it is never removed here.
_FEEDABLE = frozenset({"Placeholder", "PlaceholderWithDefault"})
_INNER = "\0inner"  # the binding that collects matched nodes below the root (not a tensor name)


class P:
    """A pattern over one tensor: ``P(ops, *inputs, name=...)``, ``P.any(name)``,
    ``P.const(name, value=...)``."""

    __slots__ = ("ops", "inputs", "name", "kind", "value")

    def __init__(self, ops: Union[str, Iterable[str]], *inputs: "P", name: str = ""):
        self.ops = frozenset([ops] if isinstance(ops, str) else ops)
        self.inputs = inputs
        self.name = name
        self.kind = "node"
        self.value = None

    @classmethod
    def any(cls, name: str) -> "P":
        pattern = cls((), name=name)
        pattern.kind = "any"
        return pattern

    @classmethod
    def const(cls, name: str = "", value=None) -> "P":
        """A Const; with ``value``, every element must equal it (and there is at least one)."""
        pattern = cls("Const", name=name)
        pattern.kind = "const"
        pattern.value = value
        return pattern

    def __repr__(self) -> str:
        if self.kind == "any":
            return f"P.any({self.name!r})"
        if self.kind == "const":
            return f"P.const({self.name!r}, value={self.value!r})"
        return f"P({sorted(self.ops)}, {', '.join(map(repr, self.inputs))})"

    # -- matching (functional: each step returns the extended bindings or None) ---------------
    def match_root(self, node: Node) -> Optional[dict]:
        """Bindings name -> TensorRef (and _INNER -> the matched nodes below the root), or None."""
        return self._match_node(node, {_INNER: ()})

    def _match(self, ref: TensorRef, bound: dict) -> Optional[dict]:
        if self.kind == "any":
            return _bind(bound, self.name, ref)
        if ref.index != 0:
            return None
        if self.kind == "const" and not (ref.node.op in self.ops
                                         and _const_matches(ref.node, self.value)):
            return None
        inner = {**bound, _INNER: bound[_INNER] + (ref.node,)}
        if self.kind == "const":
            return _bind(inner, self.name, ref)
        return self._match_node(ref.node, inner)

    def _match_node(self, node: Node, bound: dict) -> Optional[dict]:
        if node.op not in self.ops or not node.out_types:
            return None
        if self.name:
            bound = _bind(bound, self.name, node.output(0))
            if bound is None:
                return None
        if not self.inputs:
            return bound
        if len(node.inputs) != len(self.inputs):
            return None
        found = _match_all(self.inputs, node.inputs, bound)
        if found is None and len(node.inputs) == 2 and _commutative(node):
            found = _match_all(self.inputs, node.inputs[::-1], bound)
        return found


def _match_all(patterns: tuple, refs: list, bound: dict) -> Optional[dict]:
    for pattern, ref in zip(patterns, refs):
        bound = pattern._match(ref, bound)
        if bound is None:
            return None
    return bound


def _bind(bound: dict, name: str, ref: TensorRef) -> Optional[dict]:
    if not name:
        return bound
    if name in bound:
        return bound if bound[name] == ref else None
    return {**bound, name: ref}


def _commutative(node: Node) -> bool:
    op_def = node.op_def
    return op_def is not None and op_def.is_commutative


def _const_matches(node: Node, value) -> bool:
    array = node.attrs.get("value")
    if not isinstance(array, np.ndarray):
        return False
    if value is None:
        return True
    if array.size == 0 or array.dtype.kind not in "biufc":
        return False
    return bool(np.all(array == value))


def broadcasts_into(small, big) -> bool:
    """True when broadcasting a tensor of static shape ``small`` against one of shape ``big``
    surely gives ``big`` (so ``x * ones`` stays x's shape).

        broadcasts_into((), (None, 3)) -> True;  broadcasts_into((3,), (None, 1)) -> False
    """
    if small is None:
        return False
    if len(small) == 0:
        return True
    if big is None or len(small) > len(big):
        return False
    return all(s == 1 or (s is not None and s == b) for s, b in zip(small[::-1], big[::-1]))


@dataclasses.dataclass
class Match:
    """What a rule's check and replacement see: the root node and the bound tensors."""
    graph: Graph
    root: Node
    refs: dict
    inner: tuple = ()
    created: list = dataclasses.field(default_factory=list)

    @property
    def controls(self) -> list[Node]:
        """Control inputs of the root and of every matched inner node, in order, once each."""
        nodes = (self.root,) + self.inner
        return list(dict.fromkeys(c for n in nodes for c in n.control_inputs))

    def __getitem__(self, name: str) -> TensorRef:
        return self.refs[name]

    def node(self, name: str) -> Node:
        return self.refs[name].node

    def value(self, name: str) -> np.ndarray:
        """The value of a tensor bound by ``P.const``."""
        return self.refs[name].node.attrs["value"]

    @property
    def dtype(self) -> DType:
        return self.root.out_types[0]

    def add(self, op: str, inputs: list, attrs: dict, suffix: str = "") -> TensorRef:
        """A new node named under the root (``root/Square``) on the root's device."""
        name = self.graph.unique_name(f"{self.root.name}/{suffix or op}")
        node = self.graph.add_node(op, name, inputs=inputs, attrs=attrs, device=self.root.device,
                                   control_inputs=() if inputs else self.controls)
        self.created.append(node)
        return node.output(0)

    def const(self, value, dtype: DType, suffix: str = "Const") -> TensorRef:
        array = np.asarray(value).astype(dtype.np)
        return self.add("Const", [], {"value": array, "dtype": dtype}, suffix)


@dataclasses.dataclass(frozen=True)
class Rule:
    """``pattern`` at a root node, ``check(match) -> bool``, ``replace(graph, match) -> tensor``."""
    name: str
    pattern: P
    replace: Callable[[Graph, Match], Optional[TensorRef]]
    check: Optional[Callable[[Match], bool]] = None

    def try_match(self, graph: Graph, node: Node) -> Optional[Match]:
        refs = self.pattern.match_root(node)
        if refs is None:
            return None
        match = Match(graph, node, refs, inner=refs.pop(_INNER))
        return match if self.check is None or self.check(match) else None


def apply_rules(graph: Graph, ctx: PassContext, rules: list[Rule],
                max_sweeps: int = DEFAULT_MAX_SWEEPS) -> dict[str, int]:
    """Sweeps the graph in topological order until no rule fires; returns hits per rule name."""
    by_op: dict[str, list[Rule]] = {}
    for rule in rules:
        for op in rule.pattern.ops:
            by_op.setdefault(op, []).append(rule)
    stats: dict[str, int] = {}
    for _ in range(max_sweeps):
        if not _sweep(graph, ctx, by_op, stats):
            return stats
    ctx.note(f"rewrite rules still firing after {max_sweeps} sweeps; stopped there")
    return stats


def _sweep(graph: Graph, ctx: PassContext, by_op: dict, stats: dict) -> bool:
    fired = False
    maybe_dead: list[Node] = []
    for node in graph.topological_order():
        candidates = by_op.get(node.op)
        if not candidates or graph.nodes.get(node.name) is not node or node.num_outputs != 1:
            continue
        if not node.users and not ctx.is_preserved(node):
            continue
        for rule in candidates:
            match = rule.try_match(graph, node)
            if match is not None and _rewrite(graph, ctx, rule, match, maybe_dead):
                count(stats, rule.name)
                fired = True
                break
    _remove_dead(graph, ctx, maybe_dead)
    return fired


def _rewrite(graph: Graph, ctx: PassContext, rule: Rule, match: Match,
             maybe_dead: list[Node]) -> bool:
    node = match.root
    new = rule.replace(graph, match)
    if new is None or new == node.output(0) or _opaque(new):
        _discard(graph, match.created)
        return False
    problem = _mismatch(node.output(0), new)
    if problem:
        _discard(graph, match.created)
        ctx.note(f"rule {rule.name!r} refused at node {node.name!r}: {problem}")
        return False
    maybe_dead.extend(ref.node for ref in node.inputs)
    _substitute(graph, match, new, ctx.is_preserved(node))
    return True


def _opaque(ref: TensorRef) -> bool:
    """A reference (users would read the variable later, not this value) or an unknown op's
    output (dtype unknown): never forwarded, and not worth a note."""
    dtype = ref.dtype
    return dtype.is_ref or dtype == DType.INVALID


def _mismatch(old: TensorRef, new: TensorRef) -> str:
    if old.dtype != new.dtype:
        return f"dtype {old.dtype.tf_name} would become {new.dtype.tf_name}"
    a, b = old.shape, new.shape
    if a is None or b is None:
        return ""
    if len(a) != len(b) or any(x is not None and y is not None and x != y for x, y in zip(a, b)):
        return f"shape {list(a)} would become {list(b)}"
    return ""


def _discard(graph: Graph, created: list[Node]) -> None:
    for node in reversed(created):
        if not node.users:
            graph.remove_node(node)


def _substitute(graph: Graph, match: Match, new: TensorRef, preserved: bool) -> None:
    """Users of the root's output read ``new``. Ordering is kept through ``match.controls``: a new
    node waits for them, else the root's data users do. A preserved root keeps its name: the new
    node takes it, or else an Identity of ``new`` does."""
    node, controls = match.root, match.controls
    fresh = new.index == 0 and any(new.node is n for n in match.created)
    data_users = list(dict.fromkeys(user for user, _ in graph.consumers(node.output(0))))
    control_users = [u for u in graph.users(node) if node in u.control_inputs]
    for user in control_users:
        graph.remove_control_input(user, node)
    for ctl in list(node.control_inputs):
        graph.remove_control_input(node, ctl)
    graph.replace_all_uses(node.output(0), new)
    name, device = node.name, node.device
    graph.remove_node(node)
    if fresh:
        keeper = _rename(graph, new.node, name) if preserved else new.node
        waiting = [keeper]
    else:
        keeper = graph.add_node("Identity", name, inputs=[new], attrs={"T": new.dtype},
                                device=device) if preserved else None
        waiting = data_users + ([keeper] if keeper else [])
    for waiter in waiting:
        for ctl in controls:
            if ctl is not waiter:
                graph.add_control_input(waiter, ctl)
    waits_for = [keeper] if keeper else list(dict.fromkeys([new.node] + controls))
    for user in control_users:
        for other in waits_for:
            if other is not user:
                graph.add_control_input(user, other)


def _rename(graph: Graph, temp: Node, name: str) -> Node:
    """A copy of the new node ``temp`` under ``name``, in its place."""
    keeper = graph.add_node(temp.op, name, inputs=list(temp.inputs), attrs=dict(temp.attrs),
                            device=temp.device, control_inputs=list(temp.control_inputs))
    graph.replace_all_uses(temp.output(0), keeper.output(0))
    for ctl in list(temp.control_inputs):
        graph.remove_control_input(temp, ctl)
    graph.remove_node(temp)
    return keeper


def _remove_dead(graph: Graph, ctx: PassContext, candidates: list[Node]) -> None:
    """Removes nodes the rewrites left without users (never preserved, stateful or feedable)."""
    stack = list(candidates)
    while stack:
        node = stack.pop()
        if graph.nodes.get(node.name) is not node or node.users or not _removable(node, ctx):
            continue
        stack.extend([r.node for r in node.inputs] + list(node.control_inputs))
        graph.remove_node(node)


def _removable(node: Node, ctx: PassContext) -> bool:
    op_def = node.op_def
    return (op_def is not None and not op_def.has_side_effects and node.num_outputs > 0
            and node.op not in _FEEDABLE and not ctx.is_preserved(node))
