"""Sequences and optionals: variant scalars made by the Onnx* extension ops
(schema/ops/onnx_ext_sequence.py).

    SequenceConstruct(a, b)        -> OnnxSequenceConstruct(a, b)
    SequenceInsert(s, t[, p])      -> OnnxSequenceInsert(s, t, p or i64[0])
    SequenceAt(s, p)               -> OnnxSequenceAt(s, p) element_dtype from s's type
    SplitToSequence(x[, split])    -> OnnxSplitToSequence(x, split or i64[0])
    SequenceMap(s, x) body         -> a while loop over SequenceLength(s): body(s[i], x),
                                      each output inserted into a result sequence
    Optional(x) / Optional() type  -> OnnxOptional(x) / OnnxOptionalNone
    OptionalHasElement(x)          -> OnnxOptionalHasElement, or Const true for a plain value
    OptionalGetElement(x)          -> OnnxOptionalGetElement, or Identity for a plain value

A variant does not carry its ONNX type in the graph, so the node that makes one records it in
the ``_onnx_type`` attr ("seq(float32)", "opt(float32)", "opt(seq(int64))"), graph inputs
included; ``value_type`` finds it back through Identity and control flow (Switch, Merge,
Enter, Exit, NextIteration), whose first input carries the value.
"""
from __future__ import annotations

import re
from typing import Optional

import numpy as np
import onnx

from gcc_flow.framework import Tensor, apply_op
from gcc_flow.onnx.context import ConvertContext, NotSupported, onnx_to_dtype
from gcc_flow.onnx.ops import converter
from gcc_flow.onnx.ops.control_flow import build_loop, convert_subgraph
from gcc_flow.onnx.ops.tf_graph import const, empty
from schema.dtypes import DType

__all__ = ["TYPE_ATTR", "type_string", "value_type", "variant_placeholder"]

TYPE_ATTR = "_onnx_type"
_FORWARDING = frozenset({"Identity", "Switch", "RefSwitch", "Merge", "RefMerge", "Enter",
                         "RefEnter", "Exit", "RefExit", "NextIteration", "RefNextIteration",
                         "PlaceholderWithDefault", "StopGradient", "Snapshot"})
_SEQUENCE = re.compile(r"^seq\((\w+)\)$")
_MAX_WALK = 10_000


def type_string(type_proto: onnx.TypeProto, what: str) -> str:
    """An ONNX TypeProto as "float32", "seq(float32)", "opt(seq(float32))"."""
    kind = type_proto.WhichOneof("value")
    if kind == "tensor_type":
        return onnx_to_dtype(type_proto.tensor_type.elem_type, what).tf_name
    if kind == "sequence_type":
        inner = type_string(type_proto.sequence_type.elem_type, what)
        if not re.match(r"^\w+$", inner):
            raise NotSupported(f"not supported: {what} is a sequence of {inner}")
        return f"seq({inner})"
    if kind == "optional_type":
        inner = type_string(type_proto.optional_type.elem_type, what)
        if inner.startswith("opt("):
            raise NotSupported(f"not supported: {what} is an optional of an optional")
        return f"opt({inner})"
    raise NotSupported(f"not supported: {what} of type {kind or 'unknown'}")


def variant_placeholder(info: onnx.ValueInfoProto, name: str, attrs: dict) -> Tensor:
    """The Placeholder of a sequence or optional graph input (fed a list of arrays, an array,
    or None)."""
    kind = type_string(info.type, f"graph input {info.name!r}")
    return apply_op("Placeholder", [], {"dtype": DType.VARIANT, "shape": (), TYPE_ATTR: kind,
                                        **attrs}, name=name)


def value_type(tensor: Tensor) -> Optional[str]:
    """The ONNX type of a value (see the module doc); None when no node records it."""
    ref = tensor._ref
    for _ in range(_MAX_WALK):
        if ref.dtype.base != DType.VARIANT:
            return ref.dtype.base.tf_name
        node = ref.node
        recorded = node.attrs.get(TYPE_ATTR)
        if recorded:
            return str(recorded)
        if node.op not in _FORWARDING or not node.inputs:
            return None
        ref = node.inputs[0]
    return None


