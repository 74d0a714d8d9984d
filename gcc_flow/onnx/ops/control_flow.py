"""If and Loop as TensorFlow v1 control flow (gf.cond / gf.while_loop), and the loop builder
that Scan (ops/scan.py) and SequenceMap (ops/sequence.py) share.

    If(c) then_branch, else_branch        -> gf.cond(c, then, else): Switch/Merge; a condition
                                             known at import picks its branch directly
    Loop(M, cond, v...) body              -> gf.while_loop over (i, cond, v..., scans...):
                                             runs while i < M and cond; scan outputs are
                                             stacked by ConcatV2(acc, ExpandDims(elem, 0))

A subgraph's nodes go through the ordinary converters inside the branch or loop body; a value
of an enclosing graph is read by name and enters through the context's gate (Switch or Enter).
Loop-carried shapes may change between iterations: a loop is built with the initial shapes,
and rebuilt with the dims that changed left unknown (what was learnt is remembered for nested
loops, which are rebuilt with their enclosing loop).
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import weakref
from typing import Callable, Sequence

import numpy as np
import onnx

import gcc_flow.control_flow_ops as cf
from gcc_flow.framework import Tensor, apply_op
from gcc_flow.onnx.context import ConvertContext, decode_tensor, onnx_to_dtype
from gcc_flow.onnx.ops import converter
from gcc_flow.onnx.ops.tf_graph import (cast, concat, const, expand_dims, reshape, shape_of,
                                        static_scalar)
from schema.dtypes import DType
from schema.errors import GccFlowError

__all__ = ["convert_subgraph", "build_loop", "graph_attr", "declared_spec",
           "MAX_SUBGRAPH_DEPTH", "MAX_LOOP_BUILDS"]

MAX_SUBGRAPH_DEPTH = 16   # nested If/Loop/Scan bodies; protobuf alone allows ~100
MAX_LOOP_BUILDS = 6       # builds of one loop while its carried shapes settle


@dataclasses.dataclass
class _State:
    depth: int = 0
    hints: dict = dataclasses.field(default_factory=dict)   # loop key -> settled _Plan


_STATES: "weakref.WeakKeyDictionary[ConvertContext, _State]" = weakref.WeakKeyDictionary()


def _state(ctx: ConvertContext) -> _State:
    state = _STATES.get(ctx)
    if state is None:
        state = _STATES[ctx] = _State()
    return state


# -- subgraphs -----------------------------------------------------------------------------------

def convert_subgraph(ctx: ConvertContext, node: onnx.NodeProto, graph: onnx.GraphProto,
                     inputs: Sequence[Tensor]) -> list[Tensor]:
    """Converts ``graph`` (an attr of ``node``) with its inputs bound to ``inputs``; returns
    its outputs. Names of the enclosing graphs stay visible; the subgraph's own names are
    dropped afterwards.

    Loop body (i, cond, x) => (cond, x * 2) with inputs [i0, c0, x0] -> [c0', Mul(x0, 2)]
    """
    from gcc_flow.onnx.functions import convert_node
    state = _state(ctx)
    if state.depth >= MAX_SUBGRAPH_DEPTH:
        raise ctx.fail(node, f"subgraphs nest deeper than {MAX_SUBGRAPH_DEPTH} levels")
    if len(inputs) != len(graph.input):
        raise ctx.fail(node, f"subgraph {graph.name!r} takes {len(graph.input)} inputs, "
                             f"{node.op_type} gives it {len(inputs)}")
    if len(graph.sparse_initializer):
        raise ctx.unsupported(node, "with a sparse initializer in a subgraph")
    saved = ctx.tensors
    ctx.tensors = collections.ChainMap({}, saved)
    state.depth += 1
    try:
        for info, value in zip(graph.input, inputs):
            ctx.tensors[info.name] = value
        for tensor in graph.initializer:
            ctx.tensors[tensor.name] = ctx.const(decode_tensor(
                tensor, ctx.limits, f"initializer {tensor.name!r} of subgraph {graph.name!r}"))
        for inner in graph.node:
            convert_node(ctx, inner)
        return [_subgraph_output(ctx, node, graph, info.name) for info in graph.output]
    finally:
        state.depth -= 1
        ctx.tensors = saved


def _subgraph_output(ctx, node, graph, name: str) -> Tensor:
    value = ctx.tensors.get(name)
    if value is None:
        raise ctx.fail(node, f"output {name!r} of subgraph {graph.name!r} is produced by "
                             f"no node")
    return value


def graph_attr(ctx, node, name: str) -> onnx.GraphProto:
    graph = ctx.attr(node, name)
    if not isinstance(graph, onnx.GraphProto):
        raise ctx.fail(node, f"has no graph attr {name!r}")
    return graph


def _scalar_bool(ctx, value: Tensor) -> Tensor:
    """A condition of shape [] or [1] (ONNX allows both) as a scalar bool."""
    return reshape(ctx, cast(value, DType.BOOL), [])


# -- If ------------------------------------------------------------------------------------------

@converter("If", since=1)
def if_(ctx: ConvertContext, node) -> list:
    """gf.cond over both branches' outputs; the branches may give different shapes."""
    then_graph = graph_attr(ctx, node, "then_branch")
    else_graph = graph_attr(ctx, node, "else_branch")
    if len(then_graph.output) != len(else_graph.output):
        raise ctx.fail(node, f"then_branch has {len(then_graph.output)} outputs, else_branch "
                             f"{len(else_graph.output)}")
    cond = ctx.input(node, 0)
    known = static_scalar(ctx, cond)
    if known is not None:
        return convert_subgraph(ctx, node, then_graph if known else else_graph, [])
    try:
        return cf.cond(_scalar_bool(ctx, cond),
                       lambda: convert_subgraph(ctx, node, then_graph, []),
                       lambda: convert_subgraph(ctx, node, else_graph, []), strict=True)
    except (ValueError, TypeError) as err:
        raise ctx.fail(node, str(err)) from None


# -- the loop builder shared by Loop and Scan ----------------------------------------------------

@dataclasses.dataclass
class _Plan:
    """What a loop is built with: a shape invariant per carried value, and (dtype, element
    shape) per scan output (None until a build has seen it)."""
    carried: list
    scans: list

    def copy(self) -> "_Plan":
        return _Plan(list(self.carried), list(self.scans))


class _Rebuild(Exception):
    """Raised inside a loop body whose plan changed: the loop is discarded and built again."""


def _general(a, b):
    """The most specific shape both fit: (2, 3), (2, 4) -> (2, None); other ranks -> None."""
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if x == y else None for x, y in zip(a, b))


