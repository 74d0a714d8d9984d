"""Small random inputs for every op with a GPU kernel body: the GPU kernel tests run each case on
the device and on the numpy kernel and compare.

    cases_for("Conv2D") -> [Case("Conv2D", [x f32[2,9,9,3], w f32[3,3,3,4]], {...}), ...]
    build_node(case) -> the IR node (made with gcc_flow.framework.apply_op, Const inputs)

A case lists one entry per declared input argument (a list for ``N * T`` args), as apply_op takes
them; ``flat_inputs(case)`` gives the arrays a kernel is called with.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

import gcc_flow as gf
from gcc_flow.framework import apply_op

__all__ = ["Case", "CASES", "NOT_KERNEL_TESTED", "cases_for", "build_node", "flat_inputs"]


@dataclasses.dataclass
class Case:
    op: str
    inputs: list
    attrs: dict = dataclasses.field(default_factory=dict)
    label: str = ""
    rtol: float = 2e-5
    atol: float = 2e-5

    @property
    def id(self) -> str:
        return f"{self.op}-{self.label}" if self.label else self.op


# Ops with a GPU body that these per-kernel tests do not call directly, and where they are tested.
NOT_KERNEL_TESTED = {
    "Placeholder": "raises unless fed; every session test feeds placeholders",
    "NoOp": "no outputs; session tests run NoOp targets",
    **{op: "needs a session's resources; tests/gpu/test_gpu_session.py and "
           "test_gpu_multi_device.py run variables and training" for op in (
               "VarHandleOp", "ReadVariableOp", "AssignVariableOp", "AssignAddVariableOp",
               "AssignSubVariableOp", "VarIsInitializedOp", "DestroyResourceOp",
               "ResourceApplyGradientDescent", "ResourceApplyMomentum", "ResourceApplyAdam",
               "ResourceApplyAdagrad", "ResourceApplyRMSProp", "ResourceApplyCenteredRMSProp")},
    **{op: "control flow and Send/Recv: their kernels only move values (the executor's job)"
       for op in ("Switch", "RefSwitch", "Merge", "RefMerge", "Enter", "RefEnter", "Exit",
                  "RefExit", "NextIteration", "RefNextIteration", "LoopCond", "ControlTrigger",
                  "_Send", "_Recv", "_HostSend", "_HostRecv")},
}

_rng = np.random.default_rng(1234)


def f32(*shape, lo=-2.0, hi=2.0, dtype=np.float32):
    return _rng.uniform(lo, hi, shape).astype(dtype)


def i32(*shape, lo=-5, hi=6, dtype=np.int32):
    return _rng.integers(lo, hi, shape).astype(dtype)


def nonzero_i32(*shape, dtype=np.int32):
    v = i32(*shape, lo=-4, hi=5, dtype=dtype)
    return np.where(v == 0, 3, v).astype(dtype)


def boolean(*shape):
    return _rng.uniform(size=shape) < 0.5


def iv(*values, dtype=np.int32):
    return np.array(values, dtype)


CASES: dict[str, list[Case]] = {}


def add(op: str, inputs: list, attrs: dict | None = None, label: str = "", **tol) -> None:
    CASES.setdefault(op, []).append(Case(op, inputs, attrs or {}, label, **tol))


# -- elementwise ---------------------------------------------------------------------------------

_UNARY_DOMAINS: dict[str, Callable[[], np.ndarray]] = {
    **{op: (lambda: f32(3, 4)) for op in (
        "Neg", "Abs", "Sign", "Exp", "Expm1", "Sin", "Cos", "Atan", "Sinh", "Cosh", "Asinh",
        "Tanh", "Floor", "Ceil", "Rint", "Square", "Sigmoid", "Softsign", "Erf", "Erfc",
        "IsFinite", "Reciprocal", "Inv")},
    "Tan": lambda: f32(3, 4, lo=-1.2, hi=1.2),
    "Round": lambda: np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, -0.6], np.float32),
    "IsNan": lambda: np.array([np.nan, 1.0, -np.inf, 0.0], np.float32),
    "IsInf": lambda: np.array([np.nan, 1.0, -np.inf, np.inf], np.float32),
    **{op: (lambda: f32(3, 4, lo=0.1, hi=4.0)) for op in ("Sqrt", "Rsqrt", "Log")},
    "Log1p": lambda: f32(3, 4, lo=-0.9, hi=3.0),
    **{op: (lambda: f32(3, 4, lo=-0.95, hi=0.95)) for op in ("Asin", "Acos", "Atanh")},
    "Acosh": lambda: f32(3, 4, lo=1.0, hi=4.0),
}
for _op, _make in _UNARY_DOMAINS.items():
    add(_op, [_make()])
for _op in ("Neg", "Abs", "Sign", "Square"):
    add(_op, [i32(5, 3)], label="int32")
    add(_op, [i32(5, 3, dtype=np.int64)], label="int64")
add("Reciprocal", [nonzero_i32(6)], label="int32")
add("Exp", [f32(4, 3, dtype=np.float16)], label="half", rtol=2e-3, atol=2e-3)
add("Sigmoid", [f32(2, 3, lo=-30, hi=30, dtype=np.float64)], label="float64")
add("LogicalNot", [boolean(3, 4)])

for _op in ("Add", "AddV2", "Sub", "Mul", "Maximum", "Minimum", "SquaredDifference"):
    add(_op, [f32(3, 1, 4), f32(5, 1)])
    add(_op, [i32(3, 4), i32(4)], label="int32")
add("Add", [f32(2, 3, dtype=np.float64), f32(3, dtype=np.float64)], label="float64")
add("Mul", [f32(2, 3, dtype=np.float16), f32(3, dtype=np.float16)], label="half",
    rtol=1e-3, atol=1e-3)
add("Atan2", [f32(3, 4), f32(3, 4)])
for _op in ("Less", "LessEqual", "Greater", "GreaterEqual"):
    add(_op, [f32(3, 4), f32(4)])
    add(_op, [i32(3, 4), i32(3, 1)], label="int32")
for _op in ("Equal", "NotEqual"):
    add(_op, [i32(3, 4, lo=0, hi=3), i32(4, lo=0, hi=3)])
    add(_op, [i32(3, 4, lo=0, hi=3), i32(3, 1, lo=0, hi=3)], {"incompatible_shape_error": False},
        label="lenient")
for _op in ("LogicalAnd", "LogicalOr"):
    add(_op, [boolean(3, 4), boolean(4)])
for _op in ("Div", "RealDiv", "TruncateDiv", "FloorDiv", "FloorMod", "TruncateMod"):
    add(_op, [f32(3, 4, lo=-9, hi=9), f32(3, 4, lo=0.5, hi=3) * np.sign(f32(3, 4))])
for _op in ("Div", "TruncateDiv", "FloorDiv", "FloorMod", "TruncateMod"):
    add(_op, [i32(4, 5, lo=-20, hi=20), nonzero_i32(5)], label="int32")
add("Pow", [f32(3, 4, lo=0.2, hi=3), f32(3, 4)])
add("Pow", [i32(3, 4, lo=-3, hi=4), i32(3, 4, lo=0, hi=4)], label="int32")
add("MulNoNan", [f32(2, 4), np.array([0, 1.5, 0, -2], np.float32)])
add("DivNoNan", [f32(2, 4), np.array([0, 1.5, 0, -2], np.float32)])
add("Xlogy", [np.array([0, 1, 2, 0], np.float32), f32(4, lo=0.1, hi=3)])
add("Xdivy", [np.array([0, 1, 2, 0], np.float32), f32(4, lo=0.5, hi=3)])
add("Cast", [f32(3, 4, lo=-9, hi=9)], {"DstT": gf.int32}, label="f2i")
add("Cast", [i32(3, 4)], {"DstT": gf.float32}, label="i2f")
add("Cast", [boolean(5)], {"DstT": gf.float32}, label="b2f")
add("Cast", [f32(5)], {"DstT": gf.float16}, label="f2h")
add("Cast", [f32(5)], {"DstT": gf.float32}, label="same")
add("AddN", [[f32(2, 3), f32(2, 3), f32(2, 3)]])
add("ClipByValue", [f32(3, 4), np.float32(-0.5), np.float32(0.7)])
add("SelectV2", [boolean(3, 1), f32(3, 4), f32(4)])
add("Select", [boolean(3), f32(3, 2), f32(3, 2)], label="rank1")
add("Select", [boolean(3, 2), f32(3, 2), f32(3, 2)], label="same")

# -- nn ------------------------------------------------------------------------------------------

for _op in ("Relu", "Relu6", "Elu", "Selu", "Softplus", "Softmax", "LogSoftmax"):
    add(_op, [f32(4, 7, lo=-8, hi=8)])
for _op in ("Relu", "Elu", "Softmax"):
    add(_op, [f32(3, 5, dtype=np.float16)], label="half", rtol=2e-3, atol=2e-3)
add("LeakyRelu", [f32(4, 7)], {"alpha": 0.15})
add("BiasAdd", [f32(2, 3, 4), f32(4)])
add("BiasAdd", [f32(2, 4, 3, 3), f32(4)], {"data_format": "NCHW"}, label="nchw")
add("BiasAddV1", [f32(2, 3, 4), f32(4)])
add("MatMul", [f32(5, 7), f32(7, 3)])
add("MatMul", [f32(7, 5), f32(3, 7)], {"transpose_a": True, "transpose_b": True}, label="tt")
add("MatMul", [f32(4, 6, dtype=np.float64), f32(6, 2, dtype=np.float64)], label="float64")
add("BatchMatMulV2", [f32(2, 1, 3, 4), f32(5, 4, 2)])
add("BatchMatMulV2", [f32(2, 4, 3), f32(2, 5, 4)], {"adj_x": True, "adj_y": True}, label="adj")
_BN = [f32(2, 5, 5, 3), f32(3, lo=0.5, hi=2), f32(3), f32(3), f32(3, lo=0.5, hi=2)]
for _op in ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"):
    extra = {} if _op == "FusedBatchNorm" else {"U": gf.float32}
    add(_op, _BN, {"epsilon": 0.001, "is_training": False, **extra}, label="inference")
    add(_op, _BN, {"epsilon": 0.001, "is_training": True, **extra}, label="training",
        rtol=1e-4, atol=1e-4)
add("FusedBatchNormV3", [f32(2, 3, 4, 4)] + _BN[1:],
    {"epsilon": 0.01, "is_training": True, "data_format": "NCHW", "U": gf.float32,
     "exponential_avg_factor": 0.3}, label="nchw_avg", rtol=1e-4, atol=1e-4)
add("SpaceToBatchND", [f32(2, 4, 6, 3), iv(2, 3), iv(0, 2, 1, 2, dtype=np.int32).reshape(2, 2)])
add("BatchToSpaceND", [f32(8, 2, 3, 3), iv(2, 2), iv(0, 1, 1, 0).reshape(2, 2)])

# -- convolution and pooling ---------------------------------------------------------------------

_CONV = [
    ("same", f32(2, 9, 9, 3), f32(3, 3, 3, 4), {"strides": [1, 1, 1, 1], "padding": "SAME"}),
    ("valid_s2", f32(2, 9, 8, 3), f32(3, 2, 3, 5), {"strides": [1, 2, 2, 1], "padding": "VALID"}),
    ("dilated", f32(1, 10, 10, 2), f32(3, 3, 2, 3),
     {"strides": [1, 1, 1, 1], "padding": "SAME", "dilations": [1, 2, 2, 1]}),
    ("explicit_nchw", f32(2, 3, 7, 6), f32(3, 3, 3, 4),
     {"strides": [1, 1, 2, 1], "padding": "EXPLICIT", "data_format": "NCHW",
      "explicit_paddings": [0, 0, 0, 0, 1, 2, 0, 1]}),
    ("grouped", f32(1, 6, 6, 4), f32(3, 3, 2, 6), {"strides": [1, 1, 1, 1], "padding": "SAME"}),
    ("pointwise", f32(2, 5, 5, 8), f32(1, 1, 8, 16), {"strides": [1, 1, 1, 1],
                                                       "padding": "VALID"}),
]
for _label, _x, _w, _attrs in _CONV:
    add("Conv2D", [_x, _w], _attrs, label=_label, rtol=1e-4, atol=1e-4)
add("Conv2D", [f32(1, 6, 6, 3, dtype=np.float16), f32(3, 3, 3, 2, dtype=np.float16)],
    {"strides": [1, 1, 1, 1], "padding": "SAME"}, label="half", rtol=5e-3, atol=5e-3)
_DW = [
    ("same_s2", f32(2, 9, 9, 3), f32(3, 3, 3, 2), {"strides": [1, 2, 2, 1], "padding": "SAME"}),
    ("valid_d2", f32(1, 9, 9, 2), f32(3, 3, 2, 1),
     {"strides": [1, 1, 1, 1], "padding": "VALID", "dilations": [1, 2, 2, 1]}),
    ("nchw", f32(1, 4, 6, 6), f32(2, 2, 4, 1), {"strides": [1, 1, 1, 1], "padding": "SAME",
                                               "data_format": "NCHW"}),
]
for _label, _x, _w, _attrs in _DW:
    add("DepthwiseConv2dNative", [_x, _w], _attrs, label=_label, rtol=1e-4, atol=1e-4)
add("Conv2DBackpropInput", [iv(2, 9, 9, 3), f32(3, 3, 3, 4), f32(2, 5, 5, 4)],
    {"strides": [1, 2, 2, 1], "padding": "SAME"}, rtol=1e-4, atol=1e-4)
_POOL = [
    ("same", f32(2, 7, 7, 3), {"ksize": [1, 3, 3, 1], "strides": [1, 2, 2, 1],
                               "padding": "SAME"}),
    ("valid", f32(2, 8, 8, 3), {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1],
                                "padding": "VALID"}),
    ("nchw", f32(1, 3, 6, 6), {"ksize": [1, 1, 3, 3], "strides": [1, 1, 1, 1],
                               "padding": "SAME", "data_format": "NCHW"}),
]
for _label, _x, _attrs in _POOL:
    add("MaxPool", [_x], _attrs, label=_label)
    add("AvgPool", [_x], _attrs, label=_label)
add("MaxPool", [i32(1, 4, 4, 2)], {"ksize": [1, 2, 2, 1], "strides": [1, 1, 1, 1],
                                    "padding": "SAME"}, label="int32")

_FUSE = {"strides": [1, 1, 1, 1], "padding": "SAME"}
add("_FusedConv2D", [f32(2, 7, 7, 3), f32(3, 3, 3, 5), [f32(5)], []],
    {"num_args": 1, "fused_ops": ["BiasAdd", "Relu6"], **_FUSE}, label="bias_relu6",
    rtol=1e-4, atol=1e-4)
add("_FusedConv2D", [f32(1, 3, 6, 6), f32(3, 3, 3, 4),
                     [f32(4, lo=0.5, hi=2), f32(4), f32(4), f32(4, lo=0.5, hi=2)], []],
    {"num_args": 4, "fused_ops": ["FusedBatchNorm", "Relu"], "epsilon": 0.01,
     "data_format": "NCHW", **_FUSE}, label="bn_relu_nchw", rtol=1e-4, atol=1e-4)
add("_FusedDepthwiseConv2dNative", [f32(2, 7, 7, 3), f32(3, 3, 3, 2), [f32(6)]],
    {"num_args": 1, "fused_ops": ["BiasAdd", "Elu"], **_FUSE}, rtol=1e-4, atol=1e-4)
add("_FusedMatMul", [f32(4, 6), f32(6, 3), [f32(3)]],
    {"num_args": 1, "fused_ops": ["BiasAdd", "LeakyRelu"], "leakyrelu_alpha": 0.1},
    rtol=1e-4, atol=1e-4)
add("_FusedMatMul", [f32(4, 6), f32(3, 6), [f32(3)]],
    {"num_args": 1, "fused_ops": ["BiasAdd", "Sigmoid"], "transpose_b": True}, label="sigmoid",
    rtol=1e-4, atol=1e-4)

# -- reductions ----------------------------------------------------------------------------------

_X3 = f32(3, 4, 5)
for _op in ("Sum", "Prod", "Mean", "Max", "Min", "EuclideanNorm"):
    add(_op, [_X3, iv(1)], rtol=1e-4, atol=1e-5)
    add(_op, [_X3, iv(0, -1)], {"keep_dims": True}, label="keep", rtol=1e-4, atol=1e-5)
    add(_op, [i32(3, 4, lo=-3, hi=4), iv(-1)], label="int32")
for _op in ("Max", "Min", "Sum"):
    add(_op, [np.zeros((0, 3), np.float32), iv(0)], label="empty")
add("Mean", [i32(3, 4, lo=-9, hi=9), iv(1)], label="int_trunc")
for _op in ("All", "Any"):
    add(_op, [boolean(3, 4), iv(1)])
    add(_op, [boolean(3, 4), iv(0, 1)], {"keep_dims": True}, label="keep")
_NAN = np.array([[1, np.nan, 3, 3], [np.nan, np.nan, -1, -1]], np.float32)
for _op in ("ArgMax", "ArgMin"):
    add(_op, [f32(3, 4, 5), np.int32(1)])
    add(_op, [_NAN, np.int32(1)], label="nan_ties")
    add(_op, [i32(3, 6, lo=0, hi=3), np.int32(-1)], {"output_type": gf.int32}, label="int")

# -- array ---------------------------------------------------------------------------------------

add("Reshape", [f32(2, 3, 4), iv(-1, 6)])
add("Transpose", [f32(2, 3, 4), iv(2, 0, 1)])
add("Squeeze", [f32(2, 1, 3, 1)], {"squeeze_dims": [1]})
add("ExpandDims", [f32(2, 3), np.int32(-1)])
add("Snapshot", [f32(2, 3)])
add("EnsureShape", [f32(2, 3)], {"shape": (None, 3)})
add("ConcatV2", [[f32(2, 3), f32(2, 2)], np.int32(1)])
add("Split", [np.int32(1), f32(2, 6)], {"num_split": 3})
add("SplitV", [f32(7, 2), iv(2, -1, 1), np.int32(0)], {"num_split": 3})
add("Pack", [[f32(2, 3), f32(2, 3)]], {"axis": 1})
add("Unpack", [f32(2, 3, 4)], {"num": 3, "axis": 1})
add("Slice", [f32(4, 5), iv(1, 2), iv(2, -1)])
add("StridedSlice", [f32(4, 5, 6), iv(1, 0, 2), iv(4, 5, 3), iv(1, -1, 1)],
    {"begin_mask": 2, "end_mask": 2, "shrink_axis_mask": 4})
add("Pad", [f32(2, 3), iv(1, 0, 2, 1).reshape(2, 2)])
add("PadV2", [f32(2, 3), iv(1, 0, 2, 1).reshape(2, 2), np.float32(-3.5)])
add("MirrorPad", [f32(3, 4), iv(1, 2, 2, 0).reshape(2, 2)], {"mode": "REFLECT"}, label="reflect")
add("MirrorPad", [f32(3, 4), iv(1, 2, 2, 0).reshape(2, 2)], {"mode": "SYMMETRIC"},
    label="symmetric")
add("Tile", [f32(2, 3), iv(2, 3)])
add("BroadcastTo", [f32(3, 1), iv(2, 3, 4)])

add("GatherV2", [f32(4, 5), iv(3, 0, 3), np.int32(1)])
add("GatherV2", [f32(2, 4, 3), iv(0, 2, 3, 1, 1, 0).reshape(2, 3), np.int32(1)],
    {"batch_dims": 1}, label="batch")
add("GatherNd", [f32(3, 4, 2), iv(0, 1, 2, 3, 1, 0).reshape(3, 2)])
add("Shape", [f32(2, 3)])
add("ShapeN", [[f32(2, 3), f32(4)]])
add("Size", [f32(2, 3)])
add("Rank", [f32(2, 3)])
add("Fill", [iv(2, 3), np.float32(1.5)])
add("ZerosLike", [f32(2, 3)])
add("OnesLike", [i32(2, 3)])
add("Range", [np.float32(-1), np.float32(2), np.float32(0.25)])
add("OneHot", [iv(2, 0, -1, 3), np.int32(4), np.float32(5), np.float32(-1)])
add("OneHot", [iv(1, 2, 0, 1).reshape(2, 2), np.int32(3), np.float32(1), np.float32(0)],
    {"axis": 0}, label="axis0")
add("Where", [np.array([[0, 1.5], [2, 0]], np.float32)])

add("StridedSliceGrad", [iv(4, 5), iv(1, 0), iv(3, 5), iv(1, 2), f32(2, 3)])
add("MirrorPadGrad", [f32(6, 5), iv(1, 2, 2, 0).reshape(2, 2)], {"mode": "REFLECT"})
add("ScatterNd", [iv(1, 1, 3).reshape(3, 1), f32(3, 2), iv(5, 2)])

# -- gradients and losses ------------------------------------------------------------------------

_Y = f32(3, 4, lo=0.2, hi=0.9)
for _op in ("SigmoidGrad", "TanhGrad", "RsqrtGrad", "SqrtGrad", "ReciprocalGrad", "InvGrad"):
    add(_op, [_Y, f32(3, 4)])
add("UnsortedSegmentSum", [f32(5, 3), iv(0, 2, -1, 2, 0), np.int32(4)])
for _op in ("ReluGrad", "Relu6Grad", "EluGrad", "SeluGrad", "SoftplusGrad"):
    add(_op, [f32(3, 4), f32(3, 4, lo=-3, hi=8)])
add("LeakyReluGrad", [f32(3, 4), f32(3, 4)], {"alpha": 0.3})
add("BiasAddGrad", [f32(2, 3, 4)])
add("BiasAddGrad", [f32(2, 4, 3, 3)], {"data_format": "NCHW"}, label="nchw")
_BNG = [f32(2, 4, 4, 3), f32(2, 4, 4, 3), f32(3, lo=0.5, hi=2), f32(3), f32(3, lo=0.5, hi=2)]
for _op in ("FusedBatchNormGrad", "FusedBatchNormGradV2", "FusedBatchNormGradV3"):
    extra = [[f32(0)]][0] if _op == "FusedBatchNormGradV3" else []
    attrs = {"epsilon": 0.001} if _op == "FusedBatchNormGrad" else {"epsilon": 0.001,
                                                                      "U": gf.float32}
    add(_op, _BNG + extra, {**attrs, "is_training": True}, label="training",
        rtol=1e-4, atol=1e-4)
    add(_op, _BNG + extra, {**attrs, "is_training": False}, label="inference",
        rtol=1e-4, atol=1e-4)
add("Conv2DBackpropFilter", [f32(2, 7, 7, 3), iv(3, 3, 3, 4), f32(2, 4, 4, 4)],
    {"strides": [1, 2, 2, 1], "padding": "SAME"}, rtol=1e-4, atol=1e-4)
add("DepthwiseConv2dNativeBackpropInput", [iv(2, 7, 7, 3), f32(3, 3, 3, 2), f32(2, 4, 4, 6)],
    {"strides": [1, 2, 2, 1], "padding": "SAME"}, rtol=1e-4, atol=1e-4)
add("DepthwiseConv2dNativeBackpropFilter", [f32(2, 7, 7, 3), iv(3, 3, 3, 2), f32(2, 4, 4, 6)],
    {"strides": [1, 2, 2, 1], "padding": "SAME"}, rtol=1e-4, atol=1e-4)
_PX = f32(2, 6, 6, 3)
add("MaxPoolGrad", [_PX, np.zeros((2, 3, 3, 3), np.float32), f32(2, 3, 3, 3)],
    {"ksize": [1, 3, 3, 1], "strides": [1, 2, 2, 1], "padding": "SAME"})
add("AvgPoolGrad", [iv(2, 6, 6, 3), f32(2, 3, 3, 3)],
    {"ksize": [1, 3, 3, 1], "strides": [1, 2, 2, 1], "padding": "SAME"})
add("SoftmaxCrossEntropyWithLogits", [f32(4, 5, lo=-5, hi=5),
                                      np.eye(5, dtype=np.float32)[[0, 3, 1, 4]]],
    rtol=1e-4, atol=1e-5)
add("SparseSoftmaxCrossEntropyWithLogits", [f32(4, 5, lo=-5, hi=5), iv(0, 3, 1, 4)],
    rtol=1e-4, atol=1e-5)
add("L2Loss", [f32(3, 4)], rtol=1e-5)

# -- plumbing ------------------------------------------------------------------------------------

add("Const", [], {"value": f32(2, 3), "dtype": gf.float32})
for _op in ("Identity", "StopGradient", "PlaceholderWithDefault"):
    add(_op, [f32(2, 3)], {"shape": (2, 3)} if _op == "PlaceholderWithDefault" else {})
add("IdentityN", [[f32(2), i32(3)]])


def cases_for(op: str) -> list[Case]:
    return CASES.get(op, [])


def flat_inputs(case: Case) -> list:
    flat: list = []
    for item in case.inputs:
        flat.extend(item if isinstance(item, list) else [item])
    return flat


def build_node(case: Case) -> Any:
    """The case's node in a fresh frontend graph (Const inputs); returns its IR node."""
    g = gf.Graph()
    with g.as_default():
        if case.op == "Const":
            apply_op("Const", [], dict(case.attrs), name="op")
        else:
            apply_op(case.op, list(case.inputs), dict(case.attrs), name="op")
    return g.ir.node("op")
