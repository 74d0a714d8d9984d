"""Kernels of schema/ops/onnx_ext_quant.py: TensorFlow's Bitcast as a numpy view.

    Bitcast(np.float32([1.0]), type=int32) -> [1065353216]
    Bitcast(np.float64([1.0]), type=int32) -> [[0, 1072693248]]   (little-endian halves)
"""
from __future__ import annotations

import sys

import numpy as np

from runtime.kernels import KernelContext, kernel
from schema.ops.onnx_ext_quant import bitcast_shape


@kernel("Bitcast")
def bitcast(ctx: KernelContext):
    target = np.dtype(ctx.out_np())
    if sys.byteorder != "little":  # the byte layout TensorFlow and ONNX define
        raise ctx.fail("Bitcast needs a little-endian host")

    def run(x):
        x = np.asarray(x)
        if not x.dtype.isnative:
            x = x.astype(x.dtype.newbyteorder("="))
        shape = bitcast_shape(x.shape, x.dtype.itemsize, target.itemsize, ctx.fail)
        data = np.ascontiguousarray(x).reshape(-1).view(np.uint8)
        return data.view(target).reshape(shape)
    return run
