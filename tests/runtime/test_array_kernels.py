"""Array kernels against numpy references, with inputs fed at run time (so the kernels' own
checks run, not the build-time shape functions), and their TensorFlow error cases."""
from __future__ import annotations

import numpy as np
import pytest

import gcc_flow as gf
import runtime
from gcc_flow.framework import apply_op
from schema.dtypes import DType
from schema.errors import ExecutionError

X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


def run_op(op_type: str, inputs: list, attrs: dict | None = None):
    """Runs one op; each input is a numpy array (or a list of them for an N * T argument),
    fed through a placeholder of unknown shape."""
    g = gf.Graph()
    feeds = {}
    with g.as_default():
        def placeholder(value):
            value = np.asarray(value)
            p = gf.placeholder(DType.from_numpy(value.dtype), None)
            feeds[p.name] = value
            return p
        args = [[placeholder(v) for v in a] if isinstance(a, list) else placeholder(a)
                for a in inputs]
        out = apply_op(op_type, args, attrs)
    fetch = [t.name for t in out] if isinstance(out, list) else out.name
    return runtime.load(g.as_graph_def()).run(fetch, feeds)


def i32(v):
    return np.array(v, np.int32)


def check(got, expected):
    assert got.dtype == np.asarray(expected).dtype
    np.testing.assert_array_equal(got, expected)


def test_reshape_resolves_minus_one_and_zero_dims():
    check(run_op("Reshape", [X, i32([-1, 6])]), X.reshape(4, 6))
    check(run_op("Reshape", [X, np.array([6, -1], np.int64)]), X.reshape(6, 4))
    check(run_op("Reshape", [np.float32([3.0]), i32([])]), np.float32(3.0))
    # TensorFlow leaves zero dims out when resolving -1 next to a zero target dim.
    assert run_op("Reshape", [np.zeros((0, 3), np.float32), i32([-1, 0])]).shape == (3, 0)
    assert run_op("Reshape", [np.zeros((0, 3), np.float32), i32([-1, 5])]).shape == (0, 5)


@pytest.mark.parametrize("shape, message", [
    ([5, 5], "24 values, but the requested shape has 25"),
    ([-1, 5], "requires a multiple of 5"),
    ([-1, -1], "Only one input size may be -1"),
    ([-2, 12], "Size 0 must be non-negative, not -2"),
])
def test_reshape_errors(shape, message):
    with pytest.raises(ExecutionError, match=message):
        run_op("Reshape", [X, i32(shape)])


def test_transpose_accepts_negative_perm_and_refuses_duplicates():
    check(run_op("Transpose", [X, i32([2, 0, 1])]), X.transpose(2, 0, 1))
    check(run_op("Transpose", [X, i32([-1, 0, 1])]), X.transpose(2, 0, 1))
    with pytest.raises(ExecutionError, match="2 is missing from"):
        run_op("Transpose", [X, i32([0, 0, 1])])
    with pytest.raises(ExecutionError, match="vector of size 3"):
        run_op("Transpose", [X, i32([0, 1])])
    with pytest.raises(ExecutionError, match=r"3 is out of range \[0 .. 3\)"):
        run_op("Transpose", [X, i32([0, 1, 3])])


def test_concat_and_its_errors():
    check(run_op("ConcatV2", [[X, X], i32(-1)]), np.concatenate([X, X], -1))
    check(run_op("ConcatV2", [[X, X[:, :1]], np.int64(1)]), np.concatenate([X, X[:, :1]], 1))
    with pytest.raises(ExecutionError, match="Dimension 1 in both shapes must be equal"):
        run_op("ConcatV2", [[X, X[:, :2]], i32(2)])
    with pytest.raises(ExecutionError, match="out of range"):
        run_op("ConcatV2", [[X, X], i32(3)])
    with pytest.raises(ExecutionError, match="Can't concatenate scalars"):
        run_op("ConcatV2", [[np.float32(1), np.float32(2)], i32(0)])


