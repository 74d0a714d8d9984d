"""Graph plumbing: constants, placeholders, identities, no-ops.

    Const(value=[[1, 2]], dtype=int32) -> i32[1,2];  Identity(x) -> x
"""
from __future__ import annotations

from schema.ops import _common
from schema.registry import op
from schema.shapes import same_as_input


def _const_shape(ctx):
    value = ctx.attr("value")
    return [tuple(value.shape) if value is not None else None]


def _placeholder_shape(ctx):
    return [ctx.attr("shape")]


def _identity_n_shape(ctx):
    return [ctx.shape(i) for i in range(ctx.num_inputs)]


op("Const", outputs=["output: dtype"], attrs=["value: tensor", "dtype: type"],
   shape=_const_shape)
op("Placeholder", outputs=["output: dtype"], attrs=["dtype: type", "shape: shape = unknown"],
   shape=_placeholder_shape, feed=True)
op("PlaceholderWithDefault", inputs=["input: dtype"], outputs=["output: dtype"],
   attrs=["dtype: type", "shape: shape"], shape=_common.placeholder_with_default_shape,
   feed=True)
op("Identity", inputs=["input: T"], outputs=["output: T"], attrs=["T: type"],
   shape=same_as_input(0), layout="elementwise")
op("IdentityN", inputs=["input: T"], outputs=["output: T"], attrs=["T: list(type) >= 1"],
   shape=_identity_n_shape)
op("StopGradient", inputs=["input: T"], outputs=["output: T"], attrs=["T: type"],
   shape=same_as_input(0), layout="elementwise")
op("NoOp")
