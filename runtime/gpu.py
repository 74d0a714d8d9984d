"""Running plans on a GPU through CuPy: the backend, node placement, and the hooks a Session calls.

    hooks = compile_for_device(graph, "gpu", resources, limits)   # None for "cpu"
    fn = hooks.kernel_for(node)          # the node's kernel, placed and wrapped (compiled once)
    value = hooks.feed(ref, checked_numpy_feed)     # uploaded when its producer runs on the GPU
    plan = hooks.wrap_plan(compile_plan(...))       # fetches come back as numpy arrays

Placement (TensorFlow's rules, decided per node when it is compiled): a node runs on the GPU when
its op has a GPU kernel (``KERNELS.lookup(op, "gpu")``) and every array it reads or makes has a
dtype cupy computes on, except nodes whose arrays are all int32, which stay on the host (TF keeps
int32 tensors in host memory on GPUs: shapes, sizes, axes). Everything else runs its CPU kernel
on the host. A value lives where its node ran; the wrapper around each kernel moves an input only
when it is on the wrong side (uploads are asynchronous; a download synchronizes, so only host
kernels fed by GPU values and ``host_inputs`` of GPU kernels fed by GPU values ever wait). Const
values are converted once and reused. Fetches are copied to the host: the only synchronization.

A cupy out-of-memory error becomes ``DeviceOutOfMemoryError`` (a GccFlowError naming the node);
the run's arrays are dropped and the pool's free blocks released before it is raised.

``GCC_FLOW_FAKE_GPU=1`` replaces cupy by runtime/gpu_fake.py (numpy behind cupy's rules), so the
whole GPU path runs on machines without a GPU.
"""
from __future__ import annotations

import gc
import os
from typing import Any, Callable, Optional

import numpy as np

from runtime.kernels import KERNELS, KernelContext, KernelInfo, compile_node
from schema.dtypes import DType
from schema.errors import ExecutionError, GccFlowError
from schema.ir import Node, TensorRef
from schema.limits import DEFAULT_LIMITS, Limits

__all__ = ["gpu_available", "GpuBackend", "DeviceHooks", "DeviceOutOfMemoryError",
           "compile_for_device", "device_kind", "gpu_node_info"]

# dtypes cupy computes on (bfloat16 and the narrow or quantized types run on the host).
GPU_DTYPES = frozenset({
    DType.BOOL, DType.INT8, DType.INT16, DType.INT32, DType.INT64, DType.UINT8, DType.UINT16,
    DType.UINT32, DType.UINT64, DType.HALF, DType.FLOAT, DType.DOUBLE, DType.COMPLEX64,
    DType.COMPLEX128})
# Handles and other non-array values: they go where their node goes and are never converted.
_NOT_ARRAYS = frozenset({DType.INVALID, DType.RESOURCE, DType.VARIANT})


class DeviceOutOfMemoryError(ExecutionError):
    """The GPU ran out of memory while running a plan; its memory was released."""


def _fake_requested() -> bool:
    return os.environ.get("GCC_FLOW_FAKE_GPU", "") not in ("", "0")


def _import_xp():
    """(xp module, reason it is unusable or None): cupy with a device, or the fake."""
    if _fake_requested():
        from runtime import gpu_fake
        return gpu_fake, None
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None, "CuPy sees no CUDA device"
        return cupy, None
    except Exception as err:  # ImportError, or a CUDA driver/runtime error
        return None, f"CuPy is not usable: {type(err).__name__}: {err}"


def gpu_available() -> bool:
    """True when a GPU (or the fake GPU) can run plans."""
    return _import_xp()[0] is not None


