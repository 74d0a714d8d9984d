"""GraphDef -> ONNX ModelProto; writing it to disk is gcc_flow.onnx.save (re-exported here).

    model = export_model(graph_def)                          # inputs: Placeholders; outputs: sinks
    model = export_model("model.pb", inputs=["x:0"], outputs=["probs:0"], opset=17)
    save_model(model, "out/model.onnx")                      # one protobuf, or model + side file

Mapping: Placeholder -> graph input (PlaceholderWithDefault of a constant -> graph input with an
initializer default); Const -> initializer; every other node -> the ONNX nodes its emitter in
gcc_flow.onnx.export_ops writes (a table keyed by TF op name); Identity-like ops are aliases.
ONNX value names are TF tensor names without ":0" ("probs:0" -> "probs", "split:1" stays).
The graph is pruned to the outputs, constant-folded and fused first (passes "prune",
"fold_constants", "fuse"), so shapes, axes and perms computed from constants become attrs and
convolutions carry their bias, batch norm and activation into NCHW. Control edges are dropped
(ONNX orders by data alone); stateful ops (variables, random) are not exported: freeze first.
The result passes ``onnx.checker.check_model(model, full_check=True)``.
"""
from __future__ import annotations

import os
from typing import Callable, Optional, Sequence, Union

import onnx
from onnx import helper

from gcc_flow.onnx.context import dtype_to_onnx
from gcc_flow.onnx.export_ops import ExportContext, find_emitter
from gcc_flow.onnx.export_ops.builder import (ExportNotSupported, OnnxExportError, onnx_name,
                                              tensor_name_of)
from gcc_flow.onnx.save import (EXTERNAL_MIN_BYTES, MAX_PROTOBUF_BYTES,  # noqa: F401 (re-exported)
                                external_data_name, save_model)
from schema import graph_pb2
from schema.io import PROTOBUF_LIMIT, read_graph_def
from schema.ir import Graph, Node, TensorRef
from schema.serde import graph_from_graph_def

__all__ = ["export_model", "save_model", "choose_opset", "default_outputs", "MIN_OPSET",
           "MAX_OPSET", "OnnxExportError", "ExportNotSupported", "onnx_name", "tensor_name_of",
           "EXPORT_PIPELINE", "check_exported", "external_data_name", "MAX_PROTOBUF_BYTES"]

MIN_OPSET = 13                                   # Softmax's one-axis form, axes as inputs
MAX_OPSET = onnx.defs.onnx_opset_version()       # the newest the installed onnx knows
EXPORT_PIPELINE = ("prune", "fold_constants", "fuse")
_NOT_OUTPUTS = ("Const", "NoOp", "Placeholder", "VarHandleOp", "VariableV2", "Variable")
# Ops that pass their input through unchanged (an alias, no ONNX node).
_ALIASES = ("Identity", "StopGradient", "Snapshot", "PreventGradient", "EnsureShape",
            "CheckNumerics")
_VARIABLE_HINT = ("; freeze variables into constants first "
                  "(tf.compat.v1.graph_util.convert_variables_to_constants)")

GraphSource = Union[graph_pb2.GraphDef, str, os.PathLike, Graph]
Progress = Callable[[int, int], None]


def choose_opset(opset: Optional[int]) -> int:
    """``opset`` checked against MIN_OPSET..MAX_OPSET; None -> MAX_OPSET."""
    if opset is None:
        return MAX_OPSET
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise OnnxExportError(f"opset must be an int, got {opset!r}")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise OnnxExportError(f"cannot export opset {opset}: supported are {MIN_OPSET} to "
                              f"{MAX_OPSET} (the newest this onnx package knows)")
    return opset


def export_model(graph_def: GraphSource, inputs: Optional[Sequence[str]] = None,
                 outputs: Optional[Sequence[str]] = None, opset: Optional[int] = None, *,
                 optimize: bool = True, check: bool = True,
                 progress: Optional[Progress] = None) -> onnx.ModelProto:
    """A GraphDef (or .pb/.pbtxt path, or IR Graph) as an ONNX model.

    ``inputs``/``outputs``: tensor names ("x:0" or "x"); default the Placeholders the outputs
    need, and every sink tensor. ``progress(done, total)`` is called as nodes are exported.
    """
    if isinstance(inputs, (str, os.PathLike)) and str(inputs).endswith(".onnx"):
        raise TypeError("export_model returns the model; write it with save_model(model, path)")
    opset = choose_opset(opset)
    source = _as_graph_def(graph_def)
    graph = graph_from_graph_def(source)
    out_names = _tensor_names(outputs, "output") if outputs else default_outputs(graph)
    in_names = _tensor_names(inputs, "input") if inputs else None
    if not out_names:
        raise OnnxExportError("the graph has no outputs to export (no node produces a value "
                              "that nothing consumes); name them with outputs=[...]")
    for name in out_names + (in_names or []):
        graph.tensor(name)  # GraphError naming a tensor that does not exist
    if optimize:
        import passes
        source, _ = passes.optimize(source, fetches=out_names + (in_names or []),
                                    pipeline=EXPORT_PIPELINE)
        graph = graph_from_graph_def(source)
    return _Exporter(graph, in_names, out_names, opset, progress,
                     optional_outputs=not outputs).build(check)