def test_split_and_split_v():
    a, b = run_op("Split", [i32(2), X], {"num_split": 2})
    check(a, X[..., :2])
    check(b, X[..., 2:])
    parts = run_op("SplitV", [X, i32([1, -1, 1]), i32(-1)], {"num_split": 3})
    for got, want in zip(parts, np.split(X, [1, 3], axis=-1)):
        check(got, want)
    with pytest.raises(ExecutionError, match="evenly divide"):
        run_op("Split", [i32(1), X], {"num_split": 2})
    with pytest.raises(ExecutionError, match="only be one -1"):
        run_op("SplitV", [X, i32([1, -1, -1]), i32(2)], {"num_split": 3})
    with pytest.raises(ExecutionError, match="Got: 5"):
        run_op("SplitV", [X, i32([1, 2, 2]), i32(2)], {"num_split": 3})
    with pytest.raises(ExecutionError, match="Split size at index 1 must be >= 0"):
        run_op("SplitV", [X, i32([5, -2, 1]), i32(2)], {"num_split": 3})


def test_slice_with_size_minus_one_and_bounds():
    check(run_op("Slice", [X, i32([1, 0, 1]), i32([-1, 2, -1])]), X[1:, 0:2, 1:])
    with pytest.raises(ExecutionError, match=r"Expected begin\[2\] in \[0, 4\], but got -1"):
        run_op("Slice", [X, i32([0, 1, -1]), i32([1, 1, 1])])
    with pytest.raises(ExecutionError, match=r"Expected size\[1\] in \[0, 2\], but got 3"):
        run_op("Slice", [X, i32([0, 1, 1]), i32([1, 3, 1])])


def test_squeeze_and_expand_dims():
    y = np.zeros((1, 3, 1), np.float32)
    assert run_op("Squeeze", [y]).shape == (3,)
    assert run_op("Squeeze", [y], {"squeeze_dims": [-1]}).shape == (1, 3)
    assert run_op("Squeeze", [y], {"squeeze_dims": [0, 0]}).shape == (3, 1)
    with pytest.raises(ExecutionError, match="expected a dimension of 1, got 3"):
        run_op("Squeeze", [y], {"squeeze_dims": [1]})
    assert run_op("ExpandDims", [X, i32(-1)]).shape == (2, 3, 4, 1)
    assert run_op("ExpandDims", [X, i32([0])]).shape == (1, 2, 3, 4)
    with pytest.raises(ExecutionError, match="expand dim index 4 for tensor with 3"):
        run_op("ExpandDims", [X, i32(4)])


@pytest.mark.parametrize("op_type, mode, paddings", [
    ("Pad", "constant", [[0, 1], [2, 0], [1, 1]]),
    ("MirrorPad", "reflect", [[1, 1], [2, 2], [0, 3]]),
    ("MirrorPad", "symmetric", [[2, 2], [3, 3], [0, 4]]),
])
def test_pads_match_numpy(op_type, mode, paddings):
    attrs = {"mode": mode.upper()} if op_type == "MirrorPad" else None
    check(run_op(op_type, [X, i32(paddings)], attrs), np.pad(X, paddings, mode=mode))


def test_pad_v2_and_pad_errors():
    got = run_op("PadV2", [X, i32([[1, 0], [0, 0], [0, 2]]), np.float32(-7)])
    check(got, np.pad(X, [[1, 0], [0, 0], [0, 2]], constant_values=-7))
    with pytest.raises(ExecutionError, match="Paddings must be non-negative: -1 0"):
        run_op("Pad", [X, i32([[0, 1], [-1, 0], [0, 0]])])
    with pytest.raises(ExecutionError, match="first dimension of paddings must be the rank"):
        run_op("Pad", [X, i32([[0, 1], [0, 0]])])
    with pytest.raises(ExecutionError, match="0, 3 not less than 3"):
        run_op("MirrorPad", [X, i32([[0, 1], [0, 3], [0, 0]])], {"mode": "REFLECT"})
    with pytest.raises(ExecutionError, match="0, 3 greater than 2"):
        run_op("MirrorPad", [X, i32([[0, 3], [0, 3], [0, 0]])], {"mode": "SYMMETRIC"})


