"""Gradient-check cases: for each op type with a registered gradient, small graphs that use it
on random inputs (float64 where the op allows it). tests/gcc_flow/test_gradient_check.py runs
them; this module holds the case table, the input helper, and the elementwise cases.

    @case("Tanh")
    def _tanh(rng):
        x = inp(rng, [2, 3])
        return Case(gf.tanh(x.tensor), [x])
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np

import gcc_flow as gf
from gcc_flow.framework import apply_op

CASES: dict[str, list[Callable]] = {}


@dataclasses.dataclass
class Input:
    """A tensor perturbed by the finite differences (fed), and what gf.gradients gets as x."""
    tensor: gf.Tensor
    value: np.ndarray
    x: object = None          # a Variable, say; the fed tensor itself when None

    @property
    def wrt(self):
        return self.tensor if self.x is None else self.x


@dataclasses.dataclass
class Case:
    outputs: object                     # a Tensor or a list of Tensors
    inputs: list
    rtol: float = 1e-5
    atol: float = 1e-7
    eps: float = 1e-6


def case(*op_types: str):
    """Registers a builder ``fn(rng) -> Case`` as a check of each op type in ``op_types``."""
    def register(fn: Callable) -> Callable:
        for op_type in op_types:
            CASES.setdefault(op_type, []).append(fn)
        return fn
    return register


def inp(rng, shape, low: float = -1.0, high: float = 1.0, away: float = 0.0,
        dtype=gf.float64, dynamic: bool = False, value: Optional[np.ndarray] = None) -> Input:
    """A placeholder with a random value in [low, high] and at least ``away`` from 0.

    dynamic=True declares every dimension unknown (so gradients take the dynamic-shape path).
    """
    if value is None:
        value = rng.uniform(low, high, shape)
        if away:
            value = np.where(np.abs(value) < away, np.sign(value + 1e-12) * away + value, value)
    value = np.asarray(value).astype(dtype.np)
    declared = [None] * len(value.shape) if dynamic else list(value.shape)
    return Input(gf.placeholder(dtype, declared), value)


def distinct(rng, shape, step: float = 0.1) -> np.ndarray:
    """Values at least ``step`` apart (no ties for Max, Min, MaxPool, Maximum)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * step - n * step / 2).reshape(shape)


# -- elementwise unary: op -> (low, high, away from zero) -------------------------------------------

_UNARY = {
    "Neg": (-1, 1, 0), "Abs": (-1, 1, 0.1), "Sign": (-1, 1, 0.1), "Exp": (-1, 1, 0),
    "Expm1": (-1, 1, 0), "Log": (0.2, 2, 0), "Log1p": (-0.5, 2, 0), "Sqrt": (0.2, 2, 0),
    "Rsqrt": (0.2, 2, 0), "Square": (-1, 1, 0), "Reciprocal": (-2, 2, 0.3),
    "Inv": (-2, 2, 0.3), "Tanh": (-2, 2, 0), "Sigmoid": (-3, 3, 0), "Sin": (-3, 3, 0),
    "Cos": (-3, 3, 0), "Tan": (-1, 1, 0), "Asin": (-0.8, 0.8, 0), "Acos": (-0.8, 0.8, 0),
    "Atan": (-3, 3, 0), "Sinh": (-2, 2, 0), "Cosh": (-2, 2, 0), "Asinh": (-3, 3, 0),
    "Acosh": (1.2, 3, 0), "Atanh": (-0.8, 0.8, 0), "Erf": (-2, 2, 0), "Erfc": (-2, 2, 0),
    "Softsign": (-3, 3, 0.1), "Lgamma": (0.5, 3, 0),
}


def _unary_case(op_type: str, low: float, high: float, away: float) -> None:
    @case(op_type)
    def build(rng):
        x = inp(rng, [2, 3], low, high, away)
        return Case(apply_op(op_type, [x.tensor]), [x])


for _name, (_low, _high, _away) in _UNARY.items():
    _unary_case(_name, _low, _high, _away)


