"""The importer's extension ops (``Onnx<Op>``, docs/ONNX.md) back to the ONNX op they stand
for, with the same inputs and the attrs ONNX declares at the exported opset.

    OnnxGatherElements(data, indices) axis=1 -> GatherElements(data, indices, axis=1)
    OnnxPool(x) mode='avg' -> AveragePool(x);  OnnxLSTM(X, W, R, B[0], ...) -> LSTM(X, W, R)

An empty constant (shape [0]) given for an optional input means "absent", as in the importer.
Attrs equal to the declaration's default are left out (ONNX's default is the same); any other
attr ONNX does not declare at the opset raises ExportNotSupported. Every registered
``Onnx<Op>`` whose ``<Op>`` exists in ONNX gets the generic emitter, so new extension ops are
covered without a table entry; ops that need more than a rename are in ``_SPECIAL``.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
import onnx
from onnx.defs import OpSchema

from gcc_flow.onnx.export_ops import emitter
from gcc_flow.onnx.export_ops.builder import ExportContext
from schema.ir import Node
from schema.registry import all_ops

_TYPE_ATTRS = ("type", "list(type)")


def _schema(ctx: ExportContext, node: Node, op_type: str) -> OpSchema:
    try:
        return onnx.defs.get_schema(op_type, ctx.opset, "")
    except onnx.defs.SchemaError:
        raise ctx.unsupported(node, f"ONNX has no {op_type} at opset {ctx.opset}") from None


def _onnx_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _attrs(ctx: ExportContext, node: Node, schema: OpSchema, skip: tuple = (),
           extra: Optional[dict] = None) -> dict:
    """The node's non-default attrs that ONNX declares, plus ``extra`` (already in ONNX form)."""
    out = dict(extra or {})
    specs = node.op_def.attrs
    for name, value in node.attrs.items():
        spec = specs.get(name)
        if name in skip or name in out or spec is None or spec.type in _TYPE_ATTRS:
            continue
        if not spec.required and _same(value, spec.default):
            continue
        if name not in schema.attributes:
            raise ctx.unsupported(node, f"attr {name}={value!r} has no ONNX {schema.name} "
                                        f"form at opset {ctx.opset}")
        out[name] = _onnx_value(value)
    if out.get("auto_pad", "NOTSET") != "NOTSET":
        out.pop("pads", None)  # ONNX takes one of the two; the importer fills pads with 0
    for name in list(out):
        if name not in schema.attributes:
            raise ctx.unsupported(node, f"ONNX {schema.name} takes no {name!r} at opset "
                                        f"{ctx.opset}")
    return out


def _same(value: Any, default: Any) -> bool:
    if isinstance(value, (list, tuple)) or isinstance(default, (list, tuple)):
        return list(value or []) == list(default or [])
    return value == default


def _inputs(ctx: ExportContext, node: Node, schema: OpSchema) -> list:
    """Input values; an empty constant for an optional ONNX input becomes absent ("")."""
    values = []
    for i in range(len(node.inputs)):
        static = ctx.static(node, i)
        optional = (i < len(schema.inputs)
                    and schema.inputs[i].option == OpSchema.FormalParameterOption.Optional)
        values.append("" if optional and static is not None and static.size == 0
                      else ctx.input(node, i))
    while values and values[-1] == "":
        values.pop()
    return values


def emit_as(ctx: ExportContext, node: Node, op_type: str, skip: tuple = (),
            extra: Optional[dict] = None) -> list:
    schema = _schema(ctx, node, op_type)
    outs = ctx.emit(op_type, _inputs(ctx, node, schema), outputs=node.num_outputs,
                    **_attrs(ctx, node, schema, skip, extra))
    return [outs] if node.num_outputs == 1 else outs


def passthrough(ctx: ExportContext, node: Node) -> list:
    """Onnx<Op> -> <Op> with the same inputs and attrs."""
    return emit_as(ctx, node, node.op[len("Onnx"):])


_POOLS = {"max": ("MaxPool", ("count_include_pad", "p")),
          "avg": ("AveragePool", ("p",)),
          "lp": ("LpPool", ("count_include_pad",))}


def _pool(ctx: ExportContext, node: Node) -> list:
    mode = node.attrs["mode"]
    if mode not in _POOLS:
        raise ctx.unsupported(node, f"pool mode {mode!r}")
    op_type, skip = _POOLS[mode]
    extra = {"count_include_pad": int(node.attrs.get("count_include_pad", False))} \
        if mode == "avg" and node.attrs.get("count_include_pad") else None
    return emit_as(ctx, node, op_type, skip=("mode",) + skip, extra=extra)


def _flagged(flag: str, attr: str) -> Callable:
    """Ops whose optional attr is present only when ``flag`` is set (clip, axis, seed)."""
    def emit(ctx: ExportContext, node: Node) -> list:
        extra = {attr: _onnx_value(node.attrs[attr])} if node.attrs.get(flag) else None
        return emit_as(ctx, node, node.op[len("Onnx"):], skip=(flag, attr), extra=extra)
    return emit


def _roi_align(ctx: ExportContext, node: Node) -> list:
    mode = "half_pixel" if node.attrs.get("half_pixel", True) else "output_half_pixel"
    extra = {"coordinate_transformation_mode": mode} if ctx.opset >= 16 else None
    if extra is None and node.attrs.get("half_pixel", True):
        raise ctx.unsupported(node, "half_pixel coordinates need opset 16")
    return emit_as(ctx, node, "RoiAlign", skip=("half_pixel",), extra=extra)


def _resize(ctx: ExportContext, node: Node) -> list:
    """nearest_mode 'simple' (the importer's Upsample / Resize-10 rounding: ceil when
    downscaling, else truncation) has no Resize spelling; 'floor' matches it when
    upscaling."""
    extra = None
    if node.attrs.get("nearest_mode") == "simple":
        scales = ctx.static(node, 2)
        if scales is None or scales.size == 0 or (np.asarray(scales) < 1).any():
            raise ctx.unsupported(node, "nearest_mode 'simple' (Upsample) with downscaling or "
                                        "computed scales")
        extra = {"nearest_mode": "floor"}
    return emit_as(ctx, node, "Resize", extra=extra)


def _max_pool_with_indices(ctx: ExportContext, node: Node) -> list:
    return emit_as(ctx, node, "MaxPool")


_SPECIAL: dict[str, Callable] = {
    "OnnxPool": _pool,
    "OnnxMaxPoolWithIndices": _max_pool_with_indices,
    "OnnxRNN": _flagged("has_clip", "clip"),
    "OnnxGRU": _flagged("has_clip", "clip"),
    "OnnxLSTM": _flagged("has_clip", "clip"),
    "OnnxUnique": _flagged("has_axis", "axis"),
    "OnnxDropout": _flagged("has_seed", "seed"),
    "OnnxRoiAlign": _roi_align,
    "OnnxResize": _resize,
}


def _register() -> None:
    for name in sorted(all_ops()):
        if name in _SPECIAL:
            emitter(name)(_SPECIAL[name])
        elif name.startswith("Onnx") and onnx.defs.has(name[len("Onnx"):]):
            emitter(name)(passthrough)


_register()
