"""Math ops that gradients are built from, with TensorFlow's names and attrs.

    BroadcastGradientArgs([2, 3, 4], [3, 1]) -> r0 [], r1 [0, 2]   (axes to sum each grad over)
    TanhGrad(y, dy) -> dy * (1 - y * y);  SqrtGrad(y, dy) -> dy * 0.5 / y
    UnsortedSegmentSum(f32[5, 3], ids i32[5], 4) -> f32[4, 3];  InvertPermutation([2, 0, 1])
    Polygamma(1., x) -> trigamma(x), the derivative of Digamma
"""
from __future__ import annotations

import numpy as np

from schema.registry import op
from schema.shapes import broadcast_inputs, same_as_input

_FLOAT_COMPLEX = "{bfloat16, half, float, double, complex64, complex128}"
_NUMBER = ("{float, double, int32, uint8, int16, int8, complex64, int64, bfloat16, uint16, "
           "complex128, half, uint32, uint64}")


def _vector_shapes(ctx):
    """Both outputs are vectors of unknown length (their length depends on the values)."""
    return [(None,), (None,)]


op("BroadcastGradientArgs", inputs=["s0: T", "s1: T"], outputs=["r0: T", "r1: T"],
   attrs=["T: {int32, int64} = int32"], shape=_vector_shapes)

# y-based derivative ops: z = dy * f'(x) written with the forward output y.
for _name in ("SigmoidGrad", "TanhGrad", "RsqrtGrad", "SqrtGrad", "ReciprocalGrad", "InvGrad"):
    op(_name, inputs=["y: T", "dy: T"], outputs=["z: T"], attrs=[f"T: {_FLOAT_COMPLEX}"],
       shape=broadcast_inputs)


def _segment_sum_shape(ctx):
    """data [d0..dk, rest...] with ids [d0..dk] -> [num_segments, rest...]."""
    data, ids = ctx.shape(0), ctx.shape(1)
    num = ctx.value(2)
    if data is None or ids is None:
        return [None]
    if len(ids) > len(data):
        raise ctx.fail(f"segment_ids shape {list(ids)} must be a prefix of data shape "
                       f"{list(data)}")
    for i, (d, s) in enumerate(zip(data, ids)):
        if d is not None and s is not None and d != s:
            raise ctx.fail(f"segment_ids shape {list(ids)} must be a prefix of data shape "
                           f"{list(data)} (dimension {i} differs)")
    if num is not None and np.size(num) != 1:
        raise ctx.fail("num_segments should be a scalar")
    first = None if num is None else int(np.asarray(num).reshape(-1)[0])
    if first is not None and first < 0:
        raise ctx.fail(f"num_segments must be non-negative, got {first}")
    return [(first,) + tuple(data[len(ids):])]


op("UnsortedSegmentSum", inputs=["data: T", "segment_ids: Tindices",
                                 "num_segments: Tnumsegments"],
   outputs=["output: T"],
   attrs=[f"T: {_NUMBER}", "Tindices: {int16, int32, int64}",
          "Tnumsegments: {int32, int64} = int32"],
   shape=_segment_sum_shape)


def _invert_permutation_shape(ctx):
    shape = ctx.shape(0)
    if shape is not None and len(shape) != 1:
        raise ctx.fail(f"x must be a vector, but has shape {list(shape)}")
    return [shape]


op("InvertPermutation", inputs=["x: T"], outputs=["y: T"], attrs=["T: {int32, int64} = int32"],
   shape=_invert_permutation_shape)

# Cumsum and Cumprod (Prod's gradient uses Cumprod) are declared in schema/ops/onnx_ext.py.

# Polygamma(a, x): the a-th derivative of digamma (Digamma's gradient is Polygamma(1, x)).
op("Polygamma", inputs=["a: T", "x: T"], outputs=["z: T"], attrs=["T: {float, double}"],
   shape=broadcast_inputs)
