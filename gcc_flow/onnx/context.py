"""What an ONNX op converter sees: inputs as gf.Tensors, decoded attrs, static values, opset.

    x = ctx.input(node, 0)                  # gf.Tensor, or None for an absent optional input
    axis = ctx.attr(node, "axis", 0)        # ints, floats, str, numpy arrays, lists, GraphProto
    shape = ctx.static_value(ctx.input(node, 1))   # numpy when the value is known at import
    raise ctx.unsupported(node, "mode 'cubic'")    # "not supported: Resize mode 'cubic'"
    y = ctx.apply(node, "Abs", [x])         # apply_op, refusing dtypes the TF op does not take
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from gcc_flow.constant_op import constant
from gcc_flow.framework import Graph, Tensor, apply_op
from schema.dtypes import DType
from schema.errors import GccFlowError
from schema.infer import static_value as _ir_static_value
from schema.limits import DEFAULT_LIMITS, Limits
from schema.registry import get_op
from schema.tensors import check_byte_budget

__all__ = ["ConvertContext", "OnnxImportError", "NotSupported", "decode_attr", "decode_tensor",
           "onnx_to_dtype", "dtype_to_onnx", "raw_byte_size"]


class OnnxImportError(GccFlowError):
    """An ONNX model cannot be imported: malformed, unsafe, or beyond what is supported."""


class NotSupported(OnnxImportError):
    """An op, attr or dtype that gcc-flow does not convert; the message starts with
    "not supported: <op>"."""


_P = onnx.TensorProto
# ONNX element type -> gcc-flow DType (TensorFlow enum). FLOAT4E2M1, FLOAT8E8M0 and the 6-bit
# floats have no TensorFlow dtype with a numpy layout: refused.
_ONNX_TO_DTYPE = {
    _P.FLOAT: DType.FLOAT, _P.UINT8: DType.UINT8, _P.INT8: DType.INT8, _P.UINT16: DType.UINT16,
    _P.INT16: DType.INT16, _P.INT32: DType.INT32, _P.INT64: DType.INT64, _P.STRING: DType.STRING,
    _P.BOOL: DType.BOOL, _P.FLOAT16: DType.HALF, _P.DOUBLE: DType.DOUBLE,
    _P.UINT32: DType.UINT32, _P.UINT64: DType.UINT64, _P.COMPLEX64: DType.COMPLEX64,
    _P.COMPLEX128: DType.COMPLEX128, _P.BFLOAT16: DType.BFLOAT16,
    _P.FLOAT8E4M3FN: DType.FLOAT8_E4M3FN, _P.FLOAT8E4M3FNUZ: DType.FLOAT8_E4M3FNUZ,
    _P.FLOAT8E5M2: DType.FLOAT8_E5M2, _P.FLOAT8E5M2FNUZ: DType.FLOAT8_E5M2FNUZ,
    _P.UINT4: DType.UINT4, _P.INT4: DType.INT4, _P.UINT2: DType.UINT2, _P.INT2: DType.INT2,
}
_DTYPE_TO_ONNX = {v: k for k, v in _ONNX_TO_DTYPE.items()}
_ELEMENTS_PER_BYTE = {_P.UINT4: 2, _P.INT4: 2, _P.FLOAT4E2M1: 2, _P.UINT2: 4, _P.INT2: 4}


def onnx_to_dtype(elem_type: int, what: str = "tensor") -> DType:
    """ONNX TensorProto.DataType -> DType; NotSupported for types without one."""
    dtype = _ONNX_TO_DTYPE.get(elem_type)
    if dtype is None:
        name = _P.DataType.Name(elem_type) if elem_type in _P.DataType.values() else elem_type
        raise NotSupported(f"not supported: {what} of ONNX element type {name}")
    return dtype


def dtype_to_onnx(dtype: DType) -> int:
    try:
        return _DTYPE_TO_ONNX[dtype.base]
    except KeyError:
        raise NotSupported(f"not supported: dtype {dtype.tf_name} has no ONNX type") from None


def raw_byte_size(elem_type: int, dims: Sequence[int]) -> int:
    """Bytes that ``raw_data`` (or external data) of this type and shape must hold."""
    n = math.prod(dims)
    per_byte = _ELEMENTS_PER_BYTE.get(elem_type)
    if per_byte:
        return -(-n // per_byte)
    if elem_type == _P.STRING or elem_type not in _P.DataType.values() or elem_type == 0:
        raise OnnxImportError(f"element type {elem_type} has no fixed byte size")
    return n * onnx.helper.tensor_dtype_to_np_dtype(elem_type).itemsize


# The typed repeated field of each element type, and how many numbers one element takes.
_TYPED_FIELDS = ("float_data", "int32_data", "int64_data", "double_data", "uint64_data",
                 "string_data")
_VALUES_PER_ELEMENT = {_P.COMPLEX64: 2, _P.COMPLEX128: 2}


def decode_tensor(tensor: onnx.TensorProto, limits: Limits = DEFAULT_LIMITS,
                  what: str = "") -> np.ndarray:
    """An ONNX TensorProto as numpy, refusing what onnx's own decoder would mis-handle.

    External data must have been resolved by ``external_data.resolve`` first (this never
    opens a file); the byte budget is checked before anything is allocated; the data must
    match the dims exactly (both raw_data and a typed field present is refused).
    """
    label = what or f"tensor {tensor.name!r}"
    if tensor.data_location == _P.EXTERNAL or len(tensor.external_data):
        raise OnnxImportError(f"{label} has unresolved external data")
    if tensor.HasField("segment"):
        raise NotSupported(f"not supported: {label} is a segment of a larger tensor")
    dims = [int(d) for d in tensor.dims]
    if any(d < 0 for d in dims):
        raise OnnxImportError(f"{label} has a negative dimension: {dims}")
    elem = tensor.data_type
    dtype = onnx_to_dtype(elem, label)
    itemsize = 8 if dtype == DType.STRING else max(1, dtype.np.itemsize)
    try:
        n = check_byte_budget(dims, itemsize, limits, what=label)
    except GccFlowError as err:
        raise OnnxImportError(str(err)) from None
    _check_data_length(tensor, elem, dims, n, label)
    if elem == _P.STRING:  # TensorFlow strings are bytes; onnx would decode them to str
        values = np.empty(n, dtype=object)
        values[:] = [bytes(s) for s in tensor.string_data]
        return values.reshape(dims)
    try:
        value = numpy_helper.to_array(tensor)
    except Exception as err:  # onnx raises ValueError/TypeError on malformed data
        raise OnnxImportError(f"{label} cannot be decoded: {err}") from None
    return np.asarray(value).astype(dtype.np, copy=False)


def _check_data_length(tensor, elem: int, dims: list, n: int, label: str) -> None:
    present = [f for f in _TYPED_FIELDS if len(getattr(tensor, f))]
    has_raw = tensor.HasField("raw_data")
    if len(present) + has_raw > 1:
        raise OnnxImportError(f"{label} carries its values in several fields "
                              f"({present + ['raw_data'] * has_raw}): refusing to guess")
    if has_raw:
        if elem == _P.STRING:
            raise OnnxImportError(f"{label}: string tensors cannot use raw_data")
        expected = raw_byte_size(elem, dims)
        if len(tensor.raw_data) != expected:
            raise OnnxImportError(f"{label} has {len(tensor.raw_data)} bytes of raw_data but "
                                  f"dims {dims} need {expected}")
        return
    count = len(getattr(tensor, present[0])) if present else 0
    per_byte = _ELEMENTS_PER_BYTE.get(elem)
    expected = -(-n // per_byte) if per_byte else n * _VALUES_PER_ELEMENT.get(elem, 1)
    if count != expected:
        raise OnnxImportError(f"{label} has {count} values but dims {dims} need {expected}")


def decode_attr(attribute: onnx.AttributeProto, limits: Limits = DEFAULT_LIMITS) -> Any:
    kind = attribute.type
    A = onnx.AttributeProto
    if kind == A.INT:
        return int(attribute.i)
    if kind == A.FLOAT:
        return float(attribute.f)
    if kind == A.STRING:
        return attribute.s.decode("utf-8", errors="replace")
    if kind == A.INTS:
        return [int(v) for v in attribute.ints]
    if kind == A.FLOATS:
        return [float(v) for v in attribute.floats]
    if kind == A.STRINGS:
        return [s.decode("utf-8", errors="replace") for s in attribute.strings]
    if kind == A.TENSOR:
        return decode_tensor(attribute.t, limits, f"attr {attribute.name!r}")
    if kind == A.GRAPH:
        return attribute.g
    if kind == A.GRAPHS:
        return list(attribute.graphs)
    if kind == A.TENSORS:
        return [decode_tensor(t, limits, f"attr {attribute.name!r}") for t in attribute.tensors]
    raise NotSupported(f"not supported: attribute {attribute.name!r} of type "
                       f"{A.AttributeType.Name(kind) if kind in A.AttributeType.values() else kind}")


class ConvertContext:
    def __init__(self, graph: Graph, opsets: dict[str, int], limits: Limits = DEFAULT_LIMITS):
        self.graph = graph
        self.opsets = dict(opsets)
        self.limits = limits
        self.tensors: dict[str, Tensor] = {}    # ONNX value name -> gf.Tensor
        self._static_cache: dict = {}

    @property
    def opset(self) -> int:
        return self.opsets.get("", self.opsets.get("ai.onnx", 0))

    # -- inputs --------------------------------------------------------------------------
    def input(self, node: onnx.NodeProto, index: int) -> Optional[Tensor]:
        if index >= len(node.input) or not node.input[index]:
            return None
        name = node.input[index]
        try:
            return self.tensors[name]
        except KeyError:
            raise OnnxImportError(f"node {node.name or node.op_type!r} ({node.op_type}) reads "
                                  f"{name!r}, which no node, input or initializer produces"
                                  ) from None

    def inputs(self, node: onnx.NodeProto) -> list[Optional[Tensor]]:
        return [self.input(node, i) for i in range(len(node.input))]

    def static_value(self, tensor: Optional[Tensor]) -> Optional[np.ndarray]:
        """The tensor's value when it is known at import time: a Const, Shape of a fully known
        shape, or a small pure computation on those (exporters write shape arithmetic such as
        Slice(Shape(x), Mod(c1, c2)) that must be known to import a Reshape statically)."""
        if tensor is None:
            return None
        return _evaluate_static(tensor._ref, self._static_cache, depth=0)

    # -- attrs ---------------------------------------------------------------------------
    def attr(self, node: onnx.NodeProto, name: str, default: Any = None) -> Any:
        for attribute in node.attribute:
            if attribute.name == name:
                if attribute.ref_attr_name:
                    raise self.unsupported(node, f"attr {name!r} refers to a function attr")
                return decode_attr(attribute, self.limits)
        return default

    def has_attr(self, node: onnx.NodeProto, name: str) -> bool:
        return any(a.name == name for a in node.attribute)

    # -- building ------------------------------------------------------------------------
    def const(self, value, dtype: Optional[DType] = None, name: str = "Const") -> Tensor:
        """A Const of ``value`` (numpy dtype kept unless ``dtype`` is given)."""
        arr = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype.np)
        dt = DType.STRING if arr.dtype.kind in "OSU" else DType.from_numpy(arr.dtype)
        with self.graph.as_default():
            return constant(arr, dtype=dt, name=name)

    def apply(self, node: onnx.NodeProto, op_type: str, inputs: Sequence, attrs=None,
              name: Optional[str] = None):
        """apply_op(op_type, ...), first refusing (NotSupported) an input dtype outside the
        TF op's allowed set for its type attrs, so the error names the ONNX op and dtype."""
        op_def = get_op(op_type)
        for arg, value in zip(op_def.inputs, inputs):
            spec = op_def.attrs.get(arg.type_attr) if arg.type_attr else None
            dtype = getattr(value, "dtype", None)
            if spec is not None and spec.allowed is not None and isinstance(dtype, DType) \
                    and dtype.base not in spec.allowed:
                raise self.unsupported(node, f"for dtype {dtype.tf_name} (mapped to "
                                             f"{op_type}, which does not take it)")
        return apply_op(op_type, list(inputs), attrs, name=name)

    # -- errors and names ----------------------------------------------------------------
    def unsupported(self, node: onnx.NodeProto, reason: str) -> NotSupported:
        where = f" (node {node.name!r})" if node.name else ""
        return NotSupported(f"not supported: {node.op_type} {reason}{where}")

    def fail(self, node: onnx.NodeProto, message: str) -> OnnxImportError:
        return OnnxImportError(f"node {node.name or node.op_type!r} ({node.op_type}): {message}")


