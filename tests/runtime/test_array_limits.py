"""Kernels whose output size comes from input values refuse a too-large output before
allocating it: LimitExceeded, quickly, with almost no memory used."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import gcc_flow as gf
import runtime
from gcc_flow.framework import apply_op
from schema.dtypes import DType
from schema.errors import LimitExceeded
from schema.limits import Limits

BIG = 1_000_000


def _build(op_type: str, inputs: list, attrs: dict | None = None):
    """One op over fed placeholders (unknown shapes); returns (graph, fetch name, feeds)."""
    g = gf.Graph()
    feeds = {}
    with g.as_default():
        args = []
        for value in inputs:
            value = np.asarray(value)
            p = gf.placeholder(DType.from_numpy(value.dtype), None)
            feeds[p.name] = value
            args.append(p)
        out = apply_op(op_type, args, attrs)
    return g, out.name, feeds


def _assert_refused_cheaply(op_type: str, inputs: list, attrs: dict | None = None):
    g, fetch, feeds = _build(op_type, inputs, attrs)
    sess = runtime.load(g.as_graph_def())
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded, match="max_tensor_bytes"):
            sess.run(fetch, feeds)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 << 20  # nothing sized by the requested output was allocated


@pytest.mark.parametrize("op_type, inputs, attrs", [
    ("Fill", [np.int32([BIG, BIG]), np.float32(1.0)], None),
    ("Fill", [np.int64([2 ** 62, 8]), np.int8(0)], None),
    ("Range", [np.int64(0), np.int64(10 ** 12), np.int64(1)], None),
    ("Range", [np.float32(0), np.float32(1e12), np.float32(1)], None),
    ("Tile", [np.zeros((2, 3), np.float32), np.int32([BIG, BIG])], None),
    ("BroadcastTo", [np.float32(1), np.int32([BIG, BIG])], None),
    ("OneHot", [np.zeros(BIG, np.int32), np.int32(BIG), np.float32(1), np.float32(0)], None),
    ("Pad", [np.zeros((2, 2), np.float32), np.int32([[BIG, BIG], [BIG, 0]])], None),
    ("GatherV2", [np.zeros((1, BIG), np.float32), np.zeros(10 ** 4, np.int32), np.int32(0)],
     None),
])
def test_value_sized_outputs_are_refused_before_allocation(op_type, inputs, attrs):
    _assert_refused_cheaply(op_type, inputs, attrs)


def test_range_counts_exactly_at_the_ends_of_int8():
    g, fetch, feeds = _build("Range", [np.int8(-128), np.int8(127), np.int8(1)])
    out = runtime.load(g.as_graph_def()).run(fetch, feeds)
    np.testing.assert_array_equal(out, np.arange(-128, 127).astype(np.int8))


def test_constant_huge_fill_builds_with_a_static_shape_and_is_refused_at_run_time():
    g = gf.Graph()
    with g.as_default():
        y = gf.fill([BIG, BIG], 1.0)
    assert y.shape == (BIG, BIG)
    sess = runtime.load(g.as_graph_def())
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded):
            sess.run(y.name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 << 20


def test_the_limit_is_the_sessions_setting():
    g, fetch, feeds = _build("Fill", [np.int32([16, 16]), np.float32(2)])
    small = Limits(max_tensor_bytes=1024)
    sess = runtime.load(g.as_graph_def(), limits=small)
    assert sess.run(fetch, feeds).shape == (16, 16)  # exactly 1024 bytes
    with pytest.raises(LimitExceeded, match="1088 bytes"):
        sess.run(fetch, {**feeds, next(iter(feeds)): np.int32([16, 17])})