def _fits(shape, invariant) -> bool:
    if invariant is None:
        return True
    return shape is not None and len(shape) == len(invariant) and all(
        b is None or a == b for a, b in zip(shape, invariant))


def build_loop(ctx: ConvertContext, node, carried: list[Tensor], cond_fn: Callable,
               step_fn: Callable, scan_specs: list,
               part: str = "") -> tuple[list[Tensor], list[Tensor]]:
    """A while loop over an int64 counter i and ``carried``; returns (final carried values,
    per scan output the stacked elements [iterations, ...]).

    cond_fn(i, carried) -> scalar bool; step_fn(i, carried) -> (new carried, scan elements).
    ``scan_specs``: (dtype, element shape) per scan output when declared, else None.
    ``part`` tells apart several loops made for one node.
    """
    state = _state(ctx)
    key = (hashlib.sha1(node.SerializeToString()).digest(), part)
    plan = state.hints.get(key)
    if plan is None or len(plan.carried) != len(carried) or len(plan.scans) != len(scan_specs):
        plan = _Plan([t.shape for t in carried], list(scan_specs))
    plan = plan.copy()
    plan.carried = [_general(p, t.shape) for p, t in zip(plan.carried, carried)]
    for _ in range(MAX_LOOP_BUILDS):
        try:
            result = _build_once(ctx, node, plan, carried, cond_fn, step_fn)
        except _Rebuild:
            continue
        except (ValueError, TypeError) as err:
            raise ctx.fail(node, str(err)) from None
        state.hints[key] = plan.copy()
        return result
    raise ctx.unsupported(node, f"whose loop-carried shapes do not settle in "
                                f"{MAX_LOOP_BUILDS} builds")


def _build_once(ctx, node, plan: _Plan, carried, cond_fn, step_fn):
    probing = any(spec is None for spec in plan.scans)
    accs = [] if probing else [_empty_stack(ctx, dtype, shape) for dtype, shape in plan.scans]
    counter = const(ctx, np.int64(0))

    def body(i, values, stacks):
        new_values, elements = step_fn(i, list(values))
        if len(elements) != len(plan.scans):
            raise ctx.fail(node, f"the body gives {len(elements)} scan outputs, expected "
                                 f"{len(plan.scans)}")
        if _learn(plan, new_values, elements) or probing:
            raise _Rebuild()
        stacks = [_push(ctx, acc, e, i, shape) for acc, e, (_, shape) in
                  zip(stacks, elements, plan.scans)]
        return [apply_op("AddV2", [i, const(ctx, np.int64(1))]), new_values, stacks]

    invariants = [(), list(plan.carried), [_stack_invariant(s) for _, s in plan.scans]
                  if not probing else []]
    _, values, stacks = cf.while_loop(lambda i, v, s: cond_fn(i, list(v)), body,
                                      [counter, list(carried), accs], invariants,
                                      return_same_structure=True)
    return list(values), list(stacks)


