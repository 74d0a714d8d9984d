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
           "squeeze_axes", "range_size", "tile_dims", "fmt_shape", "concat_dims", "pack_dims",
           "unpack_dims", "gather_dims", "gather_nd_dims", "one_hot_dims", "expand_dims_axis"]

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



def concat_dims(shapes: Sequence[Sequence[Dim]], axis: int) -> list[Dim]:
    """ConcatV2: equal ranks, equal dims off the axis; the axis dims add up."""
    rank = len(shapes[0])
    if rank == 0:
        raise RuleError("ConcatOp : Can't concatenate scalars (use tf.stack instead)")
    axis = check_axis(axis, rank, "ConcatOp : concatenation axis")
    out: list[Dim] = list(shapes[0])
    for k, shape in enumerate(shapes[1:], 1):
        if len(shape) != rank:
            raise RuleError(f"ConcatOp : Ranks of all input tensors should match: shape[0] = "
                            f"{fmt_shape(shapes[0])} vs. shape[{k}] = {fmt_shape(shape)}")
        for d in range(rank):
            if d == axis:
                out[d] = None if out[d] is None or shape[d] is None else out[d] + shape[d]
            elif out[d] is not None and shape[d] is not None and out[d] != shape[d]:
                raise RuleError(f"ConcatOp : Dimension {d} in both shapes must be equal: "
                                f"shape[0] = {fmt_shape(shapes[0])} vs. shape[{k}] = "
                                f"{fmt_shape(shape)}")
            elif out[d] is None:
                out[d] = shape[d]
    return out


def pack_dims(shapes: Sequence[Sequence[Dim]], axis: int) -> list[Dim]:
    """Pack: all inputs of one shape; a new dim of size len(shapes) at ``axis``."""
    rank = len(shapes[0])
    if not -(rank + 1) <= axis < rank + 1:
        raise RuleError(f"axis = {axis} not in [{-(rank + 1)}, {rank + 1})")
    axis = axis + rank + 1 if axis < 0 else axis
    merged: list[Dim] = list(shapes[0])
    for k, shape in enumerate(shapes[1:], 1):
        clash = len(shape) != rank or any(a is not None and b is not None and a != b
                                          for a, b in zip(merged, shape))
        if clash:
            raise RuleError(f"Shapes of all inputs must match: values[0].shape = "
                            f"{fmt_shape(shapes[0])} != values[{k}].shape = {fmt_shape(shape)}")
        merged = [b if a is None else a for a, b in zip(merged, shape)]
    return merged[:axis] + [len(shapes)] + merged[axis:]


def unpack_dims(shape: Sequence[Dim], num: int, axis: int) -> tuple[int, list[Dim]]:
    """Unpack: (the axis made non-negative, the shape of each of the ``num`` outputs)."""
    rank = len(shape)
    if not -rank <= axis < rank:
        raise RuleError(f"axis = {axis} not in [{-rank}, {rank})")
    axis = axis + rank if axis < 0 else axis
    if shape[axis] is not None and shape[axis] != num:
        raise RuleError(f"Input shape axis {axis} must equal {num}, got shape "
                        f"{fmt_shape(shape)}")
    return axis, list(shape[:axis]) + list(shape[axis + 1:])


def expand_dims_axis(axis: int, rank: int) -> int:
    if not -rank - 1 <= axis <= rank:
        raise RuleError(f"Tried to expand dim index {axis} for tensor with {rank} dimensions.")
    return axis + rank + 1 if axis < 0 else axis


def gather_dims(params: Sequence[Dim], indices: Sequence[Dim], axis: int,
                batch_dims: int) -> tuple[int, int, list[Dim]]:
    """GatherV2: (axis, batch_dims, output shape) with batch_dims and axis made non-negative.

    params [2,3,4], indices [5], axis 1 -> [2,5,4]; batch_dims b: the first b dims of params
    and indices are paired, output params[:axis] + indices[b:] + params[axis+1:].
    """
    p_rank, i_rank = len(params), len(indices)
    if not -p_rank <= axis < p_rank:
        raise RuleError(f"Expected axis in the range [{-p_rank}, {p_rank}), but got {axis}")
    axis = axis + p_rank if axis < 0 else axis
    if batch_dims:
        if not -i_rank <= batch_dims <= i_rank:
            raise RuleError(f"Expected batch_dims in the range [{-i_rank}, {i_rank}], but got "
                            f"{batch_dims}")
        batch_dims = batch_dims + i_rank if batch_dims < 0 else batch_dims
        if batch_dims >= p_rank:
            raise RuleError(f"batch_dims ({batch_dims}) must be less than rank(params) "
                            f"({p_rank}).")
        if axis < batch_dims:
            raise RuleError(f"batch_dims ({batch_dims}) must be less than or equal to axis "
                            f"({axis}).")
        for i in range(batch_dims):
            if params[i] is not None and indices[i] is not None and params[i] != indices[i]:
                raise RuleError(f"params.shape[{i}]: {params[i]} should be equal to "
                                f"indices.shape[{i}]: {indices[i]}")
    out = list(params[:axis]) + list(indices[batch_dims:]) + list(params[axis + 1:])
    return axis, batch_dims, out


def gather_nd_dims(params: Sequence[Dim], indices: Sequence[Dim]) -> Optional[list[Dim]]:
    """GatherNd: indices [..., d] pick slices params[d:]; None when d is unknown."""
    if len(indices) < 1:
        raise RuleError("indices must be at least a vector")
    depth = indices[-1]
    if depth is None:
        return None
    if depth > len(params):
        raise RuleError(f"index innermost dimension length must be <= params rank; saw: "
                        f"{depth} vs. {len(params)}")
    return list(indices[:-1]) + list(params[depth:])


def one_hot_dims(indices: Sequence[Dim], depth: Dim, axis: int) -> list[Dim]:
    """OneHot: a new dim of size ``depth`` at ``axis`` (-1: last)."""
    rank = len(indices)
    if not -1 <= axis <= rank:
        raise RuleError(f"Expected axis to be -1 or between [0, {rank + 1}).  But received: "
                        f"{axis}")
    if depth is not None and depth < 0:
        raise RuleError(f"depth must be non-negative, got: {depth}")
    axis = rank if axis == -1 else axis
    return list(indices[:axis]) + [depth] + list(indices[axis:])
