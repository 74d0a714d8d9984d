"""Variable initializers with TensorFlow 1.x's names (``tf.compat.v1.*_initializer``).

    init = gf.glorot_uniform_initializer(seed=1)
    w = gf.Variable(init, shape=[784, 10])              # w/Initializer/random_uniform ...
    b = gf.get_variable("b", [10], initializer=gf.zeros_initializer())
    init([3, 4], gf.float32)                            -> a Tensor of shape [3, 4]

An initializer is a callable ``init(shape, dtype=None, partition_info=None) -> Tensor`` that
builds the ops of its initial value in the current graph and name scope.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from gcc_flow.array_ops import ones, zeros
from gcc_flow.constant_op import constant
from schema.dtypes import DType

__all__ = [
    "Initializer", "zeros_initializer", "ones_initializer", "constant_initializer",
    "random_uniform_initializer", "random_normal_initializer", "truncated_normal_initializer",
    "variance_scaling_initializer", "glorot_uniform_initializer", "glorot_normal_initializer",
    "he_normal_initializer", "he_uniform_initializer", "lecun_normal_initializer",
    "lecun_uniform_initializer",
]

# The standard deviation of a unit normal truncated to [-2, 2]
# (scipy.stats.truncnorm.std(a=-2, b=2)); VarianceScaling divides by it.
_TRUNCATED_STDDEV = 0.87962566103423978


def _dtype(dtype) -> Optional[DType]:
    return DType.parse(dtype) if isinstance(dtype, str) else dtype


def _static_shape(shape) -> list[int]:
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims):
        raise ValueError(f"an initializer needs a fully defined shape, got {list(shape)}")
    return dims


def _shape_vector(shape) -> np.ndarray:
    """The shape as an int32 vector (int64 when a dim needs it): [] -> int32[0]."""
    dims = _static_shape(shape)
    return np.array(dims, np.int64 if any(d > 2 ** 31 - 1 for d in dims) else np.int32)


class Initializer:
    """Base class: ``__call__(shape, dtype=None, partition_info=None)`` -> Tensor."""

    def __init__(self, dtype=DType.FLOAT):
        self.dtype = _dtype(dtype)

    def _resolve(self, dtype) -> DType:
        return _dtype(dtype) or self.dtype or DType.FLOAT

    def __call__(self, shape, dtype=None, partition_info=None):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"dtype": self.dtype.tf_name if self.dtype else None}


class zeros_initializer(Initializer):  # noqa: N801  (TensorFlow's name)
    """Zeros: zeros_initializer()([2], gf.float32) -> [0., 0.]"""

    def __call__(self, shape, dtype=None, partition_info=None):
        return zeros(_shape_vector(shape), self._resolve(dtype), name="zeros")


class ones_initializer(Initializer):  # noqa: N801
    """Ones: ones_initializer()([2]) -> [1., 1.]"""

    def __call__(self, shape, dtype=None, partition_info=None):
        return ones(_shape_vector(shape), self._resolve(dtype), name="ones")


class constant_initializer(Initializer):  # noqa: N801
    """A scalar broadcast, or a value with exactly shape's element count (reshaped)."""

    def __init__(self, value=0, dtype=DType.FLOAT, verify_shape: bool = False):
        super().__init__(dtype)
        self.value, self.verify_shape = value, verify_shape

    def __call__(self, shape, dtype=None, partition_info=None):
        return constant(self.value, self._resolve(dtype), shape=_static_shape(shape))

    def get_config(self) -> dict:
        return {**super().get_config(), "value": self.value}


class _Random(Initializer):
    def __init__(self, seed: Optional[int] = None, dtype=DType.FLOAT):
        super().__init__(dtype)
        self.seed = seed

    def _float_dtype(self, dtype) -> DType:
        dtype = self._resolve(dtype)
        if not dtype.is_floating:
            raise TypeError(f"{type(self).__name__} needs a floating dtype, got {dtype.tf_name}")
        return dtype


