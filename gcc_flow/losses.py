"""``gf.losses`` (TensorFlow 1.x's tf.losses) and the cross-entropy functions of ``gf.nn``.

    loss = gf.losses.sparse_softmax_cross_entropy(labels, logits)
      -> sparse_softmax_cross_entropy_loss/xentropy (SparseSoftmaxCrossEntropyWithLogits),
         .../Sum, .../num_elements, .../value (DivNoNan: the mean over the batch)
    per_example = gf.nn.softmax_cross_entropy_with_logits(labels=y, logits=z)     -> f32[batch]
    gf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z)
      = max(z, 0) - z * y + log(1 + exp(-|z|))                        (TF's stable composite)

The tf.losses functions reduce with TensorFlow 1's default SUM_BY_NONZERO_WEIGHTS: the weighted
sum divided by the number of non-zero weights (the mean for the default weights=1.0), and add
the loss to the "losses" collection. ``NN_FUNCTIONS`` names the functions that belong in gf.nn.
"""
from __future__ import annotations

import numbers
from typing import Optional

import numpy as np

from gcc_flow import array_ops, math_ops, reduction_ops
from gcc_flow.framework import Tensor, apply_op, convert_to_tensor, get_default_graph
from gcc_flow.random_ops import adopt_scope_name
from schema.dtypes import DType
from schema.ops.state import shapes_compatible

__all__ = [
    "Reduction", "compute_weighted_loss", "mean_squared_error", "absolute_difference",
    "softmax_cross_entropy", "sparse_softmax_cross_entropy", "sigmoid_cross_entropy",
    "add_loss", "get_losses", "get_regularization_losses", "get_total_loss",
]
NN_FUNCTIONS = ["softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits_v2",
                "sparse_softmax_cross_entropy_with_logits", "sigmoid_cross_entropy_with_logits",
                "l2_loss"]

LOSSES = "losses"
REGULARIZATION_LOSSES = "regularization_losses"


def _check_compatible(a: Tensor, b: Tensor, what: str) -> None:
    if not shapes_compatible(a.shape, b.shape):
        raise ValueError(f"{what}: shapes {a.shape} and {b.shape} are incompatible")


# -- gf.nn: per-example losses ------------------------------------------------------------------

def _static_or_slice(x: Tensor, begin: int, size: int) -> Tensor:
    """Dims [begin, begin+size) of x's shape: a Const when known, else Slice(Shape(x))."""
    dims = x.shape[begin:begin + size]
    if all(d is not None for d in dims):
        return convert_to_tensor(np.array(dims, np.int32))
    return array_ops.slice(array_ops.shape(x), [begin], [size])


def _flatten_outer_dims(x: Tensor) -> Tensor:
    """[a, b, c] -> [a*b, c]."""
    last = _static_or_slice(x, len(x.shape) - 1, 1)
    return array_ops.reshape(x, array_ops.concat([np.array([-1], np.int32), last], 0))


def _move_axis_to_end(x: Tensor, axis: int) -> Tensor:
    rank = len(x.shape)
    perm = [i for i in range(rank) if i != axis % rank] + [axis % rank]
    return array_ops.transpose(x, perm)


def softmax_cross_entropy_with_logits(labels, logits, axis: int = -1,
                                      name: Optional[str] = None) -> Tensor:
    """-sum(labels * log_softmax(logits), axis) per example; gradients reach labels too (v2).

    labels [[0, 1]], logits [[0, 0]] -> [0.693]
    """
    logits = convert_to_tensor(logits)
    labels = math_ops.cast(convert_to_tensor(labels), logits.dtype)
    graph = logits.graph
    rank = None if logits.shape is None else len(logits.shape)
    with graph.as_default():
        if rank is None or (rank == 2 and axis in (-1, 1)):
            return apply_op("SoftmaxCrossEntropyWithLogits", [logits, labels], name=name)[0]
        with graph.name_scope(name or "softmax_cross_entropy_with_logits") as scope:
            if axis not in (-1, rank - 1):
                logits, labels = _move_axis_to_end(logits, axis), _move_axis_to_end(labels, axis)
            outer = _static_or_slice(logits, 0, rank - 1)
            cost = apply_op("SoftmaxCrossEntropyWithLogits",
                            [_flatten_outer_dims(logits), _flatten_outer_dims(labels)])[0]
            return adopt_scope_name(array_ops.reshape(cost, outer), scope)


softmax_cross_entropy_with_logits_v2 = softmax_cross_entropy_with_logits


