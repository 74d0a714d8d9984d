"""Gradient-check cases of the nn, loss, fused and reduction ops (see gradient_cases.py)."""
from __future__ import annotations

import numpy as np

import gcc_flow as gf
from gcc_flow.framework import apply_op
from gradient_cases import Case, Input, case, distinct, inp

# float32-only ops: a larger step and looser tolerances.
_F32 = {"rtol": 1e-2, "atol": 2e-3, "eps": 1e-2}

# -- activations ------------------------------------------------------------------------------

_ACTIVATIONS = {"Relu": (-1, 1, 0.1), "Elu": (-2, 2, 0.1), "Selu": (-2, 2, 0.1),
                "Softplus": (-3, 3, 0), "LeakyRelu": (-1, 1, 0.1)}


def _activation_case(op_type: str, low: float, high: float, away: float) -> None:
    @case(op_type)
    def build(rng):
        x = inp(rng, [2, 3], low, high, away)
        return Case(apply_op(op_type, [x.tensor]), [x])


for _name, (_low, _high, _away) in _ACTIVATIONS.items():
    _activation_case(_name, _low, _high, _away)


@case("Relu6")
def _relu6(rng):
    x = inp(rng, None, value=np.array([[-1.0, 0.5, 3.0], [5.5, 6.5, 8.0]]))
    return Case(gf.nn.relu6(x.tensor), [x])


@case("Softmax", "LogSoftmax")
def _softmax(rng):
    x = inp(rng, [2, 4], -2, 2)
    return Case([gf.nn.softmax(x.tensor), gf.nn.log_softmax(x.tensor)], [x])


@case("BiasAdd")
def _bias_add(rng):
    x, b = inp(rng, [2, 3, 4]), inp(rng, [4])
    return Case(gf.nn.bias_add(x.tensor, b.tensor), [x, b])


@case("BiasAdd")
def _bias_add_nchw(rng):
    x, b = inp(rng, [2, 3, 2, 2]), inp(rng, [3])
    return Case(gf.nn.bias_add(x.tensor, b.tensor, data_format="NCHW"), [x, b])


@case("BiasAddV1")
def _bias_add_v1(rng):
    x, b = inp(rng, [2, 3, 4]), inp(rng, [4])
    return Case(apply_op("BiasAddV1", [x.tensor, b.tensor]), [x, b])


# -- matmul ------------------------------------------------------------------------------------

def _matmul_case(ta: bool, tb: bool) -> None:
    @case("MatMul")
    def build(rng):
        a = inp(rng, [3, 2] if ta else [2, 3])
        b = inp(rng, [4, 3] if tb else [3, 4])
        return Case(gf.matmul(a.tensor, b.tensor, transpose_a=ta, transpose_b=tb), [a, b])
    build.__name__ = f"matmul_ta{int(ta)}_tb{int(tb)}"


for _ta in (False, True):
    for _tb in (False, True):
        _matmul_case(_ta, _tb)


@case("BatchMatMulV2")
def _batch_matmul_broadcast(rng):
    x, y = inp(rng, [2, 1, 2, 3]), inp(rng, [3, 3, 4])
    return Case(gf.matmul(x.tensor, y.tensor), [x, y])


@case("BatchMatMulV2")
def _batch_matmul_adjoint(rng):
    x, y = inp(rng, [2, 3, 2], dynamic=True), inp(rng, [1, 4, 3])
    return Case(apply_op("BatchMatMulV2", [x.tensor, y.tensor], {"adj_x": True, "adj_y": True}),
                [x, y])


# -- convolution and pooling -----------------------------------------------------------------

@case("Conv2D")
def _conv2d_same_strided(rng):
    x, w = inp(rng, [1, 5, 5, 2]), inp(rng, [3, 3, 2, 3])
    return Case(gf.nn.conv2d(x.tensor, w.tensor, strides=[1, 2, 2, 1], padding="SAME"), [x, w])


@case("Conv2D")
def _conv2d_valid_dilated_nchw(rng):
    x, w = inp(rng, [1, 2, 5, 4]), inp(rng, [2, 2, 2, 2])
    return Case(gf.nn.conv2d(x.tensor, w.tensor, strides=[1, 1, 1, 1], padding="VALID",
                             data_format="NCHW", dilations=[1, 1, 2, 1]), [x, w])


