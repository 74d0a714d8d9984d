"""``Tensor.__getitem__`` against numpy's basic indexing, on random shapes and random Python
slice specs (ints, slices with negative or out-of-range bounds and negative steps, Ellipsis,
newaxis): the static shape and, run on the runtime, the values."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

import gcc_flow as gf
import runtime


@st.composite
def shape_and_spec(draw):
    """(shape, spec) where every int index is within its dim, as numpy requires."""
    rank = draw(st.integers(0, 4))
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=rank, max_size=rank)))
    use_ellipsis = draw(st.booleans())
    consumed = draw(st.integers(0, rank))
    n_prefix = draw(st.integers(0, consumed)) if use_ellipsis else consumed
    dims = list(range(n_prefix)) + list(range(rank - (consumed - n_prefix), rank))
    items = [_index_for(draw, shape[d]) for d in dims]
    spec = items[:n_prefix] + ([Ellipsis] if use_ellipsis else []) + items[n_prefix:]
    for _ in range(draw(st.integers(0, 2))):
        spec.insert(draw(st.integers(0, len(spec))), None)
    return shape, tuple(spec)


def _index_for(draw, dim: int):
    if dim > 0 and draw(st.booleans()):
        return draw(st.integers(-dim, dim - 1))
    bound = st.none() | st.integers(-8, 8)
    step = draw(st.sampled_from([None, 1, 2, 3, -1, -2, -3]))
    return slice(draw(bound), draw(bound), step)


@settings(max_examples=200, deadline=None)
@given(shape_and_spec())
def test_getitem_matches_numpy(case):
    shape, spec = case
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    want = x[spec]
    g = gf.Graph()
    with g.as_default():
        static = gf.placeholder(gf.float32, shape, name="static")
        dynamic = gf.placeholder(gf.float32, None, name="dynamic")
        y_static, y_dynamic = static[spec], dynamic[spec]
    assert y_static.shape == want.shape
    outs = runtime.load(g.as_graph_def()).run([y_static.name, y_dynamic.name],
                                              {"static:0": x, "dynamic:0": x})
    for got in outs:
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
