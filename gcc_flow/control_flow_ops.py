"""gf.cond, gf.while_loop and gf.case, emitting TensorFlow's v1 control-flow primitives, the graph
TensorFlow builds after ``tf.compat.v1.disable_control_flow_v2()``.

    y = gf.cond(p, lambda: x * 2.0, lambda: x + 1.0)
      -> cond/Switch(p, p), cond/switch_t, cond/switch_f, cond/pred_id,
         cond/mul(cond/mul/Switch:1, cond/mul/y ^cond/switch_t), cond/add(...:0, ...),
         cond/Merge(cond/add, cond/mul)                  (false input first, as TensorFlow)
    i, a = gf.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, a * x), [0, x])
      -> while/Enter, while/Merge, while/LoopCond, while/Switch, while/Identity, body,
         while/NextIteration (back edge into the Merge), while/Exit; x enters as a constant
         Enter ("while/mul/Enter"), frame "while/while_context"

Branch results and loop variables may be nested lists, tuples, namedtuples and dicts. Tensors
from outside a branch or loop are gated by the context (gcc_flow/control_flow_context.py).
A finished loop is recorded (``while_loop_of``) for gradients (gcc_flow/grad/control_flow_grad.py).
"""
from __future__ import annotations

import dataclasses
import weakref
from typing import Callable, Optional

import numpy as np

from gcc_flow.control_flow_context import (
    CondContext, WhileContext, discard_nodes_since, flatten, pack, same_structure)
from gcc_flow.framework import Graph, Tensor, apply_op, convert_to_tensor, get_default_graph
from schema.dtypes import DType
from schema.ir import Node

__all__ = ["cond", "while_loop", "case"]


# -- cond ----------------------------------------------------------------------------------------

def cond(pred, true_fn: Callable = None, false_fn: Callable = None, strict: bool = False,
         name: Optional[str] = None):
    """``true_fn()`` if ``pred`` else ``false_fn()``; both branches are built, one runs.

    Both functions must return the same structure of tensors with equal dtypes; the result
    is a Merge per tensor (a single tensor is returned as is, unless ``strict``).
    """
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError("cond: true_fn and false_fn must be callable")
    graph = _graph_for([pred])
    with graph.as_default(), graph.name_scope(name or "cond") as scope, \
            discard_nodes_since(graph):
        pred = _scalar_bool(pred, "cond: pred")
        p_false, p_true = apply_op("Switch", [pred, pred], name="Switch")
        pivot_t = apply_op("Identity", [p_true], name="switch_t")
        pivot_f = apply_op("Identity", [p_false], name="switch_f")
        pred_id = apply_op("Identity", [pred], name="pred_id")
        res_t = _build_branch(CondContext(graph, scope, pred_id, pivot_t, 1), true_fn)
        res_f = _build_branch(CondContext(graph, scope, pred_id, pivot_f, 0), false_fn)
        if not same_structure(res_t, res_f):
            raise ValueError(f"cond: true_fn and false_fn return different structures: "
                             f"{res_t!r:.200} vs {res_f!r:.200}")
        flat_t, flat_f = flatten(res_t), flatten(res_f)
        for t, f in zip(flat_t, flat_f):
            if t.dtype.base != f.dtype.base:
                raise ValueError(f"cond: branches return {t.dtype.tf_name} ({t.name}) and "
                                 f"{f.dtype.tf_name} ({f.name}) at the same position")
        merges = [apply_op(_ref_op("Merge", f, t), [[f, t]], name="Merge")[0]
                  for f, t in zip(flat_f, flat_t)]
    result = pack(res_t, merges)
    if not strict and isinstance(result, (list, tuple)) and len(result) == 1:
        return result[0]
    return result


def _build_branch(ctx: CondContext, fn: Callable):
    """Builds one branch inside ``ctx``; results as tensors inside the branch."""
    with ctx.building() as created:
        structure = fn()
        leaves = [_as_branch_tensor(x, ctx.pivot) for x in flatten(structure)]
    ctx.fix(created, ctx.pivot)
    with ctx.graph.control_dependencies(None):
        return pack(structure, [ctx.value(t) for t in leaves])


