"""Reduction kernels against numpy references, TensorFlow's edge cases, and the TF fixture."""
from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gcc_flow as gf
import runtime
from schema.errors import ExecutionError, ValidationError

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures" / "tf"

# op -> (numpy reference over a tuple of axes with keepdims, input kind)
_REFERENCES = {
    "Sum": (lambda x, a, k: np.sum(x, axis=a, keepdims=k, dtype=x.dtype), "f"),
    "Prod": (lambda x, a, k: np.prod(x, axis=a, keepdims=k, dtype=x.dtype), "f"),
    "Max": (lambda x, a, k: np.max(x, axis=a, keepdims=k, initial=-np.inf), "f"),
    "Min": (lambda x, a, k: np.min(x, axis=a, keepdims=k, initial=np.inf), "f"),
    "Mean": (lambda x, a, k: np.mean(x, axis=a, keepdims=k), "f"),
    "All": (lambda x, a, k: np.all(x, axis=a, keepdims=k), "b"),
    "Any": (lambda x, a, k: np.any(x, axis=a, keepdims=k), "b"),
}


def _session(op_type: str, dtype, keep_dims: bool):
    """A session computing op_type(x, axis) with both x and axis fed (unknown shapes)."""
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(dtype, None, name="x")
        axis = gf.placeholder(gf.int32, [None], name="axis")
        gf.framework.apply_op(op_type, [x, axis], {"keep_dims": keep_dims}, name="out")
    return runtime.load(g.as_graph_def())


_SESSIONS = {(op, keep): _session(op, gf.bool if kind == "b" else gf.float32, keep)
             for op, (_, kind) in _REFERENCES.items() for keep in (False, True)}


@st.composite
def _case(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=4)))
    rank = len(shape)
    axes = draw(st.lists(st.integers(0, rank - 1), unique=True, max_size=rank)) if rank else []
    signed = [a - rank if draw(st.booleans()) else a for a in axes]
    return shape, axes, signed


@settings(max_examples=60, deadline=None)
@given(case=_case(), op=st.sampled_from(sorted(_REFERENCES)), keep=st.booleans(),
       seed=st.integers(0, 2**16))
def test_reductions_match_numpy(case, op, keep, seed):
    shape, axes, signed = case
    reference, kind = _REFERENCES[op]
    rng = np.random.default_rng(seed)
    x = rng.random(shape) > 0.5 if kind == "b" else rng.normal(size=shape).astype(np.float32)
    got = _SESSIONS[(op, keep)].run("out:0", {"x:0": x, "axis:0": np.array(signed, np.int32)})
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # numpy warns on the mean of an empty slice
        want = reference(x, tuple(axes), keep)
    assert got.dtype == x.dtype and got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(case=_case(), op=st.sampled_from(["ArgMax", "ArgMin"]), seed=st.integers(0, 2**16))
def test_arg_reductions_match_numpy(case, op, seed):
    shape, _, _ = case
    if not shape or 0 in shape:
        return
    axis = seed % len(shape) - (len(shape) if seed % 2 else 0)
    x = np.random.default_rng(seed).integers(-3, 3, size=shape).astype(np.int32)  # with ties
    g = gf.Graph()
    with g.as_default():
        fn = gf.argmax if op == "ArgMax" else gf.argmin
        out = fn(gf.constant(x), axis=axis, output_type=gf.int32)
    got = runtime.load(g.as_graph_def()).run(out.name)
    want = (np.argmax if op == "ArgMax" else np.argmin)(x, axis=axis)
    assert got.dtype == np.int32 and out.shape == want.shape
    np.testing.assert_array_equal(got, want)


def _run(op_type: str, x, axis, keep_dims=False, **attrs):
    g = gf.Graph()
    with g.as_default():
        axis_t = gf.placeholder(gf.int32 if np.asarray(axis).dtype != np.int64 else gf.int64,
                                np.shape(axis), name="axis")
        gf.framework.apply_op(op_type, [gf.constant(x), axis_t],
                              dict(attrs, **({} if op_type.startswith("Arg")
                                             else {"keep_dims": keep_dims})), name="out")
    return runtime.load(g.as_graph_def()).run("out:0", {"axis:0": np.asarray(axis)})


def test_empty_axis_list_is_identity():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for op in ("Sum", "Prod", "Max", "Min", "Mean"):
        np.testing.assert_array_equal(_run(op, x, np.zeros([0], np.int32)), x)


def test_empty_reductions_give_the_identity_of_the_reducer():
    empty = np.zeros((0, 2), np.float32)
    assert _run("Max", empty, 0).tolist() == [-np.inf, -np.inf]
    assert _run("Min", empty.astype(np.int32), 0).tolist() == [2**31 - 1] * 2
    assert _run("Sum", empty, 0).tolist() == [0, 0]
    assert _run("Prod", empty.astype(np.int32), 0).tolist() == [1, 1]
    assert np.isnan(_run("Mean", empty, 0)).all()
    assert _run("Mean", empty.astype(np.int32), 0).tolist() == [0, 0]  # TF gives 0, no error
    assert _run("All", empty.astype(bool), 0).tolist() == [True, True]
    assert _run("Any", empty.astype(bool), 0).tolist() == [False, False]


