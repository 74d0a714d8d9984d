"""The device options of the command line: ``--device``, ``--devices`` and the placement listing.

    parse_devices("cpu:0, cpu:1", "--devices")  -> ["cpu:0", "cpu:1"]
    resolve("--devices", ["cpu:0", "gpu:0"])    -> [Device(CPU:0), Device(GPU:0)]
        (no CuPy) -> UsageError: --devices asks for gpu:0, but no GPU is available: CuPy is
                     not usable: ModuleNotFoundError: No module named 'cupy' (...)
    format_decisions(report)                    -> ["  mm  -> CPU:1  by cost: compute 5.8 us,
                                                     done at 16.7 us (CPU:0 36.7 us)", ...]

A GPU is checked before anything else runs (runtime.gpu.GpuBackend.default, which says whether
CuPy or a CUDA device is what is missing); the device names themselves are checked by
runtime.devices.resolve_devices (malformed, unsupported type, named twice).
"""
from __future__ import annotations

from typing import Optional

from schema.devices import parse_device
from schema.errors import GccFlowError, GraphError

from gcc_flow.cli.files import UsageError

__all__ = ["parse_devices", "resolve", "require_gpu", "check_one_device", "short_name",
           "device_tag", "format_decisions", "other_notes", "placement_json", "describe_devices"]

GPU_HINT = ("install CuPy for your CUDA version on a machine with an NVIDIA GPU, or run on "
            "the CPU")
_REASONS = {"cost": "by cost", "follows_consumer": "follows its consumers",
            "shape_with_input": "shape op, stays with its input", "requested": "requested",
            "colocated": "colocated"}


def parse_devices(text: str, flag: str) -> list[str]:
    """"cpu:0,cpu:1" -> ["cpu:0", "cpu:1"]; an empty entry is a UsageError."""
    specs = [s.strip() for s in text.split(",")]
    if not all(specs):
        raise UsageError(f"{flag} {text!r}: expected comma-separated devices such as "
                         f"cpu:0,cpu:1,gpu:0")
    return specs


def _is_gpu(spec: str) -> bool:
    try:
        return parse_device(spec).type == "GPU"
    except GccFlowError:
        return False  # malformed: resolve_devices names the problem


def require_gpu(flag: str, spec: str) -> None:
    """UsageError naming what is missing (CuPy, or a CUDA device) unless a GPU can run plans."""
    from runtime.gpu import GpuBackend
    try:
        GpuBackend.default()
    except GccFlowError as err:
        raise UsageError(f"{flag} asks for {spec}, but {err} ({GPU_HINT})") from None


def resolve(flag: str, specs: list[str]) -> list:
    """runtime.devices.Device for each spec; a missing GPU or a bad name is a UsageError."""
    from runtime.devices import resolve_devices
    gpu = next((s for s in specs if _is_gpu(s)), None)
    if gpu is not None:
        require_gpu(flag, gpu)
    try:
        return resolve_devices(specs)
    except GraphError as err:
        raise UsageError(f"{flag}: {err}") from None


def check_one_device(spec: str) -> str:
    """The --device of a one-device run: "cpu", "gpu", "gpu:0"...; a GPU must be there."""
    from runtime.gpu import device_kind
    try:
        kind, _ = device_kind(spec)
    except GccFlowError as err:
        raise UsageError(f"--device: {err}") from None
    if kind == "gpu":
        require_gpu("--device", spec)
    return spec


def short_name(device: str) -> str:
    """"/job:localhost/replica:0/task:0/device:CPU:1" -> "CPU:1"."""
    return device.rsplit("/device:", 1)[-1]


def device_tag(device: str) -> str:
    """".../device:GPU:0" -> "GPU_0": the part of a partition's file name naming its device."""
    return short_name(device).replace(":", "_")


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us"


def _decision_text(decision) -> str:
    reason = _REASONS.get(decision.reason, decision.reason)
    if decision.reason != "cost":
        return reason
    others = ", ".join(f"{short_name(d)} {_us(t)}" for d, t in decision.alternatives.items()
                       if d != decision.device)
    return (f"{reason}: compute {_us(decision.compute_s)}, done at {_us(decision.finish_s)}"
            + (f" (elsewhere: {others})" if others else ""))


def format_decisions(report) -> list[str]:
    """One line per placement decision of a passes.place.PlacementReport, with its estimate."""
    if not report.decisions:
        return []
    width = max(len(d.node) for d in report.decisions)
    return [f"  {d.node:<{width}}  -> {short_name(d.device)}  {_decision_text(d)}"
            for d in report.decisions]


def other_notes(report) -> list[str]:
    """The report's notes that the decision lines do not already say (soft placement...)."""
    costed = {d.node for d in report.decisions if d.reason == "cost"}
    return [n for n in report.notes
            if not (n.startswith("placed ") and n.split(" ", 2)[1] in costed)]


def placement_json(graph, report, devices: list) -> dict:
    """A placed graph's placement as JSON-ready values: devices, node -> device, decisions
    with their estimates in microseconds, notes."""
    return {
        "devices": [d.name for d in devices],
        "estimated_step_us": round(report.estimated_step_s * 1e6, 3),
        "nodes": {n.name: n.device for n in graph},
        "decisions": [{"node": d.node, "device": d.device, "reason": d.reason,
                       "compute_us": round(d.compute_s * 1e6, 3),
                       "finish_us": round(d.finish_s * 1e6, 3),
                       "alternatives_us": {k: round(v * 1e6, 3)
                                           for k, v in d.alternatives.items()}}
                      for d in report.decisions],
        "notes": list(report.notes),
    }


def describe_devices(devices: list, estimated_s: Optional[float] = None) -> str:
    """"CPU:0, CPU:1" (+ "; estimated step 16.7 us")."""
    names = ", ".join(short_name(d.name) for d in devices)
    return names + ("" if estimated_s is None else f"; estimated step {_us(estimated_s)}")
