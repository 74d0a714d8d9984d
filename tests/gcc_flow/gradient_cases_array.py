"""Gradient-check cases of the array and variable ops (see gradient_cases.py)."""
from __future__ import annotations

import numpy as np

import gcc_flow as gf
from gcc_flow.framework import apply_op
from gradient_cases import Case, Input, case, inp


def _i32(values):
    return np.array(values, np.int32)


@case("Reshape")
def _reshape(rng):
    x = inp(rng, [2, 3], dynamic=True)
    return Case(gf.reshape(x.tensor, [3, -1]), [x])


@case("Squeeze", "ExpandDims")
def _squeeze_expand(rng):
    x = inp(rng, [2, 1, 3])
    return Case(gf.expand_dims(gf.squeeze(x.tensor, axis=[1]), -1), [x])


@case("Transpose")
def _transpose(rng):
    x = inp(rng, [2, 3, 4])
    return Case(gf.transpose(x.tensor, [2, 0, 1]), [x])


@case("ConcatV2")
def _concat(rng):
    a, b, c = inp(rng, [2, 1]), inp(rng, [2, 3]), inp(rng, [2, 2])
    return Case(gf.concat([a.tensor, b.tensor, c.tensor], axis=-1), [a, b, c])


@case("ConcatV2")
def _concat_dynamic(rng):
    a, b = inp(rng, [2, 3], dynamic=True), inp(rng, [1, 3], dynamic=True)
    axis = gf.placeholder_with_default(np.int32(0), [])
    return Case(apply_op("ConcatV2", [[a.tensor, b.tensor], axis]), [a, b])


@case("Split")
def _split_some_outputs_unused(rng):
    """Only two of three pieces reach the output: the third's gradient is zeros."""
    x = inp(rng, [2, 6])
    first, _, third = gf.split(x.tensor, 3, axis=1)
    return Case(first * third, [x])


@case("SplitV")
def _split_v(rng):
    x = inp(rng, [5, 2])
    pieces = gf.split(x.tensor, [1, 3, 1], axis=0)
    return Case([pieces[0], pieces[1] * 2.0], [x])


@case("Pack", "Unpack")
def _pack_unpack(rng):
    a, b = inp(rng, [2, 3]), inp(rng, [2, 3])
    stacked = gf.stack([a.tensor, b.tensor], axis=1)
    rows = gf.unstack(stacked, axis=2)
    return Case([rows[0], rows[2] * rows[2]], [a, b])


@case("Slice")
def _slice(rng):
    x = inp(rng, [3, 4], dynamic=True)
    return Case(gf.slice(x.tensor, [1, 1], [2, -1]), [x])


@case("StridedSlice")
def _strided_slice(rng):
    x = inp(rng, [3, 4, 3])
    return Case(x.tensor[1:, ::-2, 2], [x])


@case("StridedSliceGrad")
def _strided_slice_grad(rng):
    dy = inp(rng, [2, 2])
    out = apply_op("StridedSliceGrad", [_i32([3, 4, 3]), _i32([1, 0, 2]), _i32([0, 0, 3]),
                                        _i32([1, -2, 1]), dy.tensor],
                   {"begin_mask": 2, "end_mask": 3, "shrink_axis_mask": 4})
    return Case(out, [dy])


@case("Pad", "PadV2")
def _pad(rng):
    x = inp(rng, [2, 3])
    padded = gf.pad(x.tensor, [[1, 0], [2, 1]])
    v2 = apply_op("PadV2", [x.tensor, _i32([[0, 1], [0, 0]]), np.float64(1.5)])
    return Case([padded, v2], [x])


def _mirror_case(mode: str) -> None:
    @case("MirrorPad")
    def build(rng):
        x = inp(rng, [3, 4])
        return Case(gf.pad(x.tensor, [[2, 1], [1, 3 if mode == "SYMMETRIC" else 2]], mode=mode),
                    [x])
    build.__name__ = f"mirror_pad_{mode.lower()}"


_mirror_case("REFLECT")
_mirror_case("SYMMETRIC")


@case("MirrorPadGrad")
def _mirror_pad_grad(rng):
    g = inp(rng, [6, 5])
    out = apply_op("MirrorPadGrad", [g.tensor, _i32([[2, 1], [1, 1]])], {"mode": "REFLECT"})
    return Case(out, [g])


@case("Tile")
def _tile(rng):
    x = inp(rng, [2, 3], dynamic=True)
    return Case(gf.tile(x.tensor, [2, 3]), [x])


@case("BroadcastTo")
def _broadcast_to(rng):
    x = inp(rng, [3, 1])
    return Case(gf.broadcast_to(x.tensor, [2, 3, 4]), [x])


@case("Fill")
def _fill(rng):
    value = inp(rng, [])
    return Case(gf.fill([2, 3], value.tensor), [value])


@case("GatherV2")
def _gather_axis0_repeated(rng):
    params = inp(rng, [4, 3], dynamic=True)
    return Case(gf.gather(params.tensor, _i32([[3, 0], [3, 1]])), [params])


@case("GatherV2")
def _gather_axis1(rng):
    params = inp(rng, [2, 4, 3])
    return Case(gf.gather(params.tensor, _i32([2, 2, 0]), axis=1), [params])


@case("GatherNd", "ScatterNd")
def _gather_scatter_nd(rng):
    params, updates = inp(rng, [3, 4]), inp(rng, [3, 4])
    gathered = gf.gather_nd(params.tensor, _i32([[2, 1], [0, 0], [2, 1]]))
    scattered = apply_op("ScatterNd", [_i32([[1], [0], [1]]), updates.tensor, _i32([3, 4])])
    return Case([gathered, scattered], [params, updates])


@case("SpaceToBatchND", "BatchToSpaceND")
def _space_batch(rng):
    x = inp(rng, [1, 3, 4, 1])
    s2b = apply_op("SpaceToBatchND", [x.tensor, _i32([2, 2]), _i32([[1, 0], [0, 0]])])
    b2s = apply_op("BatchToSpaceND", [s2b * s2b, _i32([2, 2]), _i32([[0, 1], [0, 0]])])
    return Case(b2s, [x])


@case("Identity", "IdentityN", "Snapshot", "EnsureShape", "PlaceholderWithDefault")
def _identities(rng):
    x, y = inp(rng, [2, 3]), inp(rng, [3])
    a, b = gf.identity_n([x.tensor, y.tensor])
    snap = apply_op("Snapshot", [gf.identity(a)])
    shaped = gf.ensure_shape(snap, [2, 3])
    default = gf.placeholder_with_default(b, [3])
    return Case(shaped * default, [x, y])


@case("ReadVariableOp")
def _read_variable(rng):
    """Differentiates w.r.t. the Variable; the finite differences move the value it reads."""
    var = gf.Variable(np.zeros((2, 3)), name="v")
    read = var.value()
    value = rng.uniform(-1, 1, (2, 3))
    return Case(gf.sin(read) * read, [Input(read, value, x=var)])
