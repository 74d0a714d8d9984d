"""A strict stand-in for cupy, so the GPU code path runs and is tested on machines without a GPU
(``GCC_FLOW_FAKE_GPU=1``; see runtime/gpu.py). The module itself plays the ``cupy`` module.

Arrays are numpy arrays wrapped in this module's ``ndarray``, which refuses what cupy refuses:

    fake.asarray(np.ones(3))          -> a "device" array (an explicit upload, allowed)
    np.asarray(device_array)          -> TypeError (cupy: "Implicit conversion ... not allowed")
    fake.add(device_array, np.ones(3)) -> TypeError (cupy does not take numpy arrays)
    fake.maximum.reduce(device_array) -> NotImplementedError (cupy reduces only add/multiply)
    np.where(device_cond, a, b)       -> dispatched here through __array_function__, as in cupy

A memory pool counts the bytes of live device arrays; ``get_default_memory_pool().set_limit()``
makes allocations beyond the limit raise ``cuda.memory.OutOfMemoryError`` (a MemoryError), so
out-of-memory handling and leaks can be tested too.
"""
from __future__ import annotations

import operator
import types
import weakref
from typing import Any, Optional

import numpy as np


class OutOfMemoryError(MemoryError):
    """cupy.cuda.memory.OutOfMemoryError."""


class MemoryPool:
    """Counts the bytes of live fake device arrays; refuses allocations past the limit."""

    def __init__(self):
        self._used = 0
        self._limit: Optional[int] = None

    def allocate(self, nbytes: int) -> None:
        if self._limit is not None and self._used + nbytes > self._limit:
            raise OutOfMemoryError(f"Out of memory allocating {nbytes:,} bytes (allocated so "
                                   f"far: {self._used:,} bytes, limit set to: "
                                   f"{self._limit:,} bytes).")
        self._used += nbytes

    def release(self, nbytes: int) -> None:
        self._used -= nbytes

    def used_bytes(self) -> int:
        return self._used

    def total_bytes(self) -> int:
        return self._used

    def free_all_blocks(self, stream=None) -> None:
        return None

    def set_limit(self, size: Optional[int] = None, fraction=None) -> None:
        self._limit = size or None

    def get_limit(self) -> int:
        return self._limit or 0


_POOL = MemoryPool()


def get_default_memory_pool() -> MemoryPool:
    return _POOL


class _Device:
    def __init__(self, index: int = 0):
        self.id = index

    def synchronize(self) -> None:
        return None


cuda = types.SimpleNamespace(
    Device=_Device,
    memory=types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError),
    runtime=types.SimpleNamespace(getDeviceCount=lambda: 1,
                                  getDeviceProperties=lambda i: {"name": b"fake GPU (numpy)"}),
)


class ndarray:  # noqa: N801  (cupy's name)
    """A numpy array standing for device memory."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100.0
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, a: np.ndarray):
        self._a = a
        if a.flags.owndata and a.nbytes:
            _POOL.allocate(a.nbytes)
            weakref.finalize(self, _POOL.release, a.nbytes)

    # -- what cupy allows -------------------------------------------------------------------
    def get(self, stream=None) -> np.ndarray:
        return self._a.copy()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):   # never __array_interface__ and friends: no implicit copies
            raise AttributeError(name)
        return _wrap(getattr(self._a, name), strict=True)

    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index, strict=False)])

    def __setitem__(self, index, value) -> None:
        self._a[_unwrap(index, strict=False)] = _unwrap(value)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    def __bool__(self) -> bool:
        return bool(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __complex__(self) -> complex:
        return complex(self._a)

    def __repr__(self) -> str:
        return "fake_device_" + repr(self._a)

    # -- what cupy refuses ------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    # -- numpy's protocols, as cupy implements them -----------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        target = _function(ufunc.__name__)
        if method != "__call__":
            target = getattr(target, method)
        if "out" in kwargs:
            kwargs["out"] = kwargs["out"][0]
        return target(*inputs, **kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        return _function(func.__name__)(*args, **kwargs)


def _binary(name: str):
    op = getattr(operator, name + "_" if name in ("and", "or") else name)

    def method(self, other):
        return _wrap(op(self._a, _unwrap(other)))

    def reflected(self, other):
        return _wrap(op(_unwrap(other), self._a))
    return method, reflected


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
              "xor", "lshift", "rshift"):
    _fwd, _rev = _binary(_name)
    setattr(ndarray, f"__{_name}__", _fwd)
    setattr(ndarray, f"__r{_name}__", _rev)
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(ndarray, f"__{_name}__", _binary(_name)[0])
for _name in ("iadd", "isub", "imul", "itruediv"):
    def _inplace(self, other, _op=getattr(operator, _name)):
        _op(self._a, _unwrap(other))
        return self
    setattr(ndarray, f"__{_name}__", _inplace)
for _name in ("neg", "pos", "abs", "invert"):
    setattr(ndarray, f"__{_name}__", lambda self, _op=getattr(operator, _name): _wrap(_op(self._a)))


# -- wrapping -------------------------------------------------------------------------------

def _unwrap(value, strict: bool = True):
    """Device arrays -> their numpy arrays; a numpy array (strict) -> TypeError, as in cupy."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray):
        if strict:
            raise TypeError(f"Unsupported type {type(value)} (a host numpy array reached a "
                            f"device function: convert it with asarray first)")
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, strict) for v in value)
    return value


