"""Gradients of the neural-network ops (schema/ops/nn.py, nn_conv.py), TensorFlow's formulas.

    Relu:    dx = ReluGrad(dy, y)
    MatMul(a, b):  da = MatMul(dy, b, transpose_b),  db = MatMul(a, dy, transpose_a)
    Conv2D(x, w):  dx = Conv2DBackpropInput(Shape(x), w, dy),  dw = Conv2DBackpropFilter(x, ...)
    FusedBatchNormV3(x, scale, offset, mean, var): dx, dscale, doffset = FusedBatchNormGradV3(...)
"""
from __future__ import annotations

from gcc_flow.framework import apply_op
from gcc_flow.grad._shapes import fully_defined, shape_of, sum_to_shape
from gcc_flow.gradients import register_gradient


def _attrs(op, names) -> dict:
    return {n: op.get_attr(n) for n in names if n in op._node.attrs}


# -- activations --------------------------------------------------------------------------------

# op type -> (gradient op, use the forward output instead of the input, attrs to copy)
_ACTIVATIONS = {
    "Relu": ("ReluGrad", True, ()),
    "Relu6": ("Relu6Grad", False, ()),
    "Elu": ("EluGrad", True, ()),
    "Selu": ("SeluGrad", True, ()),
    "Softplus": ("SoftplusGrad", False, ()),
    "LeakyRelu": ("LeakyReluGrad", False, ("alpha",)),
}


def _register_activation(op_type: str, grad_op: str, use_output: bool, attr_names) -> None:
    @register_gradient(op_type)
    def _grad(op, grad):
        other = op.outputs[0] if use_output else op.inputs[0]
        return apply_op(grad_op, [grad, other], _attrs(op, attr_names))
    _grad.__name__ = f"_{op_type.lower()}_grad"


for _name, (_grad_op, _use_output, _attr_names) in _ACTIVATIONS.items():
    _register_activation(_name, _grad_op, _use_output, _attr_names)


def _last_axis_sum(t):
    return apply_op("Sum", [t, -1], {"keep_dims": True})


@register_gradient("Softmax")
def _softmax_grad(op, grad):
    """(dy - sum(dy * y, -1)) * y."""
    y = op.outputs[0]
    return apply_op("Mul", [apply_op("Sub", [grad, _last_axis_sum(apply_op("Mul", [grad, y]))]),
                            y])


@register_gradient("LogSoftmax")
def _log_softmax_grad(op, grad):
    """dy - sum(dy, -1) * exp(y)."""
    softmax = apply_op("Exp", [op.outputs[0]])
    return apply_op("Sub", [grad, apply_op("Mul", [_last_axis_sum(grad), softmax])])


@register_gradient("BiasAdd")
def _bias_add_grad(op, grad):
    return [grad, apply_op("BiasAddGrad", [grad], _attrs(op, ("data_format",)))]


@register_gradient("BiasAddV1")
def _bias_add_v1_grad(op, grad):
    rank = apply_op("Rank", [grad])
    axes = apply_op("Range", [0, apply_op("Sub", [rank, 1]), 1])
    return [grad, apply_op("Sum", [grad, axes])]


# -- MatMul, BatchMatMulV2 --------------------------------------------------------------------

# (transpose_a, transpose_b) -> for each input: (left, right, transpose left, transpose right)
# with "g" the output gradient, "a"/"b" the forward inputs.
_MATMUL_RULES = {
    (False, False): (("g", "b", False, True), ("a", "g", True, False)),
    (False, True): (("g", "b", False, False), ("g", "a", True, False)),
    (True, False): (("b", "g", False, True), ("a", "g", False, False)),
    (True, True): (("b", "g", True, True), ("g", "a", True, True)),
}


def matmul_products(op, grad, op_type: str, flags: tuple, grad_flags: tuple) -> list:
    """The gradients of op's first two inputs, a and b, as MatMul / BatchMatMulV2 ops."""
    a, b = op.inputs[:2]
    named = {"g": grad, "a": a, "b": b}
    results = []
    for (left, right, t_left, t_right), grad_flag in zip(
            _MATMUL_RULES[(op.get_attr(flags[0]), op.get_attr(flags[1]))], grad_flags):
        attrs = {flags[0]: t_left, flags[1]: t_right, grad_flag: True}
        results.append(apply_op(op_type, [named[left], named[right]], attrs))
    return results


