"""ONNX sequences and optionals, which TensorFlow has no ops for, as extension ops prefixed
``Onnx``. A sequence is a ``variant`` scalar holding a tuple of arrays; an optional is a
``variant`` scalar holding its value (an array or a sequence) or nothing (None).

    OnnxSequenceConstruct(f32[2], f32[3])          -> var[]  (two tensors)
    OnnxSequenceInsert(var[], f32[4], i64[0])      -> var[]  (an empty position: at the back)
    OnnxSequenceAt(var[], i64[]) element_dtype=f32 -> f32[?...]
    OnnxConcatFromSequence(var[]) axis=0 new_axis=true -> the tensors stacked
    OnnxSplitToSequence(f32[3,6], i64[]) axis=1    -> var[]  (pieces of 2, 2, 2 columns)
    OnnxOptional(f32[4]) -> var[];  OnnxOptionalHasElement(var[]) -> bool[]

Element dtypes are attrs where an op produces a tensor (element_dtype, T); a sequence itself
does not carry one in the graph. Positions are int32/int64 scalars (or of shape [1]); an
absent optional position is given as a tensor of shape [0].
"""
from __future__ import annotations

from schema.registry import op
from schema.shapes import scalar, unknown

__all__: list[str] = []

_INDEX = "{int32, int64}"

op("OnnxSequenceEmpty", outputs=["handle: variant"], attrs=["element_dtype: type"],
   shape=scalar)
op("OnnxSequenceConstruct", inputs=["tensors: N * T"], outputs=["handle: variant"],
   attrs=["N: int >= 1", "T: type"], shape=scalar)
op("OnnxSequenceInsert", inputs=["handle: variant", "tensor: T", "position: Tidx"],
   outputs=["output_handle: variant"], attrs=["T: type", f"Tidx: {_INDEX} = int64"],
   shape=scalar)
op("OnnxSequenceErase", inputs=["handle: variant", "position: Tidx"],
   outputs=["output_handle: variant"], attrs=[f"Tidx: {_INDEX} = int64"], shape=scalar)
op("OnnxSequenceAt", inputs=["handle: variant", "position: Tidx"],
   outputs=["tensor: element_dtype"], attrs=["element_dtype: type", f"Tidx: {_INDEX} = int64"],
   shape=unknown)
op("OnnxSequenceLength", inputs=["handle: variant"], outputs=["length: int64"], shape=scalar)
op("OnnxConcatFromSequence", inputs=["handle: variant"], outputs=["output: element_dtype"],
   attrs=["element_dtype: type", "axis: int", "new_axis: bool = false"], shape=unknown)
op("OnnxSplitToSequence", inputs=["input: T", "split: Tsplit"], outputs=["handle: variant"],
   attrs=["T: type", f"Tsplit: {_INDEX} = int64", "axis: int = 0", "keepdims: bool = true"],
   shape=scalar)

op("OnnxOptional", inputs=["value: T"], outputs=["optional: variant"], attrs=["T: type"],
   shape=scalar)
op("OnnxOptionalNone", outputs=["optional: variant"], shape=scalar)
op("OnnxOptionalHasElement", inputs=["optional: variant"], outputs=["has_element: bool"],
   shape=scalar)
op("OnnxOptionalGetElement", inputs=["optional: variant"], outputs=["value: T"],
   attrs=["T: type"], shape=unknown)
