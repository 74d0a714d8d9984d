"""Compiles the part of a graph that a (fetches, feeds) signature needs into a flat plan.

    plan = compile_plan(graph, fetch_refs, target_nodes, feed_refs, kernel_for)
    outputs = plan.execute([x_value])

A plan is a list of steps in topological order over numbered value slots. Constants are placed in
the slot template once; fed tensors are written into their slots; nodes whose outputs are all
fed, or that the fetches do not need, are not in the plan at all.

When the needed nodes include v1 control flow (an op with ``op_def.is_control_flow``), the
signature compiles instead to runtime.dataflow's DataflowPlan (dead tensors, frames,
iterations), with the same ``execute``; straight-line graphs never pay for it.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from schema.errors import ExecutionError, GccFlowError
from schema.infer import arg_types
from schema.ir import needed_nodes  # noqa: F401  (re-exported)
from schema.ir import Graph, Node, TensorRef
from schema.limits import DEFAULT_LIMITS, Limits

__all__ = ["Plan", "compile_plan", "needed_nodes"]


class Plan:
    def __init__(self, steps, nodes, template, feed_slots, fetch_slots, device_name):
        self.steps: list[Callable] = steps
        self.step_nodes: list[Node] = nodes
        self.step_inputs: list[tuple] = []
        self.template = template
        self.feed_slots = feed_slots
        self.fetch_slots = fetch_slots
        self.device_name = device_name

    def execute(self, feed_values) -> list:
        vals = self.template.copy()
        for slot, value in zip(self.feed_slots, feed_values):
            vals[slot] = value
        i = -1
        try:
            with np.errstate(all="ignore"):
                for i, step in enumerate(self.steps):
                    step(vals)
        except Exception as err:
            raise self._explain(i, vals, err) from err
        return [None if s is None else vals[s] for s in self.fetch_slots]

    def _explain(self, i: int, vals: list, err: Exception) -> Exception:
        node = self.step_nodes[i]
        shown = []
        for slot in self.step_inputs[i]:
            v = vals[slot]
            shown.append(f"{getattr(v, 'dtype', type(v).__name__)}{list(np.shape(v))}"
                         if hasattr(v, "shape") else type(v).__name__)
        where = (f"node {node.name!r} (op {node.op}) on {self.device_name} with inputs "
                 f"[{', '.join(shown)}]")
        message = str(err)
        if isinstance(err, GccFlowError):
            own = f"node {node.name!r} ({node.op}): "
            return type(err)(f"{where}: {message.removeprefix(own)}")
        return ExecutionError(f"{where} failed: {type(err).__name__}: {message}")


def _make_step(fn, ins: tuple, outs: tuple) -> Callable:
    """A closure specialized by arity, so the executor loop does one call per node."""
    n_out = len(outs)
    if n_out == 1:
        o = outs[0]
        if len(ins) == 0:
            def step(v): v[o] = fn()
        elif len(ins) == 1:
            a = ins[0]
            def step(v): v[o] = fn(v[a])
        elif len(ins) == 2:
            a, b = ins
            def step(v): v[o] = fn(v[a], v[b])
        elif len(ins) == 3:
            a, b, c = ins
            def step(v): v[o] = fn(v[a], v[b], v[c])
        else:
            def step(v): v[o] = fn(*[v[i] for i in ins])
        return step
    if n_out == 0:
        def step(v): fn(*[v[i] for i in ins])
        return step

    def step(v):
        results = fn(*[v[i] for i in ins])
        if len(results) != n_out:
            raise ExecutionError(f"kernel returned {len(results)} outputs, expected {n_out}")
        for slot, value in zip(outs, results):
            v[slot] = value
    return step


def compile_plan(graph: Graph, fetch_refs: list[Optional[TensorRef]], target_nodes: list[Node],
                 feed_refs: list[TensorRef], kernel_for: Callable[[Node], Callable],
                 device_name: str, limits: Limits = DEFAULT_LIMITS,
                 frames: Optional[Callable] = None):
    """A Plan, or a DataflowPlan when control flow is needed. ``frames()``: the graph's
    checked schema.validate.FrameMap (computed on the needed nodes when not given)."""
    fed = {(r.node.name, r.index) for r in feed_refs}
    needed = needed_nodes([r for r in fetch_refs if r is not None], target_nodes, fed)
    if any(_is_control_flow(n) for n in needed):
        from runtime.dataflow import compile_dataflow_plan
        return compile_dataflow_plan(graph, fetch_refs, target_nodes, feed_refs, kernel_for,
                                     device_name, limits, frames() if frames else None)
    order = graph.topological_order(needed)
    slots: dict[tuple[str, int], int] = {}
    template: list = []

    def slot_of(name: str, index: int) -> int:
        key = (name, index)
        if key not in slots:
            slots[key] = len(template)
            template.append(None)
        return slots[key]

    feed_slots = [slot_of(r.node.name, r.index) for r in feed_refs]
    scratch = len(template)
    template.append(None)
    steps, step_nodes, step_inputs = [], [], []
    for node in order:
        if all((node.name, i) in fed for i in range(node.num_outputs)) and node.num_outputs:
            continue
        outs = tuple(scratch if (node.name, i) in fed else slot_of(node.name, i)
                     for i in range(node.num_outputs))
        if node.op == "Const":
            template[outs[0]] = kernel_for(node)()
            continue
        ins = _input_slots(node, slot_of, steps, step_nodes, step_inputs)
        steps.append(_make_step(kernel_for(node), ins, outs))
        step_nodes.append(node)
        step_inputs.append(ins)
    fetch_slots = [None if r is None else slots[(r.node.name, r.index)] for r in fetch_refs]
    plan = Plan(steps, step_nodes, template, feed_slots, fetch_slots, device_name)
    plan.step_inputs = step_inputs
    return plan


def _is_control_flow(node: Node) -> bool:
    op_def = node.op_def
    return op_def is not None and op_def.is_control_flow


def _input_slots(node: Node, slot_of, steps, step_nodes, step_inputs) -> tuple:
    """Input slots; a reference-typed value read by a non-reference input is dereferenced."""
    ins = [slot_of(r.node.name, r.index) for r in node.inputs]
    op_def = node.op_def
    if op_def is None or not any(r.dtype.is_ref for r in node.inputs):
        return tuple(ins)
    expected = arg_types(node.name, op_def, op_def.inputs, node.attrs, "input")
    for i, (ref, want) in enumerate(zip(node.inputs, expected)):
        if ref.dtype.is_ref and not want.is_ref:
            # Read right before the consumer runs, as TensorFlow reads a ref when it is used.
            value_slot = slot_of(f"{node.name}/.deref", i)
            steps.append(_make_step(_deref, (ins[i],), (value_slot,)))
            step_nodes.append(ref.node)
            step_inputs.append((ins[i],))
            ins[i] = value_slot
    return tuple(ins)


def _deref(ref_variable):
    return ref_variable.get()