def test_tile_and_broadcast_to():
    check(run_op("Tile", [X, i32([2, 1, 3])]), np.tile(X, [2, 1, 3]))
    check(run_op("Tile", [np.float32(5), i32([])]), np.float32(5))
    with pytest.raises(ExecutionError, match=r"Expected multiples\[1\] >= 0, but got -1"):
        run_op("Tile", [X, i32([1, -1, 1])])
    row = np.float32([1, 2, 3])
    check(run_op("BroadcastTo", [row, i32([2, 3])]), np.broadcast_to(row, (2, 3)))
    assert run_op("BroadcastTo", [row, i32([2, 0, 3])]).shape == (2, 0, 3)
    with pytest.raises(ExecutionError, match=r"Unable to broadcast tensor of shape \[3\]"):
        run_op("BroadcastTo", [row, i32([1])])


def test_gather_v2_axis_and_batch_dims():
    idx = i32([[2, 0], [1, 1]])
    check(run_op("GatherV2", [X, idx, i32(1)]), np.take(X, idx, axis=1))
    check(run_op("GatherV2", [X, np.int64([3, 0]), np.int64(-1)]), X[..., [3, 0]])
    got = run_op("GatherV2", [X, i32([[0, 1], [1, 2]]), i32(2)], {"batch_dims": -1})
    want = np.stack([X[b][:, [[0, 1], [1, 2]][b]] for b in range(2)])
    check(got, want)
    got = run_op("GatherV2", [X, i32([[2, 0, 1], [1, 1, 0]]), i32(1)], {"batch_dims": 1})
    check(got, np.stack([X[0][[2, 0, 1]], X[1][[1, 1, 0]]]))


@pytest.mark.parametrize("indices, axis, batch_dims, message", [
    ([[0, 5], [1, 2]], 1, 0, r"indices\[0,1\] = 5 is not in \[0, 3\)"),
    ([[0, -1], [1, 2]], 1, 0, r"indices\[0,1\] = -1 is not in \[0, 3\)"),
    ([0], 3, 0, "Expected axis in the range"),
    ([[0, 1], [1, 2]], 0, 1, r"batch_dims \(1\) must be less than or equal to axis \(0\)"),
    ([[0, 1], [1, 2], [0, 0]], 1, 1, r"params.shape\[0\]: 2 should be equal"),
])
def test_gather_v2_errors(indices, axis, batch_dims, message):
    with pytest.raises(ExecutionError, match=message):
        run_op("GatherV2", [X, i32(indices), i32(axis)], {"batch_dims": batch_dims})


def test_gather_nd():
    check(run_op("GatherNd", [X, i32([[1, 2], [0, 0]])]), np.stack([X[1, 2], X[0, 0]]))
    check(run_op("GatherNd", [X, i32([[[1, 2, 3]], [[0, 1, 0]]])]), np.float32([[23], [4]]))
    check(run_op("GatherNd", [X, np.zeros((2, 0), np.int32)]), np.stack([X, X]))
    with pytest.raises(ExecutionError, match=r"indices\[0\] = \[0, 5\] does not index into "
                                             r"param shape \[2,3,4\]"):
        run_op("GatherNd", [X, i32([[0, 5], [1, 2]])])
    with pytest.raises(ExecutionError, match="innermost dimension length must be <= params"):
        run_op("GatherNd", [X, i32([[0, 1, 2, 3]])])
    ignored = run_op("GatherNd", [X, i32([[1, 0], [5, 0]])], {"bad_indices_policy": "IGNORE"})
    check(ignored, np.stack([X[1, 0], np.zeros(4, np.float32)]))


