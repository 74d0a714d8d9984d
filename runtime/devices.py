"""The devices a session runs on: the host CPU, virtual CPUs, and CUDA GPUs found via CuPy.

    discover()                        -> [Device("/job:localhost/replica:0/task:0/device:CPU:0")]
                                         (+ one per CUDA GPU when CuPy imports and sees some)
    resolve_devices(["cpu:0", "cpu:1"])
        -> two virtual CPU devices, ".../device:CPU:0" and ".../device:CPU:1"
    resolve_devices([])               -> GraphError: zero devices
    resolve_devices(["/gpu:banana"])  -> GraphError naming the malformed part

Any number of CPU devices may be named: CPU:1, CPU:2... are virtual devices sharing the host
(each runs its partition on its own worker thread). A GPU must exist: runtime.gpu (CuPy, or the
fake GPU under GCC_FLOW_FAKE_GPU=1) is imported lazily, only when a GPU is named or
``discover()`` is called, never at module load. runtime.gpu runs GPU:0 only, so that is the one
GPU a session can name.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

from passes.partition import DEFAULT_INCARNATION
from passes.place import full_device_name
from schema.devices import parse_device
from schema.errors import GraphError

__all__ = ["Device", "discover", "resolve_devices", "gpu_count", "cpu_devices",
           "DEFAULT_INCARNATION"]

_KERNEL_KEYS = {"CPU": "cpu", "GPU": "gpu"}


@dataclasses.dataclass(frozen=True)
class Device:
    """One device: its canonical full name and what the runtime needs to run on it."""
    name: str                   # "/job:localhost/replica:0/task:0/device:CPU:0"
    type: str                   # "CPU" or "GPU"
    index: int
    incarnation: int = DEFAULT_INCARNATION
    virtual: bool = False       # a CPU beyond CPU:0: a worker thread on the same host

    @property
    def kernel_device(self) -> str:
        """The key of this device's kernels in runtime.kernels.KERNELS ("cpu", "gpu")."""
        return _KERNEL_KEYS[self.type]

    def __str__(self) -> str:
        return self.name


def _cpu(index: int) -> Device:
    return Device(full_device_name(f"/device:CPU:{index}"), "CPU", index, virtual=index > 0)


def _gpu(index: int) -> Device:
    return Device(full_device_name(f"/device:GPU:{index}"), "GPU", index)


def cpu_devices(count: int) -> list[Device]:
    """``count`` CPU devices: CPU:0 and count-1 virtual ones."""
    if count < 1:
        raise GraphError(f"zero devices: a session needs at least one (asked for {count} CPUs)")
    return [_cpu(i) for i in range(count)]


def gpu_count() -> int:
    """GPUs this runtime can run on: 1 when runtime.gpu finds CuPy with a device (or the fake
    GPU), else 0 (runtime.gpu drives GPU:0 only)."""
    from runtime.gpu import gpu_available
    return 1 if gpu_available() else 0


def discover() -> list[Device]:
    """The host CPU, then every GPU CuPy sees."""
    return [_cpu(0)] + [_gpu(i) for i in range(gpu_count())]


def resolve_devices(specs: Optional[Sequence[str]] = None) -> list[Device]:
    """Devices from names such as "cpu:0", "/device:GPU:1" or full names; None -> discover().

    GraphError for zero devices, a malformed or partial name, a job other than localhost, a
    device named twice, a device type other than CPU/GPU or a GPU that is not there.
    """
    if specs is None:
        return discover()
    if isinstance(specs, str):
        specs = [specs]
    if not specs:
        raise GraphError("zero devices: name at least one, e.g. devices=['cpu:0']")
    devices: list[Device] = []
    gpus: Optional[int] = None
    for spec in specs:
        device = _one_device(spec)
        if device.type == "GPU":
            gpus = gpu_count() if gpus is None else gpus
            if device.index >= gpus:
                raise GraphError(f"device {spec!r}: no such GPU ({gpus} usable GPU(s)"
                                 f"{'' if gpus else '; is CuPy installed with a CUDA device?'})")
        if any(d.name == device.name for d in devices):
            raise GraphError(f"device {spec!r} is named twice")
        devices.append(device)
    return devices


def _one_device(spec: str) -> Device:
    if not isinstance(spec, str):
        raise GraphError(f"a device name must be a string, got {type(spec).__name__}")
    parsed = parse_device(spec)
    if parsed.type is None:
        raise GraphError(f"device {spec!r} names no device type (expected e.g. 'cpu:0')")
    if parsed.type not in _KERNEL_KEYS:
        raise GraphError(f"device {spec!r}: unsupported device type {parsed.type!r} "
                         f"(supported: {sorted(_KERNEL_KEYS)})")
    if parsed.job not in (None, "localhost") or parsed.replica not in (None, 0) \
            or parsed.task not in (None, 0):
        raise GraphError(f"device {spec!r}: only /job:localhost/replica:0/task:0 runs in "
                         f"this process")
    index = 0 if parsed.index is None else parsed.index
    return _cpu(index) if parsed.type == "CPU" else _gpu(index)
