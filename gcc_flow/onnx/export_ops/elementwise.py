"""Elementwise TF ops -> ONNX: unary math, binary arithmetic with TF's integer and floor
semantics, comparisons, logic, Cast, Select, AddN, ClipByValue.

    Relu(x) -> Relu(x);  FloorMod(a, b) float -> Where(r != 0 and (r<0) != (b<0), r + b, r)
        with r = Mod(a, b, fmod=1);  Select(c[n], t[n,k], e) -> Where(Unsqueeze(c, [1]), t, e)
"""
from __future__ import annotations

import math

from gcc_flow.onnx.context import dtype_to_onnx
from gcc_flow.onnx.export_ops import emitter
from gcc_flow.onnx.export_ops.builder import ExportContext
from schema.dtypes import DType
from schema.ir import Node

# TF unary op -> the ONNX op with the same meaning (for the dtypes both accept).
_UNARY = {
    "Abs": "Abs", "Neg": "Neg", "Sign": "Sign", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt",
    "Tanh": "Tanh", "Sigmoid": "Sigmoid", "Sin": "Sin", "Cos": "Cos", "Tan": "Tan",
    "Asin": "Asin", "Acos": "Acos", "Atan": "Atan", "Sinh": "Sinh", "Cosh": "Cosh",
    "Asinh": "Asinh", "Acosh": "Acosh", "Atanh": "Atanh", "Floor": "Floor", "Ceil": "Ceil",
    "Erf": "Erf", "IsNan": "IsNaN", "IsInf": "IsInf", "LogicalNot": "Not",
    "Softsign": "Softsign", "Softplus": "Softplus", "Elu": "Elu",
}
# Ops that are the identity on integer inputs (rounding).
_ROUNDING = {"Round": "Round", "Rint": "Round"}
# TF binary op -> ONNX op (numpy broadcasting on both sides).
_BINARY = {
    "Add": "Add", "AddV2": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div",
    "Maximum": "Max", "Minimum": "Min", "Pow": "Pow", "Less": "Less", "Greater": "Greater",
    "LessEqual": "LessOrEqual", "GreaterEqual": "GreaterOrEqual", "Equal": "Equal",
    "LogicalAnd": "And", "LogicalOr": "Or",
}
_BITWISE = {"BitwiseAnd": "BitwiseAnd", "BitwiseOr": "BitwiseOr", "BitwiseXor": "BitwiseXor"}


def _x(ctx: ExportContext, node: Node, i: int = 0) -> str:
    return ctx.input(node, i)


@emitter(*_UNARY)
def unary(ctx: ExportContext, node: Node) -> str:
    return ctx.elementwise(_UNARY[node.op], [_x(ctx, node)])


@emitter(*_ROUNDING)
def rounding(ctx: ExportContext, node: Node) -> str:
    if ctx.dtype(node, 0).is_integer:
        return _x(ctx, node)
    return ctx.elementwise(_ROUNDING[node.op], [_x(ctx, node)])


@emitter(*_BINARY)
def binary(ctx: ExportContext, node: Node) -> str:
    return ctx.elementwise(_BINARY[node.op], ctx.inputs(node)[:2])


@emitter(*_BITWISE)
def bitwise(ctx: ExportContext, node: Node) -> str:
    if ctx.opset < 18:
        raise ctx.unsupported(node, f"ONNX has {_BITWISE[node.op]} from opset 18 (exporting "
                                    f"opset {ctx.opset})")
    return ctx.emit(_BITWISE[node.op], ctx.inputs(node))


@emitter("Invert")
def invert(ctx: ExportContext, node: Node) -> str:
    if ctx.opset < 18:
        raise ctx.unsupported(node, f"ONNX has BitwiseNot from opset 18 (exporting opset "
                                    f"{ctx.opset})")
    return ctx.emit("BitwiseNot", [_x(ctx, node)])


@emitter("NotEqual")
def not_equal(ctx: ExportContext, node: Node) -> str:
    return ctx.elementwise("Not", [ctx.elementwise("Equal", ctx.inputs(node))])


@emitter("Relu")
def relu(ctx: ExportContext, node: Node) -> str:
    dtype = ctx.dtype(node, 0)
    if dtype.is_floating or ctx.opset >= 14:
        return ctx.elementwise("Relu", [_x(ctx, node)])
    return ctx.elementwise("Max", [_x(ctx, node), ctx.scalar(0, dtype)])


@emitter("Relu6")
def relu6(ctx: ExportContext, node: Node) -> str:
    dtype = ctx.dtype(node, 0)
    return ctx.elementwise("Clip", [_x(ctx, node), ctx.scalar(0, dtype), ctx.scalar(6, dtype)])


@emitter("LeakyRelu")
def leaky_relu(ctx: ExportContext, node: Node) -> str:
    return ctx.elementwise("LeakyRelu", [_x(ctx, node)], alpha=float(node.attrs.get("alpha", 0.2)))