def default_outputs(graph: Graph) -> list[str]:
    """Every output of every node that nothing consumes (Const, NoOp, Placeholder excluded)."""
    return [r.name for node in graph if not node.users and node.op not in _NOT_OUTPUTS
            for r in node.outputs]


def _as_graph_def(source: GraphSource) -> graph_pb2.GraphDef:
    if isinstance(source, graph_pb2.GraphDef):
        return source
    if isinstance(source, (str, os.PathLike)):
        return read_graph_def(source)
    if hasattr(source, "as_graph_def"):
        return source.as_graph_def()
    if isinstance(source, Graph):
        from schema.serde import graph_to_graph_def
        return graph_to_graph_def(source)
    raise OnnxExportError(f"cannot export a {type(source).__name__}; give a GraphDef, a "
                          f".pb/.pbtxt path or a graph")


def _tensor_names(names: Sequence[str], what: str) -> list[str]:
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name or name.startswith("^"):
            raise OnnxExportError(f"{what} {name!r} is not a tensor name like 'y:0'")
        full = tensor_name_of(name)
        if full not in out:
            out.append(full)
    return out


class _Exporter:
    """One export: needed nodes in order, each through its emitter, then the graph's edges."""

    def __init__(self, graph: Graph, inputs: Optional[list[str]], outputs: list[str],
                 opset: int, progress: Optional[Progress], optional_outputs: bool = False):
        self.graph = graph
        # Default outputs (every sink's every output) skip outputs without an ONNX form,
        # such as FusedBatchNormV3's reserve_space_3; named outputs must export.
        self.optional_outputs = optional_outputs
        self.outputs = [graph.tensor(n) for n in outputs]
        self.output_nodes = {r.node.name for r in self.outputs}
        self.cut = {(r.node.name, r.index): None for r in (graph.tensor(n) for n in inputs or [])}
        self.explicit_inputs = inputs is not None
        self.opset = opset
        self.progress = progress
        reserved = {onnx_name(r.name) for node in graph for r in node.outputs}
        self.ctx = ExportContext(opset, reserved | set(graph.nodes))
        self.graph_inputs: list[onnx.ValueInfoProto] = []

    def build(self, check: bool) -> onnx.ModelProto:
        order = self.graph.topological_order(self._needed())
        self._bind_cut_inputs()
        for done, node in enumerate(order, 1):
            self._export_node(node)
            if self.progress is not None:
                self.progress(done, len(order))
        if self.optional_outputs:
            self.outputs = [r for r in self.outputs
                            if self.ctx.values.get((r.node.name, r.index), "") is not None]
        outputs = [self._graph_output(ref) for ref in self.outputs]
        model = self._model(outputs)
        _fill_unknown_ranks(model)
        if check:
            check_exported(model)
        return model

    def _needed(self) -> list[Node]:
        """Nodes the outputs read through data edges, not looking past cut inputs."""
        seen: dict[Node, None] = {}
        stack = [r for r in self.outputs]
        while stack:
            ref = stack.pop()
            if (ref.node.name, ref.index) in self.cut or ref.node in seen:
                continue
            seen[ref.node] = None
            stack.extend(ref.node.inputs)
        return list(seen)

    # -- inputs and constants --------------------------------------------------------------
    def _bind_cut_inputs(self) -> None:
        for node_name, index in self.cut:  # in the order given
            ref = self.graph.node(node_name).output(index)
            self._add_input(ref, onnx_name(ref.name))

    def _add_input(self, ref: TensorRef, name: str) -> None:
        if ref.shape is None:
            raise ExportNotSupported(f"not supported: input {ref.name} has an unknown rank; "
                                     f"ONNX graph inputs need one (give the placeholder a "
                                     f"shape; unknown dims are fine)")
        self.ctx.claim(name)
        self.ctx.values[(ref.node.name, ref.index)] = name
        self.ctx.fed.add((ref.node.name, ref.index))
        self.graph_inputs.append(_value_info(name, ref))

    def _export_node(self, node: Node) -> None:
        ctx = self.ctx
        ctx.current, ctx.first_new_node = node, len(ctx.nodes)
        if node.op == "Const":
            self._export_const(node)
        elif node.op == "PlaceholderWithDefault":
            self._export_default(node)
        elif node.op_def is not None and node.op_def.is_feed:
            self._export_feed(node)
        elif node.op in _ALIASES:
            self._bind(node, [ctx.input(node, 0)])
        elif node.op == "IdentityN":
            self._bind(node, ctx.inputs(node))
        else:
            emit = find_emitter(node.op)
            if emit is None:
                raise self._no_emitter(node)
            values = emit(ctx, node)
            self._bind(node, [values] if isinstance(values, str) else list(values))
        ctx.current = None

    def _no_emitter(self, node: Node) -> ExportNotSupported:
        hint = _VARIABLE_HINT if node.op_def is not None and node.op_def.is_stateful else ""
        return ExportNotSupported(f"not supported: node {node.name!r} ({node.op}): no ONNX "
                                  f"export for this op{hint}")

    def _export_const(self, node: Node) -> None:
        name = None if node.name in self.output_nodes else onnx_name(node.output(0).name)
        self.ctx.defer_const(node.output(0), node.attrs["value"], node.attrs["dtype"].base,
                             name)

    def _export_feed(self, node: Node) -> None:
        if self.explicit_inputs:
            raise OnnxExportError(f"the outputs need placeholder {node.name!r}, which is not "
                                  f"among the inputs {[n for n, _ in self.cut]}")
        self._add_input(node.output(0), onnx_name(node.output(0).name))

    def _export_default(self, node: Node) -> None:
        """A constant default becomes an input with an initializer of the same name."""
        default = node.inputs[0]
        if default.node.op != "Const" or self.explicit_inputs:
            self._bind(node, [self.ctx.input(node, 0)])
            return
        ref = node.output(0)
        name = onnx_name(ref.name)
        self._add_input(ref, name)
        self.ctx.const(default.node.attrs["value"], node.attrs["dtype"].base, name=name)

    def _bind(self, node: Node, values: list[Optional[str]]) -> None:
        if len(values) != node.num_outputs:
            raise OnnxExportError(f"internal: the emitter of {node.op} returned {len(values)} "
                                  f"values for {node.num_outputs} outputs of {node.name!r}")
        for ref, value in zip(node.outputs, values):
            if value is not None and self.ctx.rename_new_value(value, onnx_name(ref.name)):
                value = onnx_name(ref.name)
            self.ctx.values[(node.name, ref.index)] = value

    # -- outputs and the model -------------------------------------------------------------
    def _graph_output(self, ref: TensorRef) -> onnx.ValueInfoProto:
        value = self.ctx.value_of(ref)
        wanted = onnx_name(ref.name)
        if value != wanted:
            self.ctx.identity_to(value, wanted)
        return _value_info(wanted, ref)

    def _model(self, outputs: list) -> onnx.ModelProto:
        nodes, initializers = self._live(outputs)
        graph = helper.make_graph(nodes, "gcc_flow", self.graph_inputs, outputs,
                                  initializer=initializers)
        opsets = [helper.make_opsetid("", self.opset)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="gcc-flow",
                                  producer_version=_version())
        model.ir_version = helper.find_min_ir_version_for(opsets)
        return model

    def _live(self, outputs: list) -> tuple[list, list]:
        """Nodes and initializers the outputs need (folded transposes leave dead ones); an
        initializer that is an input's default stays."""
        used = {o.name for o in outputs} | {i.name for i in self.graph_inputs}
        live = []
        for node in reversed(self.ctx.nodes):
            if any(o in used for o in node.output if o):
                live.append(node)
                used.update(i for i in node.input if i)
        return live[::-1], [t for t in self.ctx.initializers if t.name in used]


