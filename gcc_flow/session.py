"""``gf.Session``: runs the graph being built, TensorFlow 1.x style.

    with gf.Session() as sess:
        sess.run(gf.global_variables_initializer())
        sess.run(y, {x: batch})

It runs the frontend graph's IR directly through ``runtime.Session``; ops added after the session
was created are picked up on the next run(), and variables keep their values.
"""
from __future__ import annotations

from typing import Optional

from gcc_flow.framework import Graph, get_default_graph
from runtime.session import Session as _RuntimeSession

__all__ = ["Session"]


class Session(_RuntimeSession):
    def __init__(self, graph: Optional[Graph] = None, device: str = "cpu"):
        self.frontend_graph = graph or get_default_graph()
        super().__init__(self.frontend_graph.ir, device=device)

    def close(self) -> None:
        self._plans.clear()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
