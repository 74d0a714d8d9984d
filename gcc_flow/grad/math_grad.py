"""Gradients of the elementwise ops (schema/ops/elementwise.py), TensorFlow's formulas.

    Tanh:  dx = TanhGrad(y, dy)               Log: dx = dy * Reciprocal(x)
    Mul(x f32[2,3], y f32[3]): dx = dy * y,  dy_y = Reshape(Sum(x * dy, r1), Shape(y))
    Maximum: dx = SelectV2(x >= y, dy, 0),    Cast: dx = Cast(dy, SrcT) between float types
Comparisons, logic, Floor/Ceil/Round/Rint, integer division and IsNan-likes have no gradient.
"""
from __future__ import annotations

import math

from gcc_flow import array_ops
from gcc_flow.framework import apply_op
from gcc_flow.grad._shapes import const_like, reduce_to_inputs, shape_of, sum_to_shape
from gcc_flow.gradients import register_gradient, register_no_gradient


def _op(op_type: str, *inputs, **attrs):
    return apply_op(op_type, list(inputs), attrs or None)


def _mul(a, b):
    return _op("Mul", a, b)


# -- unary: dx = f(x, y, dy) --------------------------------------------------------------------

def _inv_sqrt_one_minus_square(x):
    return _op("Rsqrt", _op("Sub", const_like(1, x), _op("Square", x)))


_UNARY = {
    "Neg": lambda x, y, g: _op("Neg", g),
    "Abs": lambda x, y, g: _mul(g, _op("Sign", x)),
    "Sign": lambda x, y, g: array_ops.zeros_like(x),
    "Exp": lambda x, y, g: _mul(g, y),
    "Expm1": lambda x, y, g: _mul(g, _op("Exp", x)),
    "Log": lambda x, y, g: _mul(g, _op("Reciprocal", x)),
    "Log1p": lambda x, y, g: _mul(g, _op("Reciprocal", _op("AddV2", const_like(1, x), x))),
    "Sqrt": lambda x, y, g: _op("SqrtGrad", y, g),
    "Rsqrt": lambda x, y, g: _op("RsqrtGrad", y, g),
    "Square": lambda x, y, g: _mul(g, _mul(x, const_like(2, x))),
    "Reciprocal": lambda x, y, g: _op("ReciprocalGrad", y, g),
    "Inv": lambda x, y, g: _op("ReciprocalGrad", y, g),
    "Tanh": lambda x, y, g: _op("TanhGrad", y, g),
    "Sigmoid": lambda x, y, g: _op("SigmoidGrad", y, g),
    "Sin": lambda x, y, g: _mul(g, _op("Cos", x)),
    "Cos": lambda x, y, g: _op("Neg", _mul(g, _op("Sin", x))),
    "Tan": lambda x, y, g: _mul(g, _op("Square", _op("Reciprocal", _op("Cos", x)))),
    "Asin": lambda x, y, g: _mul(g, _inv_sqrt_one_minus_square(x)),
    "Acos": lambda x, y, g: _op("Neg", _mul(g, _inv_sqrt_one_minus_square(x))),
    "Atan": lambda x, y, g: _mul(g, _op("Reciprocal", _op("AddV2", const_like(1, x),
                                                          _op("Square", x)))),
    "Sinh": lambda x, y, g: _mul(g, _op("Cosh", x)),
    "Cosh": lambda x, y, g: _mul(g, _op("Sinh", x)),
    "Asinh": lambda x, y, g: _op("RealDiv", g, _op("Cosh", y)),
    "Acosh": lambda x, y, g: _op("RealDiv", g, _op("Sinh", y)),
    "Atanh": lambda x, y, g: _mul(g, _op("Reciprocal", _op("Sub", const_like(1, x),
                                                           _op("Square", x)))),
    "Erf": lambda x, y, g: _mul(g, _erf_slope(x)),
    "Erfc": lambda x, y, g: _op("Neg", _mul(g, _erf_slope(x))),
    "Softsign": lambda x, y, g: _op("RealDiv", g, _op("Square", _op(
        "AddV2", const_like(1, x), _op("Abs", x)))),
    "Lgamma": lambda x, y, g: _mul(g, _op("Digamma", x)),
}


