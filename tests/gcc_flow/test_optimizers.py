"""gf.train optimizers: TensorFlow 1.x's results and variable names (values recorded from
TensorFlow 2.21's tf.compat.v1.train optimizers), numpy-by-hand updates, a small MLP whose loss
falls with every optimizer, the global step, slots and errors."""
from __future__ import annotations

import numpy as np
import pytest

import gcc_flow as gf

# Five minimize() steps of mean_squared_error(Y, X @ w + b) with global_step, as recorded from
# tf.compat.v1 (X, Y, W0 drawn from np.random.default_rng(1), see _linear_problem):
# (optimizer, final w, final b, variable names, train op name)
TF_RESULTS = {
    "gd": ([[-0.938678, -0.6223748], [-0.2094614, -0.8921759], [-0.07507693, 0.04279885]],
           [-0.1338459, -0.03830016], ["b", "global_step", "w"], "GradientDescent"),
    "mom": ([[-0.3859136, -0.5026417], [-0.4348677, -0.75771], [0.03601317, -0.07378292]],
            [-0.2746399, -0.09764872], ["b", "b/Momentum", "global_step", "w", "w/Momentum"],
            "Momentum"),
    "adam": ([[-0.9794049, -0.452713], [-0.317615, -0.6938065], [0.1319241, -0.1498584]],
             [-0.2375992, -0.1357224],
             ["b", "b/Adam", "b/Adam_1", "beta1_power", "beta2_power", "global_step", "w",
              "w/Adam", "w/Adam_1"], "Adam"),
    "ada": ([[-0.9463043, -0.5473838], [-0.2916211, -0.7914877], [-0.001310565, -0.04166891]],
            [-0.1877313, -0.07305832], ["b", "b/Adagrad", "global_step", "w", "w/Adagrad"],
            "Adagrad"),
    "rms": ([[-1.170632, -0.6706453], [-0.1027126, -0.9355798], [-0.09718721, 0.08520693]],
            [-0.03408135, -0.008871794],
            ["b", "b/RMSProp", "b/RMSProp_1", "global_step", "w", "w/RMSProp", "w/RMSProp_1"],
            "RMSProp"),
    "crms": ([[-1.169536, -0.670633], [-0.1028864, -0.9355749], [-0.09718472, 0.08520014]],
             [-0.03431559, -0.008876044],
             ["b", "b/RMSProp", "b/RMSProp_1", "b/RMSProp_2", "global_step", "w", "w/RMSProp",
              "w/RMSProp_1", "w/RMSProp_2"], "RMSProp"),
}

OPTIMIZERS = {
    "gd": lambda: gf.train.GradientDescentOptimizer(0.1),
    "mom": lambda: gf.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True),
    "adam": lambda: gf.train.AdamOptimizer(0.05),
    "ada": lambda: gf.train.AdagradOptimizer(0.1),
    "rms": lambda: gf.train.RMSPropOptimizer(0.01, momentum=0.5),
    "crms": lambda: gf.train.RMSPropOptimizer(0.01, momentum=0.5, centered=True),
}


def _linear_problem():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    return x, y, rng.standard_normal((3, 2)).astype(np.float32)


@pytest.mark.parametrize("use_resource", [True, False])
@pytest.mark.parametrize("key", sorted(OPTIMIZERS))
def test_five_steps_match_tensorflow(key, use_resource):
    want_w, want_b, want_names, want_train = TF_RESULTS[key]
    x, y, w0 = _linear_problem()
    g = gf.Graph()
    with g.as_default():
        w = gf.Variable(w0, name="w", use_resource=use_resource)
        b = gf.Variable(np.zeros(2, np.float32), name="b", use_resource=use_resource)
        loss = gf.losses.mean_squared_error(y, gf.matmul(x, w) + b)
        step = gf.train.get_or_create_global_step()
        train = OPTIMIZERS[key]().minimize(loss, global_step=step)
        assert sorted(v.op.name for v in gf.global_variables()) == want_names
        assert train.name == want_train
        init = gf.global_variables_initializer()
    with gf.Session(g) as sess:
        sess.run(init)
        for _ in range(5):
            sess.run(train)
        got_w, got_b, got_step = sess.run([w, b, step])
    np.testing.assert_allclose(got_w, want_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, want_b, rtol=1e-5, atol=1e-6)
    assert got_step == 5