def test_integer_mean_truncates_and_does_not_overflow_like_tensorflow():
    # Values checked against TensorFlow 2.21's CPU kernels.
    assert _run("Mean", np.array([-7, 2], np.int8), 0) == -2
    assert _run("Mean", np.array([-1, -2], np.int32), 0) == -1
    assert _run("Mean", np.array([200, 200], np.uint8), 0) == 200
    assert _run("Mean", np.array([2**30] * 3, np.int32), 0) == 2**30
    assert _run("Sum", np.array([100, 100], np.int8), 0) == -56  # Sum wraps in its dtype


def test_axis_forms_scalar_vector_int64_matrix():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(_run("Sum", x, -1), x.sum(-1))
    np.testing.assert_array_equal(_run("Sum", x, np.array([0, 2], np.int64), keep_dims=True),
                                  x.sum((0, 2), keepdims=True))
    np.testing.assert_array_equal(_run("Sum", x, np.array([[0], [2]], np.int32)), x.sum((0, 2)))


def test_duplicate_axes_fail_when_run_naming_the_node():
    with pytest.raises(ExecutionError, match=r"'out'.*duplicate dimension: 1"):
        _run("Sum", np.ones((2, 3), np.float32), np.array([1, -1], np.int32))


def test_axis_out_of_range_fails_naming_the_node():
    with pytest.raises(ExecutionError, match=r"'out'.*Invalid reduction dimension \(2 for input "
                                             r"with 2"):
        _run("Max", np.ones((2, 3), np.float32), 2)
    with pytest.raises(ExecutionError, match="'out'.*0 for input with 0"):
        _run("Sum", np.float32(3), 0)
    g = gf.Graph()
    with g.as_default(), pytest.raises(ValidationError, match=r"'bad'.*Invalid reduction"):
        gf.reduce_sum(gf.constant(np.ones((2, 3), np.float32)), axis=-3, name="bad")


def test_argmax_errors_and_nan_rules_of_tensorflow():
    nan, inf = np.nan, np.inf
    cases = {  # TF 2.21 results: NaN never wins; (0, lowest) is the start value
        (1., nan, 2.): (2, 0), (nan, nan): (0, 0), (nan, -inf): (0, 1), (3., nan, 3.): (0, 0),
        (nan, 5., nan, 5.): (1, 1), (-inf, -inf): (0, 0),
    }
    for values, (want_max, want_min) in cases.items():
        x = np.array(values, np.float32)
        assert _run("ArgMax", x, 0) == want_max, values
        assert _run("ArgMin", x, 0) == want_min, values
    assert _run("ArgMax", np.array([[1, 5, 2], [7, 0, 1]], np.float32), -1).tolist() == [1, 0]
    assert _run("ArgMax", np.zeros((2, 3), np.float32), 0).dtype == np.int64  # default type
    with pytest.raises(ExecutionError, match=r"'out'.*Reduction axis 0 is empty"):
        _run("ArgMax", np.zeros((0, 3), np.float32), 0)
    with pytest.raises(ExecutionError, match=r"'out'.*dim must be a scalar"):
        _run("ArgMin", np.zeros((2, 3), np.float32), np.array([1], np.int32))
    with pytest.raises(ExecutionError, match=r"'out'.*range \[-2, 2\), but got 2"):
        _run("ArgMax", np.zeros((2, 3), np.float32), 2)


def test_max_min_propagate_nan():
    x = np.array([[1, np.nan, 2], [np.nan, 1, 2]], np.float32)
    assert np.isnan(_run("Max", x, 1)).all()
    got = _run("Min", x, 0)
    assert np.isnan(got[:2]).all() and got[2] == 2


def test_static_shapes_follow_constant_axes():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 4, 5])
        assert gf.reduce_sum(x, axis=[0, -1]).shape == (4,)
        assert gf.reduce_max(x, axis=1, keepdims=True).shape == (None, 1, 5)
        assert gf.reduce_mean(x).shape == ()
        assert gf.reduce_any(gf.placeholder(gf.bool, None), axis=0).shape is None
        assert gf.argmin(x, axis=-1).shape == (None, 4)
        assert gf.reduce_sum(x, axis=gf.placeholder(gf.int32, [])).shape == (None, None)
        assert gf.reduce_sum(x, axis=gf.placeholder(gf.int32, [2]), keepdims=True).shape == \
            (None, None, None)


def test_tf_fixture_reductions():
    manifest = json.loads((FIXTURES / "manifest.json").read_text())["reductions"]
    data = np.load(FIXTURES / "reductions.npz")
    sess = runtime.load(FIXTURES / "reductions.pb")
    names = list(manifest["fetches"])
    outs = sess.run(names, {t: data[k] for t, k in manifest["feeds"].items()})
    for name, got in zip(names, outs):
        want = data[manifest["fetches"][name]]
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert sess.graph.nodes[name[:-2]].out_shapes[0] == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