@case("Conv2DBackpropInput")
def _conv2d_backprop_input(rng):
    w, dy = inp(rng, [3, 3, 2, 3]), inp(rng, [1, 3, 3, 3])
    out = apply_op("Conv2DBackpropInput", [np.array([1, 5, 5, 2], np.int32), w.tensor,
                                           dy.tensor], {"strides": [1, 2, 2, 1], "padding": "SAME"})
    return Case(out, [w, dy])


@case("DepthwiseConv2dNative")
def _depthwise(rng):
    x, w = inp(rng, [1, 4, 4, 2]), inp(rng, [2, 2, 2, 2])
    return Case(gf.nn.depthwise_conv2d_native(x.tensor, w.tensor, strides=[1, 2, 1, 1],
                                              padding="SAME"), [x, w])


@case("MaxPool")
def _max_pool_overlapping(rng):
    x = inp(rng, None, value=distinct(rng, [1, 5, 5, 2]))
    return Case(gf.nn.max_pool2d(x.tensor, ksize=3, strides=2, padding="SAME"), [x])


@case("MaxPool")
def _max_pool_nchw(rng):
    x = inp(rng, None, value=distinct(rng, [1, 2, 4, 4]))
    return Case(gf.nn.max_pool2d(x.tensor, ksize=2, strides=2, padding="VALID",
                                 data_format="NCHW"), [x])


@case("AvgPool")
def _avg_pool(rng):
    x = inp(rng, [1, 5, 5, 2])
    return Case(gf.nn.avg_pool2d(x.tensor, ksize=3, strides=2, padding="SAME"), [x])


# -- batch norm (float32 only) -----------------------------------------------------------------

def _batch_norm_case(op_type: str, training: bool, data_format: str = "NHWC") -> None:
    @case(op_type)
    def build(rng):
        shape = [2, 3, 3, 2] if data_format == "NHWC" else [2, 2, 3, 3]
        x = inp(rng, shape, -2, 2, dtype=gf.float32)
        scale, offset = inp(rng, [2], 0.5, 1.5, dtype=gf.float32), inp(rng, [2], dtype=gf.float32)
        mean = gf.constant(np.array([0.1, -0.2], np.float32))
        var = gf.constant(np.array([0.8, 1.3], np.float32))
        outs = apply_op(op_type, [x.tensor, scale.tensor, offset.tensor, mean, var],
                        {"is_training": training, "data_format": data_format, "epsilon": 0.01})
        return Case(outs[0], [x, scale, offset], **_F32)
    build.__name__ = f"{op_type}_{'training' if training else 'inference'}_{data_format}"


for _name in ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"):
    _batch_norm_case(_name, True)
    _batch_norm_case(_name, False)
_batch_norm_case("FusedBatchNormV3", True, "NCHW")


# -- fused contractions ------------------------------------------------------------------------

@case("_FusedConv2D")
def _fused_conv2d(rng):
    x, w, b = inp(rng, [1, 4, 4, 2]), inp(rng, [2, 2, 2, 3]), inp(rng, [3], 0.2, 0.5)
    out = apply_op("_FusedConv2D", [x.tensor, w.tensor, [b.tensor], []],
                   {"strides": [1, 1, 1, 1], "padding": "SAME", "fused_ops": ["BiasAdd", "Elu"],
                    "num_args": 1})
    return Case(out, [x, w, b])


@case("_FusedDepthwiseConv2dNative")
def _fused_depthwise(rng):
    x, w, b = inp(rng, [1, 4, 4, 2]), inp(rng, [2, 2, 2, 1]), inp(rng, [2])
    out = apply_op("_FusedDepthwiseConv2dNative", [x.tensor, w.tensor, [b.tensor]],
                   {"strides": [1, 1, 1, 1], "padding": "VALID", "fused_ops": ["BiasAdd", "Tanh"],
                    "num_args": 1})
    return Case(out, [x, w, b])