def sparse_softmax_cross_entropy_with_logits(labels, logits,
                                             name: Optional[str] = None) -> Tensor:
    """-log_softmax(logits)[label] per example; labels have rank(logits) - 1, values in
    [0, classes) (others fail when run).  labels [1], logits [[0, 0]] -> [0.693]"""
    logits = convert_to_tensor(logits)
    labels = convert_to_tensor(labels)
    with logits.graph.as_default():
        if logits.shape is not None and labels.shape is not None:
            if len(labels.shape) != len(logits.shape) - 1:
                raise ValueError(f"Rank mismatch: Rank of labels (received {len(labels.shape)}) "
                                 f"should equal rank of logits minus 1 (received "
                                 f"{len(logits.shape)}).")
            if not shapes_compatible(labels.shape, logits.shape[:-1]):
                raise ValueError(f"Shape mismatch: The shape of labels (received "
                                 f"{labels.shape}) should equal the shape of logits except for "
                                 f"the last dimension (received {logits.shape}).")
        if logits.shape is None or len(logits.shape) == 2:
            return apply_op("SparseSoftmaxCrossEntropyWithLogits", [logits, labels],
                            name=name)[0]
        graph = logits.graph
        with graph.name_scope(name or "SparseSoftmaxCrossEntropyWithLogits") as scope:
            outer = array_ops.shape(labels)
            flat_labels = array_ops.reshape(labels, np.array([-1], np.int32))
            cost = apply_op("SparseSoftmaxCrossEntropyWithLogits",
                            [_flatten_outer_dims(logits), flat_labels])[0]
            return adopt_scope_name(array_ops.reshape(cost, outer), scope)


def sigmoid_cross_entropy_with_logits(labels=None, logits=None,
                                      name: Optional[str] = None) -> Tensor:
    """Elementwise logistic loss, TensorFlow's overflow-free form:
    where(z >= 0, z, 0) - z * y + log1p(exp(where(z >= 0, -z, z))).  y=1, z=0 -> 0.693"""
    if labels is None or logits is None:
        raise ValueError("sigmoid_cross_entropy_with_logits needs both labels and logits")
    logits = convert_to_tensor(logits)
    graph = logits.graph
    with graph.as_default(), graph.name_scope(name or "logistic_loss") as scope:
        labels = convert_to_tensor(labels, logits.dtype)
        if not shapes_compatible(labels.shape, logits.shape):
            raise ValueError(f"`logits` and `labels` must have the same shape, received "
                             f"({logits.shape} vs {labels.shape}).")
        zeros = array_ops.zeros_like(logits)
        cond = logits >= zeros
        relu_logits = math_ops.where(cond, logits, zeros)
        neg_abs_logits = math_ops.where(cond, -logits, logits)
        result = math_ops.add(relu_logits - logits * labels,
                              math_ops.log1p(math_ops.exp(neg_abs_logits)))
        return adopt_scope_name(result, scope)


def l2_loss(t, name: Optional[str] = None) -> Tensor:
    """sum(t ** 2) / 2.  [1, 2] -> 2.5"""
    return apply_op("L2Loss", [t], name=name)


# -- tf.losses: weighted and reduced --------------------------------------------------------------

class Reduction:
    """How compute_weighted_loss reduces (tf.compat.v1.losses.Reduction)."""
    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls) -> tuple:
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE,
                cls.SUM_BY_NONZERO_WEIGHTS)

    @classmethod
    def validate(cls, key) -> None:
        if key not in cls.all():
            raise ValueError(f"Invalid Reduction Key {key}.")


def _num_elements(losses: Tensor) -> Tensor:
    return math_ops.cast(array_ops.size(losses, name="num_elements"), losses.dtype)


def _num_present(losses: Tensor, weights) -> Tensor:
    """How many losses have a non-zero weight (weights broadcast against losses)."""
    if isinstance(weights, numbers.Real) and not isinstance(weights, bool) and weights != 0:
        return _num_elements(losses)
    graph = losses.graph
    with graph.name_scope("num_present") as scope:
        weights = math_ops.cast(convert_to_tensor(weights), DType.FLOAT)
        present = math_ops.where(math_ops.equal(weights, 0.0), array_ops.zeros_like(weights),
                                 array_ops.ones_like(weights))
        present = math_ops.multiply(present, array_ops.ones_like(losses))
        return adopt_scope_name(reduction_ops.reduce_sum(present), scope)


def _reduce(losses: Tensor, weights, weighted: Tensor, reduction: str) -> Tensor:
    if reduction == Reduction.NONE:
        return weighted
    total = reduction_ops.reduce_sum(weighted)
    divisors = {
        Reduction.MEAN: lambda: reduction_ops.reduce_sum(
            math_ops.multiply(array_ops.ones_like(losses), math_ops.cast(
                convert_to_tensor(weights), DType.FLOAT))),
        Reduction.SUM_BY_NONZERO_WEIGHTS: lambda: _num_present(losses, weights),
        Reduction.SUM_OVER_BATCH_SIZE: lambda: _num_elements(losses),
    }
    if reduction not in divisors:
        return total
    return apply_op("DivNoNan", [total, divisors[reduction]()], name="value")