def test_shape_size_rank_fill_and_likes():
    z = np.zeros((5, 0, 3), np.float32)
    check(run_op("Shape", [z]), i32([5, 0, 3]))
    check(run_op("Shape", [z], {"out_type": DType.INT64}), np.int64([5, 0, 3]))
    a, b = run_op("ShapeN", [[z, X]])
    check(a, i32([5, 0, 3]))
    check(b, i32([2, 3, 4]))
    check(run_op("Size", [X]), np.int32(24))
    check(run_op("Size", [z], {"out_type": DType.INT64}), np.int64(0))
    check(run_op("Rank", [X]), np.int32(3))
    check(run_op("Fill", [i32([2, 3]), np.float32(1.5)]), np.full((2, 3), 1.5, np.float32))
    check(run_op("Fill", [np.int64([2]), np.int32(7)]), i32([7, 7]))
    with pytest.raises(ExecutionError, match="Dimension -1 must be >= 0"):
        run_op("Fill", [i32([2, -1]), np.float32(1)])
    with pytest.raises(ExecutionError, match="value must represent a scalar"):
        run_op("Fill", [i32([2, 1]), np.float32([1, 2])])
    check(run_op("ZerosLike", [X]), np.zeros_like(X))
    check(run_op("OnesLike", [i32([[4, 5]])]), i32([[1, 1]]))
    check(run_op("ZerosLike", [np.array([True, False])]), np.array([False, False]))


def test_range_int_and_float_like_tensorflow():
    check(run_op("Range", [i32(0), i32(10), i32(3)]), i32([0, 3, 6, 9]))
    check(run_op("Range", [i32(5), i32(-6), i32(-4)]), i32([5, 1, -3]))
    start, delta = np.float32(0.3), np.float32(0.7)
    got = run_op("Range", [start, np.float32(100), delta])
    # TensorFlow computes start + i * delta in float32 (checked against TF 2.21).
    assert len(got) == 143  # ceil((100 - 0.3) / 0.7)
    check(got, start + np.arange(143, dtype=np.float32) * delta)
    check(run_op("Range", [np.int64(-2**31), np.int64(2**31), np.int64(2**30)]),
          np.int64([-2**31, -2**30, 0, 2**30]))
    for args, message in (((0, 5, 0), "delta != 0"), ((5, 0, 1), "start <= limit"),
                          ((0, 5, -1), "start >= limit")):
        with pytest.raises(ExecutionError, match=message):
            run_op("Range", [i32(a) for a in args])


def test_pack_unpack():
    check(run_op("Pack", [[X, X + 1]], {"axis": 1}), np.stack([X, X + 1], axis=1))
    check(run_op("Pack", [[X]], {"axis": -1}), X[..., None])
    parts = run_op("Unpack", [X], {"num": 3, "axis": 1})
    for k, part in enumerate(parts):
        check(part, X[:, k])
    with pytest.raises(ExecutionError, match=r"axis = 4 not in \[-4, 4\)"):
        run_op("Pack", [[X, X]], {"axis": 4})
    with pytest.raises(ExecutionError, match="Shapes of all inputs must match"):
        run_op("Pack", [[np.float32([1, 2]), np.float32([1, 2, 3])]])
    with pytest.raises(ExecutionError, match="Input shape axis 1 must equal 4"):
        run_op("Unpack", [X], {"num": 4, "axis": 1})


def test_one_hot_axis_and_out_of_range_indices():
    idx = np.int64([[0, 1], [2, -1]])
    got = run_op("OneHot", [idx, i32(3), np.float32(5), np.float32(-1)], {"axis": 1})
    want = np.where(idx[:, None, :] == np.arange(3)[None, :, None], 5, -1).astype(np.float32)
    check(got, want)
    got = run_op("OneHot", [i32([0, 3, 1]), i32(3), i32(1), i32(0)])
    check(got, i32([[1, 0, 0], [0, 0, 0], [0, 1, 0]]))
    with pytest.raises(ExecutionError, match="depth must be non-negative, got: -1"):
        run_op("OneHot", [i32([0]), i32(-1), np.float32(1), np.float32(0)])


def test_where_gives_int64_coordinates():
    x = np.float32([[0, 1], [2, 0], [0, 0]])
    check(run_op("Where", [x]), np.int64([[0, 1], [1, 0]]))
    check(run_op("Where", [np.zeros((2, 3), bool)]), np.zeros((0, 2), np.int64))
    with pytest.raises(ExecutionError, match="Unhandled input dimensions: 0"):
        run_op("Where", [np.float32(1)])