class GpuBackend:
    """One GPU: the array module, host <-> device copies, memory and synchronization."""

    _default: Optional["GpuBackend"] = None

    def __init__(self, xp: Any):
        self.xp = xp
        self.array_type = xp.ndarray
        self.fake = not getattr(xp, "__name__", "").startswith("cupy")
        self.pool = xp.get_default_memory_pool()

    @classmethod
    def default(cls) -> "GpuBackend":
        if cls._default is None or cls._default.xp is not _import_xp()[0]:
            xp, reason = _import_xp()
            if xp is None:
                raise GccFlowError(f"no GPU is available: {reason}")
            cls._default = cls(xp)
        return cls._default

    @property
    def name(self) -> str:
        raw = self.xp.cuda.runtime.getDeviceProperties(0)["name"]
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    # -- copies ------------------------------------------------------------------------------
    def to_device(self, value):
        """A numpy array -> a device array (asynchronous upload); anything else as it is."""
        if isinstance(value, (np.ndarray, np.generic)) and _gpu_dtype(value.dtype):
            return self.xp.asarray(value)
        return value

    def to_host(self, value):
        """A device array -> a numpy array (waits for the value); anything else as it is."""
        if isinstance(value, self.array_type):
            return value.get()
        return value

    def synchronize(self) -> None:
        self.xp.cuda.Device().synchronize()

    # -- memory ------------------------------------------------------------------------------
    def used_bytes(self) -> int:
        return self.pool.used_bytes()

    def release_memory(self) -> None:
        """Collects unreachable arrays and returns the pool's free blocks to the device."""
        gc.collect()
        self.pool.free_all_blocks()

    @staticmethod
    def is_out_of_memory(err: BaseException) -> bool:
        seen = set()
        while err is not None and id(err) not in seen:
            seen.add(id(err))
            text = str(err)
            if isinstance(err, MemoryError) or "OUT_OF_MEMORY" in text or "ALLOC_FAILED" in text:
                return True
            err = err.__cause__ or err.__context__
        return False


def _gpu_dtype(dtype) -> bool:
    try:
        return DType.from_numpy(dtype) in GPU_DTYPES
    except Exception:
        return False


def device_kind(device: str) -> tuple[str, int]:
    """("cpu" | "gpu", index) of a device string: "gpu", "GPU:0", "/device:GPU:0", "cuda:0"."""
    spec = str(device).lower().strip().lstrip("/").replace("device:", "")
    kind, _, index = spec.partition(":")
    kind = {"cuda": "gpu"}.get(kind, kind)
    if kind not in ("cpu", "gpu") or (index and not (index.isascii() and index.isdigit())):
        raise GccFlowError(f"unsupported device {device!r}: use 'cpu' or 'gpu'")
    return kind, int(index or 0)


# -- placement ------------------------------------------------------------------------------------

def _array_types(node: Node) -> list[DType]:
    types = [r.dtype.base for r in node.inputs] + [t.base for t in node.out_types]
    return [t for t in types if t not in _NOT_ARRAYS]


def gpu_node_info(node: Node) -> Optional[KernelInfo]:
    """The GPU registration ``node`` runs with, or None when it runs on the host.

    Conv2D(f32, f32) -> its GPU kernel;  Add(i32, i32) -> None (int32 lives on the host);
    Lgamma -> None (no GPU body);  Cast(f32 -> bfloat16) -> None (no bfloat16 on the GPU)
    """
    info = KERNELS.info(node.op, "gpu")
    if info is None:
        return None
    types = _array_types(node)
    if any(t not in GPU_DTYPES for t in types):
        return None
    if types and all(t == DType.INT32 for t in types):
        return None
    return info


class _ConstCache:
    """convert(value), remembered for the last value: Const inputs convert once."""

    __slots__ = ("convert", "source", "result")

    def __init__(self, convert: Callable):
        self.convert, self.source, self.result = convert, None, None

    def __call__(self, value):
        if value is not self.source:
            self.result, self.source = self.convert(value), value
        return self.result


def _converters(node: Node, convert_for: Callable[[int], Callable]) -> list[Callable]:
    out = []
    for i, ref in enumerate(node.inputs):
        convert = convert_for(i)
        out.append(_ConstCache(convert) if ref.node.op == "Const" else convert)
    return out


def _with_inputs(fn: Callable, converters: list[Callable]) -> Callable:
    if not converters:
        return fn

    def run(*args):
        return fn(*[c(a) for c, a in zip(converters, args)])
    return run