def test_gradient_descent_on_a_quadratic_by_hand():
    # loss = sum((w - t) ** 2): grad = 2 (w - t), so w_k - t = (1 - 2 lr) ** k (w_0 - t)
    target = np.array([1.0, -2.0, 3.0], np.float32)
    w0 = np.zeros(3, np.float32)
    g = gf.Graph()
    with g.as_default():
        w = gf.Variable(w0, name="w")
        train = gf.train.GradientDescentOptimizer(0.1).minimize(gf.reduce_sum(
            gf.square(w - target)))
        init = gf.global_variables_initializer()
    with gf.Session(g) as sess:
        sess.run(init)
        for k in range(1, 4):
            sess.run(train)
            np.testing.assert_allclose(sess.run(w), target + 0.8 ** k * (w0 - target),
                                       rtol=1e-6)


def test_adam_by_hand_and_beta_powers_after_each_step():
    target = np.array([0.5, -1.0], np.float32)
    g = gf.Graph()
    with g.as_default():
        w = gf.Variable(np.zeros(2, np.float32), name="w")
        opt = gf.train.AdamOptimizer(0.1, beta1=0.8, beta2=0.9, epsilon=1e-6)
        train = opt.minimize(gf.reduce_sum(gf.square(w - target)))
        beta1_power, beta2_power = opt._beta_accumulators(g)
        m_slot, v_slot = opt.get_slot(w, "m"), opt.get_slot(w, "v")
        init = gf.global_variables_initializer()
    assert opt.get_slot_names() == ["m", "v"]
    assert (m_slot.op.name, v_slot.op.name) == ("w/Adam", "w/Adam_1")
    assert not m_slot.trainable and m_slot not in g.get_collection("trainable_variables")
    wv, m, v = np.zeros(2), np.zeros(2), np.zeros(2)
    with gf.Session(g) as sess:
        sess.run(init)
        for t in range(1, 4):
            sess.run(train)
            grad = 2 * (wv - target)
            m = 0.8 * m + 0.2 * grad
            v = 0.9 * v + 0.1 * grad * grad
            wv = wv - 0.1 * np.sqrt(1 - 0.9 ** t) / (1 - 0.8 ** t) * m / (np.sqrt(v) + 1e-6)
            np.testing.assert_allclose(sess.run(w), wv, rtol=1e-5)
            np.testing.assert_allclose(sess.run(m_slot), m, rtol=1e-5)
            np.testing.assert_allclose(sess.run([beta1_power, beta2_power]),
                                       [0.8 ** (t + 1), 0.9 ** (t + 1)], rtol=1e-6)


