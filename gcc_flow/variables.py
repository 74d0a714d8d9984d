"""Variables as TensorFlow 2's graph mode writes them, and TF1 reference variables.

    w = gf.Variable(np.zeros((4, 3), np.float32), name="w")
      -> w (VarHandleOp, shared_name "w"), w/Initializer/initial_value (Const),
         w/IsInitialized/VarIsInitializedOp, w/Assign (AssignVariableOp), w/Read/ReadVariableOp
    v = gf.Variable(1.0, name="v", use_resource=False)
      -> v (VariableV2), v/initial_value (Const), v/Assign (Assign), v/read (Identity)
    with gf.Session() as sess:
        sess.run(gf.global_variables_initializer())     # NoOp "init", control deps on initializers
        sess.run(w.assign_add(np.ones((4, 3), np.float32)))

A Variable stands for its value wherever a tensor is expected (``w * 2``, ``gf.matmul(x, w)``):
each use reads it afresh (a new ReadVariableOp), so a read inside ``gf.control_dependencies``
sees the assignments it depends on. ``dtype`` is the value's dtype for both kinds (TensorFlow
reports float32_ref for reference variables).
"""
from __future__ import annotations

import functools
from typing import Optional

import numpy as np

from gcc_flow.constant_op import _default_dtype, constant
from gcc_flow.framework import (
    Graph, Operation, Tensor, apply_op, convert_to_tensor, get_default_graph,
)
from gcc_flow.initializers import Initializer, glorot_uniform_initializer, zeros_initializer
from schema.dtypes import DType
from schema.errors import ValidationError
from schema.ops.state import shapes_compatible

__all__ = ["Variable", "GraphKeys", "global_variables_initializer", "variables_initializer",
           "global_variables", "trainable_variables", "assign", "assign_add", "assign_sub",
           "is_variable_initialized", "get_variable", "AUTO_REUSE"]


class GraphKeys:
    """Collection names, as tf.compat.v1.GraphKeys."""
    GLOBAL_VARIABLES = "variables"
    TRAINABLE_VARIABLES = "trainable_variables"


def _shape_tuple(shape):
    return None if shape is None else tuple(None if d is None or d == -1 else int(d)
                                            for d in shape)


class _InitialValue:
    """A Variable's initial value before its nodes exist: a Tensor, or a numpy value whose Const
    is created later under the variable's own name (so it can be "w/Initializer/...")."""

    def __init__(self, value, dtype: Optional[DType], shape=None):
        dtype = DType.parse(dtype) if isinstance(dtype, str) else dtype
        self.tensor: Optional[Tensor] = None
        self.array: Optional[np.ndarray] = None
        self.initializer: Optional[Initializer] = None
        if isinstance(value, Initializer):
            self._from_initializer(value, dtype, shape)
            return
        if callable(value) and not isinstance(value, Tensor):
            value = value()
        if isinstance(value, Tensor) or hasattr(value, "_as_tensor"):
            self.tensor = convert_to_tensor(value, dtype)
            self.dtype, self.shape = self.tensor.dtype.base, self.tensor.shape
            return
        arr = np.asarray(value)
        if dtype is None:
            dtype = DType.from_numpy(arr.dtype) if isinstance(value, np.ndarray) else \
                _default_dtype(arr)
        if arr.dtype.kind == "f" and dtype.is_integer:
            raise ValidationError(f"cannot make an {dtype.tf_name} variable from "
                                  f"{value!r:.60}")
        self.array, self.dtype, self.shape = arr, dtype, tuple(arr.shape)

    def _from_initializer(self, initializer: Initializer, dtype: Optional[DType], shape):
        shape = _shape_tuple(shape)
        if shape is None or any(d is None for d in shape):
            raise ValueError(f"a variable made by an initializer needs a fully defined shape, "
                             f"got {shape}")
        self.initializer, self.shape = initializer, shape
        self.dtype = dtype or initializer.dtype or DType.FLOAT

    def as_tensor(self, name: str) -> Tensor:
        """The initial value's tensor; an initializer builds its ops under "Initializer/"."""
        if self.tensor is None and self.initializer is not None:
            with get_default_graph().name_scope("Initializer"):
                self.tensor = convert_to_tensor(self.initializer(self.shape, self.dtype),
                                                self.dtype)
        if self.tensor is None:
            self.tensor = constant(self.array, dtype=self.dtype, name=name)
        return self.tensor