@emitter("Selu")
def selu(ctx: ExportContext, node: Node) -> str:
    # TensorFlow's constants (Klambauer et al., 2017), as the runtime kernel uses them.
    return ctx.elementwise("Selu", [_x(ctx, node)], alpha=1.6732632423543772848170429916717,
                    gamma=1.0507009873554804934193349852946)


@emitter("Reciprocal", "Inv")
def reciprocal(ctx: ExportContext, node: Node) -> str:
    dtype = ctx.dtype(node, 0)
    if dtype.is_floating:
        return ctx.emit("Reciprocal", [_x(ctx, node)])
    return ctx.emit("Div", [ctx.scalar(1, dtype), _x(ctx, node)])


@emitter("Rsqrt")
def rsqrt(ctx: ExportContext, node: Node) -> str:
    return ctx.emit("Reciprocal", [ctx.emit("Sqrt", [_x(ctx, node)])])


@emitter("Square")
def square(ctx: ExportContext, node: Node) -> str:
    x = _x(ctx, node)
    return ctx.emit("Mul", [x, x])


@emitter("SquaredDifference")
def squared_difference(ctx: ExportContext, node: Node) -> str:
    d = ctx.emit("Sub", ctx.inputs(node))
    return ctx.emit("Mul", [d, d])


@emitter("IsFinite")
def is_finite(ctx: ExportContext, node: Node) -> str:
    x = _x(ctx, node)
    bad = ctx.emit("Or", [ctx.emit("IsNaN", [x]), ctx.emit("IsInf", [x])])
    return ctx.emit("Not", [bad])


@emitter("Log1p")
def log1p(ctx: ExportContext, node: Node) -> str:
    """log1p(x) = x * log(u) / (u - 1) with u = 1 + x (Goldberg), x where u == 1: accurate for
    tiny x, unlike Log(1 + x)."""
    x, one = _x(ctx, node), ctx.scalar(1, ctx.dtype(node, 0))
    u = ctx.emit("Add", [x, one])
    d = ctx.emit("Sub", [u, one])
    ratio = ctx.emit("Mul", [x, ctx.emit("Div", [ctx.emit("Log", [u]), d])])
    return ctx.emit("Where", [ctx.emit("Equal", [d, ctx.scalar(0, ctx.dtype(node, 0))]),
                              x, ratio])


@emitter("Expm1")
def expm1(ctx: ExportContext, node: Node) -> str:
    """expm1(x) = (u - 1) * x / log(u) with u = exp(x) (Kahan) for |x| <= 0.5, u - 1 beyond."""
    dtype = ctx.dtype(node, 0)
    x, one = _x(ctx, node), ctx.scalar(1, dtype)
    u = ctx.emit("Exp", [x])
    um1 = ctx.emit("Sub", [u, one])
    kahan = ctx.emit("Div", [ctx.emit("Mul", [um1, x]), ctx.emit("Log", [u])])
    small = ctx.emit("Where", [ctx.emit("Equal", [um1, ctx.scalar(0, dtype)]), x, kahan])
    big = ctx.emit("Greater", [ctx.emit("Abs", [x]), ctx.scalar(0.5, dtype)])
    return ctx.emit("Where", [big, um1, small])


# -- division and modulo with TensorFlow's integer semantics -----------------------------------

def _is_int(ctx: ExportContext, node: Node) -> bool:
    return ctx.dtype(node, 0).is_integer


def _trunc(ctx: ExportContext, q: str, dtype: DType) -> str:
    negative = ctx.emit("Less", [q, ctx.scalar(0, dtype)])
    return ctx.emit("Where", [negative, ctx.emit("Ceil", [q]), ctx.emit("Floor", [q])])


@emitter("Div", "TruncateDiv")
def div(ctx: ExportContext, node: Node) -> str:
    """Integers: ONNX Div truncates like TF's Div; floats: TruncateDiv rounds toward zero."""
    q = ctx.emit("Div", ctx.inputs(node))
    if node.op == "TruncateDiv" and not _is_int(ctx, node):
        return _trunc(ctx, q, ctx.dtype(node, 0))
    return q


@emitter("TruncateMod")
def truncate_mod(ctx: ExportContext, node: Node) -> str:
    return ctx.emit("Mod", ctx.inputs(node), fmod=1)


@emitter("FloorDiv")
def floor_div(ctx: ExportContext, node: Node) -> str:
    x, y = ctx.inputs(node)
    if not _is_int(ctx, node):
        return ctx.emit("Floor", [ctx.emit("Div", [x, y])])
    # x - floormod(x, y) is a multiple of y, so the truncating Div is exact.
    m = ctx.emit("Mod", [x, y], fmod=0)
    return ctx.emit("Div", [ctx.emit("Sub", [x, m]), y])


