"""Gradients of the gradient ops themselves (for second derivatives: Hessian-vector products,
gradient penalties), TensorFlow's formulas.

    TanhGrad(y, dy) = dy * (1 - y^2):  d/dy = -2 * g * dy * y,  d/d dy = TanhGrad(y, g)
    ReluGrad(dy, x):  d/d dy = ReluGrad(g, x),  d/dx = 0
    Conv2DBackpropFilter(x, sizes, dy):  dx = Conv2DBackpropInput(Shape(x), g, dy),
                                         d dy = Conv2D(x, g)
"""
from __future__ import annotations

import numpy as np

from gcc_flow import array_ops
from gcc_flow.framework import apply_op
from gcc_flow.grad._shapes import const_like, shape_of
from gcc_flow.gradients import register_gradient


def _op(op_type: str, *inputs, **attrs):
    return apply_op(op_type, list(inputs), attrs or None)


def _attrs(op, names) -> dict:
    return {n: op.get_attr(n) for n in names if n in op._node.attrs}


# -- y-based math gradients: inputs (y, dy) -------------------------------------------------------

@register_gradient("TanhGrad")
def _tanh_grad_grad(op, grad):
    y, dy = op.inputs
    return [_op("Mul", _op("Mul", grad, const_like(-2, y)), _op("Mul", dy, y)),
            _op("TanhGrad", y, grad)]


@register_gradient("SigmoidGrad")
def _sigmoid_grad_grad(op, grad):
    y, dy = op.inputs
    gb = _op("Mul", grad, dy)
    return [_op("Sub", gb, _op("Mul", _op("Mul", const_like(2, y), gb), y)),
            _op("SigmoidGrad", y, grad)]


@register_gradient("SqrtGrad")
def _sqrt_grad_grad(op, grad):
    y = op.inputs[0]
    ga = _op("RealDiv", grad, y)
    return [_op("Mul", _op("Neg", ga), op.outputs[0]), _op("Mul", const_like(0.5, y), ga)]


@register_gradient("RsqrtGrad")
def _rsqrt_grad_grad(op, grad):
    y, dy = op.inputs
    return [_op("Mul", _op("Mul", const_like(-1.5, y), _op("Mul", grad, dy)), _op("Square", y)),
            _op("RsqrtGrad", y, grad)]


def _reciprocal_grad_grad(op, grad):
    y, dy = op.inputs
    return [_op("Mul", _op("Mul", grad, const_like(-2, y)), _op("Mul", dy, y)),
            apply_op(op.type, [y, grad])]


register_gradient("ReciprocalGrad")(_reciprocal_grad_grad)
register_gradient("InvGrad")(_reciprocal_grad_grad)


# -- activation gradients: inputs (gradients, features or outputs) ---------------------------------

def _piecewise_linear_grad_grad(op, grad):
    """ReluGrad, Relu6Grad, LeakyReluGrad are linear in dy with a mask from x: d x = 0."""
    x = op.inputs[1]
    return [apply_op(op.type, [grad, x], _attrs(op, ("alpha",))), array_ops.zeros_like(x)]


for _name in ("ReluGrad", "Relu6Grad", "LeakyReluGrad"):
    register_gradient(_name)(_piecewise_linear_grad_grad)


def _exponential_linear_grad_grad(op, grad):
    """EluGrad / SeluGrad(dy, y): below zero the slope is y + c, so d y = g * dy there."""
    dy, y = op.inputs
    negative = _op("Less", y, const_like(0, y))
    return [apply_op(op.type, [grad, y]),
            _op("SelectV2", negative, _op("Mul", grad, dy), array_ops.zeros_like(y))]


register_gradient("EluGrad")(_exponential_linear_grad_grad)
register_gradient("SeluGrad")(_exponential_linear_grad_grad)


@register_gradient("SoftplusGrad")
def _softplus_grad_grad(op, grad):
    """SoftplusGrad(dy, x) = dy * sigmoid(x): d x = g * dy * sigmoid'(x)."""
    dy, x = op.inputs
    denominator = _op("AddV2", _op("AddV2", _op("Exp", _op("Neg", x)), const_like(2, x)),
                      _op("Exp", x))
    return [_op("SoftplusGrad", grad, x), _op("RealDiv", _op("Mul", grad, dy), denominator)]


