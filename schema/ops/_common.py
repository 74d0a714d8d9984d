"""Shape helpers used by more than one op family."""
from __future__ import annotations


def placeholder_with_default_shape(ctx):
    """The declared shape, as TensorFlow: the default value's shape is only one possibility,
    since a feed may replace it (an unknown-rank declaration gives an unknown shape)."""
    return [ctx.attr("shape")]
