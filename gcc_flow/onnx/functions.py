"""Converting one ONNX node: its converter, or else the body of the op's ONNX function.

    convert_node(ctx, node)   # binds ctx.tensors[out] for every output of ``node``

The converter is chosen by the node's domain and that domain's opset (the newest ``since`` not
above it). When there is none, or it raises NotSupported, and the op's schema defines a
function body for that opset (LayerNormalization, Gelu, Celu, SoftmaxCrossEntropyLoss...),
the node is expanded into the body's nodes, which are converted in turn with the body's own
opset imports, up to ``MAX_EXPANSION_DEPTH`` levels. Ops a failed converter already created
are removed first.
"""
from __future__ import annotations

import itertools
from typing import Optional

import onnx
from onnx import helper

from gcc_flow.onnx.context import (ConvertContext, NotSupported, OnnxImportError,
                                   dtype_to_onnx)
from gcc_flow.onnx.ops import find_converter
from schema.errors import GccFlowError, ValidationError

__all__ = ["convert_node", "function_body", "MAX_EXPANSION_DEPTH"]

MAX_EXPANSION_DEPTH = 8


def convert_node(ctx: ConvertContext, node: onnx.NodeProto, depth: int = 0) -> None:
    domain = "" if node.domain in ("", "ai.onnx") else node.domain
    opset = ctx.opsets.get(domain)
    if opset is None:
        raise OnnxImportError(f"node {node.name or node.op_type!r} uses domain {domain!r}, "
                              f"which the model does not import")
    fn = find_converter(node.op_type, opset, domain)
    failure: Optional[NotSupported] = None
    if fn is not None:
        mark = len(ctx.graph.ir.nodes)  # nodes are only added while converting: a tail mark
        try:
            _run_converter(ctx, node, fn)
            return
        except NotSupported as err:
            failure = err
            _rollback(ctx, mark)
    body = function_body(ctx, node, domain, opset) if depth < MAX_EXPANSION_DEPTH else None
    if body is None:
        raise failure or NotSupported(f"not supported: {node.op_type} (domain "
                                      f"{domain or 'ai.onnx'}, opset {opset}): no converter")
    nodes, opsets = body
    saved = ctx.opsets
    ctx.opsets = {**saved, **opsets}
    try:
        for inner in nodes:
            convert_node(ctx, inner, depth + 1)
    finally:
        ctx.opsets = saved


def _run_converter(ctx: ConvertContext, node: onnx.NodeProto, fn) -> None:
    scope = _scope_name(node)
    try:
        with ctx.graph.name_scope(scope):
            results = fn(ctx, node)
    except ValidationError as err:
        raise OnnxImportError(f"node {node.name or node.op_type!r} ({node.op_type}): {err}"
                              ) from None
    if not isinstance(results, (list, tuple)):
        results = [results]
    for index, name in enumerate(node.output):
        if not name:
            continue
        value = results[index] if index < len(results) else None
        if value is None:
            raise ctx.unsupported(node, f"output {index} ({name!r})")
        ctx.tensors[name] = value


def _scope_name(node: onnx.NodeProto) -> str:
    from gcc_flow.onnx.importer import sanitize_name
    return sanitize_name(node.name or node.op_type, node.op_type)


def _rollback(ctx: ConvertContext, mark: int) -> None:
    """Removes the nodes a failed converter created (those after ``mark``), newest first."""
    ir = ctx.graph.ir
    for name in reversed(list(itertools.islice(ir.nodes, mark, None))):
        node = ir.nodes[name]
        for ctl in list(node.control_inputs):
            ir.remove_control_input(node, ctl)
        ir.remove_node(node)
        ctx.graph._ops.pop(node, None)


# -- function bodies ---------------------------------------------------------------------------

def function_body(ctx: ConvertContext, node: onnx.NodeProto, domain: str,
                  opset: int) -> Optional[tuple[list, dict]]:
    """(renamed body nodes, body opsets) of the op's ONNX function for ``opset``, or None."""
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, domain)
    except Exception:  # SchemaError: unknown op or domain
        return None
    proto = _function_proto(ctx, node, schema, opset)
    if proto is None:
        return None
    opsets = {("" if o.domain in ("", "ai.onnx") else o.domain): int(o.version)
              for o in proto.opset_import}
    prefix = ctx.graph.unique_name(f"_fn/{_scope_name(node)}") + "/"
    return _expand(node, proto, schema, prefix), opsets