@register_gradient("BiasAddGrad")
def _bias_add_grad_grad(op, grad):
    """The channel vector broadcast back over the incoming gradient's shape."""
    dy = op.inputs[0]
    nchw = op.get_attr("data_format") == "NCHW"
    rank = len(dy.shape) if dy.shape is not None else None
    if rank is None:
        rank_t = apply_op("Rank", [dy])
        ones = apply_op("Fill", [apply_op("Reshape", [_op("Sub", rank_t, 2 if nchw else 1),
                                                      [1]]), np.int32(1)])
        parts = [[1, -1], ones] if nchw else [ones, [-1]]
        column = apply_op("ConcatV2", [parts, 0])
    else:
        column = [1] * rank
        column[1 if nchw else rank - 1] = -1
    shaped = apply_op("Reshape", [grad, np.array(column, np.int32) if rank is not None
                                  else column])
    return apply_op("BroadcastTo", [shaped, shape_of(dy)])


# -- convolution and pooling backprops ------------------------------------------------------------

_CONV_ATTRS = ("strides", "padding", "explicit_paddings", "data_format", "dilations")


@register_gradient("Conv2DBackpropFilter")
def _conv2d_backprop_filter_grad(op, grad):
    x, _, dy = op.inputs
    attrs = _attrs(op, _CONV_ATTRS + ("use_cudnn_on_gpu",))
    return [apply_op("Conv2DBackpropInput", [shape_of(x), grad, dy], attrs), None,
            apply_op("Conv2D", [x, grad], attrs)]


@register_gradient("DepthwiseConv2dNativeBackpropInput")
def _depthwise_backprop_input_grad(op, grad):
    _, w, dy = op.inputs
    attrs = _attrs(op, _CONV_ATTRS)
    return [None, apply_op("DepthwiseConv2dNativeBackpropFilter", [grad, shape_of(w), dy], attrs),
            apply_op("DepthwiseConv2dNative", [grad, w], attrs)]


@register_gradient("DepthwiseConv2dNativeBackpropFilter")
def _depthwise_backprop_filter_grad(op, grad):
    x, _, dy = op.inputs
    attrs = _attrs(op, _CONV_ATTRS)
    return [apply_op("DepthwiseConv2dNativeBackpropInput", [shape_of(x), grad, dy], attrs), None,
            apply_op("DepthwiseConv2dNative", [x, grad], attrs)]


@register_gradient("AvgPoolGrad")
def _avg_pool_grad_grad(op, grad):
    attrs = _attrs(op, ("ksize", "strides", "padding", "data_format"))
    return [None, apply_op("AvgPool", [grad], attrs)]


# -- scans and segment sums ------------------------------------------------------------------------

@register_gradient("Cumsum")
def _cumsum_grad(op, grad):
    attrs = {"exclusive": op.get_attr("exclusive"), "reverse": not op.get_attr("reverse")}
    return [apply_op("Cumsum", [grad, op.inputs[1]], attrs), None]


@register_gradient("UnsortedSegmentSum")
def _unsorted_segment_sum_grad(op, grad):
    """Each data row reads its segment's gradient; rows with a negative id get zeros."""
    ids = op.inputs[1]
    zero = const_like(0, ids)
    gathered = apply_op("GatherV2", [grad, _op("Maximum", ids, zero), 0])
    keep = _op("GreaterEqual", ids, zero)
    extra = apply_op("Sub", [apply_op("Rank", [grad]), 1])
    mask_shape = apply_op("ConcatV2", [[shape_of(ids), apply_op(
        "Fill", [apply_op("Reshape", [extra, [1]]), np.int32(1)])], 0])
    mask = apply_op("Reshape", [keep, mask_shape])
    return [_op("SelectV2", mask, gathered, array_ops.zeros_like(gathered)), None, None]