def _element_dtype(ctx, node, sequence: Tensor) -> DType:
    kind = value_type(sequence)
    match = _SEQUENCE.match(kind or "")
    if match is None:
        raise ctx.fail(node, f"expects a sequence of tensors, got {kind or 'an unknown value'} "
                             f"({sequence.name})")
    return DType.parse(match.group(1))


def _make(op_type: str, inputs: list, kind: str, attrs: Optional[dict] = None) -> Tensor:
    return apply_op(op_type, inputs, {**(attrs or {}), TYPE_ATTR: kind})


def _position(ctx, node, index: int) -> Tensor:
    position = ctx.input(node, index)
    return empty(ctx, DType.INT64) if position is None else position


# -- sequences -----------------------------------------------------------------------------------

@converter("SequenceEmpty", since=11)
def sequence_empty(ctx: ConvertContext, node) -> list:
    dtype = onnx_to_dtype(int(ctx.attr(node, "dtype", onnx.TensorProto.FLOAT)), "SequenceEmpty")
    return [_make("OnnxSequenceEmpty", [], f"seq({dtype.tf_name})", {"element_dtype": dtype})]


@converter("SequenceConstruct", since=11)
def sequence_construct(ctx: ConvertContext, node) -> list:
    tensors = ctx.inputs(node)
    dtypes = {t.dtype.base for t in tensors}
    if len(dtypes) != 1 or DType.VARIANT in dtypes:
        raise ctx.fail(node, f"needs tensors of one type, got {sorted(d.tf_name for d in dtypes)}")
    return [_make("OnnxSequenceConstruct", [tensors], f"seq({tensors[0].dtype.base.tf_name})")]


@converter("SequenceInsert", since=11)
def sequence_insert(ctx: ConvertContext, node) -> list:
    sequence, tensor = ctx.input(node, 0), ctx.input(node, 1)
    dtype = _element_dtype(ctx, node, sequence)
    if tensor.dtype.base != dtype:
        raise ctx.fail(node, f"inserts a {tensor.dtype.tf_name} tensor into a sequence of "
                             f"{dtype.tf_name}")
    return [_make("OnnxSequenceInsert", [sequence, tensor, _position(ctx, node, 2)],
                  f"seq({dtype.tf_name})")]


@converter("SequenceErase", since=11)
def sequence_erase(ctx: ConvertContext, node) -> list:
    sequence = ctx.input(node, 0)
    kind = f"seq({_element_dtype(ctx, node, sequence).tf_name})"
    return [_make("OnnxSequenceErase", [sequence, _position(ctx, node, 1)], kind)]


@converter("SequenceAt", since=11)
def sequence_at(ctx: ConvertContext, node) -> list:
    sequence = ctx.input(node, 0)
    dtype = _element_dtype(ctx, node, sequence)
    return [apply_op("OnnxSequenceAt", [sequence, ctx.input(node, 1)], {"element_dtype": dtype})]


@converter("SequenceLength", since=11)
def sequence_length(ctx: ConvertContext, node) -> list:
    sequence = ctx.input(node, 0)
    _element_dtype(ctx, node, sequence)
    return [apply_op("OnnxSequenceLength", [sequence])]


@converter("ConcatFromSequence", since=11)
def concat_from_sequence(ctx: ConvertContext, node) -> list:
    sequence = ctx.input(node, 0)
    axis = ctx.attr(node, "axis")
    if axis is None:
        raise ctx.fail(node, "has no 'axis' attr")
    return [apply_op("OnnxConcatFromSequence", [sequence], {
        "element_dtype": _element_dtype(ctx, node, sequence), "axis": int(axis),
        "new_axis": bool(ctx.attr(node, "new_axis", 0))})]


@converter("SplitToSequence", since=11)
def split_to_sequence(ctx: ConvertContext, node) -> list:
    x, split = ctx.input(node, 0), ctx.input(node, 1)
    split = empty(ctx, DType.INT64) if split is None else split
    return [_make("OnnxSplitToSequence", [x, split], f"seq({x.dtype.base.tf_name})",
                  {"axis": int(ctx.attr(node, "axis", 0)),
                   "keepdims": bool(ctx.attr(node, "keepdims", 1))})]