def compute_weighted_loss(losses, weights=1.0, scope: Optional[str] = None,
                          loss_collection: Optional[str] = LOSSES,
                          reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """losses * weights reduced by ``reduction`` (computed in float32, returned in the losses'
    dtype) and added to ``loss_collection``.  [1, 3] -> 2.0;  weights [1, 0] -> 1.0"""
    Reduction.validate(reduction)
    losses = convert_to_tensor(losses)
    graph = losses.graph
    with graph.as_default(), graph.name_scope(scope or "weighted_loss"):
        input_dtype = losses.dtype
        losses = math_ops.cast(losses, DType.FLOAT)
        weight_tensor = math_ops.cast(convert_to_tensor(weights), DType.FLOAT)
        loss = math_ops.cast(_reduce(losses, weights, math_ops.multiply(losses, weight_tensor),
                                     reduction), input_dtype)
    add_loss(loss, loss_collection)
    return loss


def _float_pair(labels, predictions) -> tuple[Tensor, Tensor]:
    predictions = math_ops.cast(convert_to_tensor(predictions), DType.FLOAT)
    labels = math_ops.cast(convert_to_tensor(labels), DType.FLOAT)
    _check_compatible(predictions, labels, "predictions and labels")
    return labels, predictions


def mean_squared_error(labels, predictions, weights=1.0, scope: Optional[str] = None,
                       loss_collection: Optional[str] = LOSSES,
                       reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """mean((predictions - labels) ** 2) by default.  [0, 0] vs [1, 3] -> 5.0"""
    with get_default_graph().name_scope(scope or "mean_squared_error") as scope:
        labels, predictions = _float_pair(labels, predictions)
        losses = math_ops.squared_difference(predictions, labels)
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


def absolute_difference(labels, predictions, weights=1.0, scope: Optional[str] = None,
                        loss_collection: Optional[str] = LOSSES,
                        reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """mean(|predictions - labels|) by default."""
    with get_default_graph().name_scope(scope or "absolute_difference") as scope:
        labels, predictions = _float_pair(labels, predictions)
        losses = math_ops.abs(math_ops.subtract(predictions, labels))
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


def softmax_cross_entropy(onehot_labels, logits, weights=1.0, label_smoothing: float = 0,
                          scope: Optional[str] = None, loss_collection: Optional[str] = LOSSES,
                          reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Mean softmax cross entropy; no gradient reaches the labels. label_smoothing s turns the
    labels into labels * (1 - s) + s / classes."""
    logits = convert_to_tensor(logits)
    with logits.graph.as_default(), \
            logits.graph.name_scope(scope or "softmax_cross_entropy_loss") as scope:
        labels = math_ops.cast(convert_to_tensor(onehot_labels), logits.dtype)
        _check_compatible(logits, labels, "logits and onehot_labels")
        if label_smoothing > 0:
            classes = math_ops.cast(array_ops.shape(labels)[-1], logits.dtype)
            labels = labels * (1.0 - label_smoothing) + label_smoothing / classes
        labels = array_ops.stop_gradient(labels, name="labels_stop_gradient")
        losses = softmax_cross_entropy_with_logits(labels, logits, name="xentropy")
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


def sparse_softmax_cross_entropy(labels, logits, weights=1.0, scope: Optional[str] = None,
                                 loss_collection: Optional[str] = LOSSES,
                                 reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Mean sparse softmax cross entropy.  labels [1], logits [[0, 0]] -> 0.693"""
    logits = convert_to_tensor(logits)
    with logits.graph.as_default(), \
            logits.graph.name_scope(scope or "sparse_softmax_cross_entropy_loss") as scope:
        losses = sparse_softmax_cross_entropy_with_logits(labels, logits, name="xentropy")
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


def sigmoid_cross_entropy(multi_class_labels, logits, weights=1.0, label_smoothing: float = 0,
                          scope: Optional[str] = None, loss_collection: Optional[str] = LOSSES,
                          reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Mean logistic loss; label_smoothing s turns labels into labels * (1 - s) + s / 2."""
    logits = convert_to_tensor(logits)
    with logits.graph.as_default(), \
            logits.graph.name_scope(scope or "sigmoid_cross_entropy_loss") as scope:
        labels = math_ops.cast(convert_to_tensor(multi_class_labels), logits.dtype)
        _check_compatible(logits, labels, "logits and multi_class_labels")
        if label_smoothing > 0:
            labels = labels * (1 - label_smoothing) + 0.5 * label_smoothing
        losses = sigmoid_cross_entropy_with_logits(labels, logits, name="xentropy")
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


# -- the loss collections -------------------------------------------------------------------------

def add_loss(loss: Tensor, loss_collection: Optional[str] = LOSSES) -> None:
    if loss_collection:
        loss.graph.add_to_collection(loss_collection, loss)


def get_losses(scope: Optional[str] = None, loss_collection: str = LOSSES) -> list:
    found = get_default_graph().get_collection(loss_collection)
    return [t for t in found if scope is None or t.name.startswith(scope)]


def get_regularization_losses(scope: Optional[str] = None) -> list:
    return get_losses(scope, REGULARIZATION_LOSSES)


def get_total_loss(add_regularization_losses: bool = True,
                   name: str = "total_loss") -> Tensor:
    """The sum of every collected loss (and regularization loss)."""
    losses = get_losses() + (get_regularization_losses() if add_regularization_losses else [])
    if not losses:
        raise ValueError("No losses found")
    return math_ops.add_n(losses, name=name)
