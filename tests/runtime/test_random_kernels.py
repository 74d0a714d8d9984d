"""Random kernels: seed semantics (per-node streams, Session reproducibility, stateless purity),
distributions, shape validation and the byte budget."""
from __future__ import annotations

import numpy as np
import pytest

import runtime
from schema.dtypes import DType
from schema.errors import ExecutionError, LimitExceeded, ValidationError
from schema.ir import Graph
from schema.registry import get_op

FLOATS = [DType.HALF, DType.BFLOAT16, DType.FLOAT, DType.DOUBLE]


def _const(g: Graph, name: str, value):
    arr = np.asarray(value)
    return g.add_node("Const", name, attrs={"value": arr, "dtype": DType.from_numpy(arr.dtype)}
                      ).output(0)


def _sampler(op: str, shape, inputs=(), **attrs) -> Graph:
    """A graph with node "out" = op(Const shape, *inputs)."""
    g = Graph()
    refs = [_const(g, "shape", np.array(shape, np.int32))]
    refs += [_const(g, f"in{i}", v) for i, v in enumerate(inputs)]
    g.add_node(op, "out", refs, attrs)
    return g


def _run(g: Graph, times: int = 1):
    sess = runtime.load(g)
    return [sess.run("out:0") for _ in range(times)]


def test_every_random_op_is_declared_random_and_stateful():
    for name in ["RandomUniform", "RandomStandardNormal", "TruncatedNormal", "RandomUniformInt",
                 "RandomShuffle", "StatelessRandomUniform", "StatelessRandomNormal",
                 "StatelessTruncatedNormal", "StatelessRandomUniformInt"]:
        op_def = get_op(name)
        assert op_def.is_random and op_def.is_stateful, name


def test_seeded_stream_advances_per_run_and_repeats_across_sessions():
    g = _sampler("RandomUniform", [5], dtype=DType.FLOAT, seed=3, seed2=9)
    first, second = _run(g, 2)
    assert not np.array_equal(first, second)           # each run advances the stream
    again = _run(g, 2)
    np.testing.assert_array_equal(again[0], first)     # a new Session replays the same stream
    np.testing.assert_array_equal(again[1], second)


def test_different_seed2_gives_a_different_stream():
    a = _run(_sampler("RandomUniform", [8], dtype=DType.FLOAT, seed=3, seed2=9))[0]
    b = _run(_sampler("RandomUniform", [8], dtype=DType.FLOAT, seed=3, seed2=10))[0]
    assert not np.array_equal(a, b)


def test_unseeded_op_differs_between_sessions():
    g = _sampler("RandomStandardNormal", [16], dtype=DType.FLOAT)
    assert not np.array_equal(_run(g)[0], _run(g)[0])


@pytest.mark.parametrize("dtype", FLOATS)
def test_uniform_is_in_unit_interval_with_the_right_dtype(dtype):
    out = _run(_sampler("RandomUniform", [100, 100], dtype=dtype, seed=1))[0]
    assert out.dtype == dtype.np and out.shape == (100, 100)
    values = out.astype(np.float64)
    assert values.min() >= 0.0 and values.max() < 1.0
    assert abs(values.mean() - 0.5) < 0.02
    assert abs(values.var() - 1 / 12) < 0.01


@pytest.mark.parametrize("dtype", [DType.FLOAT, DType.DOUBLE])
def test_normal_and_truncated_normal_moments(dtype):
    normal = _run(_sampler("RandomStandardNormal", [40000], dtype=dtype, seed=5))[0]
    assert normal.dtype == dtype.np
    assert abs(normal.mean()) < 0.03 and abs(normal.std() - 1) < 0.03
    assert np.abs(normal).max() > 2.5                  # the tails are there
    truncated = _run(_sampler("TruncatedNormal", [40000], dtype=dtype, seed=5))[0]
    assert np.abs(truncated).max() <= 2.0
    # the standard deviation of a unit normal truncated to [-2, 2]
    assert abs(truncated.std() - 0.87962566) < 0.02


def test_uniform_int_range_and_errors():
    out = _run(_sampler("RandomUniformInt", [2000], [np.int64(-3), np.int64(4)],
                        Tout=DType.INT64, seed=2))[0]
    assert out.dtype == np.int64
    assert set(np.unique(out)) == set(range(-3, 4))
    with pytest.raises(ExecutionError, match=r"Need minval < maxval: 4 >= 4"):
        _run(_sampler("RandomUniformInt", [3], [np.int32(4), np.int32(4)], Tout=DType.INT32))
    # no samples: an empty range is accepted, as in TensorFlow
    empty = _run(_sampler("RandomUniformInt", [0, 3], [np.int32(4), np.int32(4)],
                          Tout=DType.INT32))[0]
    assert empty.shape == (0, 3) and empty.dtype == np.int32


