"""Pausing Python's cyclic garbage collector during bulk graph work.

A graph of 10^5 nodes is 10^6 small objects with cycles (node <-> graph); each full collection
walks all of them, so a collector triggered every few thousand allocations makes building or
rewriting a big graph quadratic. Reference counting still frees everything acyclic meanwhile.

    with gc_paused():
        graph = graph_from_graph_def(graph_def)
"""
from __future__ import annotations

import contextlib
import gc

__all__ = ["gc_paused"]


@contextlib.contextmanager
def gc_paused():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
