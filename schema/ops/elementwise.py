"""Elementwise ops: unary math, binary arithmetic with broadcasting, comparisons, logic, Cast.

    AddV2(f32[3,1,4], f32[5,1]) -> f32[3,5,4];  Less(i32[2], i32[]) -> bool[2]
"""
from __future__ import annotations

from schema.registry import op
from schema.shapes import broadcast_inputs, same_as_input

_FLOAT = "{bfloat16, half, float, double}"
_FLOAT_COMPLEX = "{bfloat16, half, float, double, complex64, complex128}"
_NUMBER = ("{bfloat16, half, float, double, uint8, int8, uint16, int16, int32, uint32, "
           "uint64, int64, complex64, complex128}")
_SIGNED = "{bfloat16, half, float, double, int8, int16, int32, int64, complex64, complex128}"
_REAL = "{bfloat16, half, float, double, uint8, int8, uint16, int16, int32, uint32, uint64, int64}"

# Unary ops: (name, allowed types of T). Output has the input's dtype and shape.
_UNARY = [
    ("Neg", _SIGNED), ("Abs", "{bfloat16, half, float, double, int8, int16, int32, int64}"),
    ("Sign", _SIGNED), ("Exp", _FLOAT_COMPLEX), ("Expm1", _FLOAT_COMPLEX),
    ("Log", _FLOAT_COMPLEX), ("Log1p", _FLOAT_COMPLEX), ("Sqrt", _FLOAT_COMPLEX),
    ("Rsqrt", _FLOAT_COMPLEX), ("Square", _NUMBER), ("Reciprocal", _SIGNED),
    ("Inv", _SIGNED), ("Tanh", _FLOAT_COMPLEX), ("Sigmoid", _FLOAT_COMPLEX),
    ("Sin", _FLOAT_COMPLEX), ("Cos", _FLOAT_COMPLEX), ("Tan", _FLOAT_COMPLEX),
    ("Asin", _FLOAT_COMPLEX), ("Acos", _FLOAT_COMPLEX), ("Atan", _FLOAT_COMPLEX),
    ("Sinh", _FLOAT_COMPLEX), ("Cosh", _FLOAT_COMPLEX), ("Asinh", _FLOAT_COMPLEX),
    ("Acosh", _FLOAT_COMPLEX), ("Atanh", _FLOAT_COMPLEX), ("Erf", _FLOAT), ("Erfc", _FLOAT),
    ("Floor", _FLOAT), ("Ceil", _FLOAT), ("Rint", _FLOAT),
    ("Round", "{bfloat16, half, float, double, int8, int16, int32, int64, complex64, complex128}"),
    ("Softsign", _FLOAT), ("Lgamma", _FLOAT), ("Digamma", _FLOAT),
]
for _name, _types in _UNARY:
    op(_name, inputs=["x: T"], outputs=["y: T"], attrs=[f"T: {_types}"], shape=same_as_input(0),
       layout="elementwise")

for _name in ("IsNan", "IsInf", "IsFinite"):
    op(_name, inputs=["x: T"], outputs=["y: bool"], attrs=[f"T: {_FLOAT}"],
       shape=same_as_input(0), layout="elementwise")

# Binary ops with broadcasting: (name, allowed types, commutative).
_BINARY = [
    ("Add", _NUMBER.replace("}", ", string}"), True), ("AddV2", _NUMBER, True),
    ("Sub", _NUMBER, False), ("Mul", _NUMBER, True), ("MulNoNan", _FLOAT_COMPLEX, True),
    ("Div", _NUMBER, False), ("RealDiv", _NUMBER, False), ("DivNoNan", _FLOAT_COMPLEX, False),
    ("FloorDiv", _NUMBER, False), ("TruncateDiv", _NUMBER, False), ("FloorMod", _REAL, False),
    ("TruncateMod", _REAL, False), ("Maximum", _REAL, True), ("Minimum", _REAL, True),
    ("Pow", _SIGNED, False), ("SquaredDifference", _SIGNED, True),
    ("Atan2", _FLOAT, False), ("Xdivy", _FLOAT_COMPLEX, False), ("Xlogy", _FLOAT_COMPLEX, False),
]
for _name, _types, _comm in _BINARY:
    op(_name, inputs=["x: T", "y: T"], outputs=["z: T"], attrs=[f"T: {_types}"],
       shape=broadcast_inputs, commutative=_comm, layout="elementwise")

for _name, _comm in (("Less", False), ("LessEqual", False), ("Greater", False),
                     ("GreaterEqual", False)):
    op(_name, inputs=["x: T", "y: T"], outputs=["z: bool"], attrs=[f"T: {_REAL}"],
       shape=broadcast_inputs, commutative=_comm, layout="elementwise")
for _name in ("Equal", "NotEqual"):
    op(_name, inputs=["x: T", "y: T"], outputs=["z: bool"],
       attrs=["T: type", "incompatible_shape_error: bool = true"],
       shape=broadcast_inputs, commutative=True, layout="elementwise")

op("LogicalAnd", inputs=["x: bool", "y: bool"], outputs=["z: bool"], shape=broadcast_inputs,
   commutative=True, layout="elementwise")
op("LogicalOr", inputs=["x: bool", "y: bool"], outputs=["z: bool"], shape=broadcast_inputs,
   commutative=True, layout="elementwise")
op("LogicalNot", inputs=["x: bool"], outputs=["y: bool"], shape=same_as_input(0),
   layout="elementwise")

op("Cast", inputs=["x: SrcT"], outputs=["y: DstT"],
   attrs=["SrcT: type", "DstT: type", "Truncate: bool = false"], shape=same_as_input(0),
   layout="elementwise")

op("AddN", inputs=["inputs: N * T"], outputs=["sum: T"],
   attrs=["N: int >= 1", f"T: {_NUMBER}"], shape=broadcast_inputs, commutative=True,
   aggregate=True, layout="elementwise")
op("ClipByValue", inputs=["t: T", "clip_value_min: T", "clip_value_max: T"],
   outputs=["output: T"], attrs=[f"T: {_NUMBER}"], shape=same_as_input(0),
   layout="elementwise")


def _select_shape(ctx):
    return [ctx.shape(1) if ctx.shape(1) is not None else ctx.shape(2)]


op("Select", inputs=["condition: bool", "t: T", "e: T"], outputs=["output: T"],
   attrs=["T: type"], shape=_select_shape)
op("SelectV2", inputs=["condition: bool", "t: T", "e: T"], outputs=["output: T"],
   attrs=["T: type"], shape=broadcast_inputs, layout="elementwise")
