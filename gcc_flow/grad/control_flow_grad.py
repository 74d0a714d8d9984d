"""Gradients through v1 control flow: cond (per op) and gf.while_loop (the whole loop at once).

cond (TensorFlow 1.x's _SwitchGrad / _MergeGrad):

    Merge(f, t) -> (y, value_index):   df, dt = Switch(dy, Equal(value_index, 1))
    Switch(x, p) -> (x_f, x_t):        dx = Merge(dx_f or ZerosLike(x_f), dx_t or ZerosLike(x_t))

  so the gradient flows through the branch that ran, and the other branch's gradient ops are
  dead. ZerosLike of the forward Switch's unused output is live exactly when that side ran.

while_loop (recompute, TensorFlow 1.x's stacks): the loop is differentiated as one region
(``WhileRegion``: its inputs are the loop variables' initial values and the outside tensors
the loop captures; its outputs the Exits). The forward loop gets a counter (``f_count``) and
pushes each iteration's loop variables onto stacks (StackV2 / StackPushV2); the backward loop
runs the counter down, pops one iteration's variables, rebuilds the body from them
(``body(*popped)``) and differentiates that with gf.gradients:

    grads <- d body(popped) / d popped  (weighted by grads);  accs[c] += d body / d c

so it needs only the loop variables and loop invariants, and recomputes the rest. A variable
the body reads is a captured resource handle; its accumulator holds the gradient of its value. A body with
stateful or random ops cannot be recomputed and is refused. The region needs the gradient
walk's region support (``gcc_flow.gradients.register_gradient_region``); without it, the
Switch and Merge of a loop explain that, and Enter/Exit/NextIteration have no gradient.
"""
from __future__ import annotations

import importlib

import numpy as np

from gcc_flow.control_flow_context import flatten, pack
from gcc_flow.control_flow_ops import WhileLoop, register_loop_nodes, while_loop, while_loop_of
from gcc_flow.framework import Tensor, apply_op, convert_to_tensor
from gcc_flow.grad.state_grad import variable_value_zeros
from gcc_flow.gradients import fill_zeros, gradients, register_gradient, register_no_gradient
from schema.dtypes import DType
from schema.ops.control_flow import FLOW_ROLES

__all__ = ["WhileRegion", "find_while_region", "record_history", "while_loop_gradient"]


# -- cond -----------------------------------------------------------------------------------------

def _is_loop_op(op) -> bool:
    """A loop's Switch (pred from a LoopCond) or Merge (an input from a NextIteration)."""
    return any(FLOW_ROLES.get(t.op.type) in ("loop_cond", "next_iteration") for t in op.inputs)


def _loop_op_refused(op, *grads):
    raise NotImplementedError(
        f"gradient through {op.type} {op.name!r} of a v1 while loop: the gradient walk must "
        f"differentiate the loop as a whole (gcc_flow.gradients.register_gradient_region), "
        f"and the loop must come from gf.while_loop")


def _switch_grad(op, grad_false, grad_true):
    if _is_loop_op(op):
        return _loop_op_refused(op)
    grads = fill_zeros(op, [grad_false, grad_true])
    return apply_op("Merge", [grads], name="cond_grad")[0], None


def _merge_grad(op, grad, _grad_index=None):
    if _is_loop_op(op):
        return _loop_op_refused(op)
    index = op.outputs[1]
    if len(op.inputs) == 2:
        taken = apply_op("Equal", [index, np.int32(1)])
        return list(apply_op("Switch", [grad, taken], name="cond_grad"))
    return [apply_op("Switch", [grad, apply_op("Equal", [index, np.int32(i)])])[1]
            for i in range(len(op.inputs))]


# Enter, Exit and NextIteration have no per-op gradient: a loop is differentiated as a region.
register_gradient("Switch")(_switch_grad)
register_gradient("Merge")(_merge_grad)
for _name in ("LoopCond", "ControlTrigger", "StackV2", "StackPushV2", "StackPopV2",
              "StackCloseV2"):
    register_no_gradient(_name)


# -- while_loop: the forward history ---------------------------------------------------------------

def _differentiable(t: Tensor) -> bool:
    base = t.dtype.base
    return base.is_floating or base.is_complex


def _const(value, dtype: DType, name: str, controls=()) -> Tensor:
    return apply_op("Const", [], {"value": np.asarray(value, dtype.np), "dtype": dtype},
                    name=name, control_inputs=list(controls))


