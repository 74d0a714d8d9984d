"""Session.run semantics: fetch and feed forms, pruning, plan reuse, typed errors."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import gcc_flow as gf
import runtime
from schema.errors import ExecutionError, FeedError, FetchError


@pytest.fixture
def graph():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 3], name="x")
        y = gf.tanh(x * 2.0, name="y")
        gf.exp(x, name="z")
        gf.placeholder(gf.float32, [2], name="unfed")
        with gf.control_dependencies([y]):
            gf.no_op(name="after_y") if hasattr(gf, "no_op") else None
    return g


@pytest.fixture
def sess(graph):
    return runtime.load(graph.as_graph_def())


def test_fetch_forms_return_the_same_values(sess):
    x = np.arange(6, dtype=np.float32).reshape(2, 3) / 10
    expected = np.tanh(x * 2)
    for fetch in ("y:0", "y"):
        np.testing.assert_allclose(sess.run(fetch, {"x:0": x}), expected, rtol=1e-6)
    as_list = sess.run(["y:0", "z:0"], {"x": x})
    assert isinstance(as_list, list) and len(as_list) == 2
    np.testing.assert_allclose(as_list[1], np.exp(x), rtol=1e-6)
    nested = sess.run({"a": ("y:0", ["z:0"])}, {"x:0": x})
    assert isinstance(nested["a"], tuple) and isinstance(nested["a"][1], list)
    np.testing.assert_allclose(nested["a"][1][0], np.exp(x), rtol=1e-6)


def test_target_returns_none_and_runs(sess):
    if "after_y" not in sess.graph.nodes:
        pytest.skip("gf.no_op not available")
    assert sess.run("after_y", {"x:0": np.zeros((1, 3), np.float32)}) is None


def test_only_needed_nodes_run(sess):
    # 'unfed' is a placeholder nobody feeds: fetching y must not need it.
    out = sess.run("y:0", {"x:0": np.zeros((1, 3), np.float32)})
    assert out.shape == (1, 3)


def test_any_tensor_can_be_fed(sess):
    # Feeding the Mul output bypasses x entirely.
    mul = [n for n in sess.graph.nodes if sess.graph.nodes[n].op == "Mul"][0]
    out = sess.run("y:0", {f"{mul}:0": np.full((2, 3), 0.5, np.float32)})
    np.testing.assert_allclose(out, np.tanh(np.full((2, 3), 0.5)), rtol=1e-6)


def test_plans_are_compiled_once_per_signature(sess):
    x = np.ones((1, 3), np.float32)
    sess.run("y:0", {"x:0": x})
    sess.run("y:0", {"x:0": x * 2})
    sess.run(["y:0"], {"x:0": x})
    assert len(sess._plans) == 2


def test_fetched_arrays_are_copies(graph):
    g = gf.Graph()
    with g.as_default():
        gf.constant([1.0, 2.0], name="c")
    sess = runtime.load(g.as_graph_def())
    first = sess.run("c:0")
    first[0] = 99
    assert sess.run("c:0")[0] == 1.0


def test_feed_errors_are_typed_and_named(sess):
    with pytest.raises(FeedError, match="x:0: expected float32.*<U1"):
        sess.run("y:0", {"x:0": np.array([["a", "b", "c"]])})
    with pytest.raises(FeedError, match=r"x:0.*shape \['\?', 3\].*\[2, 4\]"):
        sess.run("y:0", {"x:0": np.ones((2, 4), np.float32)})
    with pytest.raises(FeedError, match="nope"):
        sess.run("y:0", {"nope:0": np.ones((1, 3), np.float32)})
    with pytest.raises(FeedError, match="must be fed"):
        sess.run("y:0")


def test_float_feed_into_an_int_placeholder_is_refused():
    g = gf.Graph()
    with g.as_default():
        gf.negative(gf.placeholder(gf.int32, [2], name="i"), name="n")
    sess = runtime.load(g.as_graph_def())
    with pytest.raises(FeedError, match="i:0: expected int32, got an array of float32"):
        sess.run("n:0", {"i:0": np.array([1.5, 2.0], np.float32)})
    np.testing.assert_array_equal(sess.run("n:0", {"i:0": [1, 2]}), [-1, -2])


def test_float64_and_python_lists_are_converted(sess):
    out = sess.run("y:0", {"x:0": [[0.0, 0.5, 1.0]]})
    assert out.dtype == np.float32
    out64 = sess.run("y:0", {"x:0": np.array([[0.0, 0.5, 1.0]])})
    np.testing.assert_array_equal(out, out64)


def test_byte_swapped_and_strided_feeds(sess):
    x = np.arange(12, dtype=">f4").reshape(2, 6)[:, ::2]
    out = sess.run("y:0", {"x:0": x})
    np.testing.assert_allclose(out, np.tanh(x.astype(np.float32) * 2), rtol=1e-6)


def test_fetch_errors(sess):
    with pytest.raises(FetchError, match="no node named 'nope'"):
        sess.run("nope:0")
    with pytest.raises(FetchError, match="has 1 outputs"):
        sess.run("y:3")
    with pytest.raises(FetchError, match="port"):
        sess.run("y:abc")


def test_kernel_failure_names_node_op_shapes_and_device():
    g = gf.Graph()
    with g.as_default():
        a = gf.placeholder(gf.int32, [None], name="a")
        b = gf.placeholder(gf.int32, [None], name="b")
        gf.floordiv(a, b, name="q")
    sess = runtime.load(g.as_graph_def())
    with pytest.raises(ExecutionError) as info:
        sess.run("q:0", {"a:0": np.array([1, 2], np.int32), "b:0": np.array([1, 0], np.int32)})
    message = str(info.value)
    for fragment in ("'q'", "FloorDiv", "/device:CPU:0", "int32[2]", "division by zero"):
        assert fragment in message


def test_session_is_safe_from_several_threads(sess):
    errors, outputs = [], {}

    def work(i):
        try:
            x = np.full((1, 3), i / 10, np.float32)
            outputs[i] = (sess.run("y:0", {"x:0": x}), np.tanh(x * 2))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got, want in outputs.values():
        np.testing.assert_allclose(got, want, rtol=1e-6)
