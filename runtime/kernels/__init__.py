"""The kernel table: one entry per (op, device), each a factory that compiles a node once.

    @kernel("Relu")
    def relu(ctx: KernelContext):
        return lambda x: np.maximum(x, 0)       # called with input arrays, returns the output

A factory reads the node's attrs once and returns a callable taking the input values
positionally. It returns the output for a one-output node, a tuple/list for several outputs and
None for none. The numpy body is the reference definition of the op: constant folding calls the
same callables, so folding and execution cannot disagree.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import numpy as np

from schema.dtypes import DType
from schema.errors import ExecutionError
from schema.limits import DEFAULT_LIMITS, Limits

__all__ = ["KernelContext", "KernelTable", "KERNELS", "kernel", "compile_node"]

KernelFactory = Callable[["KernelContext"], Callable[..., Any]]


@dataclasses.dataclass
class KernelContext:
    """What a kernel factory may look at when it compiles one node."""
    node: Any                       # schema.ir.Node
    device: str = "cpu"
    resources: Any = None           # runtime.resources.ResourceManager of the session
    limits: Limits = DEFAULT_LIMITS
    xp: Any = np                    # numpy, or cupy on a GPU

    def attr(self, name: str, default: Any = None) -> Any:
        return self.node.attrs.get(name, default)

    @property
    def out_types(self) -> list[DType]:
        return self.node.out_types

    @property
    def in_types(self) -> list[DType]:
        return [r.dtype for r in self.node.inputs]

    @property
    def in_shapes(self) -> list:
        return [r.shape for r in self.node.inputs]

    def out_np(self, index: int = 0):
        return self.node.out_types[index].np

    def fail(self, message: str) -> ExecutionError:
        return ExecutionError(f"node {self.node.name!r} ({self.node.op}): {message}")


class KernelTable:
    def __init__(self):
        self._factories: dict[tuple[str, str], KernelFactory] = {}

    def register(self, op: str, factory: KernelFactory, device: str = "cpu") -> None:
        key = (op, device)
        if key in self._factories:
            raise ValueError(f"kernel for {op} on {device} registered twice")
        self._factories[key] = factory

    def lookup(self, op: str, device: str = "cpu") -> Optional[KernelFactory]:
        _load_kernels()
        return self._factories.get((op, device)) or self._factories.get((op, "any"))

    def ops(self, device: str = "cpu") -> set[str]:
        _load_kernels()
        return {op for op, dev in self._factories if dev in (device, "any")}


KERNELS = KernelTable()


def kernel(*ops: str, device: str = "cpu"):
    """Registers the decorated factory for each op name in ``ops``."""
    def register(factory: KernelFactory) -> KernelFactory:
        for name in ops:
            KERNELS.register(name, factory, device)
        return factory
    return register


def compile_node(ctx: KernelContext) -> Callable[..., Any]:
    factory = KERNELS.lookup(ctx.node.op, ctx.device)
    if factory is None:
        raise ExecutionError(f"node {ctx.node.name!r}: no kernel for op {ctx.node.op!r} on "
                             f"device {ctx.device}")
    return factory(ctx)


_loaded = False


def _load_kernels() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        try:
            import importlib
            import pkgutil
            for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
                importlib.import_module(f"{__name__}.{info.name}")
        except BaseException:
            _loaded = False
            raise