def _declared_shape(initial: _InitialValue, shape, validate_shape: bool):
    if shape is not None:
        shape = _shape_tuple(shape)
        if not shapes_compatible(shape, initial.shape):
            raise ValidationError(f"initial value of shape {list(initial.shape or [])} is "
                                  f"not compatible with the variable's shape {list(shape)}")
        return shape
    return initial.shape if validate_shape else None


class Variable:
    """``gf.Variable(initial_value, trainable=True, name=None, dtype=None, shape=None)``.

    A resource variable by default; ``use_resource=False`` makes a TF1 reference variable.
    """

    __array_priority__ = 100  # numpy_array * variable -> our operator, not numpy's

    def __new__(cls, *args, use_resource: Optional[bool] = None, **kwargs):
        if cls is Variable:
            cls = RefVariable if use_resource is False else ResourceVariable
        return super().__new__(cls)

    def __init__(self, initial_value=None, trainable: bool = True, name: Optional[str] = None,
                 dtype: Optional[DType] = None, shape=None, *, collections=None,
                 validate_shape: bool = True, use_resource: Optional[bool] = None):
        if initial_value is None:
            raise ValueError("gf.Variable needs an initial_value")
        graph = getattr(initial_value, "graph", None)
        self._graph: Graph = graph if isinstance(graph, Graph) else get_default_graph()
        self._trainable = bool(trainable)
        with self._graph.as_default(), self._graph.control_dependencies(None):
            initial = _InitialValue(initial_value, dtype, shape)
            self._dtype = initial.dtype
            self._build(initial, name or "Variable",
                        _declared_shape(initial, shape, validate_shape), validate_shape)
        keys = [GraphKeys.GLOBAL_VARIABLES] if collections is None else list(collections)
        if self._trainable and GraphKeys.TRAINABLE_VARIABLES not in keys:
            keys.append(GraphKeys.TRAINABLE_VARIABLES)
        for key in keys:
            self._graph.add_to_collection(key, self)

    def _build(self, initial: _InitialValue, name: str, shape, validate_shape: bool) -> None:
        raise NotImplementedError

    # -- what both kinds share --------------------------------------------------------------
    op = property(lambda self: self._op, doc="The VarHandleOp / VariableV2 operation.")
    graph = property(lambda self: self._graph)
    dtype = property(lambda self: self._dtype)
    shape = property(lambda self: self._shape)
    initializer = property(lambda self: self._initializer, doc="The op that assigns the "
                           "initial value.")
    initial_value = property(lambda self: self._initial_value)
    trainable = property(lambda self: self._trainable)
    device = property(lambda self: self._op.device)

    @property
    def name(self) -> str:
        return f"{self._op.name}:0"

    def get_shape(self):
        return self._shape

    def _as_tensor(self) -> Tensor:
        """The value as a tensor: used by convert_to_tensor, apply_op and the operators."""
        return self.value()

    def _as_graph_element(self) -> Tensor:
        """The read tensor created with the variable, for fetching it by value."""
        return self._graph_element

    def __iter__(self):
        raise TypeError("a gf.Variable is not iterable")

    def __repr__(self) -> str:
        shape = "?" if self._shape is None else [("?" if d is None else d) for d in self._shape]
        return f"<gf.Variable '{self.name}' shape={shape} dtype={self._dtype.tf_name}>"


def _delegate(dunder: str):
    def method(self, *args):
        return getattr(self._as_tensor(), dunder)(*args)
    method.__name__ = dunder
    return method


for _dunder in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and",
                "or"):
    setattr(Variable, f"__{_dunder}__", _delegate(f"__{_dunder}__"))
    setattr(Variable, f"__r{_dunder}__", _delegate(f"__r{_dunder}__"))
for _dunder in ("lt", "le", "gt", "ge", "neg", "abs", "invert", "getitem"):
    setattr(Variable, f"__{_dunder}__", _delegate(f"__{_dunder}__"))


