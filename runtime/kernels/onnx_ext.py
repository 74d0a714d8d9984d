"""Kernels of schema/ops/onnx_ext.py: bitwise ops, Cumsum/Cumprod, Einsum, MatrixDeterminant.

    Cumsum([1, 2, 3], 0)                  -> [1, 3, 6]
    Cumsum([1, 2, 3], 0, exclusive=true)  -> [0, 1, 3];   reverse=true -> [6, 5, 3]
    Einsum(a, b, equation="ij,jk->ik")    -> a @ b
"""
from __future__ import annotations

import numpy as np

from runtime.kernels import KernelContext, kernel
from schema.ops.onnx_ext import einsum_terms
from schema.tensors import check_byte_budget

_BITWISE = {"BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or,
            "BitwiseXor": np.bitwise_xor, "Invert": np.invert}


@kernel(*_BITWISE)
def bitwise(ctx: KernelContext):
    return _BITWISE[ctx.node.op]


@kernel("LeftShift", "RightShift")
def shift(ctx: KernelContext):
    """Shift amounts outside [0, bits) give 0 (left) or the sign fill (right), never UB."""
    left = ctx.node.op == "LeftShift"
    bits = ctx.out_np().itemsize * 8

    def run(x, y):
        x, y = np.asarray(x), np.asarray(y)
        inside = (y >= 0) & (y < bits)
        amount = np.where(inside, y, 0).astype(x.dtype)
        out = np.left_shift(x, amount) if left else np.right_shift(x, amount)
        if left or x.dtype.kind == "u":
            fill = np.zeros((), x.dtype)
        else:
            fill = np.where(x < 0, np.array(-1, x.dtype), np.zeros((), x.dtype))
        return np.where(inside, out, fill).astype(x.dtype)
    return run


_SCANS = {"Cumsum": (np.cumsum, 0), "Cumprod": (np.cumprod, 1)}


@kernel(*_SCANS)
def scan(ctx: KernelContext):
    body, identity = _SCANS[ctx.node.op]
    exclusive, reverse = bool(ctx.attr("exclusive")), bool(ctx.attr("reverse"))

    def run(x, axis):
        x, axis = np.asarray(x), np.asarray(axis)
        if axis.ndim != 0:
            raise ctx.fail(f"axis must be a scalar, got shape {list(axis.shape)}")
        a = int(axis)
        if not -max(x.ndim, 1) <= a < max(x.ndim, 1):
            raise ctx.fail(f"axis {a} is out of range for rank {x.ndim}")
        if x.ndim == 0:
            return x.copy()
        a %= x.ndim
        values = np.flip(x, a) if reverse else x
        out = body(values, axis=a, dtype=x.dtype)
        if exclusive:
            start = np.full_like(np.take(out, [0], axis=a), identity)
            out = np.concatenate([start, np.delete(out, -1, axis=a)], axis=a)
        return np.ascontiguousarray(np.flip(out, a) if reverse else out)
    return run


def einsum_output_shape(equation: str, shapes: list) -> tuple:
    """The output shape of np.einsum(equation, ...) from operand shapes alone (no allocation).

    einsum_output_shape("...ij,jk->...ik", [(5, 2, 3), (3, 4)]) -> (5, 2, 4)
    """
    terms, out = einsum_terms(equation, len(shapes))
    sizes: dict[str, int] = {}
    ellipsis: tuple = ()
    for term, shape in zip(terms, shapes):
        head, dots, tail = term.partition("...")
        if len(head) + len(tail) > len(shape) or (not dots and len(term) != len(shape)):
            raise ValueError(f"term {term!r} does not fit an operand of shape {list(shape)}")
        n_tail = len(shape) - len(tail)
        for letter, dim in list(zip(head, shape)) + list(zip(tail, shape[n_tail:])):
            if sizes.get(letter, 1) != 1 and dim not in (1, sizes[letter]):
                raise ValueError(f"letter {letter!r} has sizes {sizes[letter]} and {dim}")
            sizes[letter] = dim if sizes.get(letter, 1) == 1 else sizes[letter]
        if dots:
            ellipsis = np.broadcast_shapes(ellipsis, tuple(shape[len(head):n_tail]))
    head, dots, tail = out.partition("...")
    return (tuple(sizes[c] for c in head) + (tuple(ellipsis) if dots else ())
            + tuple(sizes[c] for c in tail))


@kernel("Einsum")
def einsum(ctx: KernelContext):
    equation = ctx.attr("equation")
    out_dtype = ctx.out_np()

    def run(*operands):
        shapes = [np.shape(o) for o in operands]
        try:
            shape = einsum_output_shape(equation, shapes)
        except (ValueError, KeyError) as err:
            raise ctx.fail(f"einsum {equation!r} on shapes {[list(s) for s in shapes]}: "
                           f"{err}") from None
        check_byte_budget(shape, out_dtype.itemsize, ctx.limits, "Einsum output")
        if out_dtype.kind == "V":  # ml_dtypes' floats (bfloat16, float8): numpy's einsum lacks them
            operands = [np.asarray(o, np.float32) for o in operands]
        try:
            return np.asarray(np.einsum(equation, *operands)).astype(out_dtype, copy=False)
        except ValueError as err:
            raise ctx.fail(f"einsum {equation!r} on shapes {[list(s) for s in shapes]}: "
                           f"{err}") from None
    return run


@kernel("MatrixDeterminant")
def determinant(ctx: KernelContext):
    out_dtype = ctx.out_np()

    def run(x):
        x = np.asarray(x)
        if x.shape[-1] != x.shape[-2]:
            raise ctx.fail(f"input must be square matrices, got {list(x.shape[-2:])}")
        wide = x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)
        return np.asarray(np.linalg.det(wide)).astype(out_dtype)
    return run
