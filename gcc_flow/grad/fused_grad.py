"""Gradients of the fused contractions (schema/ops/fused.py): the activation's gradient, then
BiasAdd's, then the contraction's, as if the fused op were still its parts.

    _FusedMatMul(a, b, [bias]) fused_ops=["BiasAdd", "Relu"]:
        g = ReluGrad(dy, y);  dbias = BiasAddGrad(g);  da, db = MatMul gradients of g
A fused FusedBatchNorm (inference folding) has no gradient here: it is refused by name.
"""
from __future__ import annotations

from gcc_flow.framework import apply_op
from gcc_flow.grad._shapes import shape_of
from gcc_flow.grad.nn_grad import matmul_products
from gcc_flow.gradients import register_gradient
from schema.errors import GraphError


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# activation -> the gradient before it, from the fused op's output y (y keeps the sign of the
# pre-activation, so the *Grad ops that read features may read y instead).
_ACTIVATION_GRADS = {
    "Relu": lambda op, y, g: apply_op("ReluGrad", [g, y]),
    "Relu6": lambda op, y, g: apply_op("Relu6Grad", [g, y]),
    "Elu": lambda op, y, g: apply_op("EluGrad", [g, y]),
    "LeakyRelu": lambda op, y, g: apply_op("LeakyReluGrad", [g, y],
                                           {"alpha": op.get_attr("leakyrelu_alpha")}),
    "Tanh": lambda op, y, g: apply_op("TanhGrad", [y, g]),
    "Sigmoid": lambda op, y, g: apply_op("SigmoidGrad", [y, g]),
}


def _pre_activation_grad(op, grad):
    """(gradient of the contraction + bias, data_format of its channel axis)."""
    ops = [_text(o) for o in op.get_attr("fused_ops")]
    if ops[0] != "BiasAdd":
        raise GraphError(f"gradient of {op.name!r} ({op.type}): fused {ops[0]} is not "
                         f"differentiable here; differentiate the unfused graph")
    if len(ops) == 2:
        grad = _ACTIVATION_GRADS[ops[1]](op, op.outputs[0], grad)
    return grad


def _conv_attrs(op, names) -> dict:
    attrs = {n: op.get_attr(n) for n in names if n in op._node.attrs}
    if attrs.get("data_format") not in (None, "NHWC", "NCHW") or \
            _text(op._node.attrs.get("filter_format", "HWIO")) != "HWIO":
        raise GraphError(f"gradient of {op.name!r} ({op.type}): only NHWC/NCHW data with HWIO "
                         f"filters is supported")
    return attrs


def _bias_grad(op, g):
    return apply_op("BiasAddGrad", [g], {"data_format": op._node.attrs.get("data_format",
                                                                          "NHWC")})


@register_gradient("_FusedConv2D")
def _fused_conv2d_grad(op, grad):
    g = _pre_activation_grad(op, grad)
    x, w = op.inputs[:2]
    attrs = _conv_attrs(op, ("strides", "padding", "explicit_paddings", "data_format",
                             "dilations", "use_cudnn_on_gpu"))
    dx = apply_op("Conv2DBackpropInput", [shape_of(x), w, g], attrs)
    dw = apply_op("Conv2DBackpropFilter", [x, shape_of(w), g], attrs)
    return [dx, dw, _bias_grad(op, g)] + [None] * (len(op.inputs) - 3)


@register_gradient("_FusedDepthwiseConv2dNative")
def _fused_depthwise_grad(op, grad):
    g = _pre_activation_grad(op, grad)
    x, w = op.inputs[:2]
    attrs = _conv_attrs(op, ("strides", "padding", "data_format", "dilations"))
    dx = apply_op("DepthwiseConv2dNativeBackpropInput", [shape_of(x), w, g], attrs)
    dw = apply_op("DepthwiseConv2dNativeBackpropFilter", [x, shape_of(w), g], attrs)
    return [dx, dw, _bias_grad(op, g)]


@register_gradient("_FusedMatMul")
def _fused_matmul_grad(op, grad):
    g = _pre_activation_grad(op, grad)
    da, db = matmul_products(op, g, "MatMul", ("transpose_a", "transpose_b"),
                             ("grad_a", "grad_b"))
    return [da, db, apply_op("BiasAddGrad", [g])]