@converter("SequenceMap", since=17)
def sequence_map(ctx: ConvertContext, node) -> list:
    """out_k = [body(s[i], ..., x...)_k for i in range(len(s))]: sequences are read at i,
    tensors given whole; the result sequences start empty with the body's declared types."""
    body = ctx.attr(node, "body")
    if not isinstance(body, onnx.GraphProto):
        raise ctx.fail(node, "has no graph attr 'body'")
    values = ctx.inputs(node)
    is_sequence = [(value_type(v) or "").startswith("seq(") for v in values]
    if not is_sequence[0]:
        raise ctx.fail(node, "needs a sequence as its first input")
    length = apply_op("OnnxSequenceLength", [values[0]])
    results = [_empty_result(ctx, node, info) for info in body.output]

    def step(i, outs):
        args = [apply_op("OnnxSequenceAt", [v, i], {"element_dtype": _element_dtype(ctx, node, v)})
                if seq else v for v, seq in zip(values, is_sequence)]
        produced = convert_subgraph(ctx, node, body, args)
        return [_make("OnnxSequenceInsert", [s, t, empty(ctx, DType.INT64)],
                      f"seq({t.dtype.base.tf_name})")
                for s, t in zip(outs, produced)], []

    final, _ = build_loop(ctx, node, results, lambda i, _: apply_op("Less", [i, length]),
                          step, [])
    return final


def _empty_result(ctx, node, info: onnx.ValueInfoProto) -> Tensor:
    """An empty sequence for a SequenceMap body output of declared tensor type."""
    if info.type.WhichOneof("value") != "tensor_type" or not info.type.tensor_type.elem_type:
        raise ctx.unsupported(node, f"whose body output {info.name!r} has no declared tensor "
                                    f"type")
    dtype = onnx_to_dtype(info.type.tensor_type.elem_type, f"SequenceMap output {info.name!r}")
    return _make("OnnxSequenceEmpty", [], f"seq({dtype.tf_name})", {"element_dtype": dtype})


# -- optionals -----------------------------------------------------------------------------------

@converter("Optional", since=15)
def optional(ctx: ConvertContext, node) -> list:
    value = ctx.input(node, 0)
    if value is not None:
        kind = value_type(value)
        if kind is None or kind.startswith("opt("):
            raise ctx.unsupported(node, f"of a value of type {kind or 'unknown'}")
        return [_make("OnnxOptional", [value], f"opt({kind})")]
    declared = next((a.tp for a in node.attribute if a.name == "type"), None)
    if declared is None:
        raise ctx.fail(node, "has neither an input nor a 'type' attr")
    return [_make("OnnxOptionalNone", [], f"opt({type_string(declared, 'Optional type')})")]


@converter("OptionalHasElement", since=15)
def optional_has_element(ctx: ConvertContext, node) -> list:
    value = ctx.input(node, 0)
    if value is None or not _maybe_optional(value):
        return [const(ctx, np.bool_(value is not None))]
    return [apply_op("OnnxOptionalHasElement", [value])]


def _maybe_optional(value: Tensor) -> bool:
    """An optional, or a variant of unknown type (the run-time op answers for both)."""
    kind = value_type(value)
    return kind.startswith("opt(") if kind else value.dtype.base == DType.VARIANT


@converter("OptionalGetElement", since=15)
def optional_get_element(ctx: ConvertContext, node) -> list:
    value = ctx.input(node, 0)
    kind = value_type(value)
    if kind is None:
        raise ctx.unsupported(node, f"on a value of unknown type ({value.name})")
    if not kind.startswith("opt("):
        return [apply_op("Identity", [value])]
    inner = kind[4:-1]
    dtype = DType.VARIANT if "(" in inner else DType.parse(inner)
    return [_make("OnnxOptionalGetElement", [value], inner, {"T": dtype})]