def _erf_slope(x):
    """d erf(x) / dx = 2 / sqrt(pi) * exp(-x^2)."""
    return _mul(const_like(2 / math.sqrt(math.pi), x), _op("Exp", _op("Neg", _op("Square", x))))


def _register_unary(op_type: str, formula) -> None:
    @register_gradient(op_type)
    def _grad(op, grad):
        return formula(op.inputs[0], op.outputs[0], grad)
    _grad.__name__ = f"_{op_type.lower()}_grad"


for _name, _formula in _UNARY.items():
    _register_unary(_name, _formula)


# -- binary with broadcasting: (dx, dy) before the reduction to the inputs' shapes ----------------

def _truncated_quotient(x, y):
    """trunc(x / y) = sign(q) * floor(|q|), for floats."""
    q = _op("RealDiv", x, y)
    return _mul(_op("Sign", q), _op("Floor", _op("Abs", q)))


def _div_partials(x, y, g):
    return _op("RealDiv", g, y), _mul(g, _op("RealDiv", _op("RealDiv", _op("Neg", x), y), y))


def _div_no_nan_partials(x, y, g):
    return (_op("DivNoNan", g, y),
            _mul(g, _op("DivNoNan", _op("DivNoNan", _op("Neg", x), y), y)))


def _pow_partials(x, y, g):
    z = _op("Pow", x, y)
    gx = _mul(_mul(g, y), _op("Pow", x, _op("Sub", y, const_like(1, y))))
    positive = _op("Greater", x, const_like(0, x))
    safe_x = _op("SelectV2", positive, x, array_ops.ones_like(x))
    log_x = _op("SelectV2", positive, _op("Log", safe_x), array_ops.zeros_like(x))
    return gx, _mul(_mul(g, z), log_x)


def _squared_difference_partials(x, y, g):
    d = _mul(_mul(const_like(2, x), g), _op("Sub", x, y))
    return d, _op("Neg", d)


def _atan2_partials(a, b, g):
    """atan2(a, b): d/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2)."""
    inv = _op("RealDiv", g, _op("AddV2", _op("Square", a), _op("Square", b)))
    return _mul(b, inv), _mul(_op("Neg", a), inv)


def _nonzero(x):
    return apply_op("Cast", [_op("NotEqual", x, const_like(0, x))], {"DstT": x.dtype.base})


def _xdivy_partials(x, y, g):
    return (_mul(_op("Xdivy", _nonzero(x), y), g),
            _mul(_op("Xdivy", _op("Neg", x), _op("Square", y)), g))


def _xlogy_partials(x, y, g):
    return _mul(_op("Xlogy", _nonzero(x), y), g), _mul(_op("Xdivy", x, y), g)


_BINARY = {
    "Add": lambda x, y, g: (g, g),
    "AddV2": lambda x, y, g: (g, g),
    "Sub": lambda x, y, g: (g, _op("Neg", g)),
    "Mul": lambda x, y, g: (_mul(g, y), _mul(x, g)),
    "MulNoNan": lambda x, y, g: (_op("MulNoNan", g, y), _op("MulNoNan", x, g)),
    "Div": _div_partials,
    "RealDiv": _div_partials,
    "DivNoNan": _div_no_nan_partials,
    "FloorMod": lambda x, y, g: (g, _mul(g, _op("Neg", _op("FloorDiv", x, y)))),
    "TruncateMod": lambda x, y, g: (g, _mul(g, _op("Neg", _truncated_quotient(x, y)))),
    "Pow": _pow_partials,
    "SquaredDifference": _squared_difference_partials,
    "Atan2": _atan2_partials,
    "Xdivy": _xdivy_partials,
    "Xlogy": _xlogy_partials,
    "Maximum": lambda x, y, g: _select_partials(_op("GreaterEqual", x, y), x, g),
    "Minimum": lambda x, y, g: _select_partials(_op("LessEqual", x, y), x, g),
}


def _select_partials(x_wins, x, g):
    """Maximum/Minimum: the gradient goes to x where x wins (ties included), else to y."""
    zeros = array_ops.zeros_like(g)
    return _op("SelectV2", x_wins, g, zeros), _op("SelectV2", x_wins, zeros, g)