class ResourceVariable(Variable):
    """A TF2 resource variable: a VarHandleOp and ops that read and assign through it."""

    def _build(self, initial: _InitialValue, name: str, shape, validate_shape: bool) -> None:
        self._shape = shape if shape is not None else initial.shape
        self._handle = apply_op("VarHandleOp", [], {"dtype": self._dtype, "shape": shape},
                                name=name)
        self._op = self._handle.op
        # shared_name is the node's final (unique) name, known only now
        self._op._node.attrs["shared_name"] = self._op.name
        with self._graph.name_scope(self._op.name + "/"):
            self._initial_value = initial.as_tensor("Initializer/initial_value")
            self._is_initialized = apply_op("VarIsInitializedOp", [self._handle],
                                            name="IsInitialized/VarIsInitializedOp")
            self._initializer = apply_op(
                "AssignVariableOp", [self._handle, self._initial_value],
                {"dtype": self._dtype, "validate_shape": False}, name="Assign")
            self._graph_element = self._read("Read/ReadVariableOp")

    handle = property(lambda self: self._handle)

    def _read(self, name: str = "ReadVariableOp") -> Tensor:
        return apply_op("ReadVariableOp", [self._handle], {"dtype": self._dtype}, name=name)

    def value(self) -> Tensor:
        """A new read of the variable (ReadVariableOp in the current name scope)."""
        return self._read()

    def read_value(self) -> Tensor:
        """Read/ReadVariableOp followed by an Identity, as TensorFlow writes it."""
        with self._graph.as_default(), self._graph.name_scope("Read"):
            value = self._read()
        return apply_op("Identity", [value])

    def _update(self, op_type: str, value, name: Optional[str], read_value: bool):
        with self._graph.as_default():
            return self._update_in_graph(op_type, value, name, read_value)

    def _update_in_graph(self, op_type: str, value, name: Optional[str], read_value: bool):
        value = convert_to_tensor(value, self._dtype)
        if not shapes_compatible(self._shape, value.shape):
            raise ValidationError(f"cannot {op_type} a value of shape {value.shape} to variable "
                                  f"{self.name} of shape {self._shape}")
        op = apply_op(op_type, [self._handle, value], {"dtype": self._dtype},
                      name=name or op_type)
        if not read_value:
            return op
        with self._graph.control_dependencies([op]):
            return self._read()

    def assign(self, value, use_locking=None, name: Optional[str] = None,
               read_value: bool = True):
        """AssignVariableOp; returns a read that runs after it (the op when read_value=False)."""
        return self._update("AssignVariableOp", value, name, read_value)

    def assign_add(self, delta, use_locking=None, name: Optional[str] = None,
                   read_value: bool = True):
        return self._update("AssignAddVariableOp", delta, name, read_value)

    def assign_sub(self, delta, use_locking=None, name: Optional[str] = None,
                   read_value: bool = True):
        return self._update("AssignSubVariableOp", delta, name, read_value)

    def is_initialized(self) -> Tensor:
        return apply_op("VarIsInitializedOp", [self._handle])


class RefVariable(Variable):
    """A TF1 reference variable: VariableV2 (a float32_ref output), Assign, and an Identity read."""

    def _build(self, initial: _InitialValue, name: str, shape, validate_shape: bool) -> None:
        self._shape = shape if shape is not None else initial.shape
        self._variable = apply_op("VariableV2", [], {"dtype": self._dtype, "shape": shape},
                                  name=name)
        self._op = self._variable.op
        with self._graph.name_scope(self._op.name + "/"):
            self._initial_value = initial.as_tensor("initial_value")
            self._initializer = apply_op(
                "Assign", [self._variable, self._initial_value],
                {"validate_shape": bool(validate_shape)}, name="Assign").op
            self._graph_element = apply_op("Identity", [self._variable], name="read")

    def _ref_tensor(self) -> Tensor:
        """The float32_ref tensor, for ops with a Ref(T) input (apply_op asks for it)."""
        return self._variable

    def value(self) -> Tensor:
        return self._graph_element

    def read_value(self) -> Tensor:
        return apply_op("Identity", [self._variable], name="read")

    def _update(self, op_type: str, value, attrs: dict, name: Optional[str],
                read_value: bool):
        with self._graph.as_default():
            out = apply_op(op_type, [self, convert_to_tensor(value, self._dtype)], attrs,
                           name=name or op_type)
        return out if read_value else out.op

    def assign(self, value, use_locking=None, name: Optional[str] = None,
               read_value: bool = True):
        """Assign; returns its float32_ref output (fetching it gives the new value)."""
        return self._update("Assign", value, {"use_locking": bool(use_locking)}, name,
                            read_value)

    def assign_add(self, delta, use_locking=None, name: Optional[str] = None,
                   read_value: bool = True):
        return self._update("AssignAdd", delta, {"use_locking": bool(use_locking)}, name,
                            read_value)

    def assign_sub(self, delta, use_locking=None, name: Optional[str] = None,
                   read_value: bool = True):
        return self._update("AssignSub", delta, {"use_locking": bool(use_locking)}, name,
                            read_value)

    def is_initialized(self) -> Tensor:
        return apply_op("IsVariableInitialized", [self], {"dtype": self._dtype})


# -- module functions ----------------------------------------------------------------------------

