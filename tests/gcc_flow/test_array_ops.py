"""The array frontend: TensorFlow's function names, the ops and attrs they create, static shapes,
build-time errors for malformed constants, values against numpy, and Python slicing."""
from __future__ import annotations

import numpy as np
import pytest

import gcc_flow as gf
from schema.errors import ValidationError
from tests.conftest import run_graph

X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


@pytest.fixture
def g():
    graph = gf.Graph()
    with graph.as_default():
        yield graph


def const_input(op, index: int):
    return op.inputs[index].op.get_attr("value").tolist()


def test_reshape_transpose_squeeze_expand_shapes_and_values(g):
    x = gf.constant(X)
    r = gf.reshape(x, [-1, 6])
    t = gf.transpose(x)
    tp = gf.transpose(x, [1, 0, 2])
    e = gf.expand_dims(x, -1)
    s = gf.squeeze(gf.reshape(x, [1, 2, 1, 12]), axis=[0, 2])
    assert (r.shape, t.shape, tp.shape, e.shape, s.shape) == \
        ((4, 6), (4, 3, 2), (3, 2, 4), (2, 3, 4, 1), (2, 12))
    assert const_input(t.op, 1) == [2, 1, 0]
    outs = run_graph(g, [r, t, tp, e, s])
    for got, want in zip(outs, [X.reshape(4, 6), X.T, X.transpose(1, 0, 2), X[..., None],
                                X.reshape(2, 12)]):
        np.testing.assert_array_equal(got, want)


def test_shapes_flow_through_unknown_dims(g):
    p = gf.placeholder(gf.float32, [None, 6])
    assert gf.reshape(p, [-1, 3]).shape == (None, 3)
    assert gf.reshape(p, [2, 3, -1]).shape == (2, 3, None)
    assert gf.concat([p, p], 0).shape == (None, 6)
    assert gf.concat([p, gf.placeholder(gf.float32, [2, None])], 0).shape == (None, 6)
    assert gf.gather(p, [0, 1, 1], axis=1).shape == (None, 3)
    assert gf.where(p > 0).shape == (None, 2)
    assert gf.transpose(gf.placeholder(gf.float32)).shape is None
    assert gf.reshape(p, gf.placeholder(gf.int32, [3])).shape == (None, None, None)
    assert gf.stack([p, p], axis=1).shape == (None, 2, 6)
    assert [t.shape for t in gf.split(p, [2, -1], axis=1)] == [(None, 2), (None, 4)]


def test_shape_tensors_known_in_part_give_partial_shapes(g):
    p = gf.placeholder(gf.float32, [None, 3])
    n = gf.placeholder(gf.int32, [])
    assert gf.fill(gf.shape(p), 1.0).shape == (None, 3)
    assert gf.broadcast_to(1.0, gf.shape(p)).shape == (None, 3)
    assert gf.reshape(gf.constant(X), [n, 6]).shape == (4, 6)  # the one free dim is solved
    assert gf.reshape(p, [n, -1]).shape == (None, None)
    assert gf.zeros([n, 2]).shape == (None, 2)
    outs = run_graph(g, [gf.reshape(p, [n, -1]), gf.zeros([n, 2])],
                     {p.name: np.ones((4, 3), np.float32), n.name: np.int32(2)})
    assert outs[0].shape == (2, 6) and outs[1].shape == (2, 2)


@pytest.mark.parametrize("build, message", [
    (lambda x: gf.reshape(x, [5, 5]), "24 values, but the requested shape has 25"),
    (lambda x: gf.transpose(x, [0, 0, 1]), "2 is missing from"),
    (lambda x: gf.concat([x, x], 3), "out of range"),
    (lambda x: gf.concat([x, x[:, :2]], 2), "Dimension 1 in both shapes must be equal"),
    (lambda x: gf.split(x, 2, axis=1), "evenly divide"),
    (lambda x: gf.squeeze(x, [1]), "expected a dimension of 1, got 3"),
    (lambda x: gf.expand_dims(x, 4), "expand dim index 4"),
    (lambda x: gf.pad(x, [[0, 1], [-1, 0], [0, 0]]), "Paddings must be non-negative"),
    (lambda x: gf.pad(x, [[0, 3], [0, 0], [0, 0]], "REFLECT"), "not less than 2"),
    (lambda x: gf.tile(x, [1, -1, 1]), r"multiples\[1\] >= 0"),
    (lambda x: gf.gather(x, [0], axis=3), "axis in the range"),
    (lambda x: gf.gather_nd(x, [[0, 1, 2, 3]]), "innermost dimension length"),
    (lambda x: gf.slice(x, [0, 1, 1], [1, 3, 1]), r"size\[1\] in \[0, 2\]"),
    (lambda x: gf.stack([x, x], axis=4), "not in"),
    (lambda x: gf.unstack(x, num=4, axis=1), "must equal 4"),
    (lambda x: gf.broadcast_to(x, [3, 4]), "Rank of input"),
    (lambda x: gf.one_hot([0, 1], 3, axis=2), "between"),
    (lambda x: gf.fill([2, -1], 1.0), "Dimension -1 must be >= 0"),
    (lambda x: gf.range(0, 5, 0), "delta != 0"),
    (lambda x: x[7], "slice index 7 of dimension 0 out of bounds"),
    (lambda x: x[::0], "must be non-zero"),
    (lambda x: x[0, 0, 0, 0], "Index out of range"),
    (lambda x: gf.ensure_shape(x, [2, 3]), "not compatible with expected shape"),
])
def test_malformed_constants_fail_at_build_time(g, build, message):
    with pytest.raises(ValidationError, match=message):
        build(gf.constant(X))