class random_uniform_initializer(_Random):  # noqa: N801
    def __init__(self, minval=0, maxval=None, seed: Optional[int] = None, dtype=DType.FLOAT):
        super().__init__(seed, dtype)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=None, partition_info=None):
        from gcc_flow import random_ops  # late: random_ops imports this module
        return random_ops.random_uniform(_static_shape(shape), self.minval, self.maxval,
                              self._resolve(dtype), seed=self.seed)


class random_normal_initializer(_Random):  # noqa: N801
    def __init__(self, mean=0.0, stddev=1.0, seed: Optional[int] = None, dtype=DType.FLOAT):
        super().__init__(seed, dtype)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None, partition_info=None):
        from gcc_flow import random_ops
        return random_ops.random_normal(_static_shape(shape), self.mean, self.stddev,
                             self._float_dtype(dtype), seed=self.seed)


class truncated_normal_initializer(random_normal_initializer):  # noqa: N801
    def __call__(self, shape, dtype=None, partition_info=None):
        from gcc_flow import random_ops
        return random_ops.truncated_normal(_static_shape(shape), self.mean, self.stddev,
                                self._float_dtype(dtype), seed=self.seed)


def _compute_fans(shape: list[int]) -> tuple[int, int]:
    """(fan_in, fan_out): [784, 10] -> (784, 10); a conv kernel [3, 3, 16, 32] -> (144, 288)."""
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class variance_scaling_initializer(_Random):  # noqa: N801
    """Samples with variance scale / n, n the fan-in, fan-out or their mean (``mode``);
    ``distribution`` is truncated_normal (also "normal"), untruncated_normal or uniform."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("normal", "truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: Optional[int] = None,
                 dtype=DType.FLOAT):
        if scale <= 0.0:
            raise ValueError(f"`scale` must be a positive float, got {scale}")
        if mode not in self._MODES:
            raise ValueError(f"Invalid `mode` argument: {mode!r}")
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"Invalid `distribution` argument: {distribution!r}")
        super().__init__(seed, dtype)
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype=None, partition_info=None):
        from gcc_flow import random_ops
        shape, dtype = _static_shape(shape), self._float_dtype(dtype)
        fan_in, fan_out = _compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        scale = self.scale / max(1.0, fan[self.mode])
        if self.distribution in ("normal", "truncated_normal"):
            return random_ops.truncated_normal(shape, 0.0, math.sqrt(scale) / _TRUNCATED_STDDEV,
                                               dtype, seed=self.seed)
        if self.distribution == "untruncated_normal":
            return random_ops.random_normal(shape, 0.0, math.sqrt(scale), dtype, seed=self.seed)
        limit = math.sqrt(3.0 * scale)
        return random_ops.random_uniform(shape, -limit, limit, dtype, seed=self.seed)


def _preset(name: str, scale: float, mode: str, distribution: str, doc: str):
    def make(seed: Optional[int] = None, dtype=DType.FLOAT) -> variance_scaling_initializer:
        return variance_scaling_initializer(scale, mode, distribution, seed, dtype)
    make.__name__ = make.__qualname__ = name
    make.__doc__ = doc
    return make


glorot_uniform_initializer = _preset(
    "glorot_uniform_initializer", 1.0, "fan_avg", "uniform",
    "Uniform in +-sqrt(6 / (fan_in + fan_out)) (Xavier).")
glorot_normal_initializer = _preset(
    "glorot_normal_initializer", 1.0, "fan_avg", "truncated_normal",
    "Truncated normal, stddev sqrt(2 / (fan_in + fan_out)).")
he_normal_initializer = _preset(
    "he_normal_initializer", 2.0, "fan_in", "truncated_normal",
    "Truncated normal, stddev sqrt(2 / fan_in) (He et al.).")
he_uniform_initializer = _preset(
    "he_uniform_initializer", 2.0, "fan_in", "uniform", "Uniform in +-sqrt(6 / fan_in).")
lecun_normal_initializer = _preset(
    "lecun_normal_initializer", 1.0, "fan_in", "truncated_normal",
    "Truncated normal, stddev sqrt(1 / fan_in).")
lecun_uniform_initializer = _preset(
    "lecun_uniform_initializer", 1.0, "fan_in", "uniform", "Uniform in +-sqrt(3 / fan_in).")
