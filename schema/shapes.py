"""Shape functions shared by many op declarations.

    broadcast_shapes((3, 1, 4), (5, 1)) -> (3, 5, 4)
    broadcast_shapes((None, 4), (4,))   -> (None, 4)
"""
from __future__ import annotations

from schema.errors import ValidationError

__all__ = ["broadcast_shapes", "same_as_input", "broadcast_inputs", "scalar", "unknown",
           "normalize_axis"]


def broadcast_shapes(a, b):
    """NumPy/TensorFlow broadcasting of two static shapes; ValidationError when incompatible."""
    if a is None or b is None:
        return None
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == 1:
            out.append(y)
        elif y == 1 or y == x:
            out.append(x)
        elif x is None or y is None:
            out.append(x if y is None else y)
        else:
            raise ValidationError(f"shapes {list(a)} and {list(b)} cannot be broadcast")
    return tuple(reversed(out))


def same_as_input(index: int = 0):
    """Shape function: every output has input ``index``'s shape."""
    def shape_fn(ctx):
        return [ctx.shape(index)] * len(ctx.node.out_types)
    return shape_fn


def broadcast_inputs(ctx):
    """Shape function: the broadcast of all inputs' shapes (binary elementwise ops)."""
    try:
        shape = ctx.shape(0)
        for i in range(1, ctx.num_inputs):
            shape = broadcast_shapes(shape, ctx.shape(i))
    except ValidationError as err:
        raise ctx.fail(str(err)) from None
    return [shape]


def scalar(ctx):
    return [()] * len(ctx.node.out_types)


def unknown(ctx):
    return [None] * len(ctx.node.out_types)


def normalize_axis(axis: int, rank: int, ctx=None) -> int:
    if not -rank <= axis < max(rank, 1):
        message = f"axis {axis} is out of range for rank {rank}"
        raise ctx.fail(message) if ctx is not None else ValidationError(message)
    return axis + rank if axis < 0 else axis