def test_snapshot_copies_and_ensure_shape_checks():
    check(run_op("Snapshot", [X]), X)
    check(run_op("EnsureShape", [X], {"shape": (2, None, 4)}), X)
    with pytest.raises(ExecutionError, match=r"\[2,3,4\] is not compatible with expected "
                                             r"shape \[2,3\]"):
        run_op("EnsureShape", [X], {"shape": (2, 3)})


@pytest.mark.parametrize("spec, masks, expected", [
    (([1, 0, 2], [0, 0, 3], [1, -1, 1]), (2, 3, 0, 0, 4), lambda x: x[1:, ::-1, 2]),
    (([0, 0, 1], [0, 0, 3], [1, 1, 1]), (0, 0, 1, 2, 0), lambda x: x[..., None, 1:3]),
    (([-1], [0], [1]), (0, 0, 0, 0, 1), lambda x: x[-1]),
    (([-10, 2, -100], [10, 100, -3], [1, 1, 1]), (0, 0, 0, 0, 0),
     lambda x: x[-10:10, 2:100, -100:-3]),
    (([-1, -2, -4], [-5, 0, 0], [-2, 1, 1]), (0, 4, 0, 0, 2), lambda x: x[-1:-5:-2, -2, -4:]),
])
def test_strided_slice_masks(spec, masks, expected):
    x = np.arange(120, dtype=np.float32).reshape(4, 5, 6)
    names = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")
    got = run_op("StridedSlice", [x] + [i32(v) for v in spec], dict(zip(names, masks)))
    check(got, expected(x))


@pytest.mark.parametrize("spec, attrs, message", [
    (([0], [1], [0]), {}, r"strides\[0\] must be non-zero"),
    (([7], [8], [1]), {"shrink_axis_mask": 1}, "slice index 7 of dimension 0 out of bounds"),
    (([1], [8], [-1]), {"shrink_axis_mask": 1}, "only stride 1 allowed"),
    (([0] * 4, [1] * 4, [1] * 4), {}, "Index out of range using input dim 3"),
    (([0, 0], [1, 1], [1, 1]), {"ellipsis_mask": 3}, "Multiple ellipses"),
    (([0, 0], [1, 1], [1, 1, 1]), {}, "1D equal size tensors"),
])
def test_strided_slice_errors(spec, attrs, message):
    x = np.zeros((4, 5, 6), np.float32)
    with pytest.raises(ExecutionError, match=message):
        run_op("StridedSlice", [x] + [i32(v) for v in spec], attrs)


@pytest.mark.parametrize("build, const_name, bad_value, message", [
    (lambda x: gf.transpose(x, gf.constant([2, 0, 1], name="perm")), "perm",
     np.int32([0, 0, 1]), "2 is missing from"),
    (lambda x: gf.reshape(x, gf.constant([4, 6], name="shape")), "shape",
     np.int32([5, 6]), "requested shape has 30"),
    (lambda x: gf.gather(x, [0], axis=gf.constant(1, name="axis")), "axis",
     np.int32(3), "axis in the range"),
    (lambda x: gf.fill(gf.constant([2, 2], name="dims"), 1.0), "dims",
     np.int32([2, -2]), "Dimension -2 must be >= 0"),
])
def test_malformed_constants_in_a_graph_def_are_refused_at_load(build, const_name, bad_value,
                                                                 message):
    from schema.errors import ValidationError
    from schema.tensors import from_numpy
    g = gf.Graph()
    with g.as_default():
        build(gf.placeholder(gf.float32, [2, 3, 4], name="x"))
    graph_def = g.as_graph_def()
    node = next(n for n in graph_def.node if n.name == const_name)
    node.attr["value"].tensor.CopyFrom(from_numpy(bad_value))
    with pytest.raises(ValidationError, match=message) as info:
        runtime.load(graph_def)
    assert "node '" in str(info.value)  # the message names the node
