"""Scan as a TensorFlow v1 while loop (gcc_flow/onnx/ops/control_flow.py's loop builder).

    Scan(init..., x...) body (opset 9+)   -> gf.while_loop over i < len(x along its axis):
                                             body(state..., GatherV2(x, i or len - 1 - i,
                                             axis)...); outputs the final states and the
                                             stacked scan outputs, reversed (StridedSlice -1)
                                             and transposed as scan_output_* ask
    Scan("", init..., x...) (opset 8)     -> a loop over the batch (axis 0 of states and
                                             inputs, sequence axis 1) around the opset 9 loop
"""
from __future__ import annotations

import numpy as np

from gcc_flow.framework import Tensor, apply_op
from gcc_flow.onnx.context import ConvertContext
from gcc_flow.onnx.ops import converter
from gcc_flow.onnx.ops.control_flow import (build_loop, convert_subgraph, declared_spec,
                                            graph_attr)
from gcc_flow.onnx.ops.tf_graph import const, dim_of, norm_axis, strided_slice, transpose

__all__: list[str] = []


# -- the converters ------------------------------------------------------------------------------

@converter("Scan", since=9)
def scan(ctx: ConvertContext, node) -> list:
    """Scan(state..., x...) with num_scan_inputs x's sliced along scan_input_axes (backward for
    direction 1); outputs the final states and the stacked scan outputs."""
    body = graph_attr(ctx, node, "body")
    n_inputs = ctx.attr(node, "num_scan_inputs")
    values = [ctx.input(node, i) for i in range(len(node.input))]
    if not isinstance(n_inputs, int) or not 0 < n_inputs <= len(values):
        raise ctx.fail(node, f"num_scan_inputs {n_inputs!r} does not fit {len(values)} inputs")
    states, xs = values[:len(values) - n_inputs], values[len(values) - n_inputs:]
    return _scan(ctx, node, body, states, xs, ctx.attr(node, "scan_input_axes"),
                 ctx.attr(node, "scan_input_directions"))


@converter("Scan", since=8)
def scan_v8(ctx: ConvertContext, node) -> list:
    """Opset 8: a leading batch axis on states and scan inputs (sequence axis 1); a loop over
    the batch runs the opset 9 scan on each batch entry and stacks the results."""
    body = graph_attr(ctx, node, "body")
    n_inputs = ctx.attr(node, "num_scan_inputs")
    values = [ctx.input(node, i) for i in range(1, len(node.input))]
    if not isinstance(n_inputs, int) or not 0 < n_inputs <= len(values):
        raise ctx.fail(node, f"num_scan_inputs {n_inputs!r} does not fit {len(values)} inputs")
    if ctx.input(node, 0) is not None:
        raise ctx.unsupported(node, "with sequence_lens (opset 8)")
    states, xs = values[:len(values) - n_inputs], values[len(values) - n_inputs:]
    batch = dim_of(ctx, xs[0], 0)
    directions = ctx.attr(node, "directions")

    def step(b, _):
        pick = [apply_op("GatherV2", [v, b, const(ctx, np.int32(0))]) for v in states + xs]
        outs = _scan(ctx, node, body, pick[:len(states)], pick[len(states):], None,
                     directions)
        return [], outs

    specs = [None] * len(body.output)
    _, stacks = build_loop(ctx, node, [], lambda b, _: apply_op("Less", [b, batch]), step,
                           specs, part="batch")
    return stacks


def _scan(ctx, node, body, states: list, xs: list, axes, directions) -> list:
    n_states, n_inputs = len(states), len(xs)
    if len(body.input) != n_states + n_inputs or len(body.output) < n_states:
        raise ctx.fail(node, f"body takes {len(body.input)} inputs and gives "
                             f"{len(body.output)} outputs for {n_states} states and "
                             f"{n_inputs} scan inputs")
    axes = _per_input(ctx, node, axes, n_inputs, "scan_input_axes")
    directions = _per_input(ctx, node, directions, n_inputs, "scan_input_directions")
    axes = [norm_axis(ctx, node, a, _rank(ctx, node, x), "scan_input_axes")
            for a, x in zip(axes, xs)]
    length = dim_of(ctx, xs[0], axes[0])
    last = apply_op("Sub", [length, const(ctx, np.int64(1))])

    def step(i, values):
        reverse_i = apply_op("Sub", [last, i])
        slices = [apply_op("GatherV2", [x, reverse_i if d else i, const(ctx, np.int32(a))])
                  for x, a, d in zip(xs, axes, directions)]
        outs = convert_subgraph(ctx, node, body, values + slices)
        return outs[:n_states], outs[n_states:]

    specs = [declared_spec(info) for info in body.output[n_states:]]
    final, stacks = build_loop(ctx, node, list(states),
                               lambda i, _: apply_op("Less", [i, length]), step, specs,
                               part="scan")
    return final + _place_outputs(ctx, node, stacks)


def _place_outputs(ctx, node, stacks: list) -> list:
    """Reverses (scan_output_directions 1) and moves the stacking axis (scan_output_axes)."""
    n = len(stacks)
    axes = _per_input(ctx, node, ctx.attr(node, "scan_output_axes"), n, "scan_output_axes")
    directions = _per_input(ctx, node, ctx.attr(node, "scan_output_directions"), n,
                            "scan_output_directions")
    out = []
    for stack, axis, direction in zip(stacks, axes, directions):
        if direction:
            stack = strided_slice(ctx, stack, [0], [0], [-1], begin_mask=1, end_mask=1)
        if axis:
            rank = _rank(ctx, node, stack)
            axis = norm_axis(ctx, node, axis, rank, "scan_output_axes")
            perm = list(range(1, rank))
            perm.insert(axis, 0)
            stack = transpose(ctx, stack, perm)
        out.append(stack)
    return out


def _per_input(ctx, node, values, count: int, what: str) -> list[int]:
    if values is None:
        return [0] * count
    if len(values) != count:
        raise ctx.fail(node, f"{what} has {len(values)} entries for {count} values")
    return [int(v) for v in values]


def _rank(ctx, node, tensor: Tensor) -> int:
    if tensor.shape is None:
        raise ctx.unsupported(node, f"on a value of unknown rank ({tensor.name})")
    return len(tensor.shape)