def _register_binary(op_type: str, partials) -> None:
    @register_gradient(op_type)
    def _grad(op, grad):
        x, y = op.inputs
        gx, gy = partials(x, y, grad)
        return reduce_to_inputs(x, y, gx, gy)
    _grad.__name__ = f"_{op_type.lower()}_grad"


for _name, _partials in _BINARY.items():
    _register_binary(_name, _partials)


@register_gradient("Digamma")
def _digamma_grad(op, grad):
    x = op.inputs[0]
    return _mul(grad, _op("Polygamma", const_like(1, x), x))


@register_gradient("Polygamma")
def _polygamma_grad(op, grad):
    """d/dx psi^(n)(x) = psi^(n+1)(x); the order n gets no gradient."""
    n, x = op.inputs
    partial = _mul(grad, _op("Polygamma", _op("AddV2", n, const_like(1, n)), x))
    return [None, reduce_to_inputs(n, x, None, partial)[1]]


@register_gradient("Cumprod")
def _cumprod_grad(op, grad):
    """TensorFlow's formula: a reversed cumulative sum of y * dy, divided by x (so zeros in x
    get no gradient)."""
    x, axis = op.inputs
    attrs = {"exclusive": op.get_attr("exclusive"), "reverse": op.get_attr("reverse")}
    prod = apply_op("Cumprod", [x, axis], attrs)
    summed = apply_op("Cumsum", [_mul(prod, grad), axis],
                      {"exclusive": attrs["exclusive"], "reverse": not attrs["reverse"]})
    return [_op("DivNoNan", summed, x), None]


# -- Cast, AddN, ClipByValue, Select ------------------------------------------------------------

def _float_like(dtype) -> bool:
    base = dtype.base
    return base.is_floating or base.is_complex


@register_gradient("Cast")
def _cast_grad(op, grad):
    src = op.get_attr("SrcT")
    if not (_float_like(src) and _float_like(op.get_attr("DstT"))):
        return [None]
    return [apply_op("Cast", [grad], {"DstT": src.base})]


@register_gradient("AddN")
def _add_n_grad(op, grad):
    return [grad] * len(op.inputs)


@register_gradient("ClipByValue")
def _clip_by_value_grad(op, grad):
    """x gets dy inside [lo, hi]; lo and hi get the dy of the elements clipped to them."""
    x, lo, hi = op.inputs
    zeros = array_ops.zeros_like(grad)
    below, above = _op("Less", x, lo), _op("Greater", x, hi)
    gx = _op("SelectV2", _op("LogicalOr", below, above), zeros, grad)
    sx = shape_of(x)
    results = [gx]
    for bound, mask in ((lo, below), (hi, above)):
        sb = shape_of(bound)
        _, rb = apply_op("BroadcastGradientArgs", [sx, sb])
        results.append(sum_to_shape(_op("SelectV2", mask, grad, zeros), rb, sb))
    return results


@register_gradient("Select")
def _select_grad(op, grad):
    cond = op.inputs[0]
    zeros = array_ops.zeros_like(op.inputs[1])
    return [None, _op("Select", cond, grad, zeros), _op("Select", cond, zeros, grad)]


@register_gradient("SelectV2")
def _select_v2_grad(op, grad):
    cond, x, y = op.inputs
    zeros = array_ops.zeros_like(grad)
    out_shape = shape_of(op.outputs[0])
    results = [None]
    for t, picked in ((x, _op("SelectV2", cond, grad, zeros)),
                      (y, _op("SelectV2", cond, zeros, grad))):
        st = shape_of(t)
        rt, _ = apply_op("BroadcastGradientArgs", [st, out_shape])
        results.append(sum_to_shape(picked, rt, st))
    return results


# -- not differentiable -----------------------------------------------------------------------

for _name in ("Less", "LessEqual", "Greater", "GreaterEqual", "Equal", "NotEqual", "LogicalAnd",
              "LogicalOr", "LogicalNot", "IsNan", "IsInf", "IsFinite", "Floor", "Ceil", "Rint",
              "Round", "FloorDiv", "TruncateDiv", "BroadcastGradientArgs", "InvertPermutation"):
    register_no_gradient(_name)