class DeviceHooks:
    """What a Session calls to run one graph on one GPU (see the module docstring)."""

    def __init__(self, backend: GpuBackend, resources=None, limits: Limits = DEFAULT_LIMITS,
                 index: int = 0):
        self.backend, self.resources, self.limits = backend, resources, limits
        self.device_name = f"/device:GPU:{index}"
        self._kernels: dict[Node, Callable] = {}

    def kernel_for(self, node: Node) -> Callable:
        fn = self._kernels.get(node)
        if fn is None:
            fn = self._kernels[node] = self._compile(node)
        return fn

    def _compile(self, node: Node) -> Callable:
        info = gpu_node_info(node)
        return self.host_kernel(node) if info is None else self.device_kernel(node, info)

    def host_kernel(self, node: Node) -> Callable:
        """The node's CPU kernel, its device inputs downloaded first."""
        ctx = KernelContext(node=node, device="cpu", resources=self.resources,
                            limits=self.limits, xp=np)
        return _with_inputs(compile_node(ctx), _converters(node, lambda i: self.backend.to_host))

    def device_kernel(self, node: Node, info: Optional[KernelInfo] = None) -> Callable:
        """The node's GPU kernel (whatever the placement rule says), inputs moved where its
        registration wants them: host_inputs on the host, the others on the device."""
        info = info or KERNELS.info(node.op, "gpu")
        if info is None:
            raise ExecutionError(f"node {node.name!r}: no GPU kernel for op {node.op!r}")
        ctx = KernelContext(node=node, device="gpu", resources=self.resources,
                            limits=self.limits, xp=self.backend.xp)
        fn = compile_node(ctx)
        if info.shape_only:
            return fn
        count, backend = len(node.inputs), self.backend
        return _with_inputs(fn, _converters(node, lambda i: backend.to_host if info.is_host_input(
            i, count) else backend.to_device))

    def feed(self, ref: TensorRef, value):
        """A checked numpy feed, uploaded when the tensor's node runs on the GPU."""
        return value if gpu_node_info(ref.node) is None else self.backend.to_device(value)

    def wrap_plan(self, plan) -> "DevicePlan":
        return DevicePlan(plan, self.backend)


class DevicePlan:
    """A Plan (or DataflowPlan) whose fetches come back as numpy arrays, with out-of-memory
    errors turned into DeviceOutOfMemoryError after the run's device memory is released."""

    def __init__(self, plan, backend: GpuBackend):
        self.plan, self.backend = plan, backend

    def __getattr__(self, name: str):
        return getattr(self.plan, name)

    def execute(self, feed_values: list) -> list:
        message = None
        try:
            results = self.plan.execute(feed_values)
            return [None if r is None else self.backend.to_host(r) for r in results]
        except Exception as err:
            if not self.backend.is_out_of_memory(err):
                raise
            message = str(err)
        # Outside the except block: the error, its traceback and the run's arrays are gone.
        feed_values.clear()
        self.backend.release_memory()
        raise DeviceOutOfMemoryError(f"out of GPU memory: {message} (the run's device memory "
                                     f"was released; {self.backend.used_bytes():,} bytes remain "
                                     f"in use)")


def compile_for_device(graph, device: str, resources=None, limits: Limits = DEFAULT_LIMITS,
                       backend: Optional[GpuBackend] = None) -> Optional[DeviceHooks]:
    """The hooks that run ``graph`` on ``device``; None for the CPU (the plain numpy path).
    ``backend``: GpuBackend.default() unless given (tests pass a fake one).

    compile_for_device(g, "cpu") -> None;  compile_for_device(g, "/device:GPU:0") -> DeviceHooks
    """
    kind, index = device_kind(device)
    if kind == "cpu":
        return None
    if index != 0:
        raise GccFlowError(f"device {device!r}: only GPU:0 is supported")
    return DeviceHooks(backend or GpuBackend.default(), resources, limits, index)