def _wrap(value, strict: bool = True):
    if isinstance(value, np.ndarray):
        return ndarray(value)
    if isinstance(value, np.generic):
        return ndarray(np.asarray(value))          # cupy returns 0-d arrays, never scalars
    if isinstance(value, (list, tuple)) and any(isinstance(v, np.ndarray) for v in value):
        return type(value)(_wrap(v) for v in value)
    if callable(value) and not isinstance(value, type):
        return _Function(value, strict)
    return value


class _Function:
    """A numpy function taking and returning device arrays."""

    def __init__(self, fn, strict: bool = True):
        self._fn, self._strict = fn, strict
        self.__name__ = getattr(fn, "__name__", "function")

    def __call__(self, *args, **kwargs):
        args = _unwrap(args, self._strict)
        kwargs = {k: _unwrap(v, self._strict) for k, v in kwargs.items()}
        return _wrap(self._fn(*args, **kwargs))


class _Ufunc(_Function):
    """A ufunc with cupy's methods: reduce and accumulate for add/multiply only, at for
    add/subtract/maximum/minimum."""

    _REDUCIBLE = {"add", "multiply"}
    _SCATTERABLE = {"add", "subtract", "maximum", "minimum"}

    def reduce(self, *args, **kwargs):
        return self._method("reduce", self._REDUCIBLE, args, kwargs)

    def accumulate(self, *args, **kwargs):
        return self._method("accumulate", self._REDUCIBLE, args, kwargs)

    def at(self, a, indices, b=None):
        if self.__name__ not in self._SCATTERABLE:
            raise NotImplementedError(f"`{self.__name__}.at` is not supported yet")
        self._fn.at(_unwrap(a), _unwrap(indices, strict=False), _unwrap(b))

    def outer(self, a, b, **kwargs):
        return _wrap(self._fn.outer(_unwrap(a), _unwrap(b), **kwargs))

    def _method(self, name: str, allowed: set, args, kwargs):
        if self.__name__ not in allowed:
            raise NotImplementedError(f"`{self.__name__}.{name}` is not supported yet")
        kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
        return _wrap(getattr(self._fn, name)(*_unwrap(args), **kwargs))


_MISSING_IN_CUPY = {"errstate", "seterr", "geterr", "frompyfunc", "vectorize", "nditer"}
_cache: dict[str, Any] = {}


def _function(name: str):
    found = _cache.get(name)
    if found is None:
        found = _cache[name] = _lookup(name)
    return found


def _lookup(name: str):
    if name in _MISSING_IN_CUPY or name.startswith("_"):
        raise AttributeError(f"module 'cupy' has no attribute {name!r}")
    value = getattr(np, name)
    if isinstance(value, np.ufunc):
        return _Ufunc(value)
    if isinstance(value, types.ModuleType) or isinstance(value, type):
        return value
    if callable(value):
        return _Function(value)
    return value


def asarray(value, dtype=None, order=None) -> ndarray:
    """A device array: ``value`` itself when it is one (cast to ``dtype``), else an upload."""
    if isinstance(value, ndarray):
        return value if dtype is None or value.dtype == dtype else value.astype(dtype)
    return ndarray(np.array(value, dtype=dtype, copy=True))


def array(value, dtype=None, copy: bool = True, order="K", ndmin: int = 0) -> ndarray:
    source = _unwrap(value, strict=False)
    return ndarray(np.array(source, dtype=dtype, copy=True if copy or not isinstance(
        value, ndarray) else None, ndmin=ndmin))


def ascontiguousarray(value, dtype=None) -> ndarray:
    if isinstance(value, ndarray):
        return _wrap(np.ascontiguousarray(value._a, dtype=dtype))
    return asarray(np.ascontiguousarray(value, dtype=dtype))


def asnumpy(value, stream=None) -> np.ndarray:
    return value.get() if isinstance(value, ndarray) else np.asarray(value)


def __getattr__(name: str):
    return _function(name)
