"""GpuSession: runtime.session.Session on the GPU through runtime.gpu's hooks. It is what
session.py does once the hooks are integrated there (``runtime.load(model, device="gpu")``), and
lets the GPU path be used and tested before that.

    sess = GpuSession(graph)                      # graph: schema.ir.Graph
    probs = sess.run("probs:0", {"x:0": batch})   # numpy in, numpy out; computed by cupy
"""
from __future__ import annotations

from typing import Any, Optional

from runtime.gpu import DeviceHooks, GpuBackend, compile_for_device
from runtime.session import Model, Session, _as_graph
from schema.ir import Graph, Node, TensorRef
from schema.limits import DEFAULT_LIMITS, Limits

__all__ = ["GpuSession", "load_gpu"]


class GpuSession(Session):
    def __init__(self, graph: Graph, device: str = "gpu", limits: Limits = DEFAULT_LIMITS,
                 backend: Optional[GpuBackend] = None):
        super().__init__(graph, device="cpu", limits=limits)
        hooks = compile_for_device(graph, device, self.resources, limits, backend)
        if hooks is None:
            raise ValueError(f"GpuSession needs a GPU device, not {device!r}")
        self.hooks: DeviceHooks = hooks
        self.device = hooks.device_name

    def _kernel_for(self, node: Node):
        return self.hooks.kernel_for(node)

    def _check_feed(self, ref: TensorRef, value) -> Any:
        return self.hooks.feed(ref, super()._check_feed(ref, value))

    def _compile(self, fetches, feed_names: list):
        entry = super()._compile(fetches, feed_names)
        wrapped = (self.hooks.wrap_plan(entry[0]), entry[1])
        with self._lock:
            for key, stored in self._plans.items():
                if stored is entry:
                    self._plans[key] = wrapped
        return wrapped


def load_gpu(model: Model, device: str = "gpu", *, allow_unknown: bool = False,
             limits: Limits = DEFAULT_LIMITS, backend: Optional[GpuBackend] = None) -> GpuSession:
    """runtime.load(model) on the GPU: a GraphDef, its bytes, a .pb/.pbtxt path, or IR."""
    return GpuSession(_as_graph(model, allow_unknown, limits), device=device, limits=limits,
                      backend=backend)