def _as_branch_tensor(value, pivot: Tensor) -> Tensor:
    """A Tensor as is; an Operation as a bool that runs after it (TensorFlow's
    with_dependencies(op, pivot)); other values as constants."""
    if hasattr(value, "node_def") and hasattr(value, "outputs"):
        return apply_op("Identity", [pivot], control_inputs=[value])
    return convert_to_tensor(value)


def case(pred_fn_pairs, default: Callable = None, exclusive: bool = False,
         strict: bool = False, name: str = "case"):
    """The first ``fn`` whose ``pred`` is true, else ``default()``, as nested conds (TF1's
    tf.case). ``exclusive`` is accepted; only the first true predicate counts either way."""
    pairs = list(pred_fn_pairs.items() if isinstance(pred_fn_pairs, dict) else pred_fn_pairs)
    if not pairs:
        if default is None:
            raise ValueError("case: no predicates and no default")
        return default()
    if default is None:
        *pairs, (_, default) = pairs
    graph = _graph_for([p for p, _ in pairs])
    with graph.as_default(), graph.name_scope(name):
        return _case_chain(pairs, default, strict)


def _case_chain(pairs: list, default: Callable, strict: bool):
    pred, fn = pairs[0]
    rest = pairs[1:]
    if not rest:
        return cond(pred, fn, default, strict=strict)
    return cond(pred, fn, lambda: _case_chain(rest, default, strict), strict=strict)


# -- while_loop ----------------------------------------------------------------------------------

@dataclasses.dataclass
class WhileLoop:
    """A finished v1 while loop, as gradients need it."""
    context: WhileContext
    cond: Callable
    body: Callable
    structure: object
    inputs: list[Tensor]        # the loop variables' initial values (Enter inputs)
    enters: list[Tensor]
    merges: list[Tensor]
    switches: list[Node]
    body_inputs: list[Tensor]   # Identity(Switch:1): what the body receives
    next_iterations: list[Tensor]
    exits: list[Tensor]
    pivot: Tensor               # LoopCond
    nodes: set = dataclasses.field(default_factory=set)   # every node of the loop
    region: object = None       # its gradient region, made on first use


# IR graph -> node -> the outermost finished loop holding the node.
_LOOPS: "weakref.WeakKeyDictionary[object, dict[Node, WhileLoop]]" = weakref.WeakKeyDictionary()


def while_loop_of(node: Node) -> Optional[WhileLoop]:
    """The outermost finished gf.while_loop that ``node`` belongs to, or None."""
    return _LOOPS.get(node.graph, {}).get(node)


def register_loop_nodes(loop: WhileLoop, nodes) -> None:
    """Records ``nodes`` as part of ``loop`` (the loop's own, or added to it later)."""
    loops = _LOOPS.setdefault(loop.context.graph.ir, {})
    for node in nodes:
        loops[node] = loop


def while_loop(cond: Callable, body: Callable, loop_vars, shape_invariants=None,
               parallel_iterations: int = 10, back_prop: bool = True,
               swap_memory: bool = False, name: Optional[str] = None,
               maximum_iterations=None, return_same_structure: bool = False):
    """Repeats ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)``; returns the final
    loop variables (one tensor alone, unless ``return_same_structure``).

    ``shape_invariants`` (same structure) lets a variable's shape change between iterations;
    without it, the body must keep every shape. ``maximum_iterations`` stops the loop after so
    many iterations. ``back_prop`` and ``swap_memory`` are accepted and change nothing.
    """
    if not callable(cond) or not callable(body):
        raise TypeError("while_loop: cond and body must be callable")
    if not isinstance(parallel_iterations, int) or parallel_iterations < 1:
        raise ValueError(f"while_loop: parallel_iterations must be a positive int, got "
                         f"{parallel_iterations!r}")
    if isinstance(loop_vars, dict):
        raise TypeError("while_loop: loop_vars must be a tensor, a list or a tuple (dicts may "
                        "be nested inside)")
    single = not isinstance(loop_vars, (list, tuple))
    structure = [loop_vars] if single else loop_vars
    if maximum_iterations is not None:
        return _bounded_loop(cond, body, structure, single, shape_invariants,
                             parallel_iterations, name, maximum_iterations,
                             return_same_structure)
    graph = _graph_for(flatten(structure))
    with graph.as_default(), graph.name_scope(name or "while") as scope, \
            discard_nodes_since(graph):
        flat = [convert_to_tensor(v) for v in flatten(structure)]
        invariants = _invariants(shape_invariants, structure, single, flat)
        loop = _build_loop(graph, scope, cond, body, structure, flat, invariants,
                           parallel_iterations)
    result = pack(structure, loop.exits)
    if single or (not return_same_structure and len(loop.exits) == 1 and
                  isinstance(result, (list, tuple))):
        return result[0] if isinstance(result, (list, tuple)) else result
    return result


