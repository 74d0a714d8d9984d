"""Mutable state a Session keeps across run() calls: resource and reference variables, and
other resources (queues) stored by key with ``get_or_create``.

    handle = ResourceHandle("", "w")          # what VarHandleOp outputs
    resources.assign(handle, np.ones(3))      # AssignVariableOp
    resources.read(handle)                    # ReadVariableOp; UninitializedVariableError before

Values are replaced, never mutated in place, so an array a kernel read earlier stays unchanged.
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Any, Optional

import numpy as np

from schema.dtypes import DType
from schema.errors import ExecutionError, UninitializedVariableError

__all__ = ["ResourceHandle", "RefVariable", "ResourceManager"]


@dataclasses.dataclass(frozen=True)
class ResourceHandle:
    container: str
    name: str
    dtype: Optional[DType] = None
    shape: Any = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.container, self.name)


class RefVariable:
    """A TF1 reference variable (VariableV2): a named cell that Assign replaces.

    It is the value of a ``Ref(T)`` tensor. Fetching such a tensor reads the current value:
    ``np.asarray(ref_variable)`` is the value (UninitializedVariableError before assignment).
    """

    __slots__ = ("name", "dtype", "shape", "value", "_lock")

    def __init__(self, name: str, dtype: DType, shape, lock=None):
        self.name, self.dtype, self.shape, self.value = name, dtype, shape, None
        self._lock = lock if lock is not None else threading.RLock()

    def get(self):
        if self.value is None:
            raise UninitializedVariableError(
                f"attempting to use uninitialized value {self.name} (VariableV2)")
        return self.value

    @property
    def is_initialized(self) -> bool:
        return self.value is not None

    def set(self, value) -> None:
        """Replaces the value (Assign); the old array is left untouched for earlier readers."""
        value = np.array(value, copy=True)
        with self._lock:
            self.value = value

    def update(self, fn) -> Any:
        """Replaces the value by fn(value) atomically (AssignAdd, AssignSub)."""
        with self._lock:
            self.value = fn(self.get())
            return self.value

    def __array__(self, dtype=None, copy=None):
        value = np.asarray(self.get())
        return value.astype(dtype) if dtype is not None else value

    def __repr__(self) -> str:
        return (f"RefVariable({self.name!r}, {self.dtype.tf_name}, "
                f"initialized={self.is_initialized})")


class ResourceManager:
    """Variables of one Session, keyed by (container, shared_name). Thread-safe."""

    def __init__(self):
        self._values: dict[tuple[str, str], Any] = {}
        self._refs: dict[tuple[str, str], RefVariable] = {}
        self._objects: dict[Any, Any] = {}
        self._lock = threading.RLock()

    def is_initialized(self, handle: ResourceHandle) -> bool:
        return handle.key in self._values

    def read(self, handle: ResourceHandle, dtype: Optional[DType] = None):
        try:
            value = self._values[handle.key]
        except KeyError:
            raise UninitializedVariableError(
                f"variable {handle.name!r} was read before it was initialized (run its "
                f"initializer first)") from None
        if dtype is not None and dtype.has_numpy and value.dtype != dtype.np:
            raise ExecutionError(f"variable {handle.name!r} holds {value.dtype} but is read as "
                                 f"{dtype.tf_name}")
        return value

    def assign(self, handle: ResourceHandle, value, copy: bool = True) -> None:
        """Stores ``value`` (a copy, unless the caller made it fresh and hands it over)."""
        if copy and isinstance(value, np.ndarray):
            value = np.array(value, copy=True)
        with self._lock:
            old = self._values.get(handle.key)
            if old is not None and getattr(old, "dtype", None) != getattr(value, "dtype", None):
                raise ExecutionError(f"variable {handle.name!r} holds {old.dtype}; cannot "
                                     f"assign a value of {value.dtype}")
            self._values[handle.key] = value

    def update(self, handle: ResourceHandle, fn) -> Any:
        """Replaces the value by fn(value) atomically (AssignAdd, optimizer updates)."""
        with self._lock:
            new = fn(self.read(handle))
            self._values[handle.key] = new
            return new

    def destroy(self, handle: ResourceHandle) -> None:
        with self._lock:
            self._values.pop(handle.key, None)

    def exists(self, handle: ResourceHandle) -> bool:
        return handle.key in self._values

    def ref_variable(self, container: str, name: str, dtype: DType, shape) -> RefVariable:
        """The reference variable (container, name), created on first use; a second VariableV2
        with the same shared name must declare the same dtype."""
        with self._lock:
            key = (container, name)
            if key not in self._refs:
                self._refs[key] = RefVariable(name, dtype, shape, self._lock)
            found = self._refs[key]
            if found.dtype != dtype:
                raise ExecutionError(f"trying to share variable {name!r}, but specified dtype "
                                     f"{dtype.tf_name} and found dtype {found.dtype.tf_name}")
            return found

    def get_or_create(self, key, factory):
        """The object stored under ``key`` (any hashable), made by ``factory()`` on first use.

        get_or_create(("queue", "", "q"), make_queue) -> the same queue on every later call
        """
        with self._lock:
            if key not in self._objects:
                self._objects[key] = factory()
            return self._objects[key]

    @property
    def lock(self):
        return self._lock