def _value_info(name: str, ref: TensorRef) -> onnx.ValueInfoProto:
    dims = None if ref.shape is None else list(ref.shape)   # None dims: no dim_value
    return helper.make_tensor_value_info(name, dtype_to_onnx(ref.dtype.base), dims)


def _fill_unknown_ranks(model: onnx.ModelProto) -> None:
    """Outputs whose rank the graph does not know get the shape ONNX's inference finds."""
    missing = [o for o in model.graph.output if not o.type.tensor_type.HasField("shape")]
    if not missing:
        return
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - inference is best effort here; the checker decides
        inferred = model
    found = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)
             if v.type.tensor_type.HasField("shape")}
    for output in missing:
        if output.name not in found:
            raise ExportNotSupported(f"not supported: output {tensor_name_of(output.name)} has "
                                     f"an unknown rank; ONNX graph outputs need one")
        output.type.tensor_type.shape.CopyFrom(found[output.name].type.tensor_type.shape)


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("gcc-flow")
    except Exception:  # not installed as a package (a source checkout)
        return "0"


def check_exported(model: onnx.ModelProto) -> None:
    """onnx.checker with full (shape-inferring) checks; skipped past protobuf's 2 GiB limit,
    where ``save_model`` writes external data and the file can be checked by path."""
    if model.ByteSize() > PROTOBUF_LIMIT:
        return
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ExportNotSupported(f"not supported: onnx.checker rejects the exported model "
                                 f"(a dtype or form the ONNX op does not take?): "
                                 f"{first[:500]}") from None