def global_variables() -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.GLOBAL_VARIABLES)


def trainable_variables() -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.TRAINABLE_VARIABLES)


def variables_initializer(var_list, name: str = "init") -> Operation:
    """A NoOp, in the variables' graph, that runs every variable's initializer."""
    var_list = list(var_list)
    graph = var_list[0].graph if var_list else get_default_graph()
    with graph.as_default():
        return apply_op("NoOp", [], name=name,
                        control_inputs=[v.initializer for v in var_list])


def global_variables_initializer() -> Operation:
    return variables_initializer(global_variables(), name="init")


def _ref_update(op_type: str, method: str):
    def update(ref, value, use_locking=None, name: Optional[str] = None, **attrs):
        if isinstance(ref, ResourceVariable):
            return getattr(ref, method)(value, use_locking=use_locking, name=name)
        if isinstance(ref, RefVariable):
            ref = ref._ref_tensor()
        if isinstance(ref, Tensor) and ref.dtype.is_ref:
            attrs = {k: bool(v) for k, v in attrs.items() if v is not None}
            if use_locking is not None:
                attrs["use_locking"] = bool(use_locking)
            return apply_op(op_type, [ref, value], attrs, name=name or op_type)
        raise TypeError(f"gf.{method} needs a Variable or a reference tensor, got "
                        f"{type(ref).__name__}")
    update.__name__ = method
    update.__doc__ = f"{op_type} on a reference tensor, or Variable.{method}."
    return update


assign = _ref_update("Assign", "assign")
assign_add = _ref_update("AssignAdd", "assign_add")
assign_sub = _ref_update("AssignSub", "assign_sub")


def is_variable_initialized(variable: Variable) -> Tensor:
    return variable.is_initialized()


AUTO_REUSE = "auto_reuse"


def _find_variable(graph: Graph, name: str) -> Optional[Variable]:
    for key in list(graph.collections):
        for v in graph.collections[key]:
            if isinstance(v, Variable) and v.op.name == name:
                return v
    return None


def _default_initializer(name: str, dtype: DType):
    """TF1's defaults: Glorot uniform for floats, zeros for integers and bools."""
    if dtype.is_floating:
        return glorot_uniform_initializer()
    if dtype.is_integer or dtype == DType.BOOL:
        return zeros_initializer()
    raise ValueError(f"An initializer for variable {name} of {dtype.tf_name} is required")


def get_variable(name: str, shape=None, dtype=None, initializer=None, trainable: bool = True,
                 collections=None, use_resource: Optional[bool] = None, reuse=None) -> Variable:
    """``tf.compat.v1.get_variable`` without variable scopes: the name is absolute (name scopes
    do not apply, as in TensorFlow), the default initializer is Glorot uniform for floats.

        w = gf.get_variable("w", [784, 10])                   -> w/Initializer/random_uniform
        b = gf.get_variable("b", initializer=np.zeros(10, np.float32))     (shape from the value)
        gf.get_variable("w", reuse=True)                      -> the same Variable
    An existing name without ``reuse`` (True or gf.AUTO_REUSE) is a ValueError, as in TensorFlow.
    """
    graph = get_default_graph()
    found = _find_variable(graph, name)
    if found is not None:
        if not reuse:
            raise ValueError(f"Variable {name} already exists, disallowed. Did you mean to set "
                             f"reuse=True or reuse=gf.AUTO_REUSE?")
        if shape is not None and not shapes_compatible(_shape_tuple(shape), found.shape):
            raise ValueError(f"Trying to share variable {name}, but specified shape "
                             f"{list(shape)} and found shape {list(found.shape)}.")
        return found
    if reuse is True:
        raise ValueError(f"Variable {name} does not exist, or was not created with "
                         f"gf.get_variable(). Did you mean to set reuse=gf.AUTO_REUSE?")
    dtype = DType.parse(dtype) if isinstance(dtype, str) else dtype
    if initializer is None:
        initializer = _default_initializer(name, dtype or DType.FLOAT)
    if isinstance(initializer, Initializer):
        dtype = dtype or initializer.dtype or DType.FLOAT
    elif callable(initializer):  # TF1 calls a plain callable with (shape, dtype=...)
        initializer = functools.partial(initializer, list(shape or ()), dtype=dtype or DType.FLOAT)
    elif shape is not None:
        raise ValueError("If initializer is a constant, do not specify shape.")
    with graph.name_scope(None):
        return Variable(initializer, trainable=trainable, name=name, dtype=dtype, shape=shape,
                        collections=collections, use_resource=use_resource)
