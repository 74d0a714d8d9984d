"""Loss functions (gf.losses and the cross entropies meant for gf.nn): values by hand and as
recorded from TensorFlow 2.21, their gradients, shape handling, reductions and errors."""
from __future__ import annotations

import numpy as np
import pytest

import gcc_flow as gf
from gcc_flow import losses
from schema.errors import ExecutionError, ValidationError

LOGITS = np.array([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]], np.float32)
LABELS = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]], np.float32)
# Recorded from TensorFlow 2.21 on LOGITS / LABELS:
TF_XENT = [1.4143688678741455, 4.065884113311768]                  # SoftmaxCrossEntropy loss
TF_XENT_BACKPROP = [[0.03122389, 0.32853168, -0.35975564], [-0.98285216, 0.04661262, 0.93623954]]
TF_SPARSE_XENT = [1.9643688201904297, 4.065884113311768]           # labels [2, 0]
TF_SIGMOID = [[1.1132617, 1.526928, 0.724077], [1.3132617, 0.6931472, 3.0485873]]
TF_MSE_ROW_WEIGHTS = 1.1766667366027832     # mean_squared_error(LABELS, LOGITS, [[1], [0]])
TF_SOFTMAX_SMOOTHED = 2.6509597301483154    # softmax_cross_entropy(..., label_smoothing=0.1)
TF_SIGMOID_SMOOTHED = 1.3132104873657227    # sigmoid_cross_entropy(..., label_smoothing=0.2)


def _run(fetches, feeds=None, graph=None):
    with gf.Session(graph or gf.get_default_graph()) as sess:
        return sess.run(fetches, feeds or {})


def _log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@pytest.fixture(autouse=True)
def fresh_graph():
    g = gf.Graph()
    with g.as_default():
        yield g


def test_softmax_cross_entropy_by_hand_and_as_tensorflow():
    loss = losses.softmax_cross_entropy_with_logits(labels=LABELS, logits=LOGITS)
    got = _run(loss)
    np.testing.assert_allclose(got, -(LABELS * _log_softmax(LOGITS)).sum(-1), rtol=1e-6)
    np.testing.assert_allclose(got, TF_XENT, rtol=1e-6)
    backprop = _run(loss.op.outputs[1])
    np.testing.assert_allclose(backprop, TF_XENT_BACKPROP, rtol=1e-5, atol=1e-7)


