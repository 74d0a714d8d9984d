"""gcc-flow's frontend: build dataflow graphs the TensorFlow 1.x way.

    import gcc_flow as gf
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 3], name="x")
        y = gf.nn.relu(gf.matmul(x, gf.constant(np.ones((3, 2), np.float32))), name="y")
    graph_def = g.as_graph_def()
"""
from __future__ import annotations

from gcc_flow.constant_op import constant, placeholder, placeholder_with_default
from gcc_flow.framework import (
    Graph, Operation, Tensor, control_dependencies, convert_to_tensor, device,
    get_default_graph, name_scope, reset_default_graph,
)
from gcc_flow import errors, io, losses, nn, train  # noqa: F401  (gf.errors, gf.io, ...)
from gcc_flow.array_ops import *  # noqa: F401,F403
from gcc_flow.array_ops import __all__ as _array_all
from gcc_flow.control_flow_ops import *  # noqa: F401,F403
from gcc_flow.control_flow_ops import __all__ as _control_flow_all
from gcc_flow.data_flow_ops import *  # noqa: F401,F403
from gcc_flow.data_flow_ops import __all__ as _data_flow_all
from gcc_flow.gradients import *  # noqa: F401,F403
from gcc_flow.gradients import __all__ as _gradients_all
from gcc_flow.linalg_ops import *  # noqa: F401,F403
from gcc_flow.linalg_ops import __all__ as _linalg_all
from gcc_flow.math_ops import *  # noqa: F401,F403
from gcc_flow.math_ops import __all__ as _math_all
from gcc_flow.reduction_ops import *  # noqa: F401,F403
from gcc_flow.random_ops import *  # noqa: F401,F403
from gcc_flow.random_ops import __all__ as _random_all
from gcc_flow.reduction_ops import __all__ as _reduction_all
from gcc_flow.session import Session
from gcc_flow.variables import *  # noqa: F401,F403
from gcc_flow.variables import __all__ as _variables_all
from schema.dtypes import DType

float16 = half = DType.HALF
bfloat16 = DType.BFLOAT16
float32 = DType.FLOAT
float64 = double = DType.DOUBLE
int8, int16, int32, int64 = DType.INT8, DType.INT16, DType.INT32, DType.INT64
uint8, uint16, uint32, uint64 = DType.UINT8, DType.UINT16, DType.UINT32, DType.UINT64
bool = DType.BOOL  # noqa: A001  (TensorFlow's name)
string = DType.STRING
complex64, complex128 = DType.COMPLEX64, DType.COMPLEX128
resource = DType.RESOURCE

__all__ = [
    "Graph", "Operation", "Tensor", "DType", "constant", "placeholder",
    "placeholder_with_default", "control_dependencies", "convert_to_tensor", "device",
    "get_default_graph", "name_scope", "reset_default_graph", "float16", "half", "bfloat16",
    "float32", "float64", "double", "int8", "int16", "int32", "int64", "uint8", "uint16",
    "uint32", "uint64", "bool", "string", "complex64", "complex128", "resource",
    "Session", "errors", "io", "losses", "nn", "train",
] + (list(_math_all) + list(_linalg_all) + list(_array_all) + list(_reduction_all)
     + list(_variables_all) + list(_control_flow_all) + list(_data_flow_all)
     + list(_gradients_all) + list(_random_all))