_STATIC_BYTES = 1 << 16   # shape arithmetic is small; never evaluate weights-sized results
_STATIC_DEPTH = 64
_OPAQUE = (DType.VARIANT, DType.RESOURCE)   # sequences and optionals are no numpy values


def _evaluate_static(ref, cache: dict, depth: int) -> Optional[np.ndarray]:
    """Evaluates a small pure subgraph with the runtime's own kernels (None when unknown)."""
    key = (ref.node, ref.index)
    if key in cache:
        return cache[key]
    value = _ir_static_value(ref)
    node = ref.node
    op_def = node.op_def
    if (value is None and depth < _STATIC_DEPTH and op_def is not None and node.inputs
            and not (op_def.has_side_effects or op_def.is_random or op_def.is_feed
                     or op_def.is_control_flow)
            and not any(t.base in _OPAQUE for t in node.out_types)):
        inputs = [_evaluate_static(r, cache, depth + 1) for r in node.inputs]
        if all(v is not None and v.nbytes <= _STATIC_BYTES for v in inputs):
            value = _run_kernel(node, inputs, ref.index)
    cache[key] = value
    return value


def _run_kernel(node, inputs: list, index: int) -> Optional[np.ndarray]:
    from runtime.kernels import KernelContext, compile_node
    from schema.limits import Limits
    try:
        fn = compile_node(KernelContext(node=node, limits=Limits(max_tensor_bytes=_STATIC_BYTES)))
        with np.errstate(all="ignore"):
            out = fn(*inputs)
    except Exception:  # not evaluable now (a kernel error stays a run-time matter)
        return None
    out = out[index] if isinstance(out, (list, tuple)) else out
    return None if out is None else np.asarray(out)