def _function_proto(ctx: ConvertContext, node: onnx.NodeProto, schema,
                    opset: int) -> Optional[onnx.FunctionProto]:
    plain = [v for v in schema.function_opset_versions if v <= opset]
    dependent = [v for v in schema.context_dependent_function_opset_versions if v <= opset]
    if not plain and not dependent:
        return None
    proto = onnx.FunctionProto()
    if dependent and (not plain or max(dependent) >= max(plain)):
        types = [_type_proto(ctx, name) for name in node.input]
        try:
            data = schema.get_context_dependent_function_with_opset_version(
                max(dependent), node.SerializeToString(), [t.SerializeToString() for t in types])
        except Exception as err:  # the C++ builder rejects nodes it cannot expand
            raise NotSupported(f"not supported: {node.op_type} cannot be expanded into its "
                               f"function body: {err}") from None
    else:
        data = schema.get_function_with_opset_version(max(plain))
    if not data:
        return None
    proto.ParseFromString(data)
    return proto


def _type_proto(ctx: ConvertContext, name: str) -> onnx.TypeProto:
    if not name:
        return onnx.TypeProto()
    tensor = ctx.tensors.get(name)
    if tensor is None:
        raise OnnxImportError(f"value {name!r} is used before it is produced")
    try:
        elem = dtype_to_onnx(tensor.dtype)
    except GccFlowError:
        elem = 0
    return helper.make_tensor_type_proto(elem, None if tensor.shape is None
                                         else list(tensor.shape))


def _expand(node: onnx.NodeProto, proto: onnx.FunctionProto, schema,
            prefix: str) -> list[onnx.NodeProto]:
    names = {formal: (node.input[i] if i < len(node.input) else "")
             for i, formal in enumerate(proto.input)}
    for i, formal in enumerate(proto.output):
        if i < len(node.output) and node.output[i]:
            names[formal] = node.output[i]
    attrs = {a.name: a for a in node.attribute}
    for name, spec in schema.attributes.items():
        if name not in attrs and spec.default_value.name:
            attrs[name] = spec.default_value
    for default in proto.attribute_proto:
        attrs.setdefault(default.name, default)

    def rename(value: str) -> str:
        if not value:
            return ""
        return names.get(value, prefix + value)

    out = []
    for inner in proto.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(inner)
        _rename_node(copy, rename, attrs)
        copy.name = prefix + (inner.name or inner.op_type)
        out.append(copy)
    return out


def _rename_node(node: onnx.NodeProto, rename, attrs: dict) -> None:
    node.input[:] = [rename(v) for v in node.input]
    node.output[:] = [rename(v) for v in node.output]
    _bind_attrs(node, attrs, rename)


def _rename_graph(graph: onnx.GraphProto, rename, attrs: dict) -> None:
    """A subgraph attr (If/Loop/Scan body) of a body node: its names, and the outer names it
    reads, renamed as the body's own (ONNX forbids shadowing, so one mapping serves both)."""
    for info in itertools.chain(graph.input, graph.output, graph.value_info):
        info.name = rename(info.name)
    for tensor in graph.initializer:
        tensor.name = rename(tensor.name)
    for inner in graph.node:
        _rename_node(inner, rename, attrs)


def _bind_attrs(node: onnx.NodeProto, attrs: dict, rename) -> None:
    """Replaces attrs that refer to the function's attrs by the caller's values."""
    kept = []
    for attribute in node.attribute:
        if attribute.ref_attr_name:
            actual = attrs.get(attribute.ref_attr_name)
            if actual is None:
                continue  # not given and no default: the inner op's own default applies
            bound = onnx.AttributeProto()
            bound.CopyFrom(actual)
            bound.name = attribute.name
            kept.append(bound)
        else:
            for graph in itertools.chain([attribute.g] if attribute.HasField("g") else [],
                                         attribute.graphs):
                _rename_graph(graph, rename, attrs)
            kept.append(attribute)
    del node.attribute[:]
    node.attribute.extend(kept)
