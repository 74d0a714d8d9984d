"""A static cost model for placement: FLOPs and bytes per op, seconds per device, transfer cost.

    cost = op_cost(matmul_node)            # MatMul f32[512,1024] x f32[1024,256]
        -> OpCost(flops=268435456, bytes=3670016)
    compute_seconds(cost, "CPU")           -> max(flops / CPU peak, bytes / CPU bandwidth) + launch
    transfer_seconds(4 << 20, "CPU", "GPU") -> latency + bytes / PCIe bandwidth

Shapes come from static inference; an unknown dimension counts as ``UNKNOWN_DIM`` (1) and an
unknown rank as one element, so the model stays finite on any graph. FLOP formulas are a table
keyed by op (the ops whose cost is not about one FLOP per element); every other op costs one
FLOP per element of its largest input or output. The device and link numbers are round
figures for a many-core host and a datacenter GPU: the model ranks choices, it does not predict
wall time.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

from schema.dtypes import DType
from schema.ir import Node, TensorRef

__all__ = ["OpCost", "DeviceProfile", "LinkProfile", "PROFILES", "op_cost", "tensor_bytes",
           "compute_seconds", "transfer_seconds", "is_shape_only", "is_heavy", "UNKNOWN_DIM", "Schedule"]

UNKNOWN_DIM = 1
_POINTER_BYTES = 8   # a resource handle, string or variant counts as one pointer


@dataclasses.dataclass(frozen=True)
class OpCost:
    flops: float
    bytes: float      # bytes read and written


@dataclasses.dataclass(frozen=True)
class DeviceProfile:
    flops_per_s: float
    bytes_per_s: float
    launch_s: float   # per-op overhead (Python dispatch, a kernel launch)


@dataclasses.dataclass(frozen=True)
class LinkProfile:
    bytes_per_s: float
    latency_s: float


PROFILES: dict[str, DeviceProfile] = {
    "CPU": DeviceProfile(flops_per_s=1e11, bytes_per_s=2e10, launch_s=5e-6),
    "GPU": DeviceProfile(flops_per_s=1e13, bytes_per_s=1e12, launch_s=1e-5),
}
# (source type, destination type) -> link; CPU -> CPU is a handoff between worker threads.
_LINKS: dict[tuple[str, str], LinkProfile] = {
    ("CPU", "CPU"): LinkProfile(bytes_per_s=2e10, latency_s=2e-5),
    ("CPU", "GPU"): LinkProfile(bytes_per_s=1.2e10, latency_s=1e-5),
    ("GPU", "CPU"): LinkProfile(bytes_per_s=1.2e10, latency_s=1e-5),
    ("GPU", "GPU"): LinkProfile(bytes_per_s=2.5e10, latency_s=1e-5),
}


def _elements(shape) -> int:
    if shape is None:
        return 1
    return math.prod(UNKNOWN_DIM if d is None else d for d in shape)


def tensor_bytes(ref: TensorRef) -> int:
    """Bytes of the tensor ``ref`` from its static dtype and shape."""
    dtype = ref.dtype.base
    size = dtype.itemsize if dtype.has_numpy and dtype != DType.STRING else _POINTER_BYTES
    return _elements(ref.shape) * size


def _dim(shape, axis: int) -> int:
    if shape is None or len(shape) < abs(axis) or shape[axis] is None:
        return UNKNOWN_DIM
    return shape[axis]


def _out_elements(node: Node) -> int:
    return _elements(node.out_shapes[0]) if node.out_shapes else 1


def _input_shape(node: Node, i: int):
    return node.inputs[i].shape if i < len(node.inputs) else None


def _matmul_flops(node: Node) -> float:
    # 2 * M * N * K: each output element is a K-long dot product.
    transposed = node.attrs.get("transpose_a") or node.attrs.get("adj_x")
    k = _dim(_input_shape(node, 0), -2 if transposed else -1)
    return 2.0 * _out_elements(node) * k


def _conv_flops(node: Node) -> float:
    # Filter [kh, kw, in, out]: each output element sums kh * kw * in products.
    f = _input_shape(node, 1)
    return 2.0 * _out_elements(node) * _dim(f, 0) * _dim(f, 1) * _dim(f, 2)


def _depthwise_flops(node: Node) -> float:
    f = _input_shape(node, 1)
    return 2.0 * _out_elements(node) * _dim(f, 0) * _dim(f, 1)


def _conv_backprop_input_flops(node: Node) -> float:
    f = _input_shape(node, 1)
    return 2.0 * _out_elements(node) * _dim(f, 0) * _dim(f, 1) * _dim(f, 3)


def _conv_backprop_filter_flops(node: Node) -> float:
    dy = _input_shape(node, 2)
    f = node.out_shapes[0] if node.out_shapes else None
    return 2.0 * _elements(dy) * _dim(f, 0) * _dim(f, 1) * _dim(f, 2)


def _no_flops(node: Node) -> float:
    return 0.0


_FLOPS: dict[str, Callable[[Node], float]] = {
    "MatMul": _matmul_flops, "_FusedMatMul": _matmul_flops, "BatchMatMul": _matmul_flops,
    "BatchMatMulV2": _matmul_flops, "BatchMatMulV3": _matmul_flops,
    "Conv2D": _conv_flops, "_FusedConv2D": _conv_flops,
    "DepthwiseConv2dNative": _depthwise_flops, "_FusedDepthwiseConv2dNative": _depthwise_flops,
    "Conv2DBackpropInput": _conv_backprop_input_flops,
    "Conv2DBackpropFilter": _conv_backprop_filter_flops,
    "Const": _no_flops, "Placeholder": _no_flops, "NoOp": _no_flops, "VarHandleOp": _no_flops,
    "Identity": _no_flops, "Shape": _no_flops, "ShapeN": _no_flops, "Size": _no_flops,
    "Rank": _no_flops,
}
# Ops whose FLOPs grow faster than their data (matrix products, convolutions).
_HEAVY = frozenset(op for op, formula in _FLOPS.items() if formula is not _no_flops)
# Ops that read only their inputs' shapes, not their values (TensorFlow's metadata ops).
_SHAPE_ONLY = frozenset({"Shape", "ShapeN", "Size", "Rank"})


def is_shape_only(node: Node) -> bool:
    """True for ops whose result depends on input shapes only (Shape, Size, Rank)."""
    return node.op in _SHAPE_ONLY


def is_heavy(node: Node) -> bool:
    """True for ops with more than a few FLOPs per element (MatMul, Conv2D...)."""
    return node.op in _HEAVY


def op_cost(node: Node) -> OpCost:
    """FLOPs and bytes moved by one execution of ``node``, from static shapes."""
    out_bytes = sum(tensor_bytes(r) for r in node.outputs)
    in_bytes = 0 if is_shape_only(node) else sum(tensor_bytes(r) for r in node.inputs)
    formula = _FLOPS.get(node.op)
    if formula is not None:
        flops = formula(node)
    else:
        sizes = [_elements(r.shape) for r in node.inputs] + [_elements(s) for s in node.out_shapes]
        flops = float(max(sizes, default=0))
    return OpCost(flops=flops, bytes=float(in_bytes + out_bytes))


def compute_seconds(cost: OpCost, device_type: str) -> float:
    """Roofline estimate: the slower of compute and memory traffic, plus the launch overhead."""
    p = PROFILES.get(device_type, PROFILES["CPU"])
    return max(cost.flops / p.flops_per_s, cost.bytes / p.bytes_per_s) + p.launch_s


def transfer_seconds(nbytes: float, source_type: str, dest_type: str,
                     same_device: bool = False) -> float:
    """Seconds to move ``nbytes`` between two devices; 0 on the same device."""
    if same_device:
        return 0.0
    link: Optional[LinkProfile] = _LINKS.get((source_type, dest_type))
    link = link or _LINKS[("CPU", "CPU")]
    return link.latency_s + nbytes / link.bytes_per_s


class Schedule:
    """A list-scheduling simulation: when each node would finish on the devices chosen so far.

        sched = Schedule({"/...CPU:0": "CPU", "/...GPU:0": "GPU"})
        sched.finish_on(node, device, device_of)   -> (start, compute, finish) if placed there
        sched.commit(node, device, device_of)      # the device is busy until the node finishes
        sched.pass_through(node)                   # a node not placed yet: ready, costs nothing

    An input from a node on another device arrives after ``transfer_seconds``; an input from a
    node not placed yet (it will follow its consumer) is assumed to be already there.
    """

    def __init__(self, device_types: dict[str, str]):
        self.device_types = device_types
        self.free = {device: 0.0 for device in device_types}
        self.finish: dict[Node, float] = {}
        self._costs: dict[Node, OpCost] = {}

    def cost(self, node: Node) -> OpCost:
        found = self._costs.get(node)
        if found is None:
            found = self._costs[node] = op_cost(node)
        return found

    def ready(self, node: Node, device: str, device_of: dict) -> float:
        kind = self.device_types[device]
        ready = 0.0
        for ref in node.inputs:
            arrives = self.finish.get(ref.node, 0.0)
            source = device_of.get(ref.node)
            if source is not None:
                arrives += transfer_seconds(tensor_bytes(ref), self.device_types[source], kind,
                                            source == device)
            ready = max(ready, arrives)
        for ctl in node.control_inputs:
            source = device_of.get(ctl)
            latency = 0.0 if source in (None, device) else transfer_seconds(0, "CPU", kind)
            ready = max(ready, self.finish.get(ctl, 0.0) + latency)
        return ready

    def finish_on(self, node: Node, device: str, device_of: dict) -> tuple[float, float, float]:
        start = max(self.free[device], self.ready(node, device, device_of))
        compute = compute_seconds(self.cost(node), self.device_types[device])
        return start, compute, start + compute

    def commit(self, node: Node, device: str, device_of: dict) -> float:
        _, _, finish = self.finish_on(node, device, device_of)
        self.finish[node] = finish
        self.free[device] = finish
        return finish

    def pass_through(self, node: Node) -> None:
        deps = [r.node for r in node.inputs] + list(node.control_inputs)
        self.finish[node] = max((self.finish.get(d, 0.0) for d in deps), default=0.0)

    @property
    def makespan(self) -> float:
        return max(self.finish.values(), default=0.0)