def _learn(plan: _Plan, values: list[Tensor], elements: list[Tensor]) -> bool:
    """Widens the plan to what the body gave; True when it changed."""
    changed = False
    for k, value in enumerate(values):
        if not _fits(value.shape, plan.carried[k]):
            plan.carried[k] = _general(plan.carried[k], value.shape)
            changed = True
    for k, element in enumerate(elements):
        spec = plan.scans[k]
        if spec is None or spec[0] != element.dtype.base or not _fits(element.shape, spec[1]):
            shape = element.shape if spec is None or spec[0] != element.dtype.base \
                else _general(spec[1], element.shape)
            plan.scans[k] = (element.dtype.base, shape)
            changed = True
    return changed


def _static(shape) -> bool:
    return shape is not None and all(d is not None for d in shape)


def _stack_invariant(element_shape):
    return None if element_shape is None else (None,) + tuple(element_shape)


def _empty_stack(ctx, dtype: DType, element_shape) -> Tensor:
    """The stack before the first iteration: [0, d...] (unknown dims as 0, reshaped to the
    element's real shape by the first push)."""
    dims = [0] if element_shape is None else [0] + [d or 0 for d in element_shape]
    return const(ctx, np.zeros(dims, dtype.np), dtype)


def _push(ctx, stack: Tensor, element: Tensor, i: Tensor, element_shape) -> Tensor:
    """ConcatV2([stack, ExpandDims(element, 0)], 0); with a partly unknown element shape the
    stack is first reshaped to [i, *Shape(element)] (the empty start takes the real dims)."""
    if not _static(element_shape):
        dims = concat(ctx, [expand_dims(ctx, i, 0), shape_of(ctx, element)], 0)
        stack = apply_op("Reshape", [stack, dims])
    return concat(ctx, [stack, expand_dims(ctx, element, 0)], 0)


def declared_spec(info: onnx.ValueInfoProto):
    """(dtype, static shape) of a declared subgraph output, or None when not fully declared."""
    if info.type.WhichOneof("value") != "tensor_type":
        return None
    tensor_type = info.type.tensor_type
    if not tensor_type.elem_type or not tensor_type.HasField("shape"):
        return None
    dims = tensor_type.shape.dim
    if not all(d.HasField("dim_value") and d.dim_value >= 0 for d in dims):
        return None
    try:
        return onnx_to_dtype(tensor_type.elem_type), tuple(int(d.dim_value) for d in dims)
    except GccFlowError:
        return None


# -- Loop ----------------------------------------------------------------------------------------

@converter("Loop", since=1)
def loop(ctx: ConvertContext, node) -> list:
    """for (i = 0, cond = cond or true; (M absent or i < M) and cond; ++i)
    cond, v..., scan... = body(i, cond, v...); outputs v..., stacked scans.

    The body's condition counts even without a cond input, as onnxruntime (and onnx's
    reference) do; the spec's pseudo-code calls it ignored in that case."""
    body = graph_attr(ctx, node, "body")
    trip, cond = ctx.input(node, 0), ctx.input(node, 1)
    initial = [ctx.input(node, i) for i in range(2, len(node.input))]
    if any(v is None for v in initial):
        raise ctx.unsupported(node, "with an absent loop-carried input")
    n_scans = len(body.output) - 1 - len(initial)
    if n_scans < 0 or len(body.input) != 2 + len(initial):
        raise ctx.fail(node, f"body takes {len(body.input)} inputs and gives "
                             f"{len(body.output)} outputs for {len(initial)} loop-carried "
                             f"values")
    limit = None if trip is None else reshape(ctx, cast(trip, DType.INT64), [])
    start = const(ctx, np.bool_(True)) if cond is None else _scalar_bool(ctx, cond)

    def keep_going(i, values):
        if limit is None:
            return values[0]
        return apply_op("LogicalAnd", [apply_op("Less", [i, limit]), values[0]])

    def step(i, values):
        outs = convert_subgraph(ctx, node, body, [i] + values)
        return [_scalar_bool(ctx, outs[0])] + outs[1:1 + len(initial)], outs[1 + len(initial):]

    specs = [declared_spec(info) for info in body.output[1 + len(initial):]]
    values, stacks = build_loop(ctx, node, [start] + initial, keep_going, step, specs)
    return values[1:] + stacks

