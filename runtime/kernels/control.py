"""Kernels for graph plumbing: Const, Placeholder, Identity, NoOp."""
from __future__ import annotations

from runtime.kernels import KernelContext, kernel
from schema.errors import FeedError


@kernel("Const", device="any")
def const(ctx: KernelContext):
    value = ctx.xp.asarray(ctx.attr("value"))
    return lambda: value


@kernel("Placeholder", device="any")
def placeholder(ctx: KernelContext):
    name = ctx.node.name

    def unfed():
        shape = ctx.attr("shape")
        shown = "unknown" if shape is None else [("?" if d is None else d) for d in shape]
        raise FeedError(f"placeholder {name}:0 ({ctx.attr('dtype').tf_name}, shape {shown}) "
                        f"must be fed")
    return unfed


@kernel("Identity", "StopGradient", "PlaceholderWithDefault", device="any")
def identity(ctx: KernelContext):
    return lambda x: x


@kernel("IdentityN", device="any")
def identity_n(ctx: KernelContext):
    return lambda *xs: xs


@kernel("NoOp", device="any")
def no_op(ctx: KernelContext):
    return lambda: None