def _bounded_loop(cond, body, structure, single, shape_invariants, parallel_iterations, name,
                  maximum_iterations, return_same_structure):
    """TensorFlow's rewrite: a counter i as first loop variable, cond i < max and cond(...)."""
    graph = _graph_for(flatten(structure) + [maximum_iterations])
    with graph.as_default():
        limit = convert_to_tensor(maximum_iterations)
        counter = apply_op("Const", [], {"value": _zero(limit.dtype.base),
                                         "dtype": limit.dtype.base}, name="iteration_counter")
    args = (lambda vs: [vs[0]]) if single else (lambda vs: list(vs))
    invariants = None if shape_invariants is None else \
        [(), [shape_invariants] if single else shape_invariants]
    out = while_loop(
        lambda i, vs: apply_op("LogicalAnd", [apply_op("Less", [i, limit]),
                                              _scalar_bool(cond(*args(vs)), "cond")]),
        lambda i, vs: (apply_op("AddV2", [i, _one(i)]), _body_result(body(*args(vs)), single)),
        [counter, structure], invariants, parallel_iterations, name=name,
        return_same_structure=True)
    result = out[1]
    if single or (not return_same_structure and len(flatten(result)) == 1):
        return flatten(result)[0]
    return result


def _zero(dtype: DType):
    return np.zeros((), dtype.np)


def _one(i: Tensor) -> Tensor:
    return apply_op("Const", [], {"value": np.ones((), i.dtype.base.np), "dtype": i.dtype.base})


def _body_result(result, single: bool):
    return [result] if single and not isinstance(result, (list, tuple)) else result


def _build_loop(graph: Graph, scope: str, cond, body, structure, flat, invariants,
                parallel_iterations) -> WhileLoop:
    ctx = WhileContext(graph, scope, scope + "while_context", parallel_iterations)
    enters = [ctx.enter(v, "Enter", is_constant=False) for v in flat]
    ctx.skip.update(e.op._node for e in enters)
    for enter, shape in zip(enters, invariants):
        enter.op._node.out_shapes[0] = shape     # TensorFlow's set_shape on the Enter
    with graph.control_dependencies(None):
        merges = [apply_op(_ref_op("Merge", e), [[e, e]], name="Merge")[0] for e in enters]
        with ctx.building() as created:
            c = cond(*_args(structure, merges))
            c = _scalar_bool(c, "while_loop: cond")
        ctx.fix(created, merges[0])
        pivot = apply_op("LoopCond", [ctx.value(c)], name="LoopCond")
        switches = [apply_op(_ref_op("Switch", m), [m, pivot], name="Switch") for m in merges]
        body_inputs = [apply_op("Identity", [s[1]], name="Identity") for s in switches]
        with ctx.building() as created:
            result = body(*_args(structure, body_inputs))
            result = _body_result(result, len(structure) == 1
                                  and not isinstance(result, (list, tuple)))
            if not same_structure(structure, result):
                raise ValueError(f"while_loop: body returned {result!r:.200}, which does not "
                                 f"match the loop variables {structure!r:.200}")
            outs = [convert_to_tensor(v) for v in flatten(result)]
        ctx.fix(created, body_inputs[0])
        outs = [ctx.value(t) for t in outs]
        nexts = [_close_loop(graph, m, o, i, shape) for m, o, i, shape in
                 zip(merges, outs, flat, invariants)]
        exits = [apply_op(_ref_op("Exit", s[0]), [s[0]], name="Exit") for s in switches]
    ctx.refresh()
    loop = WhileLoop(ctx, cond, body, structure, flat, enters, merges,
                     [s[0].op._node for s in switches], body_inputs, nexts, exits, pivot,
                     set(ctx.internal) | {e.op._node for e in exits})
    ctx.loop = loop
    register_loop_nodes(loop, loop.nodes)
    return loop