@register_gradient("MatMul")
def _matmul_grad(op, grad):
    return matmul_products(op, grad, "MatMul", ("transpose_a", "transpose_b"),
                            ("grad_a", "grad_b"))


@register_gradient("BatchMatMulV2")
def _batch_matmul_grad(op, grad):
    """As MatMul, then each gradient summed over the batch dims its input was broadcast along."""
    gx, gy = matmul_products(op, grad, "BatchMatMulV2", ("adj_x", "adj_y"),
                              ("grad_x", "grad_y"))
    x, y = op.inputs
    if fully_defined(x) is not None and fully_defined(y) is not None and \
            x.shape[:-2] == y.shape[:-2]:
        return [gx, gy]
    sx, sy = shape_of(x), shape_of(y)
    batch = [apply_op("StridedSlice", [s, [0], [-2], [1]]) for s in (sx, sy)]
    rx, ry = apply_op("BroadcastGradientArgs", batch)
    return [sum_to_shape(gx, rx, sx), sum_to_shape(gy, ry, sy)]


# -- convolution and pooling ------------------------------------------------------------------

_CONV_ATTRS = ("strides", "padding", "explicit_paddings", "data_format", "dilations")


@register_gradient("Conv2D")
def _conv2d_grad(op, grad):
    x, w = op.inputs
    attrs = _attrs(op, _CONV_ATTRS + ("use_cudnn_on_gpu",))
    return [apply_op("Conv2DBackpropInput", [shape_of(x), w, grad], attrs),
            apply_op("Conv2DBackpropFilter", [x, shape_of(w), grad], attrs)]


@register_gradient("Conv2DBackpropInput")
def _conv2d_backprop_input_grad(op, grad):
    """The op is Conv2D's transpose: its input gradient is a Conv2D, its filter's a backprop."""
    _, w, dy = op.inputs
    attrs = _attrs(op, _CONV_ATTRS + ("use_cudnn_on_gpu",))
    return [None, apply_op("Conv2DBackpropFilter", [grad, shape_of(w), dy], attrs),
            apply_op("Conv2D", [grad, w], attrs)]


@register_gradient("DepthwiseConv2dNative")
def _depthwise_grad(op, grad):
    x, w = op.inputs
    attrs = _attrs(op, _CONV_ATTRS)
    return [apply_op("DepthwiseConv2dNativeBackpropInput", [shape_of(x), w, grad], attrs),
            apply_op("DepthwiseConv2dNativeBackpropFilter", [x, shape_of(w), grad], attrs)]


@register_gradient("MaxPool")
def _max_pool_grad(op, grad):
    attrs = _attrs(op, ("ksize", "strides", "padding", "explicit_paddings", "data_format"))
    return apply_op("MaxPoolGrad", [op.inputs[0], op.outputs[0], grad], attrs)


@register_gradient("AvgPool")
def _avg_pool_grad(op, grad):
    attrs = _attrs(op, ("ksize", "strides", "padding", "data_format"))
    return apply_op("AvgPoolGrad", [shape_of(op.inputs[0]), grad], attrs)


# -- FusedBatchNorm ---------------------------------------------------------------------------

_BATCH_NORM_GRAD_OPS = {"FusedBatchNorm": "FusedBatchNormGrad",
                        "FusedBatchNormV2": "FusedBatchNormGradV2",
                        "FusedBatchNormV3": "FusedBatchNormGradV3"}


def _batch_norm_grad(op, grad, *unused_stat_grads):
    """Training: statistics from the forward op's reserve spaces; inference: the population
    mean and variance inputs. Only y's gradient flows (as in TensorFlow)."""
    if grad is None:
        return [None] * 5
    x, scale = op.inputs[0], op.inputs[1]
    training = op.get_attr("is_training")
    stats = [op.outputs[3], op.outputs[4]] if training else [op.inputs[3], op.inputs[4]]
    extra = [op.outputs[5]] if op.type == "FusedBatchNormV3" else []
    attrs = _attrs(op, ("epsilon", "data_format", "is_training"))
    dx, dscale, doffset = apply_op(_BATCH_NORM_GRAD_OPS[op.type],
                                   [grad, x, scale] + stats + extra, attrs)[:3]
    return [dx, dscale, doffset, None, None]


for _name in _BATCH_NORM_GRAD_OPS:
    register_gradient(_name)(_batch_norm_grad)
