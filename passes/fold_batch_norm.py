"""The arithmetic of folding per-channel affine steps (inference batch norm, constant scale and
shift) into a contraction's filter and bias; a helper of the ``fuse`` pass, not a pass itself.

    a, b = batch_norm_affine(gamma, beta, mean, variance, 1e-3)   # BN(y) = a * y + b, float64 [C]
    scale, shift = compose_affine(scale, shift, a, b)             # a * (scale * y + shift) + b
    w2 = scale_conv2d_filter(w, scale, conv)                      # filter [h, w, in, out] * scale
    Conv2D(x, w) -> FusedBatchNormV3  =>  Conv2D(x, w2) + shift

Everything is computed in float64 and cast to the graph's dtype once, by ``folded_filter`` and
the caller; ``all_finite`` tells when that cast (or the math) overflowed, so the chain is left
as it was. ``add_const`` and ``bias_const`` put the folded filter and shift into the graph.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from schema.ir import Graph, Node, TensorRef

__all__ = ["ScaleFilter", "const_value", "float_const", "per_channel_const", "PER_CHANNEL_AFFINE",
           "batch_norm_affine", "compose_affine", "scale_conv2d_filter", "scale_depthwise_filter",
           "scale_matmul_filter", "folded_filter", "all_finite", "add_const", "bias_const"]

ScaleFilter = Callable[[np.ndarray, np.ndarray, Node], np.ndarray]   # (w, scale, head) -> w'


def const_value(ref: TensorRef) -> Optional[np.ndarray]:
    """The value of a Const node's output; None for anything else."""
    value = ref.node.attrs.get("value") if ref.node.op == "Const" else None
    return value if isinstance(value, np.ndarray) else None


def float_const(ref: TensorRef) -> Optional[np.ndarray]:
    """``const_value`` of a floating-point tensor; None for any other dtype."""
    return const_value(ref) if ref.dtype.is_floating else None


def per_channel_const(ref: TensorRef, rank: int, axis: int,
                      channels: int) -> Optional[np.ndarray]:
    """A finite float constant broadcasting along ``axis`` only, as float64 [channels]; else None.

    per_channel_const(ref of Const f32[1, 1, 1, 8], 4, 3, 8) -> its 8 values as float64
    per_channel_const(ref of Const f32[2, 1, 1, 1], 4, 3, 8) -> None (varies along the batch)
    """
    value = float_const(ref)
    if value is None or value.ndim > rank:
        return None
    shape = (1,) * (rank - value.ndim) + value.shape
    if any(d != 1 for i, d in enumerate(shape) if i != axis) or shape[axis] not in (1, channels):
        return None
    flat = np.asarray(value, np.float64).reshape(-1)
    return np.broadcast_to(flat, (channels,)) if np.all(np.isfinite(flat)) else None


# Binary op with a per-channel constant c -> combine(c, x_first) -> (a, b) of y = a * x + b, or
# None where the op is not such an affine step (None for a: scale 1; for b: shift 0).
PER_CHANNEL_AFFINE: dict[str, Callable] = {
    "Add": lambda c, first: (None, c),                                   # x + c, c + x
    "AddV2": lambda c, first: (None, c),
    "Sub": lambda c, first: (None, -c) if first else (-np.ones_like(c), c),  # x - c, c - x
    "Mul": lambda c, first: (c, None),                                   # x * c, c * x
    "RealDiv": lambda c, first: (1 / c, None) if first and np.all(c != 0) else None,  # x / c
}


def batch_norm_affine(scale: np.ndarray, offset: np.ndarray, mean: np.ndarray,
                      variance: np.ndarray, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """Inference batch norm, scale * (y - mean) / sqrt(variance + epsilon) + offset, as
    y -> a * y + b:  a = scale / sqrt(variance + epsilon), b = offset - mean * a.
    """
    a = scale / np.sqrt(variance + epsilon)
    return a, offset - mean * a


def compose_affine(scale: np.ndarray, shift: np.ndarray, a: Optional[np.ndarray],
                   b: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) of y -> scale * y + shift followed by y -> a * y + b (None: 1 or 0).

    compose_affine(s, t, a, None) -> (s * a, t * a);  compose_affine(s, t, None, b) -> (s, t + b)
    """
    if a is not None:
        scale, shift = scale * a, shift * a
    if b is not None:
        shift = shift + b
    return scale, shift


def scale_conv2d_filter(w: np.ndarray, scale: np.ndarray, head: Node) -> np.ndarray:
    """Filter [h, w, in, out]: the output channel is the last axis -> w * scale."""
    return w * scale


def scale_depthwise_filter(w: np.ndarray, scale: np.ndarray, head: Node) -> np.ndarray:
    """Filter [h, w, in, multiplier]: output channel c * multiplier + m -> w * scale[c, m]."""
    return w * scale.reshape(w.shape[2:])


def scale_matmul_filter(w: np.ndarray, scale: np.ndarray, head: Node) -> np.ndarray:
    """b [k, n] -> b * scale; [n, k] with transpose_b -> b * scale[:, None]."""
    return w * (scale[:, None] if head.attrs.get("transpose_b") else scale)


def folded_filter(filter_value: np.ndarray, scale: np.ndarray, scale_filter: ScaleFilter,
                  head: Node, np_dtype) -> Optional[np.ndarray]:
    """The head's filter with ``scale`` folded in, in ``np_dtype``; None when scale is all 1.

    folded_filter(w, [2., 0.5], scale_conv2d_filter, conv, np.float32) -> float32 w * [2, 0.5]
    """
    if np.all(scale == 1):
        return None
    return scale_filter(np.asarray(filter_value, np.float64), scale, head).astype(np_dtype)


def all_finite(*arrays: Optional[np.ndarray]) -> bool:
    """True when every array given (None skipped) holds only finite values."""
    return all(np.all(np.isfinite(np.asarray(v, np.float64))) for v in arrays if v is not None)


def add_const(graph: Graph, name: str, value: np.ndarray, dtype, sources: list) -> TensorRef:
    """A new Const; it waits for what its source constants waited for (their frame)."""
    controls = list(dict.fromkeys(c for s in sources for c in s.control_inputs))
    return graph.add_node("Const", graph.unique_name(name), attrs={"value": value, "dtype": dtype},
                          device=sources[0].device, control_inputs=controls).output(0)


def bias_const(graph: Graph, refs: list, shift: np.ndarray, name: str, dtype,
               fallback: Node) -> TensorRef:
    """The shift as a [C] tensor: one of the float constants ``refs`` holding exactly it, else a
    new Const named after ``name`` next to them (or next to ``fallback`` when there are none).

    bias_const(g, [ref of Const [0.5, 1.]], array([0.5, 1.]), ...) -> that ref, no new node
    """
    consts = [r for r in refs if float_const(r) is not None]
    for ref in consts:
        value = float_const(ref)
        if value.shape == shift.shape and value.dtype == shift.dtype and np.array_equal(
                value, shift):
            return ref
    return add_const(graph, name, shift, dtype, [r.node for r in consts] or [fallback])
