"""Imported models keep their original tensor names as ``_alias`` attrs; Session.run accepts
them as feeds and fetches whatever characters they contain, after exact names."""
from __future__ import annotations

import numpy as np
import pytest

import runtime
from schema.errors import FetchError
from schema.text import parse_graph

GRAPH = """
%input_1:0 f32[2] = Placeholder() dtype=f32 shape=shape[2] _alias="input:1 weird/name"
%y:0 f32[2] = Tanh(%input_1:0) T=f32
%out:0 f32[2] = Identity(%y:0) T=f32 _alias="y:0"
"""


@pytest.fixture
def sess():
    return runtime.Session(parse_graph(GRAPH, allow_unknown=False))


def test_original_names_work_as_feeds_and_fetches(sess):
    x = np.array([0.5, -1.0], np.float32)
    out = sess.run("out", {"input:1 weird/name": x})
    np.testing.assert_allclose(out, np.tanh(x), rtol=1e-6)


def test_exact_names_win_over_aliases(sess):
    # "y:0" is both the alias of out:0 and the real tensor y:0: the real one is fetched.
    x = np.array([0.5, -1.0], np.float32)
    both = sess.run(["y:0", "out:0"], {"input_1:0": x})
    np.testing.assert_allclose(both[0], both[1])
    assert sess._resolve_fetch("y:0")[0].node.name == "y"


def test_unknown_names_still_fail(sess):
    with pytest.raises(FetchError, match="no node named 'nope'"):
        sess.run("nope")
