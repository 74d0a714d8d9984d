"""Frontend random ops: TensorFlow's seed rules, reproducibility, scaling, stateless ops,
dropout statistics, initializers and gf.get_variable."""
from __future__ import annotations

import math

import numpy as np
import pytest

import gcc_flow as gf
from gcc_flow import random_ops


@pytest.fixture(autouse=True)
def fresh_graph():
    g = gf.Graph()
    with g.as_default():
        yield g


def _run(fetches, feeds=None):
    with gf.Session() as sess:
        return sess.run(fetches, feeds or {})


def _last_seeds() -> tuple:
    """(seed, seed2) of the random op created last in the default graph."""
    random_ops_made = [op for op in gf.get_default_graph().get_operations()
                       if op.type in ("RandomUniform", "RandomStandardNormal")]
    return random_ops_made[-1].get_attr("seed"), random_ops_made[-1].get_attr("seed2")


def test_get_seed_follows_tensorflow():
    assert gf.get_seed(None) == (None, None)
    assert gf.get_seed(5) == (87654321, 5)
    gf.set_random_seed(0)
    assert gf.get_seed(0) == (0, 2 ** 31 - 1)              # (0, 0) would mean "random"
    gf.set_random_seed(42)
    assert gf.get_seed(7) == (42, 7)
    graph_only = gf.get_seed(None)
    assert graph_only[0] == 42 and graph_only[1] == len(gf.get_default_graph().ir.nodes)
    assert gf.get_seed(2 ** 31 + 3) == (42, 4)              # truncated modulo 2**31 - 1


def test_op_attrs_carry_the_seeds():
    gf.random_uniform([2])
    assert _last_seeds() == (0, 0)
    gf.random_normal([2], seed=3)
    assert _last_seeds() == (87654321, 3)


def _sample_twice(seed_graph, make):
    values = []
    for _ in range(2):
        g = gf.Graph()
        with g.as_default():
            if seed_graph is not None:
                gf.set_random_seed(seed_graph)
            tensor = make()
            with gf.Session(g) as sess:
                values.append(sess.run(tensor))
    return values


def test_graph_seed_makes_rebuilt_graphs_reproducible():
    first, second = _sample_twice(7, lambda: gf.random_normal([6]))
    np.testing.assert_array_equal(first, second)
    a, b = _sample_twice(None, lambda: gf.random_normal([6]))
    assert not np.array_equal(a, b)
    a, b = _sample_twice(None, lambda: gf.random_uniform([6], seed=11))
    np.testing.assert_array_equal(a, b)


def test_two_unseeded_ops_under_a_graph_seed_differ():
    gf.set_random_seed(1)
    a, b = gf.random_uniform([8]), gf.random_uniform([8])
    va, vb = _run([a, b])
    assert not np.array_equal(va, vb)


def test_random_uniform_scaling_names_and_ints():
    u = gf.random_uniform([4000], -2.0, 3.0, seed=1)
    assert u.op.name == "random_uniform" and u.shape == (4000,)
    names = {op.name for op in gf.get_default_graph().get_operations()}
    assert {"random_uniform/RandomUniform", "random_uniform/min", "random_uniform/max"} <= names
    ints = gf.random_uniform([4000], 5, 9, dtype=gf.int64, seed=1, name="dice")
    assert ints.op.type == "RandomUniformInt" and ints.op.name == "dice"
    unit = gf.random_uniform([3], seed=1)
    assert unit.op.type == "RandomUniform"                  # [0, 1): no scaling ops
    vu, vi = _run([u, ints])
    assert vu.min() >= -2 and vu.max() < 3 and abs(vu.mean() - 0.5) < 0.1
    assert vi.dtype == np.int64 and set(np.unique(vi)) == {5, 6, 7, 8}
    with pytest.raises(ValueError, match="Must specify maxval for integer dtype"):
        gf.random_uniform([2], dtype=gf.int32)


