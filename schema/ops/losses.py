"""Loss ops with TensorFlow's names: softmax cross entropy (dense and sparse labels), L2Loss.

    SoftmaxCrossEntropyWithLogits(features f32[4,10], labels f32[4,10])
        -> loss f32[4], backprop f32[4,10]           (labels may broadcast against features)
    SparseSoftmaxCrossEntropyWithLogits(features f32[4,10], labels i64[4])
        -> loss f32[4], backprop f32[4,10]
    L2Loss(f32[3,5]) -> f32[]                        (sum(t ** 2) / 2)
"""
from __future__ import annotations

from schema.errors import ValidationError
from schema.ops.array_rules import fmt_shape
from schema.registry import op
from schema.shapes import broadcast_shapes, scalar

__all__: list[str] = []

_FLOAT = "{half, bfloat16, float, double}"


def _merge_dim(ctx, a, b, what: str):
    if a is not None and b is not None and a != b:
        raise ctx.fail(f"{what}: dimensions must be equal, but are {a} and {b}")
    return a if a is not None else b


def _softmax_xent_shape(ctx):
    features, labels = ctx.shape(0), ctx.shape(1)
    try:
        both = broadcast_shapes(features, labels)
    except ValidationError:
        raise ctx.fail(f"logits and labels must be broadcastable: logits_size="
                       f"{fmt_shape(features)} labels_size={fmt_shape(labels)}") from None
    if both is None:
        return [(None,), (None, None)]
    if len(both) != 2:
        raise ctx.fail(f"logits and labels must be either 2-dimensional, or broadcasted to be "
                       f"2-dimensional, but got shape {fmt_shape(both)}")
    return [(both[0],), both]


def _sparse_softmax_xent_shape(ctx):
    features, labels = ctx.shape(0), ctx.shape(1)
    if features is not None and len(features) != 2:
        raise ctx.fail(f"logits must be 2-D, but got shape {fmt_shape(features)}")
    if labels is not None and len(labels) != 1:
        raise ctx.fail(f"labels must be 1-D, but got shape {fmt_shape(labels)}")
    batch = _merge_dim(ctx, None if features is None else features[0],
                       None if labels is None else labels[0],
                       "logits and labels must have the same first dimension")
    classes = None if features is None else features[1]
    return [(batch,), (batch, classes)]


op("SoftmaxCrossEntropyWithLogits", inputs=["features: T", "labels: T"],
   outputs=["loss: T", "backprop: T"], attrs=[f"T: {_FLOAT}"], shape=_softmax_xent_shape)
op("SparseSoftmaxCrossEntropyWithLogits", inputs=["features: T", "labels: Tlabels"],
   outputs=["loss: T", "backprop: T"],
   attrs=[f"T: {_FLOAT}", "Tlabels: {int32, int64} = int64"], shape=_sparse_softmax_xent_shape)
op("L2Loss", inputs=["t: T"], outputs=["output: T"], attrs=[f"T: {_FLOAT}"], shape=scalar)