def test_softmax_cross_entropy_gradients_reach_logits_and_labels():
    logits, labels = gf.constant(LOGITS), gf.constant(LABELS)
    weights = np.array([2.0, -1.0], np.float32)
    loss = gf.reduce_sum(losses.softmax_cross_entropy_with_logits(labels, logits) * weights)
    d_logits, d_labels = _run(gf.gradients(loss, [logits, labels]))
    softmax = np.exp(_log_softmax(LOGITS))
    np.testing.assert_allclose(d_logits, weights[:, None] * (softmax - LABELS), rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(d_labels, weights[:, None] * -_log_softmax(LOGITS), rtol=1e-5)


def test_softmax_cross_entropy_other_axis_and_rank():
    logits = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    labels = np.exp(_log_softmax(logits * 2))
    by_hand = -(labels * _log_softmax(logits)).sum(-1)
    rank3 = losses.softmax_cross_entropy_with_logits(labels, logits)
    assert rank3.shape == (2, 4)
    np.testing.assert_allclose(_run(rank3), by_hand, rtol=1e-5)
    moved = losses.softmax_cross_entropy_with_logits(np.moveaxis(labels, -1, 1),
                                                     np.moveaxis(logits, -1, 1), axis=1)
    np.testing.assert_allclose(_run(moved), by_hand, rtol=1e-5)
    x = gf.placeholder(gf.float32, [None, None, 3])
    dynamic = losses.softmax_cross_entropy_with_logits(labels, x)
    np.testing.assert_allclose(_run(dynamic, {x: logits}), by_hand, rtol=1e-5)


def test_sparse_softmax_cross_entropy_and_its_gradient():
    logits = gf.constant(LOGITS)
    loss = losses.sparse_softmax_cross_entropy_with_logits(labels=[2, 0], logits=logits)
    np.testing.assert_allclose(_run(loss), TF_SPARSE_XENT, rtol=1e-6)
    (d_logits,) = _run(gf.gradients(gf.reduce_sum(loss * 3.0), [logits]))
    one_hot = np.eye(3, dtype=np.float32)[[2, 0]]
    np.testing.assert_allclose(d_logits, 3 * (np.exp(_log_softmax(LOGITS)) - one_hot),
                               rtol=1e-5, atol=1e-6)


def test_sparse_softmax_cross_entropy_rank_3_and_mismatches():
    logits = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    labels = np.array([[0, 3, 1], [2, 2, 0]], np.int64)
    loss = losses.sparse_softmax_cross_entropy_with_logits(labels, logits)
    by_hand = -np.take_along_axis(_log_softmax(logits), labels[..., None], -1)[..., 0]
    np.testing.assert_allclose(_run(loss), by_hand, rtol=1e-5)
    with pytest.raises(ValueError, match="Rank mismatch"):
        losses.sparse_softmax_cross_entropy_with_logits([0, 1], logits)
    with pytest.raises(ValueError, match="Shape mismatch"):
        losses.sparse_softmax_cross_entropy_with_logits([[0, 1]], logits)


def test_sparse_label_out_of_range_fails_at_run_time_with_tensorflow_words():
    labels = gf.placeholder(gf.int32, [2])
    loss = losses.sparse_softmax_cross_entropy_with_logits(labels, LOGITS)
    with pytest.raises(ExecutionError, match=r"Received a label value of 5 which is outside the "
                                             r"valid range of \[0, 3\)\.  Label values: 2 5"):
        _run(loss, {labels: np.array([2, 5], np.int32)})
    with pytest.raises(ExecutionError, match="label value of -1"):
        _run(loss, {labels: np.array([-1, 0], np.int32)})


def test_sigmoid_cross_entropy_is_stable_and_matches_tensorflow():
    got = _run(losses.sigmoid_cross_entropy_with_logits(labels=LABELS, logits=LOGITS))
    np.testing.assert_allclose(got, TF_SIGMOID, rtol=1e-6)
    z = np.array([-200.0, -20.0, 0.0, 20.0, 200.0], np.float32)
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0], np.float32)
    extreme = _run(losses.sigmoid_cross_entropy_with_logits(labels=y, logits=z))
    np.testing.assert_allclose(extreme, [200.0, 2.0611537e-09, np.log(2), 2.0611537e-09, 200.0],
                               rtol=1e-5)
    with pytest.raises(ValueError, match="must have the same shape"):
        losses.sigmoid_cross_entropy_with_logits(labels=y[:3], logits=z)


def test_sigmoid_cross_entropy_gradient_is_sigmoid_minus_labels():
    logits = gf.constant(LOGITS)
    loss = gf.reduce_sum(losses.sigmoid_cross_entropy_with_logits(labels=LABELS, logits=logits))
    (grad,) = _run(gf.gradients(loss, [logits]))
    np.testing.assert_allclose(grad, 1 / (1 + np.exp(-LOGITS)) - LABELS, rtol=1e-5, atol=1e-6)


def test_l2_loss_and_its_gradient():
    t = gf.constant(LOGITS)
    loss = losses.l2_loss(t)
    assert loss.shape == ()
    value, (grad,) = _run([loss, gf.gradients(loss * 2.0, [t])])
    assert value == pytest.approx(7.625)
    np.testing.assert_allclose(grad, 2 * LOGITS)


def test_loss_op_shape_checks():
    with pytest.raises(ValidationError, match="logits and labels must be broadcastable"):
        gf.framework.apply_op("SoftmaxCrossEntropyWithLogits", [LOGITS, np.ones((2, 4),
                                                                                np.float32)])
    with pytest.raises(ValidationError, match="must have the same first dimension"):
        gf.framework.apply_op("SparseSoftmaxCrossEntropyWithLogits",
                              [LOGITS, np.array([0, 1, 2], np.int64)])
    with pytest.raises(ValidationError, match="logits must be 2-D"):
        gf.framework.apply_op("SparseSoftmaxCrossEntropyWithLogits",
                              [LOGITS[0], np.array([0], np.int64)])


