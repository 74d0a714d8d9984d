"""Shared test helpers: build a graph with the frontend, run it with the runtime."""
from __future__ import annotations

import numpy as np
import pytest

import runtime


def run_graph(graph, fetches, feeds=None):
    """Serializes ``graph`` (a gf.Graph) to a GraphDef, loads it with the runtime, runs it."""
    sess = runtime.load(graph.as_graph_def())
    return sess.run(fetches, feeds or {})


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/**/*.out.pbtxt from the current pass output")


@pytest.fixture
def update_golden(request) -> bool:
    return bool(request.config.getoption("--update-golden"))