def _mlp(optimizer):
    """A 4-16-3 ReLU network on a fixed 3-class problem; the losses of 15 steps."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    g = gf.Graph()
    with g.as_default():
        gf.set_random_seed(3)
        inputs = gf.placeholder(gf.float32, [None, 4], name="x")
        w1 = gf.get_variable("w1", [4, 16], initializer=gf.glorot_uniform_initializer())
        b1 = gf.get_variable("b1", [16], initializer=gf.zeros_initializer())
        w2 = gf.get_variable("w2", [16, 3], initializer=gf.he_normal_initializer())
        hidden = gf.nn.relu(gf.nn.bias_add(gf.matmul(inputs, w1), b1))
        logits = gf.matmul(hidden, w2)
        loss = gf.losses.sparse_softmax_cross_entropy(labels, logits)
        train = optimizer.minimize(loss)
        init = gf.global_variables_initializer()
    with gf.Session(g) as sess:
        sess.run(init)
        return [sess.run([loss, train], {inputs: x})[0] for _ in range(15)]


@pytest.mark.parametrize("make", [
    lambda: gf.train.GradientDescentOptimizer(0.5),
    lambda: gf.train.MomentumOptimizer(0.1, 0.9),
    lambda: gf.train.AdamOptimizer(0.05),
    lambda: gf.train.AdagradOptimizer(0.5),
    lambda: gf.train.RMSPropOptimizer(0.2),
    lambda: gf.train.RMSPropOptimizer(0.05, momentum=0.9, centered=True),
], ids=["gd", "momentum", "adam", "adagrad", "rmsprop", "centered_rmsprop"])
def test_mlp_loss_falls(make):
    losses = _mlp(make())
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0]


def test_var_list_limits_what_is_updated():
    g = gf.Graph()
    with g.as_default():
        a = gf.Variable(np.ones(2, np.float32), name="a")
        b = gf.Variable(np.ones(2, np.float32), name="b")
        opt = gf.train.MomentumOptimizer(0.1, 0.5)
        train = opt.minimize(gf.reduce_sum(a * b), var_list=[a])
        init = gf.global_variables_initializer()
    assert opt.get_slot(a, "momentum") is not None and opt.get_slot(b, "momentum") is None
    with gf.Session(g) as sess:
        sess.run(init)
        sess.run(train)
        np.testing.assert_allclose(sess.run([a, b]), [[0.9, 0.9], [1.0, 1.0]], rtol=1e-6)


def test_apply_gradients_with_explicit_pairs_and_a_missing_gradient():
    g = gf.Graph()
    with g.as_default():
        a = gf.Variable(np.ones(2, np.float32), name="a")
        b = gf.Variable(np.ones(2, np.float32), name="b")
        opt = gf.train.GradientDescentOptimizer(1.0)
        pairs = opt.compute_gradients(gf.reduce_sum(a * 3.0), var_list=[a, b])
        assert pairs[1] == (None, b)
        train = opt.apply_gradients(pairs, name="step")
        init = gf.global_variables_initializer()
    assert train.name == "step"
    assert g.get_collection("train_op") == [train]
    with gf.Session(g) as sess:
        sess.run(init)
        sess.run(train)
        np.testing.assert_allclose(sess.run([a, b]), [[-2.0, -2.0], [1.0, 1.0]])


def test_global_step_is_one_int64_variable():
    g = gf.Graph()
    with g.as_default():
        step = gf.train.get_or_create_global_step()
        assert gf.train.get_or_create_global_step() is step
        assert gf.train.get_global_step() is step
        with pytest.raises(ValueError, match="already exists"):
            gf.train.create_global_step()
        assert step.dtype == gf.int64 and step.shape == () and not step.trainable
        init = gf.global_variables_initializer()
    with gf.Session(g) as sess:
        sess.run(init)
        assert sess.run(step) == 0


def test_errors():
    g = gf.Graph()
    with g.as_default():
        with pytest.raises(ValueError, match="No variables to optimize"):
            gf.train.GradientDescentOptimizer(0.1).minimize(gf.constant(1.0))
        a = gf.Variable(np.ones(2, np.float32), name="a")
        with pytest.raises(ValueError, match="No gradients provided for any variable"):
            gf.train.GradientDescentOptimizer(0.1).minimize(gf.constant(1.0), var_list=[a])
        with pytest.raises(ValueError, match="No variables provided"):
            gf.train.GradientDescentOptimizer(0.1).apply_gradients([])
        with pytest.raises(ValueError, match="expected a floating type"):
            gf.train.GradientDescentOptimizer(0.1).minimize(gf.constant(1), var_list=[a])
    with pytest.raises(ValueError, match="initial_accumulator_value must be positive"):
        gf.train.AdagradOptimizer(0.1, initial_accumulator_value=0.0)