def test_normal_and_truncated_normal_scaling():
    n = gf.random_normal([20000], mean=3.0, stddev=2.0, seed=2)
    t = gf.truncated_normal([20000], mean=-1.0, stddev=0.5, seed=2, dtype=gf.float64)
    assert n.op.name == "random_normal" and t.op.name == "truncated_normal"
    vn, vt = _run([n, t])
    assert abs(vn.mean() - 3) < 0.05 and abs(vn.std() - 2) < 0.05
    assert vt.dtype == np.float64 and vt.min() >= -2.0 and vt.max() <= 0.0


def test_shape_can_be_a_tensor_or_empty():
    shape = gf.placeholder(gf.int32, [2])
    n = gf.random_normal(shape, seed=1)
    scalar = gf.random_uniform([], seed=1)
    assert scalar.shape == ()
    assert _run(n, {shape: np.array([3, 5], np.int32)}).shape == (3, 5)
    assert _run(scalar).shape == ()


def test_random_shuffle_permutes_rows():
    value = np.arange(12).reshape(6, 2)
    out = _run(gf.random.shuffle(value, seed=4))
    np.testing.assert_array_equal(np.sort(out[:, 0]), value[:, 0])
    np.testing.assert_array_equal(out[:, 1], out[:, 0] + 1)


def test_stateless_ops_depend_only_on_shape_and_seed():
    a = gf.random.stateless_uniform([5], seed=[1, 2], minval=2.0, maxval=4.0)
    b = gf.random.stateless_uniform([5], seed=[1, 2], minval=2.0, maxval=4.0)
    c = gf.random.stateless_normal([5], seed=[1, 3])
    d = gf.random.stateless_uniform([5], seed=[1, 2], minval=0, maxval=10, dtype=gf.int32)
    va, vb, vc, vd = _run([a, b, c, d])
    np.testing.assert_array_equal(va, vb)
    assert va.min() >= 2 and va.max() < 4 and vd.dtype == np.int32 and vd.max() < 10
    np.testing.assert_array_equal(_run(c), vc)               # a second Session, same values
    t = _run(gf.random.stateless_truncated_normal([1000], seed=[5, 5], stddev=3.0))
    assert np.abs(t).max() <= 6.0


# -- dropout --------------------------------------------------------------------------------------

def test_dropout_statistics_and_scaling():
    x = np.ones((200, 100), np.float32)
    out = _run(random_ops.dropout(x, rate=0.3, seed=1))
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)
    assert abs(out.mean() - 1.0) < 0.03                     # expectation is preserved


def test_dropout_keep_prob_noise_shape_and_rate_tensor():
    x = np.ones((50, 40), np.float32)
    by_column = _run(random_ops.dropout(x, keep_prob=0.5, noise_shape=[1, 40], seed=2))
    assert np.all(by_column == by_column[0])                # whole columns kept or dropped
    assert set(np.unique(by_column)) == {0.0, 2.0}
    rate = gf.placeholder(gf.float32, [])
    out = _run(random_ops.dropout(x, rate=rate, seed=3), {rate: 0.75})
    np.testing.assert_allclose(np.unique(out), [0.0, 4.0])
    assert abs((out != 0).mean() - 0.25) < 0.05


def test_dropout_rate_zero_is_identity_and_errors():
    x = gf.constant(np.ones(3, np.float32))
    assert random_ops.dropout(x, rate=0.0) is x
    with pytest.raises(ValueError, match=r"must be a scalar tensor or a float in the range"):
        random_ops.dropout(x, rate=1.0)
    with pytest.raises(ValueError, match="floating point tensor"):
        random_ops.dropout(gf.constant([1, 2]), rate=0.5)
    with pytest.raises(ValueError, match="Cannot specify both keep_prob and rate"):
        random_ops.dropout(x, rate=0.5, keep_prob=0.5)


def test_dropout_gradient_is_the_mask_scaled():
    x = gf.constant(np.ones((20, 20), np.float32))
    y = random_ops.dropout(x, rate=0.5, seed=4)
    out, (grad,) = _run([y, gf.gradients(gf.reduce_sum(y), [x])])
    np.testing.assert_allclose(grad, out)                   # x is ones: dy/dx is y itself


# -- initializers and get_variable ----------------------------------------------------------------