def record_history(loop: WhileLoop) -> tuple[Tensor, list[Tensor]]:
    """Adds to the forward loop a counter and one stack per loop variable holding its value
    at the start of every iteration; returns (iterations run, stack handles).

    NextIterations wait for the pushes, so the pushes happen in iteration order.
    """
    ctx, graph = loop.context, loop.context.graph
    before = len(graph.ir.nodes)
    with graph.as_default(), graph.name_scope(ctx.scope), graph.control_dependencies(None):
        enter = ctx.enter(_const(0, DType.INT32, "f_count"), "f_count", is_constant=False)
        enter.op._node.out_shapes[0] = ()
        merge = apply_op("Merge", [[enter, enter]], name="f_count")[0]
        switch = apply_op("Switch", [merge, loop.pivot], name="f_count")
        one = _const(1, DType.INT32, "f_count/one", [loop.body_inputs[0].op])
        nxt = apply_op("NextIteration", [apply_op("AddV2", [switch[1], one])], name="f_count")
        graph.ir.set_input(merge.op._node, 1, nxt._ref)
        count = apply_op("Exit", [switch[0]], name="f_count")
        stacks = [_push_history(loop, v, nxt) for v in loop.body_inputs]
    _claim_new_nodes(loop, before, {count.op._node})
    return count, stacks


def _push_history(loop: WhileLoop, value: Tensor, counter_next: Tensor) -> Tensor:
    ctx, graph = loop.context, loop.context.graph
    max_size = _const(-1, DType.INT32, "f_acc/max_size")
    handle = apply_op("StackV2", [max_size], {"elem_type": value.dtype.base,
                                              "stack_name": f"{value.op.name}/history"},
                      name="f_acc")
    push = apply_op("StackPushV2", [ctx.enter(handle, "f_acc", is_constant=True), value])
    for nxt in loop.next_iterations + [counter_next]:
        graph.ir.add_control_input(nxt.op._node, push.op._node)
    return handle


def _claim_new_nodes(loop: WhileLoop, before: int, extra: set) -> None:
    """Nodes made in the loop's frame since ``before`` (Enters, and what reads the loop's
    nodes) join the loop and its region; the Consts and stacks before the Enters stay out."""
    claimed = set(extra)
    for node in list(loop.context.graph.ir.nodes.values())[before:]:
        deps = [r.node for r in node.inputs] + node.control_inputs
        if FLOW_ROLES.get(node.op) == "enter" or any(d in loop.nodes or d in claimed
                                                     for d in deps):
            claimed.add(node)
    loop.nodes |= claimed
    register_loop_nodes(loop, claimed)


# -- while_loop: the backward loop ------------------------------------------------------------------

def _refuse_stateful_body(loop: WhileLoop) -> None:
    for node in loop.nodes:
        op_def = node.op_def
        if op_def is not None and op_def.has_side_effects and op_def.name not in _RECOMPUTABLE:
            raise NotImplementedError(
                f"gradient of while loop {loop.context.frame_name!r}: its body has the stateful "
                f"op {node.name!r} ({node.op}); the gradient recomputes the body, which would "
                f"change its effects or random values")


# Stateful ops a body may hold and still be recomputed: reads of state the loop does not
# change, and the history this module adds.
_RECOMPUTABLE = frozenset({"ReadVariableOp", "VarHandleOp", "VariableV2", "StackV2",
                           "StackPushV2", "StackPopV2", "StackCloseV2"})


def while_loop_gradient(loop: WhileLoop, exit_grads: list, captured: list[Tensor]) -> tuple:
    """(gradient per loop variable's initial value, gradient per captured tensor); None where
    none flows. ``exit_grads``: one per Exit (None: no gradient). ``captured``: the outside
    tensors the body refers to (as the body's Python code saw them)."""
    _refuse_stateful_body(loop)
    count, stacks = record_history(loop)
    floats = [k for k, v in enumerate(loop.inputs) if _differentiable(v)]
    if not floats:
        return [None] * len(loop.inputs), [None] * len(captured)
    graph = loop.context.graph
    init = [exit_grads[k] if exit_grads[k] is not None else
            apply_op("ZerosLike", [loop.exits[k]]) for k in floats]
    sources, accs = _captured_sources(captured)

    def body(counter, grads, totals):
        with graph.control_dependencies([counter]):
            popped = [_pop(h, v) for h, v in zip(stacks, loop.body_inputs)]
        outs = _rebuilt_body(loop, popped)
        dxs = gradients([outs[k] for k in floats], [popped[k] for k in floats] + sources,
                        grad_ys=list(grads))
        new_grads = [d if d is not None else apply_op("ZerosLike", [popped[k]])
                     for d, k in zip(dxs, floats)]
        new_totals = [t if d is None else apply_op("AddV2", [t, d])
                      for t, d in zip(totals, dxs[len(floats):])]
        with graph.control_dependencies(popped):
            left = apply_op("Sub", [counter, _const(1, DType.INT32, "b_count/one")])
        return left, new_grads, new_totals

    invariants = [(), [loop.merges[k].shape for k in floats], [a.shape for a in accs]]
    with graph.as_default():
        _, grads, totals = while_loop(
            lambda counter, g, t: apply_op("Greater", [counter, np.int32(0)]), body,
            [count, init, accs], invariants, loop.context.parallel_iterations,
            name=loop.context.scope.rstrip("/").replace("/", "_") + "_grad",
            return_same_structure=True)
    by_var = dict(zip(floats, grads))
    by_source = {id(c): t for c, t in zip(sources, totals)}
    return ([by_var.get(k) for k in range(len(loop.inputs))],
            [by_source.get(id(c)) for c in captured])