@case("_FusedMatMul")
def _fused_matmul(rng):
    a, b = inp(rng, [2, 3], dtype=gf.float32), inp(rng, [4, 3], dtype=gf.float32)
    bias = inp(rng, [4], dtype=gf.float32)
    out = apply_op("_FusedMatMul", [a.tensor, b.tensor, [bias.tensor]],
                   {"transpose_b": True, "fused_ops": ["BiasAdd", "Sigmoid"], "num_args": 1})
    return Case(out, [a, b, bias], **_F32)


# -- losses --------------------------------------------------------------------------------------

@case("L2Loss")
def _l2_loss(rng):
    x = inp(rng, [2, 3])
    return Case(apply_op("L2Loss", [x.tensor]), [x])


@case("SoftmaxCrossEntropyWithLogits")
def _softmax_cross_entropy(rng):
    """Labels are distributions (rows summing to 1), as the op's backprop assumes."""
    rows = rng.uniform(0.1, 1, (2, 4))
    logits, labels = inp(rng, [2, 4], -2, 2), inp(rng, None, value=rows / rows.sum(1)[:, None])
    loss, _ = apply_op("SoftmaxCrossEntropyWithLogits", [logits.tensor, labels.tensor])
    return Case(loss, [logits, labels])


@case("SparseSoftmaxCrossEntropyWithLogits")
def _sparse_softmax_cross_entropy(rng):
    logits = inp(rng, [3, 4], -2, 2)
    labels = gf.constant(np.array([0, 3, 1], np.int32))
    loss, _ = apply_op("SparseSoftmaxCrossEntropyWithLogits", [logits.tensor, labels])
    return Case(loss, [logits])


# -- reductions ----------------------------------------------------------------------------------

def _reduction_case(op_type: str, axis, keep_dims: bool, dynamic: bool = False,
                    distinct_values: bool = False) -> None:
    @case(op_type)
    def build(rng):
        if distinct_values:
            x = inp(rng, None, value=distinct(rng, [2, 3, 2]), dynamic=dynamic)
        else:
            x = inp(rng, [2, 3, 2], 0.3, 1.5, dynamic=dynamic)
        out = apply_op(op_type, [x.tensor, np.array(axis, np.int32)], {"keep_dims": keep_dims})
        return Case(out, [x])
    build.__name__ = f"{op_type}_axis{axis}_keep{int(keep_dims)}{'_dynamic' * dynamic}"


for _name in ("Sum", "Mean", "Prod", "EuclideanNorm"):
    _reduction_case(_name, [1], False)
    _reduction_case(_name, [0, -1], True, dynamic=True)
for _name in ("Max", "Min"):
    _reduction_case(_name, [1], False, distinct_values=True)
    _reduction_case(_name, [-1, 0], False, dynamic=True, distinct_values=True)


@case("Max")
def _max_with_ties(rng):
    """Tied maxima share the gradient equally: compared against a smooth stand-in."""
    x = inp(rng, [2, 3])
    tied = gf.concat([x.tensor, x.tensor], axis=1)
    return Case(gf.reduce_max(tied, axis=1), [x])


@case("Prod")
def _prod_with_zero(rng):
    x = inp(rng, None, value=np.array([[0.0, 2.0, 3.0], [1.5, -0.5, 2.0]]))
    return Case(gf.reduce_prod(x.tensor, axis=1), [x])


@case("Prod")
def _prod_dynamic_axis(rng):
    x = inp(rng, [2, 3], 0.5, 1.5)
    axis = gf.placeholder_with_default(np.array([1], np.int32), [None])
    return Case(apply_op("Prod", [x.tensor, axis]), [x])


@case("Sum", "Mean", "Max", "BiasAdd")
def _unknown_rank(rng):
    """Inputs of unknown rank: the kept-dims shapes are computed in the graph."""
    x = Input(gf.placeholder(gf.float64, None), distinct(rng, [2, 3, 2]))
    axis = gf.placeholder_with_default(np.array([-1], np.int32), [None])
    outs = [apply_op(op_type, [x.tensor, axis]) for op_type in ("Sum", "Mean", "Max")]
    biased = gf.nn.bias_add(x.tensor, gf.constant(np.ones(2)))
    return Case(outs + [biased], [x])