# -- binary, with broadcasting: op -> ((x low, high, away), (y low, high, away)) --------------------

_ANY, _NONZERO, _POSITIVE = (-1, 1, 0), (-2, 2, 0.5), (0.5, 2, 0)
_BINARY = {
    "Add": (_ANY, _ANY), "AddV2": (_ANY, _ANY), "Sub": (_ANY, _ANY), "Mul": (_ANY, _ANY),
    "MulNoNan": (_ANY, _ANY), "Div": (_ANY, _NONZERO), "RealDiv": (_ANY, _NONZERO),
    "DivNoNan": (_ANY, _NONZERO), "FloorMod": ((0.2, 1.2, 0), (1.5, 2, 0)),
    "TruncateMod": ((-1.2, 1.2, 0.1), (1.5, 2, 0)), "Pow": (_POSITIVE, (-1, 2, 0)),
    "SquaredDifference": (_ANY, _ANY), "Atan2": (_NONZERO, _NONZERO),
    "Xdivy": ((-1, 1, 0.2), _NONZERO), "Xlogy": ((-1, 1, 0.2), _POSITIVE),
}


def _binary_case(op_type: str, x_range: tuple, y_range: tuple) -> None:
    @case(op_type)
    def build(rng):
        x, y = inp(rng, [2, 3], *x_range), inp(rng, [3], *y_range)
        return Case(apply_op(op_type, [x.tensor, y.tensor]), [x, y])


for _name, (_x_range, _y_range) in _BINARY.items():
    _binary_case(_name, _x_range, _y_range)


@case("Maximum", "Minimum")
def _maximum_minimum(rng):
    xv, yv = distinct(rng, [2, 3]), distinct(rng, [3]) + 0.05   # never equal
    x, y = inp(rng, None, value=xv), inp(rng, None, value=yv)
    return Case([gf.maximum(x.tensor, y.tensor), gf.minimum(x.tensor, y.tensor)], [x, y])


@case("AddV2", "Mul", "RealDiv")
def _binary_dynamic_shapes(rng):
    """[?, ?] op [?]: BroadcastGradientArgs runs on the shapes at run time."""
    x, y = inp(rng, [2, 3], dynamic=True), inp(rng, [3], 0.5, 2, dynamic=True)
    z = gf.multiply(gf.add(x.tensor, y.tensor), y.tensor) / y.tensor
    return Case(z, [x, y])


@case("Cast")
def _cast(rng):
    x = inp(rng, [2, 3], dtype=gf.float32)
    y = gf.cast(x.tensor, gf.float64)
    return Case(y * y, [x], rtol=1e-3, atol=1e-4, eps=1e-2)


@case("AddN")
def _add_n(rng):
    a, b = inp(rng, [2, 3]), inp(rng, [2, 3])
    return Case(gf.add_n([a.tensor, b.tensor, a.tensor * b.tensor]), [a, b])


@case("ClipByValue")
def _clip_by_value(rng):
    xv = distinct(rng, [2, 3], 0.3) + 0.15           # at least 0.15 away from the bounds
    x = inp(rng, None, value=xv)
    lo, hi = inp(rng, [], value=np.array(-0.3)), inp(rng, [3], value=np.array([0.3, 0.6, 0.9]))
    return Case(apply_op("ClipByValue", [x.tensor, lo.tensor, hi.tensor]), [x, lo, hi])


@case("Select")
def _select(rng):
    x, y = inp(rng, [2, 3]), inp(rng, [2, 3])
    cond = gf.constant(np.array([[True, False, True], [False, False, True]]))
    return Case(gf.select(cond, x.tensor, y.tensor), [x, y])


@case("SelectV2")
def _select_v2(rng):
    x, y = inp(rng, [2, 3]), inp(rng, [1, 3])
    cond = gf.constant(np.array([True, False, True]))
    return Case(gf.where(cond, x.tensor, y.tensor), [x, y])
