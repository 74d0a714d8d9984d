"""The kernel table: one entry per (op, device), each a factory that compiles a node once.

    @kernel("Relu")
    def relu(ctx: KernelContext):
        return lambda x: np.maximum(x, 0)       # called with input arrays, returns the output

A factory reads the node's attrs once and returns a callable taking the input values
positionally. It returns the output for a one-output node, a tuple/list for several outputs and
None for none. The numpy body is the reference definition of the op: constant folding calls the
same callables, so folding and execution cannot disagree.

Devices. A kernel is registered for "cpu", "gpu", both (``device=BOTH``: one body reading
``xp = ctx.xp``, numpy on the CPU and cupy on the GPU) or "any" (bodies that only move values:
Const, Identity, control flow). ``KERNELS.lookup(op, "gpu")`` is None for ops without a GPU body
(string ops, np.vectorize-based Lgamma): runtime/gpu.py runs those on the host.

    @kernel("Reshape", device=BOTH, host_inputs=(1,))     # the shape input stays in host memory

Memory annotations (TensorFlow's HostMemory) tell the GPU runner where each input must be:
``host_inputs`` are small int tensors read on the host (shapes, axes, sizes), ``host_outputs``
kernels (Shape, Size, Rank) return host arrays, and ``shape_only`` kernels read nothing but their
inputs' shapes, so their inputs are passed wherever they are. The CPU ignores them.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional, Union

import numpy as np

from schema.dtypes import DType
from schema.errors import ExecutionError
from schema.limits import DEFAULT_LIMITS, Limits
from schema.plugins import LazyImport

__all__ = ["KernelContext", "KernelInfo", "KernelTable", "KERNELS", "kernel", "compile_node",
           "BOTH", "DEVICES"]

KernelFactory = Callable[["KernelContext"], Callable[..., Any]]
DEVICES = ("cpu", "gpu")
BOTH = DEVICES          # @kernel(..., device=BOTH): one xp body for numpy and cupy


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


@dataclasses.dataclass(frozen=True)
class KernelInfo:
    """A registration: the factory and where its inputs and outputs live on a GPU."""
    factory: KernelFactory
    device: str = "cpu"
    host_inputs: tuple[int, ...] = ()   # input indices read on the host (negative: from the end)
    host_outputs: bool = False          # the outputs are host arrays (Shape, Size, Rank)
    shape_only: bool = False            # reads only its inputs' shapes: pass inputs as they are

    def is_host_input(self, index: int, count: int) -> bool:
        """Input ``index`` of ``count`` is in host memory: host_inputs (1, -1) of 4 -> 1 and 3."""
        return index in self.host_inputs or index - count in self.host_inputs


class KernelTable:
    def __init__(self):
        self._infos: dict[tuple[str, str], KernelInfo] = {}

    def register(self, op: str, factory: KernelFactory, device: str = "cpu",
                 **memory: Any) -> None:
        key = (op, device)
        if key in self._infos:
            raise ValueError(f"kernel for {op} on {device} registered twice")
        self._infos[key] = KernelInfo(factory, device, **memory)

    def info(self, op: str, device: str = "cpu") -> Optional[KernelInfo]:
        """The registration for ``op`` on ``device`` (or on "any"), None without one."""
        _load_kernels()
        return self._infos.get((op, device)) or self._infos.get((op, "any"))

    def lookup(self, op: str, device: str = "cpu") -> Optional[KernelFactory]:
        info = self.info(op, device)
        return None if info is None else info.factory

    def ops(self, device: str = "cpu") -> set[str]:
        _load_kernels()
        return {op for op, dev in self._infos if dev in (device, "any")}


KERNELS = KernelTable()


def kernel(*ops: str, device: Union[str, tuple[str, ...]] = "cpu", host_inputs: tuple = (),
           host_outputs: bool = False, shape_only: bool = False):
    """Registers the decorated factory for each op name in ``ops`` on ``device`` ("cpu",
    "gpu", "any" or a tuple such as BOTH), with the GPU memory annotations."""
    devices = (device,) if isinstance(device, str) else tuple(device)
    memory = {"host_inputs": tuple(host_inputs), "host_outputs": host_outputs,
              "shape_only": shape_only}

    def register(factory: KernelFactory) -> KernelFactory:
        for name in ops:
            for dev in devices:
                KERNELS.register(name, factory, dev, **memory)
        return factory
    return register


def compile_node(ctx: KernelContext) -> Callable[..., Any]:
    factory = KERNELS.lookup(ctx.node.op, ctx.device)
    if factory is None:
        raise ExecutionError(f"node {ctx.node.name!r}: no kernel for op {ctx.node.op!r} on "
                             f"device {ctx.device}")
    return factory(ctx)


_load_kernels = LazyImport("runtime.kernels")