def _captured_sources(captured: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """The captured tensors a gradient flows to (floats, and the handles of variables the
    body reads), and a zero accumulator for each (a handle's: zeros of its variable)."""
    sources, accs = [], []
    for c in captured:
        if _differentiable(c):
            zeros = apply_op("ZerosLike", [c])
        elif c.dtype.base == DType.RESOURCE:
            zeros = variable_value_zeros(c)
        else:
            zeros = None
        if zeros is not None:
            sources.append(c)
            accs.append(zeros)
    return sources, accs


def _pop(handle: Tensor, like: Tensor) -> Tensor:
    value = apply_op("StackPopV2", [handle], {"elem_type": like.dtype.base})
    value.op._node.out_shapes[0] = like.shape   # TensorFlow's pop.set_shape(value.shape)
    return value


def _rebuilt_body(loop: WhileLoop, popped: list[Tensor]) -> list[Tensor]:
    result = loop.body(*list(pack(loop.structure, popped)))
    if len(loop.structure) == 1 and not isinstance(result, (list, tuple)):
        result = [result]
    return [convert_to_tensor(t) for t in flatten(result)]


# -- the region --------------------------------------------------------------------------------------

class WhileRegion:
    """A finished gf.while_loop as one unit of the gradient walk.

    region.nodes: the loop's nodes; region.inputs: what its Enters read from outside (initial
    values, captured tensors); region.outputs: its Exits;
    region.gradient(one gradient or None per output) -> one per input.
    """

    def __init__(self, loop: WhileLoop):
        self.loop = loop
        self.nodes = loop.nodes
        graph = loop.context.graph
        # The body's code saw each entering tensor as it was when the loop was built; an
        # enclosing cond may since have gated it (x -> Switch(x):1).
        self._seen_as = [(enter.op.inputs[0], original, ("var", k)) for k, (enter, original)
                         in enumerate(zip(loop.enters, loop.inputs))]
        gates = [(ref, gate) for ref, gate in loop.context.gates.items()
                 if gate.op._node in loop.nodes]
        self._seen_as += [(gate.op.inputs[0], graph._tensor(ref), ("cap", j))
                          for j, (ref, gate) in enumerate(gates)]
        unique = {t._ref: t for t, _, _ in self._seen_as}
        self.inputs = list(unique.values())
        self.outputs = list(loop.exits)

    def gradient(self, grads: list) -> list:
        captured = [original for _, original, (kind, _) in self._seen_as if kind == "cap"]
        var_grads, cap_grads = while_loop_gradient(self.loop, list(grads), captured)
        found = {"var": var_grads, "cap": cap_grads}
        total: dict = {}
        for current, _, (kind, index) in self._seen_as:
            if found[kind][index] is not None:
                total.setdefault(current._ref, []).append(found[kind][index])
        return [_sum(total.get(t._ref)) for t in self.inputs]


def _sum(parts):
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else apply_op("AddN", [parts])


def find_while_region(node):
    """The region of the outermost finished gf.while_loop holding ``node``, or None."""
    loop = while_loop_of(node)
    if loop is None:
        return None
    if loop.region is None:
        loop.region = WhileRegion(loop)
    return loop.region


# The gradient walk differentiates a region as one unit once it supports regions.
_register_region = getattr(importlib.import_module("gcc_flow.gradients"),
                           "register_gradient_region", None)
if callable(_register_region):
    _register_region(find_while_region)
