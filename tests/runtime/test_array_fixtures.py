"""The TensorFlow-written fixtures ``strided_slice`` and ``array_ops`` (TF 2.21), fetch by fetch:
runtime.load(...) gives TensorFlow's values, and the shapes inferred at load time agree with the
shapes TensorFlow produced (equal where static, compatible where a dim depends on a feed)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import runtime
from schema.errors import UnknownOpError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tf"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
NAMES = ("strided_slice", "array_ops")
_SESSIONS: dict = {}


def _session(name: str):
    if name not in _SESSIONS:
        try:
            _SESSIONS[name] = runtime.load(FIXTURES / f"{name}.pb")
        except UnknownOpError as err:  # array_ops also holds nn ops written by another family
            pytest.skip(f"{name}.pb needs an op not declared yet: {err}")
    return _SESSIONS[name]


def _cases():
    return [(name, tensor) for name in NAMES for tensor in MANIFEST[name]["fetches"]]


@pytest.mark.parametrize("name, tensor", _cases())
def test_fetch_matches_tensorflow(name, tensor):
    entry = MANIFEST[name]
    data = np.load(FIXTURES / f"{name}.npz")
    sess = _session(name)
    feeds = {t: data[k] for t, k in entry["feeds"].items()}
    got = sess.run(tensor, feeds)
    want = data[entry["fetches"][tensor]]
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name, tensor", _cases())
def test_inferred_shape_agrees_with_tensorflow(name, tensor):
    entry = MANIFEST[name]
    want = np.load(FIXTURES / f"{name}.npz")[entry["fetches"][tensor]].shape
    node_name, index = tensor.rsplit(":", 1)
    static = _session(name).graph.nodes[node_name].out_shapes[int(index)]
    assert static is not None and len(static) == len(want)
    assert all(s is None or s == w for s, w in zip(static, want))


def test_strided_slice_shapes_are_all_static():
    # Every slice in this fixture has constant begin/end/strides on a [4,5,6] input.
    graph = _session("strided_slice").graph
    for tensor in MANIFEST["strided_slice"]["fetches"]:
        shape = graph.nodes[tensor.split(":")[0]].out_shapes[0]
        assert shape is not None and None not in shape, tensor
