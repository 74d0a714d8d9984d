"""The shape rules of the array ops, shared by their shape functions and their kernels, so that a
malformed shape/axis/perm is refused with the same words at build time and at run time.

    reshape_dims((2, 3, 4), [-1, 6])          -> [4, 6]
    normalize_perm([-1, 0, 1], 3)             -> [2, 0, 1]
    split_sizes([1, -1, 1], 4)                -> [1, 2, 1]
    slice_bounds([0, 1], [-1, 2], (3, 4))     -> [(0, 3), (1, 2)]

Every function takes plain Python ints (``None`` for a dim unknown at build time where noted)
and raises RuleError, which the callers turn into ``ctx.fail(...)`` (a ValidationError when the
graph is built, an ExecutionError when it runs). Messages follow TensorFlow's CPU kernels.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

__all__ = ["RuleError", "reshape_dims", "normalize_perm", "check_axis", "split_sizes",
           "even_split", "slice_bounds", "check_paddings", "broadcast_to_dims",
           "squeeze_axes", "range_size", "tile_dims", "fmt_shape"]

Dim = Optional[int]


class RuleError(ValueError):
    """A shape rule is broken; the message says which, without naming the node."""


def fmt_shape(shape: Sequence[Dim]) -> str:
    """(2, None, 4) -> '[2,?,4]' (TensorFlow's way of printing shapes)."""
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def check_axis(axis: int, rank: int, what: str = "axis") -> int:
    """An axis in [-rank, rank), made non-negative."""
    if not -rank <= axis < rank:
        raise RuleError(f"{what} {axis} is out of range: expected it in [{-rank}, {rank})")
    return axis + rank if axis < 0 else axis


def reshape_dims(in_shape: Optional[Sequence[Dim]], sizes: Sequence[int]) -> list[Dim]:
    """Reshape's target shape, the -1 resolved when the input size is known.

    ``in_shape`` None or with unknown dims: the -1 stays None and no count check is made.
    """
    unknown, product, has_zero = None, 1, False
    for i, size in enumerate(sizes):
        if size == -1:
            if unknown is not None:
                raise RuleError(f"Only one input size may be -1, not both {unknown} and {i}")
            unknown = i
        elif size < 0:
            raise RuleError(f"Size {i} must be non-negative, not {size}")
        elif size == 0:
            has_zero = True
        else:
            product *= size
    out: list[Dim] = list(sizes)
    if in_shape is None or any(d is None for d in in_shape):
        if unknown is not None:
            out[unknown] = None
        return out
    n = math.prod(in_shape)
    if unknown is not None:
        # Like TensorFlow, zero dims of the input are left out when the target has a zero dim,
        # so that reshape(zeros([0, 3]), [-1, 0]) -> [3, 0].
        counted = math.prod(d for d in in_shape if d > 0 or not has_zero)
        missing = counted // product
        if not (has_zero and 0 in in_shape) and product * missing != counted:
            raise RuleError(f"Input to reshape is a tensor with {n} values, but the requested "
                            f"shape requires a multiple of {product}")
        out[unknown] = missing
    if math.prod(out) != n:
        raise RuleError(f"Input to reshape is a tensor with {n} values, but the requested shape "
                        f"has {math.prod(out)}")
    return out


def normalize_perm(perm: Sequence[int], rank: int) -> list[int]:
    """Transpose's permutation, negative entries counted from the end."""
    if len(perm) != rank:
        raise RuleError(f"transpose expects a vector of size {rank}. But input(1) is a vector "
                        f"of size {len(perm)}")
    out = []
    for d in perm:
        d = d + rank if d < 0 else d
        if not 0 <= d < rank:
            raise RuleError(f"{d} is out of range [0 .. {rank})")
        out.append(d)
    missing = sorted(set(range(rank)) - set(out))
    if missing:
        raise RuleError(f"{missing[0]} is missing from {{{','.join(map(str, perm))}}}: perm "
                        f"has duplicates")
    return out


def even_split(dim: Dim, num_split: int, axis: int) -> Dim:
    """The size of each piece when Split cuts ``dim`` into ``num_split`` equal parts."""
    if dim is None:
        return None
    if dim % num_split:
        raise RuleError(f"Number of ways to split should evenly divide the split dimension, but "
                        f"got split_dim {axis} (size = {dim}) and num_split {num_split}")
    return dim // num_split


def split_sizes(sizes: Sequence[int], dim: Dim) -> list[Dim]:
    """SplitV's sizes with the one -1 resolved (kept None while ``dim`` is unknown)."""
    unknown = [i for i, s in enumerate(sizes) if s == -1]
    if len(unknown) > 1:
        raise RuleError("There can only be one -1 in the input.")
    for i, s in enumerate(sizes):
        if s < -1:
            raise RuleError(f"Split size at index {i} must be >= 0. Got: {s}")
    known = sum(s for s in sizes if s != -1)
    out: list[Dim] = list(sizes)
    if dim is None:
        if unknown:
            out[unknown[0]] = None
        return out
    if (not unknown and known != dim) or (unknown and known > dim):
        raise RuleError("Determined shape must either match input shape along split_dim "
                        "exactly if fully specified, or be less than the size of the input "
                        f"along split_dim if not fully specified.  Got: {known}")
    if unknown:
        out[unknown[0]] = dim - known
    return out


def slice_bounds(begin: Sequence[int], size: Sequence[int],
                 shape: Sequence[Dim]) -> list[tuple[int, Dim]]:
    """Slice's (begin, size) per dim, size -1 meaning "to the end"."""
    if len(begin) != len(shape) or len(size) != len(shape):
        raise RuleError(f"Expected begin and size arguments to be 1-D tensors of size "
                        f"{len(shape)}, but got shapes [{len(begin)}] and [{len(size)}] instead.")
    out: list[tuple[int, Dim]] = []
    for i, (b, s, d) in enumerate(zip(begin, size, shape)):
        if d is None:
            if b < 0 or s < -1:
                raise RuleError(f"Expected begin[{i}] >= 0 and size[{i}] >= -1, got {b} and {s}")
            out.append((b, None if s == -1 else s))
            continue
        if not 0 <= b <= d:
            raise RuleError(f"Expected begin[{i}] in [0, {d}], but got {b}")
        s = d - b if s == -1 else s
        if not 0 <= s <= d - b:
            raise RuleError(f"Expected size[{i}] in [0, {d - b}], but got {s}")
        out.append((b, s))
    return out


def check_paddings(paddings, shape: Sequence[Dim], mode: str = "CONSTANT") -> list[Dim]:
    """Pad/PadV2/MirrorPad: paddings is [rank, 2] and non-negative; the padded shape."""
    pad_shape = tuple(getattr(paddings, "shape", ()))
    if len(pad_shape) != 2 or pad_shape[1] != 2:
        raise RuleError(f"paddings must be a matrix with 2 columns: {fmt_shape(pad_shape)}")
    if pad_shape[0] != len(shape):
        raise RuleError(f"The first dimension of paddings must be the rank of inputs"
                        f"{fmt_shape(pad_shape)} {fmt_shape(shape)}")
    out: list[Dim] = []
    for (before, after), d in zip(paddings.tolist(), shape):
        if before < 0 or after < 0:
            raise RuleError(f"Paddings must be non-negative: {before} {after}")
        if d is not None and mode == "REFLECT" and (before >= d or after >= d):
            raise RuleError(f"paddings must be less than the dimension size: {before}, {after} "
                            f"not less than {d}")
        if d is not None and mode == "SYMMETRIC" and (before > d or after > d):
            raise RuleError(f"paddings must be no greater than the dimension size: {before}, "
                            f"{after} greater than {d}")
        out.append(None if d is None else d + before + after)
    return out


def tile_dims(shape: Sequence[Dim], multiples: Sequence[int]) -> list[Dim]:
    if len(multiples) != len(shape):
        raise RuleError(f"Expected multiples argument to be a vector of length {len(shape)} but "
                        f"got length {len(multiples)}")
    for i, m in enumerate(multiples):
        if m < 0:
            raise RuleError(f"Expected multiples[{i}] >= 0, but got {m}")
    return [None if d is None else d * m for d, m in zip(shape, multiples)]


def broadcast_to_dims(in_shape: Sequence[Dim], target: Sequence[int]) -> list[int]:
    """BroadcastTo: the input broadcasts one way only, onto ``target``."""
    for i, d in enumerate(target):
        if d < 0:
            raise RuleError(f"BroadcastTo shape must be non-negative, got {d} at index {i}")
    if len(in_shape) > len(target):
        raise RuleError(f"Rank of input ({len(in_shape)}) must be no greater than rank of "
                        f"output shape ({len(target)}).")
    for d, t in zip(reversed(in_shape), reversed(target)):
        if d is not None and d != 1 and d != t:
            raise RuleError(f"Unable to broadcast tensor of shape {fmt_shape(in_shape)} to "
                            f"tensor of shape {fmt_shape(target)}")
    return list(target)


def squeeze_axes(shape: Sequence[Dim], squeeze_dims: Sequence[int]) -> Optional[list[int]]:
    """The axes Squeeze removes; None when that depends on dims unknown at build time."""
    rank = len(shape)
    if not squeeze_dims:
        if any(d is None for d in shape):
            return None
        return [i for i, d in enumerate(shape) if d == 1]
    axes = set()
    for axis in squeeze_dims:
        if not -rank <= axis < rank:
            raise RuleError(f"Tried to squeeze dim index {axis} for tensor with {rank} "
                            f"dimensions.")
        axis = axis + rank if axis < 0 else axis
        if shape[axis] is not None and shape[axis] != 1:
            raise RuleError(f"Can not squeeze dim[{axis}], expected a dimension of 1, got "
                            f"{shape[axis]}")
        axes.add(axis)
    return sorted(axes)


def range_size(start, limit, delta, is_integer: bool) -> int:
    """Range's element count; ``start``/``limit``/``delta`` are numpy scalars of the op's dtype."""
    if delta == 0:
        raise RuleError(f"Requires delta != 0: {delta}")
    if delta > 0 and start > limit:
        raise RuleError(f"Requires start <= limit when delta > 0: {start}/{limit}")
    if delta < 0 and start < limit:
        raise RuleError(f"Requires start >= limit when delta < 0: {start}/{limit}")
    if is_integer:  # exact, as TensorFlow's divup on the integer values
        span, step = abs(int(limit) - int(start)), abs(int(delta))
        return (span + step - 1) // step
    # In the op's own float type, like TensorFlow: ceil(|(limit - start) / delta|).
    ratio = abs((limit - start) / delta)
    if not math.isfinite(float(ratio)) or float(ratio) > 2 ** 63 - 1:
        raise RuleError(f"Requires ((limit - start) / delta) <= {2 ** 63 - 1}")
    return int(math.ceil(float(ratio)))


# -- StridedSlice ---------------------------------------------------------------------------------

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
    strides [1,-1,1], begin_mask 0b011, end_mask 0b011, shrink_axis_mask 0b100 -> [3, 5].

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