def test_constant_initializers():
    zeros = gf.zeros_initializer()([2, 3])
    ones = gf.ones_initializer()([2], gf.int64)
    const = gf.constant_initializer(7.5)([2, 2])
    from_list = gf.constant_initializer([1, 2, 3, 4])([2, 2], gf.int32)
    vz, vo, vc, vl = _run([zeros, ones, const, from_list])
    np.testing.assert_array_equal(vz, np.zeros((2, 3), np.float32))
    assert vo.dtype == np.int64 and vo.tolist() == [1, 1]
    np.testing.assert_array_equal(vc, np.full((2, 2), 7.5, np.float32))
    np.testing.assert_array_equal(vl, [[1, 2], [3, 4]])


def test_variance_scaling_initializers():
    fan_in, fan_out = 300, 200
    glorot = _run(gf.glorot_uniform_initializer(seed=1)([fan_in, fan_out]))
    limit = math.sqrt(6 / (fan_in + fan_out))
    assert glorot.min() >= -limit and glorot.max() < limit
    assert abs(glorot.std() - limit / math.sqrt(3)) < 0.005
    he = _run(gf.he_normal_initializer(seed=1)([fan_in, fan_out]))
    assert abs(he.std() - math.sqrt(2 / fan_in)) < 0.005
    assert np.abs(he).max() <= 2 * math.sqrt(2 / fan_in) / 0.87962566103423978 + 1e-6
    conv = _run(gf.variance_scaling_initializer(mode="fan_out", distribution="uniform",
                                                seed=1)([3, 3, 8, 16]))
    assert np.abs(conv).max() < math.sqrt(3 / (3 * 3 * 16))
    normal = _run(gf.random_normal_initializer(1.0, 0.1, seed=1)([5000]))
    assert abs(normal.mean() - 1) < 0.01
    with pytest.raises(TypeError, match="needs a floating dtype"):
        gf.truncated_normal_initializer()([2], gf.int32)
    with pytest.raises(ValueError, match="Invalid `mode`"):
        gf.variance_scaling_initializer(mode="fan_sideways")


def test_variable_from_an_initializer():
    w = gf.Variable(gf.truncated_normal_initializer(stddev=0.1, seed=1), shape=[4, 3], name="w")
    assert w.shape == (4, 3) and w.dtype == gf.float32
    assert w.initial_value.op.name == "w/Initializer/truncated_normal"
    with pytest.raises(ValueError, match="fully defined shape"):
        gf.Variable(gf.zeros_initializer(), name="v")
    with gf.Session() as sess:
        sess.run(w.initializer)
        assert np.abs(sess.run(w)).max() <= 0.2


def test_get_variable():
    with gf.name_scope("ignored"):
        w = gf.get_variable("w", [10, 20])
    assert w.op.name == "w"                                  # name scopes do not apply
    assert w.initial_value.op.name == "w/Initializer/random_uniform"
    b = gf.get_variable("b", initializer=np.arange(3, dtype=np.float32))
    step = gf.get_variable("step", [], dtype=gf.int64, trainable=False)
    assert gf.get_variable("w", reuse=True) is w
    assert gf.get_variable("w", reuse=gf.AUTO_REUSE) is w
    assert gf.get_variable("fresh", [2], reuse=gf.AUTO_REUSE).op.name == "fresh"
    with pytest.raises(ValueError, match="Variable w already exists"):
        gf.get_variable("w", [10, 20])
    with pytest.raises(ValueError, match="does not exist"):
        gf.get_variable("nope", [1], reuse=True)
    with pytest.raises(ValueError, match="do not specify shape"):
        gf.get_variable("c", [3], initializer=np.zeros(3, np.float32))
    assert step not in gf.trainable_variables()
    with gf.Session() as sess:
        sess.run(gf.global_variables_initializer())
        vw, vb, vs = sess.run([w, b, step])
    limit = math.sqrt(6 / 30)
    assert np.abs(vw).max() < limit and vw.std() > limit / 3
    np.testing.assert_array_equal(vb, [0, 1, 2])
    assert vs == 0 and vs.dtype == np.int64