@emitter("FloorMod")
def floor_mod(ctx: ExportContext, node: Node) -> str:
    x, y = ctx.inputs(node)
    if _is_int(ctx, node):
        return ctx.emit("Mod", [x, y], fmod=0)
    zero = ctx.scalar(0, ctx.dtype(node, 0))
    r = ctx.emit("Mod", [x, y], fmod=1)
    signs_differ = ctx.emit("Xor", [ctx.emit("Less", [r, zero]), ctx.emit("Less", [y, zero])])
    nonzero = ctx.emit("Not", [ctx.emit("Equal", [r, zero])])
    fix = ctx.emit("And", [nonzero, signs_differ])
    return ctx.emit("Where", [fix, ctx.emit("Add", [r, y]), r])


def _where_zero(ctx: ExportContext, node: Node, test: str, value: str) -> str:
    zero = ctx.scalar(0, ctx.dtype(node, 0))
    return ctx.emit("Where", [ctx.emit("Equal", [test, zero]), zero, value])


@emitter("DivNoNan")
def div_no_nan(ctx: ExportContext, node: Node) -> str:
    x, y = ctx.inputs(node)
    return _where_zero(ctx, node, y, ctx.emit("Div", [x, y]))


@emitter("MulNoNan")
def mul_no_nan(ctx: ExportContext, node: Node) -> str:
    x, y = ctx.inputs(node)
    return _where_zero(ctx, node, y, ctx.emit("Mul", [x, y]))


@emitter("Xdivy")
def xdivy(ctx: ExportContext, node: Node) -> str:
    x, y = ctx.inputs(node)
    return _where_zero(ctx, node, x, ctx.emit("Div", [x, y]))


@emitter("Xlogy")
def xlogy(ctx: ExportContext, node: Node) -> str:
    x, y = ctx.inputs(node)
    return _where_zero(ctx, node, x, ctx.emit("Mul", [x, ctx.emit("Log", [y])]))


@emitter("Atan2")
def atan2(ctx: ExportContext, node: Node) -> str:
    """atan(y / x) corrected by quadrant; +-pi/2 on the y axis, 0 at the origin."""
    y, x = ctx.inputs(node)
    dtype = ctx.dtype(node, 0)
    zero = ctx.scalar(0, dtype)
    base = ctx.emit("Atan", [ctx.emit("Div", [y, x])])
    y_neg = ctx.emit("Less", [y, zero])
    left = ctx.emit("Where", [y_neg, ctx.emit("Sub", [base, ctx.scalar(math.pi, dtype)]),
                              ctx.emit("Add", [base, ctx.scalar(math.pi, dtype)])])
    axis = ctx.emit("Where", [ctx.emit("Greater", [y, zero]), ctx.scalar(math.pi / 2, dtype),
                              ctx.emit("Where", [y_neg, ctx.scalar(-math.pi / 2, dtype),
                                                 zero])])
    not_right = ctx.emit("Where", [ctx.emit("Less", [x, zero]), left, axis])
    return ctx.emit("Where", [ctx.emit("Greater", [x, zero]), base, not_right])


# -- Cast, Select, AddN, ClipByValue -------------------------------------------------------------

@emitter("Cast")
def cast(ctx: ExportContext, node: Node) -> str:
    dst = node.attrs["DstT"].base
    src = ctx.dtype(node, 0)
    if DType.STRING in (src, dst) and src != dst:
        raise ctx.unsupported(node, f"Cast between {src.tf_name} and {dst.tf_name}")
    if src == dst:
        return _x(ctx, node)
    return ctx.elementwise("Cast", [_x(ctx, node)], to=dtype_to_onnx(dst))


@emitter("Select", "SelectV2")
def select(ctx: ExportContext, node: Node) -> str:
    cond, t, e = ctx.inputs(node)
    cond_rank, t_rank = ctx.rank(node, 0), ctx.rank(node, 1)
    if node.op == "Select" and cond_rank == 1 and (t_rank is None or t_rank > 1):
        # Select v1 with a vector condition picks rows along dim 0.
        t_rank = ctx.need_rank(node, 1)
        cond = ctx.unsqueeze(cond, list(range(1, t_rank)))
    return ctx.emit("Where", [cond, t, e])


@emitter("AddN")
def add_n(ctx: ExportContext, node: Node) -> str:
    values = ctx.inputs(node)
    if len(values) == 1:
        return values[0]
    if ctx.dtype(node, 0).is_floating:
        return ctx.emit("Sum", values)
    total = values[0]
    for value in values[1:]:
        total = ctx.emit("Add", [total, value])
    return total


@emitter("ClipByValue")
def clip_by_value(ctx: ExportContext, node: Node) -> str:
    t, lo, hi = ctx.inputs(node)
    if ctx.rank(node, 1) == 0 and ctx.rank(node, 2) == 0:
        return ctx.emit("Clip", [t, lo, hi])
    return ctx.emit("Min", [ctx.emit("Max", [t, lo]), hi])
