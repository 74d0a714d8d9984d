"""ONNX pooling: TensorFlow's MaxPool/AvgPool (NHWC, between transposes) where they compute
the same thing, the OnnxPool extension op (channels-first, N-D) otherwise.

    MaxPool(x f32[1,3,8,8], kernel 3, pads 1)        -> Transpose(MaxPool(Transpose(x)) EXPLICIT)
    AveragePool(count_include_pad=0, SAME_UPPER)     -> AvgPool SAME (TF averages valid elements)
    AveragePool(count_include_pad=1, pads 1)         -> AvgPool VALID of Pad(x) (zeros counted)
    MaxPool(3-D, dilations, ceil_mode that matters)  -> OnnxPool mode='max'
    MaxPool with the Indices output                  -> OnnxMaxPoolWithIndices
    LpPool                                           -> OnnxPool mode='lp'
    GlobalAveragePool / GlobalMaxPool / GlobalLpPool -> Mean / Max / Sum of |x|^p over D1, D2...
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from gcc_flow.framework import apply_op
from gcc_flow.onnx.ops import converter
from gcc_flow.onnx.ops.conv import as_2d, from_nhwc, tf_padding, to_nhwc, window_params
from gcc_flow.onnx.ops.tf_graph import (
    const, expand_dims, known_rank, same_type_const, squeeze, static_shape)
from schema.dtypes import DType
from schema.ops.onnx_ext_nn import pool_window

__all__: list = []   # converters register themselves

_TF_MAX_TYPES = {DType.HALF, DType.BFLOAT16, DType.FLOAT, DType.DOUBLE, DType.INT32, DType.INT64,
                 DType.UINT8, DType.INT16, DType.INT8, DType.UINT16}
_TF_AVG_TYPES = {DType.HALF, DType.BFLOAT16, DType.FLOAT, DType.DOUBLE}


def _ext_attrs(params: dict, ceil_mode: bool) -> dict:
    return {"kernel_shape": params["kernel"], "strides": params["strides"],
            "dilations": params["dilations"],
            "pads": [p[0] for p in params["pads"]] + [p[1] for p in params["pads"]],
            "auto_pad": params["auto_pad"], "ceil_mode": ceil_mode}


def _ceil_matters(ctx, node, x, params: dict, ceil_mode: bool) -> bool:
    """Whether ceil_mode changes the output size (True when the sizes are unknown)."""
    if not ceil_mode:
        return False
    shape = static_shape(x)
    if shape is None:
        return True

    def size(d, i, ceil):
        return pool_window(d, params["kernel"][i], params["strides"][i], params["dilations"][i],
                           params["pads"][i], params["auto_pad"], ceil,
                           lambda m: ctx.fail(node, m))[0]
    return any(size(d, i, True) != size(d, i, False) for i, d in enumerate(shape[2:]))


def _tf_pool_ok(ctx, node, x, params: dict, ceil_mode: bool, types: set) -> bool:
    lower_unknown = params["auto_pad"] == "SAME_LOWER" and static_shape(x) is None
    return (len(params["kernel"]) in (1, 2) and set(params["dilations"]) == {1}
            and not lower_unknown
            and x.dtype.base in types and not _ceil_matters(ctx, node, x, params, ceil_mode)
            and all(b < k and a < k for (b, a), k in zip(params["pads"], params["kernel"])))


def _tf_pool(ctx, node, op_type: str, x, params: dict, padding: Optional[dict] = None):
    """The 2-D TF pool between layout transposes (1-D: with a unit height)."""
    one_d = len(params["kernel"]) == 1
    if one_d:
        x, params = expand_dims(ctx, x, 2), as_2d(params)
    in_hw = None if x.shape is None else x.shape[2:]
    attrs = {"ksize": [1, *params["kernel"], 1], "strides": [1, *params["strides"], 1],
             "data_format": "NHWC", **(padding or tf_padding(ctx, node, params, in_hw))}
    y = from_nhwc(ctx, apply_op(op_type, [to_nhwc(ctx, x)], attrs))
    return squeeze(y, [2]) if one_d else y


def _ceil_mode(ctx, node) -> bool:
    return bool(ctx.attr(node, "ceil_mode", 0))


@converter("MaxPool", since=1)
def max_pool(ctx, node) -> list:
    x = ctx.input(node, 0)
    params = window_params(ctx, node, x)
    ceil_mode = _ceil_mode(ctx, node)
    if len(node.output) > 1 and node.output[1]:
        attrs = _ext_attrs(params, ceil_mode)
        attrs["storage_order"] = ctx.attr(node, "storage_order", 0)
        return list(apply_op("OnnxMaxPoolWithIndices", [x], attrs))
    if _tf_pool_ok(ctx, node, x, params, ceil_mode, _TF_MAX_TYPES):
        return [_tf_pool(ctx, node, "MaxPool", x, params)]
    return [apply_op("OnnxPool", [x], {"mode": "max", **_ext_attrs(params, ceil_mode)})]


@converter("AveragePool", since=1)
def average_pool(ctx, node) -> list:
    x = ctx.input(node, 0)
    params = window_params(ctx, node, x)
    ceil_mode = _ceil_mode(ctx, node)
    include_pad = bool(ctx.attr(node, "count_include_pad", 0))
    if _tf_pool_ok(ctx, node, x, params, ceil_mode, _TF_AVG_TYPES):
        y = _tf_average(ctx, node, x, params, include_pad)
        if y is not None:
            return [y]
    return [apply_op("OnnxPool", [x], {"mode": "avg", "count_include_pad": include_pad,
                                       **_ext_attrs(params, ceil_mode)})]


def _tf_average(ctx, node, x, params: dict, include_pad: bool):
    """AvgPool averages the window's input elements only: SAME/VALID as is; counted padding
    is made real with a Pad of zeros first. None when TF cannot express it."""
    in_dims = None if x.shape is None else x.shape[2:]
    padding = _resolved_pads(ctx, node, params, in_dims)
    if padding is None:
        return None
    if not any(map(any, padding)):
        return _tf_pool(ctx, node, "AvgPool", x, params, {"padding": "VALID"})
    if not include_pad:
        same = _resolved_pads(ctx, node, {**params, "auto_pad": "SAME_UPPER"}, in_dims)
        if padding != same:
            return None
        return _tf_pool(ctx, node, "AvgPool", x, params, {"padding": "SAME"})
    widths = [[0, 0], [0, 0]] + [list(p) for p in padding]
    x = apply_op("Pad", [x, const(ctx, np.array(widths, np.int64))])
    return _tf_pool(ctx, node, "AvgPool", x, params, {"padding": "VALID"})


def _resolved_pads(ctx, node, params: dict, in_dims):
    """The (before, after) pads actually used; None when they depend on unknown sizes."""
    if params["auto_pad"] in ("NOTSET", "VALID"):
        return [(0, 0)] * len(params["pads"]) if params["auto_pad"] == "VALID" \
            else [tuple(p) for p in params["pads"]]
    if in_dims is None or None in in_dims:
        return None
    return [pool_window(d, k, s, dl, (0, 0), params["auto_pad"], False,
                        lambda m: ctx.fail(node, m))[1:]
            for d, k, s, dl in zip(in_dims, params["kernel"], params["strides"],
                                   params["dilations"])]


@converter("LpPool", since=1)
def lp_pool(ctx, node) -> list:
    x = ctx.input(node, 0)
    params = window_params(ctx, node, x)
    p = ctx.attr(node, "p", 2)
    return [apply_op("OnnxPool", [x], {"mode": "lp", "p": int(p),
                                       **_ext_attrs(params, _ceil_mode(ctx, node))})]


# -- global pools ---------------------------------------------------------------------------------

def _spatial_axes(ctx, node, x):
    rank = known_rank(ctx, node, x)
    if rank < 3:
        raise ctx.fail(node, f"input must be [N, C, D1, ...], got rank {rank}")
    return const(ctx, np.arange(2, rank, dtype=np.int32))


@converter("GlobalAveragePool", since=1)
def global_average_pool(ctx, node) -> list:
    x = ctx.input(node, 0)
    return [apply_op("Mean", [x, _spatial_axes(ctx, node, x)], {"keep_dims": True})]


@converter("GlobalMaxPool", since=1)
def global_max_pool(ctx, node) -> list:
    x = ctx.input(node, 0)
    return [apply_op("Max", [x, _spatial_axes(ctx, node, x)], {"keep_dims": True})]


@converter("GlobalLpPool", since=2)
def global_lp_pool(ctx, node) -> list:
    x = ctx.input(node, 0)
    p = float(ctx.attr(node, "p", 2))
    powered = apply_op("Pow", [apply_op("Abs", [x]), same_type_const(ctx, p, x)])
    total = apply_op("Sum", [powered, _spatial_axes(ctx, node, x)], {"keep_dims": True})
    return [apply_op("Pow", [total, same_type_const(ctx, 1.0 / p, x)])]
