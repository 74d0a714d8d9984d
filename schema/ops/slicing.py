"""StridedSlice's semantics, shared by its shape function and its kernel: masks, ellipsis, new
axes, shrinking, negative strides, and clamping exactly like TensorFlow's ValidateStridedSliceOp.

    x[1:, ::-1, 2] on a [4,5,6] tensor:
    strided_slice((4, 5, 6), [1, 0, 2], [0, 0, 3], [1, -1, 1], 2, 3, 0, 0, 4).final_shape
        -> [3, 5]
"""
from __future__ import annotations

from typing import Optional, Sequence

from schema.ops.array_rules import Dim, RuleError

__all__ = ["SliceSpec", "strided_slice"]

_NEW_AXIS, _SHRINK = -1, -2


class SliceSpec:
    """A StridedSlice resolved against the input shape (TensorFlow's "dense spec").

    begin/end/strides have one entry per input dim, canonical (clamped, non-negative except an
    end of -1 for a reversed slice that runs through index 0); None where unknown at build time.
    ``sizes`` is the shape before new axes are added and shrunk axes removed; ``final_shape``
    the op's output shape.
    """

    def __init__(self, begin, end, strides, sizes, final_shape):
        self.begin, self.end, self.strides = begin, end, strides
        self.sizes: list[Dim] = sizes
        self.final_shape: list[Dim] = final_shape

    def as_slices(self) -> tuple:
        """numpy slices reproducing the dense spec: x[spec.as_slices()] has shape ``sizes``."""
        out = []
        for b, e, s, n in zip(self.begin, self.end, self.strides, self.sizes):
            out.append(slice(0, 0) if n == 0 else slice(b, None if e < 0 else e, s))
        return tuple(out)


def strided_slice(shape: Sequence[Dim], begin: Optional[Sequence[int]],
                  end: Optional[Sequence[int]], strides: Sequence[int], begin_mask: int = 0,
                  end_mask: int = 0, ellipsis_mask: int = 0, new_axis_mask: int = 0,
                  shrink_axis_mask: int = 0) -> SliceSpec:
    """StridedSlice's semantics: ``x[1:, ::-1, 2]`` on [4,5,6] is begin [1,0,2], end [0,0,3],
    strides [1,-1,1], begin_mask 0b010, end_mask 0b011, shrink_axis_mask 0b100 -> [3, 5].

    ``begin``/``end`` None: values unknown (build time); ``shape`` dims may be None.
    """
    n = len(strides)
    if (begin is not None and len(begin) != n) or (end is not None and len(end) != n):
        raise RuleError(f"Expected begin, end, and strides to be 1D equal size tensors, but got "
                        f"shapes [{len(begin) if begin is not None else '?'}], "
                        f"[{len(end) if end is not None else '?'}], and [{n}] instead.")
    if ellipsis_mask & (ellipsis_mask - 1):
        raise RuleError("Multiple ellipses in slice spec not allowed")
    dense = _dense_spec(len(shape), n, begin, end, strides, begin_mask, end_mask,
                        ellipsis_mask, new_axis_mask, shrink_axis_mask)
    d_begin, d_end, d_strides, d_bmask, d_emask, d_shrink, gather = dense
    sizes: list[Dim] = []
    for i, dim in enumerate(shape):
        stride = d_strides[i]
        if stride == 0:
            raise RuleError(f"strides[{i}] must be non-zero")
        shrink = bool(d_shrink >> i & 1)
        if dim is None:
            sizes.append(1 if shrink else None)
            continue
        if shrink and stride <= 0:
            raise RuleError("only stride 1 allowed on non-range indexing.")
        masks = (d_bmask >> i & 1, d_emask >> i & 1)
        interval = None
        if begin is not None and end is not None:
            d_begin[i], d_end[i] = _canonical_range(d_begin[i], d_end[i], stride, dim, masks,
                                                    shrink, i)
            interval = d_end[i] - d_begin[i]
        elif shrink:
            interval = 1
        elif masks == (1, 1):
            interval = -dim if stride < 0 else dim
        sizes.append(None if interval is None else _interval_size(interval, stride))
    final = [1 if g == _NEW_AXIS else sizes[g] for g in gather if g != _SHRINK]
    return SliceSpec(d_begin, d_end, d_strides, sizes, final)


def _dense_spec(rank, n, begin, end, strides, begin_mask, end_mask, ellipsis_mask,
                new_axis_mask, shrink_axis_mask):
    """Expands the ellipsis (an implicit one at the end) to one entry per input dim."""
    seen, new_after = False, 0
    for i in range(n):
        if seen and new_axis_mask >> i & 1:
            new_after += 1
        if ellipsis_mask >> i & 1:
            seen = True
    if not seen:
        ellipsis_mask |= 1 << n
        n += 1
    d_begin, d_end, d_strides = [0] * rank, [0] * rank, [1] * rank
    d_bmask = d_emask = d_shrink = 0
    gather: list[int] = []
    full = 0
    for i in range(n):
        bit = 1 << i
        if ellipsis_mask & bit:
            stop = min(rank - (n - i) + 1 + new_after, rank)
            while full < stop:
                d_bmask, d_emask = d_bmask | 1 << full, d_emask | 1 << full
                gather.append(full)
                full += 1
        elif new_axis_mask & bit:
            gather.append(_NEW_AXIS)
        else:
            if full == rank:
                raise RuleError(f"Index out of range using input dim {full}; input has only "
                                f"{rank} dims")
            d_begin[full] = begin[i] if begin is not None else None
            d_end[full] = end[i] if end is not None else None
            d_strides[full] = strides[i]
            d_bmask |= (1 << full) if begin_mask & bit else 0
            d_emask |= (1 << full) if end_mask & bit else 0
            if shrink_axis_mask & bit:
                gather.append(_SHRINK)
                d_shrink |= 1 << full
            else:
                gather.append(full)
            full += 1
    return d_begin, d_end, d_strides, d_bmask, d_emask, d_shrink, gather


def _canonical_range(b: int, e: int, stride: int, dim: int, masks, shrink: bool, i: int):
    if shrink:  # x[-1]: begin -1 -> dim-1, end recomputed as begin + 1
        b = b + dim if b < 0 else b
        if not 0 <= b < dim:
            raise RuleError(f"slice index {b} of dimension {i} out of bounds.")
        return b, b + 1
    lo, hi = (0, dim) if stride > 0 else (-1, dim - 1)

    def canonical(x: int, c: int) -> int:
        if masks[c]:
            return (lo, hi)[c] if stride > 0 else (hi, lo)[c]
        x = x + dim if x < 0 else x
        return min(max(x, lo), hi)
    return canonical(b, 0), canonical(e, 1)


def _interval_size(interval: int, stride: int) -> int:
    if interval == 0 or (interval < 0) != (stride < 0):
        return 0
    return -(-abs(interval) // abs(stride))
