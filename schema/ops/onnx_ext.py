"""Ops the ONNX importer needs beyond the core families, with TensorFlow's names and meaning
where TensorFlow has the op (bitwise ops, Cumsum/Cumprod, Einsum, MatrixDeterminant).
Extension ops without a TensorFlow equivalent are prefixed "Onnx" and documented in
docs/ONNX.md.

    BitwiseAnd(u8[4], u8[]) -> u8[4];  LeftShift(x, y) = x << y;  Invert(x) = ~x
    Cumsum(f32[2,3], axis=1, exclusive=true) -> f32[2,3]
    Einsum([f32[2,3], f32[3,4]], equation="ij,jk->ik") -> f32[2,4]
    MatrixDeterminant(f32[5,3,3]) -> f32[5]
"""
from __future__ import annotations

import re

from schema.registry import op
from schema.shapes import broadcast_inputs, same_as_input

__all__ = ["einsum_terms"]

_INT = "{int8, int16, int32, int64, uint8, uint16, uint32, uint64}"

for _name in ("BitwiseAnd", "BitwiseOr", "BitwiseXor"):
    op(_name, inputs=["x: T", "y: T"], outputs=["z: T"], attrs=[f"T: {_INT}"],
       shape=broadcast_inputs, commutative=True)
for _name in ("LeftShift", "RightShift"):
    op(_name, inputs=["x: T", "y: T"], outputs=["z: T"], attrs=[f"T: {_INT}"],
       shape=broadcast_inputs)
op("Invert", inputs=["x: T"], outputs=["y: T"], attrs=[f"T: {_INT}"], shape=same_as_input(0))

for _name in ("Cumsum", "Cumprod"):
    op(_name, inputs=["x: T", "axis: Tidx"], outputs=["out: T"],
       attrs=["exclusive: bool = false", "reverse: bool = false", "T: numbertype",
              "Tidx: {int32, int64} = int32"], shape=same_as_input(0))


def _determinant_shape(ctx):
    shape = ctx.shape(0)
    if shape is None:
        return [None]
    if len(shape) < 2:
        raise ctx.fail(f"input must have rank >= 2, got {len(shape)}")
    if None not in shape[-2:] and shape[-1] != shape[-2]:
        raise ctx.fail(f"input must be square matrices, got {list(shape[-2:])}")
    return [shape[:-2]]


op("MatrixDeterminant", inputs=["input: T"], outputs=["output: T"],
   attrs=["T: {half, float, double, complex64, complex128}"], shape=_determinant_shape)

_TERM = re.compile(r"^[A-Za-z]*(\.\.\.)?[A-Za-z]*$")


def einsum_terms(equation: str, n_inputs: int) -> tuple[list[str], str]:
    """"ij,jk->ik" -> (["ij", "jk"], "ik"); the implicit output is numpy's (letters used once,
    sorted, after the ellipsis). ValueError on a malformed equation."""
    equation = equation.replace(" ", "")
    left, arrow, right = equation.partition("->")
    terms = left.split(",")
    if len(terms) != n_inputs:
        raise ValueError(f"equation {equation!r} has {len(terms)} operand terms for "
                         f"{n_inputs} inputs")
    if not all(_TERM.match(t) for t in terms) or (arrow and not _TERM.match(right)):
        raise ValueError(f"equation {equation!r} is not a valid einsum equation")
    if not arrow:
        letters = "".join(t.replace("...", "") for t in terms)
        once = sorted(c for c in set(letters) if letters.count(c) == 1)
        right = ("..." if any("..." in t for t in terms) else "") + "".join(once)
    return terms, right


def _einsum_shape(ctx):
    try:
        terms, out = einsum_terms(ctx.attr("equation"), ctx.num_inputs)
    except ValueError as err:
        raise ctx.fail(str(err)) from None
    sizes: dict[str, int | None] = {}
    for i, term in enumerate(terms):
        shape = ctx.shape(i)
        if shape is None or "..." in term:
            return [None]
        if len(shape) != len(term):
            raise ctx.fail(f"operand {i} has rank {len(shape)}, its term {term!r} has "
                           f"{len(term)} letters")
        for letter, dim in zip(term, shape):
            if sizes.get(letter) in (None, 1):
                sizes[letter] = dim
    if "..." in out or any(c not in sizes for c in out):
        return [None]
    return [tuple(sizes[c] for c in out)]


op("Einsum", inputs=["inputs: N * T"], outputs=["output: T"],
   attrs=["equation: string", "N: int >= 1", "T: type"], shape=_einsum_shape)
