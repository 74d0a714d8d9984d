"""Matrix products: gf.matmul and the ``@`` operator.

    gf.matmul(f32[4,3], f32[3,2])                -> MatMul -> f32[4,2]
    gf.matmul(f32[5,4,3], f32[3,2])              -> BatchMatMulV2 -> f32[5,4,2]
    x @ w                                        -> gf.matmul(x, w)
"""
from __future__ import annotations

from typing import Optional

from gcc_flow.framework import Tensor, apply_op
from gcc_flow.math_ops import _pair
from schema.errors import ValidationError

__all__ = ["matmul"]


def matmul(a, b, transpose_a: bool = False, transpose_b: bool = False,
           adjoint_a: bool = False, adjoint_b: bool = False,
           name: Optional[str] = None) -> Tensor:
    """a @ b after optional transposes; MatMul for two matrices, BatchMatMulV2 (broadcasting the
    leading batch dims) when either rank is above 2 or unknown.

    For complex tensors, transpose_* and adjoint_* differ by a conjugation that gcc-flow does
    not build here: transpose of a complex batch operand and adjoint of a complex matrix
    operand are refused.
    """
    for side, t, adj in (("a", transpose_a, adjoint_a), ("b", transpose_b, adjoint_b)):
        if t and adj:
            raise ValidationError(f"only one of transpose_{side} and adjoint_{side} can be True")
    a, b = _pair(a, b)
    ranks = [None if t.shape is None else len(t.shape) for t in (a, b)]
    complex_ = a.dtype.is_complex
    if ranks == [2, 2]:
        if complex_ and (adjoint_a or adjoint_b):
            raise ValidationError("matmul: adjoint of complex matrices is not supported; "
                                  "use a rank-3 operand (BatchMatMulV2 adj_x/adj_y)")
        return apply_op("MatMul", [a, b], {"transpose_a": transpose_a or adjoint_a,
                                           "transpose_b": transpose_b or adjoint_b}, name=name)
    if complex_ and (transpose_a or transpose_b):
        raise ValidationError("matmul: transpose (without conjugation) of complex batched "
                              "operands is not supported; use adjoint_a/adjoint_b")
    return apply_op("BatchMatMulV2", [a, b], {"adj_x": transpose_a or adjoint_a,
                                              "adj_y": transpose_b or adjoint_b}, name=name)


def _bind_operators() -> None:
    Tensor.__matmul__ = lambda self, other: matmul(self, other)
    Tensor.__rmatmul__ = lambda self, other: matmul(other, self)


_bind_operators()
