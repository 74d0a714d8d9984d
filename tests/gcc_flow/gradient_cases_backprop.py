"""Gradient-check cases of the gradient ops themselves (second order; see gradient_cases.py)."""
from __future__ import annotations

import numpy as np

import gcc_flow as gf
from gcc_flow.framework import apply_op
from gradient_cases import Case, case, inp

# op -> (first input range, second input range) as (low, high, away from zero)
_PAIRS = {
    "TanhGrad": ((-0.9, 0.9, 0), (-1, 1, 0)), "SigmoidGrad": ((0.1, 0.9, 0), (-1, 1, 0)),
    "SqrtGrad": ((0.5, 2, 0), (-1, 1, 0)), "RsqrtGrad": ((0.5, 2, 0), (-1, 1, 0)),
    "ReciprocalGrad": ((-2, 2, 0.3), (-1, 1, 0)), "InvGrad": ((-2, 2, 0.3), (-1, 1, 0)),
    "ReluGrad": ((-1, 1, 0), (-1, 1, 0.1)), "LeakyReluGrad": ((-1, 1, 0), (-1, 1, 0.1)),
    "EluGrad": ((-1, 1, 0), (-0.9, 2, 0.1)), "SeluGrad": ((-1, 1, 0), (-1.5, 2, 0.1)),
    "SoftplusGrad": ((-1, 1, 0), (-2, 2, 0)),
}


def _pair_case(op_type: str, first: tuple, second: tuple) -> None:
    @case(op_type)
    def build(rng):
        a, b = inp(rng, [2, 3], *first), inp(rng, [2, 3], *second)
        return Case(apply_op(op_type, [a.tensor, b.tensor]), [a, b])
    build.__name__ = f"{op_type}_case"


for _name, (_first, _second) in _PAIRS.items():
    _pair_case(_name, _first, _second)


@case("Relu6Grad")
def _relu6_grad(rng):
    dy = inp(rng, [2, 3])
    x = inp(rng, None, value=np.array([[-1.0, 0.5, 3.0], [5.5, 6.5, 8.0]]))
    return Case(apply_op("Relu6Grad", [dy.tensor, x.tensor]), [dy, x])


@case("BiasAddGrad")
def _bias_add_grad(rng):
    dy, nchw = inp(rng, [2, 3, 4]), inp(rng, [2, 3, 2, 2], dynamic=True)
    return Case([apply_op("BiasAddGrad", [dy.tensor]),
                 apply_op("BiasAddGrad", [nchw.tensor], {"data_format": "NCHW"})], [dy, nchw])


_CONV = {"strides": [1, 2, 2, 1], "padding": "SAME"}


@case("Conv2DBackpropFilter")
def _conv2d_backprop_filter(rng):
    x, dy = inp(rng, [1, 5, 5, 2]), inp(rng, [1, 3, 3, 3])
    out = apply_op("Conv2DBackpropFilter", [x.tensor, np.array([3, 3, 2, 3], np.int32),
                                            dy.tensor], _CONV)
    return Case(out, [x, dy])


@case("DepthwiseConv2dNativeBackpropInput")
def _depthwise_backprop_input(rng):
    w, dy = inp(rng, [2, 2, 2, 2]), inp(rng, [1, 3, 3, 4])
    out = apply_op("DepthwiseConv2dNativeBackpropInput",
                   [np.array([1, 5, 5, 2], np.int32), w.tensor, dy.tensor], _CONV)
    return Case(out, [w, dy])


@case("DepthwiseConv2dNativeBackpropFilter")
def _depthwise_backprop_filter(rng):
    x, dy = inp(rng, [1, 5, 5, 2]), inp(rng, [1, 3, 3, 4])
    out = apply_op("DepthwiseConv2dNativeBackpropFilter",
                   [x.tensor, np.array([2, 2, 2, 2], np.int32), dy.tensor], _CONV)
    return Case(out, [x, dy])


@case("AvgPoolGrad")
def _avg_pool_grad(rng):
    dy = inp(rng, [1, 3, 3, 2])
    out = apply_op("AvgPoolGrad", [np.array([1, 5, 5, 2], np.int32), dy.tensor],
                   {"ksize": [1, 3, 3, 1], "strides": [1, 2, 2, 1], "padding": "SAME"})
    return Case(out, [dy])


@case("Cumsum")
def _cumsum(rng):
    x = inp(rng, [3, 4])
    plain = apply_op("Cumsum", [x.tensor, 1])
    flipped = apply_op("Cumsum", [x.tensor, 0], {"exclusive": True, "reverse": True})
    return Case([plain, flipped], [x])


@case("UnsortedSegmentSum")
def _unsorted_segment_sum(rng):
    data = inp(rng, [4, 3])
    ids = gf.constant(np.array([2, -1, 0, 2], np.int32))
    return Case(apply_op("UnsortedSegmentSum", [data.tensor, ids, np.int32(3)]), [data])


@case("Cumprod")
def _cumprod(rng):
    x = inp(rng, [2, 4], 0.5, 1.5)
    plain = apply_op("Cumprod", [x.tensor, 1])
    other = apply_op("Cumprod", [x.tensor, 1], {"exclusive": True, "reverse": True})
    return Case([plain, other], [x])


@case("Digamma", "Polygamma")
def _digamma_polygamma(rng):
    x = inp(rng, [2, 3], 0.5, 3)
    order = gf.constant(np.array([0.0, 1.0, 2.0]))
    return Case([apply_op("Digamma", [x.tensor]), apply_op("Polygamma", [order, x.tensor])],
                [x])