# -- gf.losses -----------------------------------------------------------------------------------

def test_mean_squared_error_default_reduction_is_the_mean():
    labels, predictions = np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[1.0, 3.0], [1.0, 2.0]])
    loss = gf.losses.mean_squared_error(labels, predictions)
    assert _run(loss) == pytest.approx(np.mean((predictions - labels) ** 2))
    assert gf.losses.get_losses() == [loss]


def test_weights_divide_by_the_number_of_non_zero_weights():
    loss = gf.losses.mean_squared_error(LABELS, LOGITS, weights=np.array([[1.0], [0.0]]))
    assert _run(loss) == pytest.approx(TF_MSE_ROW_WEIGHTS, rel=1e-6)
    assert _run(loss) == pytest.approx(np.mean((LOGITS[0] - LABELS[0]) ** 2), rel=1e-6)
    zero = gf.losses.mean_squared_error(LABELS, LOGITS, weights=0.0)
    assert _run(zero) == 0.0                            # DivNoNan: no weights, no loss


@pytest.mark.parametrize("reduction, expected", [
    (gf.losses.Reduction.SUM, 2 * (1 + 9 + 4)),
    (gf.losses.Reduction.MEAN, 2 * 14 / 6),
    (gf.losses.Reduction.SUM_OVER_BATCH_SIZE, 2 * 14 / 3),
    (gf.losses.Reduction.SUM_BY_NONZERO_WEIGHTS, 2 * 14 / 3),
])
def test_reductions(reduction, expected):
    loss = gf.losses.compute_weighted_loss([1.0, 9.0, 4.0], weights=2.0, reduction=reduction)
    assert _run(loss) == pytest.approx(expected)


def test_reduction_none_and_bad_key():
    loss = gf.losses.compute_weighted_loss([1.0, 9.0], weights=[2.0, 0.5],
                                           reduction=gf.losses.Reduction.NONE)
    np.testing.assert_allclose(_run(loss), [2.0, 4.5])
    with pytest.raises(ValueError, match="Invalid Reduction Key"):
        gf.losses.compute_weighted_loss([1.0], reduction="mean")


def test_softmax_and_sigmoid_losses_with_label_smoothing_match_tensorflow():
    softmax = gf.losses.softmax_cross_entropy(LABELS, LOGITS, label_smoothing=0.1)
    sigmoid = gf.losses.sigmoid_cross_entropy(LABELS, LOGITS, label_smoothing=0.2)
    plain = gf.losses.softmax_cross_entropy(LABELS, LOGITS)
    got = _run([softmax, sigmoid, plain])
    np.testing.assert_allclose(got, [TF_SOFTMAX_SMOOTHED, TF_SIGMOID_SMOOTHED,
                                     np.mean(TF_XENT)], rtol=1e-6)
    assert len(gf.losses.get_losses()) == 3
    total = gf.losses.get_total_loss()
    assert _run(total) == pytest.approx(sum(got), rel=1e-6)


def test_sparse_loss_and_its_gradient_reaching_a_variable():
    w = gf.Variable(np.zeros((3, 3), np.float32), name="w")
    logits = gf.matmul(LOGITS, w)
    loss = gf.losses.sparse_softmax_cross_entropy([2, 0], logits)
    (grad,) = gf.gradients(loss, [w])
    with gf.Session() as sess:
        sess.run(gf.global_variables_initializer())
        value, dw = sess.run([loss, grad])
    assert value == pytest.approx(np.log(3), rel=1e-6)      # uniform softmax over 3 classes
    one_hot = np.eye(3, dtype=np.float32)[[2, 0]]
    np.testing.assert_allclose(dw, LOGITS.T @ (np.full((2, 3), 1 / 3) - one_hot) / 2,
                               rtol=1e-5, atol=1e-7)


def test_softmax_loss_stops_gradients_at_the_labels():
    labels = gf.constant(LABELS)
    loss = gf.losses.softmax_cross_entropy(labels, LOGITS)
    assert gf.gradients(loss, [labels]) == [None]
