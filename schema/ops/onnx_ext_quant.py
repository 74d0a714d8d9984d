"""TensorFlow's Bitcast, which the ONNX importer needs for BitCast (opset 26).

    Bitcast(f32[2, 3], type=int32)  -> i32[2, 3]    same bits, read as another type
    Bitcast(f64[3], type=int32)     -> i32[3, 2]    a wider input gains a last dim
    Bitcast(u8[3, 4], type=float32) -> f32[3]       a narrower input loses its last dim,
                                                    which must equal the size ratio

As TensorFlow's, on the little-endian byte layout of numpy arrays; the float8 types are
accepted beyond TensorFlow's list (one byte each, like int8).
"""
from __future__ import annotations

from schema.registry import op

__all__ = ["bitcast_shape", "BITCAST_TYPES"]

BITCAST_TYPES = ("{bfloat16, half, float, double, int64, int32, uint8, uint16, uint32, uint64, "
                 "int8, int16, complex64, complex128, qint8, quint8, qint16, quint16, qint32, "
                 "float8_e5m2, float8_e4m3fn, float8_e4m3fnuz, float8_e5m2fnuz}")


def bitcast_shape(shape, in_size: int, out_size: int, fail=ValueError):
    """The output shape of Bitcast: ``shape`` (None when unknown) for items of ``in_size``
    bytes read as items of ``out_size`` bytes; ``fail(message)`` gives the error to raise."""
    if in_size == out_size or shape is None:
        return shape if in_size == out_size else None
    if in_size > out_size:
        if in_size % out_size:
            raise fail(f"cannot bitcast {in_size}-byte items into {out_size}-byte items")
        return tuple(shape) + (in_size // out_size,)
    ratio = out_size // in_size
    if out_size % in_size or not shape or shape[-1] not in (None, ratio):
        raise fail(f"bitcasting {in_size}-byte items into {out_size}-byte items needs a last "
                   f"dim of {ratio}, got shape {list(shape)}")
    return tuple(shape[:-1])


def _shape(ctx):
    size_in, size_out = ctx.attr("T").np.itemsize, ctx.attr("type").np.itemsize
    return [bitcast_shape(ctx.shape(0), size_in, size_out, ctx.fail)]


op("Bitcast", inputs=["input: T"], outputs=["output: type"],
   attrs=[f"T: {BITCAST_TYPES}", f"type: {BITCAST_TYPES}"], shape=_shape)