def test_pad_modes_pick_the_op(g):
    x = gf.constant(X)
    ops = [gf.pad(x, [[1, 0], [0, 1], [2, 2]], mode=m, constant_values=c).op.type
           for m, c in (("CONSTANT", 0), ("constant", 3.5), ("REFLECT", 0), ("symmetric", 0))]
    assert ops == ["Pad", "PadV2", "MirrorPad", "MirrorPad"]
    out = run_graph(g, gf.pad(x, [[1, 0], [0, 1], [2, 2]], constant_values=3.5))
    np.testing.assert_array_equal(out, np.pad(X, [[1, 0], [0, 1], [2, 2]], constant_values=3.5))
    with pytest.raises(ValidationError, match="unknown padding mode"):
        gf.pad(x, [[0, 0]] * 3, mode="WRAP")


def test_split_concat_stack_unstack_tile_broadcast_values(g):
    x = gf.constant(X)
    pieces = gf.split(x, [1, -1], axis=2)
    even = gf.split(x, 2, axis=0)
    parts = gf.unstack(x, axis=1)
    assert [p.op.type for p in (pieces[0], even[0], parts[0])] == ["SplitV", "Split", "Unpack"]
    fetched = run_graph(g, {"pieces": pieces, "even": even, "parts": parts,
                            "cat": gf.concat([x, x], -1), "one": gf.concat([x], 0),
                            "stack": gf.stack([x, x + 1], axis=1),
                            "tile": gf.tile(x, [1, 2, 1]),
                            "bcast": gf.broadcast_to(gf.constant([1, 2]), [3, 2])})
    np.testing.assert_array_equal(fetched["pieces"][1], X[..., 1:])
    np.testing.assert_array_equal(fetched["even"][1], X[1:])
    np.testing.assert_array_equal(fetched["parts"][2], X[:, 2])
    np.testing.assert_array_equal(fetched["cat"], np.concatenate([X, X], -1))
    np.testing.assert_array_equal(fetched["one"], X)
    np.testing.assert_array_equal(fetched["stack"], np.stack([X, X + 1], 1))
    np.testing.assert_array_equal(fetched["tile"], np.tile(X, [1, 2, 1]))
    np.testing.assert_array_equal(fetched["bcast"], np.int32([[1, 2]] * 3))
    assert gf.stack([1, 2, 3]).op.type == "Const"


def test_gathers_and_one_hot(g):
    x = gf.constant(X)
    outs = run_graph(g, [gf.gather(x, [2, 0], axis=-1), gf.gather(x, [[1], [0]]),
                         gf.gather_nd(x, [[1, 2], [0, 0]]),
                         gf.one_hot([0, 2, -1], 3), gf.one_hot([1], 2, on_value=5, axis=0)])
    np.testing.assert_array_equal(outs[0], X[..., [2, 0]])
    np.testing.assert_array_equal(outs[1], X[[[1], [0]]])
    np.testing.assert_array_equal(outs[2], np.stack([X[1, 2], X[0, 0]]))
    np.testing.assert_array_equal(outs[3], np.float32([[1, 0, 0], [0, 0, 1], [0, 0, 0]]))
    assert outs[4].dtype == np.int32
    np.testing.assert_array_equal(outs[4], np.int32([[0], [5]]))


def test_shape_queries_are_constants_when_static(g):
    x = gf.constant(X)
    assert [gf.shape(x).op.type, gf.size(x).op.type, gf.rank(x).op.type] == ["Const"] * 3
    p = gf.placeholder(gf.float32, [None, 3])
    dyn = [gf.shape(p), gf.size(p, out_type=gf.int64), gf.rank(gf.placeholder(gf.float32))]
    assert [t.op.type for t in dyn] == ["Shape", "Size", "Rank"]
    assert dyn[0].shape == (2,) and dyn[1].dtype == gf.int64
    value = np.zeros((5, 3), np.float32)
    outs = run_graph(g, [gf.shape(x), dyn[0], dyn[1], gf.shape_n([p, x])],
                     {p.name: value})
    np.testing.assert_array_equal(outs[0], [2, 3, 4])
    np.testing.assert_array_equal(outs[1], [5, 3])
    assert outs[2] == 15 and outs[2].dtype == np.int64
    np.testing.assert_array_equal(outs[3][1], [2, 3, 4])