def _close_loop(graph: Graph, merge: Tensor, out: Tensor, initial: Tensor, shape) -> Tensor:
    """NextIteration(out) and the back edge into ``merge``'s second input."""
    if out.dtype.base != initial.dtype.base:
        raise ValueError(f"while_loop: loop variable {initial.name} enters the loop as "
                         f"{initial.dtype.tf_name} but the body returns {out.dtype.tf_name} "
                         f"({out.name})")
    if not _shape_fits(out.shape, shape):
        raise ValueError(f"while_loop: loop variable {initial.name} enters the loop with shape "
                         f"{_fmt(shape)} but has shape {_fmt(out.shape)} after one iteration; "
                         f"use shape_invariants to let it change")
    nxt = apply_op(_ref_op("NextIteration", out), [out], name="NextIteration")
    graph.ir.set_input(merge.op._node, 1, nxt._ref)
    return nxt


def _shape_fits(shape, invariant) -> bool:
    """``shape`` is at least as specific as ``invariant`` (TensorFlow's _ShapeLessThanOrEqual)."""
    if invariant is None:
        return True
    if shape is None or len(shape) != len(invariant):
        return False
    return all(b is None or a == b for a, b in zip(shape, invariant))


def _fmt(shape) -> str:
    return "unknown" if shape is None else str([("?" if d is None else d) for d in shape])


def _invariants(shape_invariants, structure, single: bool, flat: list) -> list:
    if shape_invariants is None:
        return [t.shape for t in flat]
    given = [shape_invariants] if single else shape_invariants
    shapes = [None if s is None else tuple(s) for s in _shape_leaves(given, structure)]
    for t, shape in zip(flat, shapes):
        if not _shape_fits(t.shape, shape):
            raise ValueError(f"while_loop: the shape invariant {_fmt(shape)} does not fit the "
                             f"initial shape {_fmt(t.shape)} of {t.name}")
    return shapes


def _shape_leaves(invariants, structure) -> list:
    """One shape per loop variable, walking ``invariants`` alongside the loop variables'
    structure (a shape is a tuple or list of ints and Nones, or None)."""
    if isinstance(structure, dict):
        if not isinstance(invariants, dict) or sorted(invariants) != sorted(structure):
            raise ValueError(f"while_loop: shape_invariants {invariants!r:.100} do not match "
                             f"the loop variables' structure")
        return [s for k in sorted(structure) for s in _shape_leaves(invariants[k],
                                                                     structure[k])]
    if isinstance(structure, (list, tuple)):
        if not isinstance(invariants, (list, tuple)) or len(invariants) != len(structure):
            raise ValueError(f"while_loop: shape_invariants {invariants!r:.100} do not match "
                             f"the loop variables' structure")
        return [s for i, x in zip(invariants, structure) for s in _shape_leaves(i, x)]
    if invariants is not None and not (isinstance(invariants, (list, tuple)) and all(
            d is None or isinstance(d, int) for d in invariants)):
        raise ValueError(f"while_loop: shape invariant {invariants!r:.100} is not a shape")
    return [invariants]


def _args(structure, leaves: list) -> list:
    return list(pack(structure, leaves))


# -- helpers -------------------------------------------------------------------------------------

def _graph_for(values) -> Graph:
    for v in values:
        if isinstance(v, Tensor):
            return v.graph
    return get_default_graph()


def _scalar_bool(value, what: str) -> Tensor:
    tensor = convert_to_tensor(value)
    if tensor.dtype.base != DType.BOOL:
        raise TypeError(f"{what} must be a bool tensor, got {tensor.dtype.tf_name} "
                        f"({tensor.name})")
    if tensor.shape is not None and len(tensor.shape) != 0:
        raise ValueError(f"{what} must be a scalar, got shape {_fmt(tensor.shape)} "
                         f"({tensor.name})")
    return tensor


def _ref_op(op_type: str, *tensors: Tensor) -> str:
    return f"Ref{op_type}" if all(t.dtype.is_ref for t in tensors) else op_type