def test_uniform_int_bounds_must_be_scalars():
    with pytest.raises(ValidationError, match="minval must be 0-D"):
        _sampler("RandomUniformInt", [3], [np.array([0, 1], np.int32), np.int32(4)],
                 Tout=DType.INT32)


def test_shuffle_permutes_rows():
    g = Graph()
    value = np.arange(20, dtype=np.float32).reshape(10, 2)
    g.add_node("RandomShuffle", "out", [_const(g, "v", value)], {"seed": 4, "T": DType.FLOAT})
    first, second = _run(g, 2)
    assert first.shape == (10, 2)
    np.testing.assert_array_equal(np.sort(first[:, 0]), value[:, 0])
    np.testing.assert_array_equal(first[:, 1], first[:, 0] + 1)      # rows stay whole
    assert not np.array_equal(first, second)


def _stateless(op: str, seed, shape=(6,), extra=(), **attrs) -> Graph:
    g = Graph()
    refs = [_const(g, "shape", np.array(shape, np.int32)), _const(g, "seed", seed)]
    refs += [_const(g, f"in{i}", v) for i, v in enumerate(extra)]
    g.add_node(op, "out", refs, attrs)
    return g


@pytest.mark.parametrize("op", ["StatelessRandomUniform", "StatelessRandomNormal",
                                "StatelessTruncatedNormal"])
def test_stateless_is_a_pure_function_of_shape_and_seed(op):
    seed = np.array([7, 11], np.int64)
    runs = _run(_stateless(op, seed), 3) + _run(_stateless(op, seed))
    for other in runs[1:]:
        np.testing.assert_array_equal(other, runs[0])
    other_seed = _run(_stateless(op, np.array([7, 12], np.int64)))[0]
    assert not np.array_equal(other_seed, runs[0])
    int32_seed = _run(_stateless(op, np.array([7, 11], np.int32)))[0]
    np.testing.assert_array_equal(int32_seed, runs[0])


def test_stateless_uniform_int():
    g = _stateless("StatelessRandomUniformInt", np.array([1, 2], np.int64), shape=(500,),
                   extra=[np.int32(10), np.int32(20)], dtype=DType.INT32)
    a, b = _run(g, 2)
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 10 and a.max() < 20 and len(np.unique(a)) == 10


def test_stateless_seed_must_have_shape_2():
    with pytest.raises(ValidationError, match=r"seed must have shape \[2\], not \[3\]"):
        _stateless("StatelessRandomUniform", np.array([1, 2, 3], np.int64))


def test_static_shape_inference_and_bad_shapes():
    g = _sampler("RandomUniform", [2, 3], dtype=DType.FLOAT)
    assert g.nodes["out"].out_shapes == [(2, 3)]
    with pytest.raises(ValidationError, match="Dimension -1 must be >= 0"):
        _sampler("RandomUniform", [2, -1], dtype=DType.FLOAT)
    g = Graph()
    _const(g, "shape", np.array([[2, 3]], np.int32))
    with pytest.raises(ValidationError, match="shape must be a vector"):
        g.add_node("RandomUniform", "out", [g.nodes["shape"].output(0)], {"dtype": DType.FLOAT})


def test_fed_shape_is_checked_at_run_time_and_against_the_byte_budget():
    g = Graph()
    shape = g.add_node("Placeholder", "shape", attrs={"dtype": DType.INT64, "shape": (None,)})
    g.add_node("RandomStandardNormal", "out", [shape.output(0)], {"dtype": DType.FLOAT})
    sess = runtime.load(g)
    assert sess.run("out:0", {"shape:0": np.array([3, 2])}).shape == (3, 2)
    assert sess.run("out:0", {"shape:0": np.zeros(0, np.int64)}).shape == ()
    with pytest.raises(ExecutionError, match="Dimension -2 must be >= 0"):
        sess.run("out:0", {"shape:0": np.array([3, -2])})
    with pytest.raises(LimitExceeded, match="max_tensor_bytes"):
        sess.run("out:0", {"shape:0": np.array([2 ** 40, 2 ** 10])})