def test_fill_zeros_ones_and_likes(g):
    p = gf.placeholder(gf.float32, [None, 3])
    small, big = gf.zeros([2, 3]), gf.ones([40, 40], gf.int32)
    assert (small.op.type, big.op.type) == ("Const", "Fill")
    like = gf.zeros_like(p)
    cast_like = gf.ones_like(p, dtype=gf.int64)
    assert (like.op.type, cast_like.dtype, cast_like.shape) == ("ZerosLike", gf.int64, (None, 3))
    dyn = gf.fill(gf.shape(p), 7.0)
    outs = run_graph(g, [small, big, like, cast_like, dyn], {p.name: np.ones((2, 3))})
    np.testing.assert_array_equal(outs[0], np.zeros((2, 3), np.float32))
    assert outs[1].dtype == np.int32 and outs[1].sum() == 1600
    np.testing.assert_array_equal(outs[2], np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(outs[3], np.ones((2, 3), np.int64))
    np.testing.assert_array_equal(outs[4], np.full((2, 3), 7, np.float32))


def test_range_infers_its_dtype_like_tensorflow(g):
    cases = [gf.range(5), gf.range(1.0, 2.0, 0.25), gf.range(0, 10, 3, dtype=gf.int64),
             gf.range(gf.constant(2, gf.int64), 5), gf.range(3, 0, -1.5)]
    assert [t.dtype for t in cases] == [gf.int32, gf.float32, gf.int64, gf.int64, gf.float32]
    assert [t.shape for t in cases] == [(5,), (4,), (4,), (3,), (2,)]
    outs = run_graph(g, cases)
    for got, want in zip(outs, [np.arange(5), np.arange(1, 2, 0.25), np.arange(0, 10, 3),
                                np.arange(2, 5), np.float32([3, 1.5])]):
        np.testing.assert_array_equal(got, want)


def test_identities_no_op_and_group(g):
    x = gf.constant(X)
    a, b = gf.identity_n([x, gf.constant(1)])
    sg, ident = gf.stop_gradient(x), gf.identity(x, name="same")
    noop = gf.no_op(name="nothing")
    grouped = gf.group(a, [b.op, sg], noop, name="all")
    assert (ident.name, noop.type, grouped.type) == ("same:0", "NoOp", "NoOp")
    assert {o.name for o in grouped.control_inputs} == {a.op.name, sg.op.name, "nothing"}
    assert run_graph(g, ["all", ident])[0] is None


def test_getitem_examples_and_masks(g):
    x = gf.placeholder(gf.float32, [4, 5, 6], name="x")
    y = x[1:, ::-1, gf.newaxis, 2]
    assert y.op.type == "StridedSlice" and y.shape == (3, 5, 1)
    masks = {k: y.op.get_attr(k) for k in ("begin_mask", "end_mask", "ellipsis_mask",
                                           "new_axis_mask", "shrink_axis_mask")}
    assert masks == {"begin_mask": 2, "end_mask": 3, "ellipsis_mask": 0, "new_axis_mask": 4,
                     "shrink_axis_mask": 8}
    assert [const_input(y.op, i) for i in (1, 2, 3)] == [[1, 0, 0, 2], [0, 0, 0, 3],
                                                         [1, -1, 1, 1]]
    i = gf.placeholder(gf.int32, [], name="i")
    by_tensor = x[i, 1:i + 2]
    assert by_tensor.shape == (None, 6)
    value = np.arange(120, dtype=np.float32).reshape(4, 5, 6)
    outs = run_graph(g, [y, by_tensor, x[...], x[()]], {"x:0": value, "i:0": np.int32(2)})
    np.testing.assert_array_equal(outs[0], value[1:, ::-1, None, 2])
    np.testing.assert_array_equal(outs[1], value[2, 1:4])
    np.testing.assert_array_equal(outs[2], value)
    np.testing.assert_array_equal(outs[3], value)


def test_getitem_refuses_bad_indices_and_iteration(g):
    x = gf.constant(X)
    for bad in (1.5, "a", gf.constant(1.0), [gf.constant([1, 2])]):
        with pytest.raises(TypeError, match="valid indices"):
            x[bad]
    with pytest.raises(TypeError, match="not iterable"):
        list(x)
