"""Random kernels: numpy Philox streams keyed the way TensorFlow keys its ops.

    RandomUniform(seed=1, seed2=7): Philox(key=(1, 7)), compiled once per node and Session, so
        the n-th run of that node in any Session gives the same sample; each run advances it.
    RandomUniform(seed=0, seed2=0): a fresh stream from OS entropy (a new sequence every time).
    StatelessRandomNormal(shape, seed=[a, b]): a new Philox(key=(a, b)) per call, so the output
        is a pure function of (shape, seed, dtype).

The numbers are NOT TensorFlow's: TensorFlow uses Philox-4x32-10 with its own counter layout and
distribution transforms, this runtime numpy's Philox and samplers. What matches is the meaning:
the distributions, the seed rules and reproducibility. Output sizes come from an input value, so
the byte budget is checked before sampling.
"""
from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from runtime.kernels import KernelContext, kernel
from runtime.kernels.array import check_budget
from schema.dtypes import DType
from schema.ops.array_rules import fmt_shape

_MASK64 = (1 << 64) - 1
# Mantissa bits (with the implicit one) of the narrow floats: a uniform sample is rounded down
# to a multiple of 2**-bits so that casting it can never round it up to 1.0.
_NARROW_BITS = {DType.HALF: 11, DType.BFLOAT16: 8}
_TRUNCATE_AT = 2.0  # TruncatedNormal drops values more than two standard deviations out


def philox(seed: int, seed2: int) -> np.random.Generator:
    """The generator for a key pair: philox(1, 7) always yields the same sequence."""
    return np.random.Generator(np.random.Philox(key=[int(seed) & _MASK64, int(seed2) & _MASK64]))


def _float_kind(dtype: DType):
    """The numpy dtype to sample in: narrow floats are sampled in float32 and cast."""
    return np.float64 if dtype == DType.DOUBLE else np.float32


def _uniform(rng: np.random.Generator, shape, dtype: DType) -> np.ndarray:
    sample = rng.random(shape, dtype=_float_kind(dtype))
    bits = _NARROW_BITS.get(dtype)
    if bits is not None:
        sample = np.floor(sample * (1 << bits)) / (1 << bits)
    return sample.astype(dtype.np)


def _normal(rng: np.random.Generator, shape, dtype: DType) -> np.ndarray:
    return rng.standard_normal(shape, dtype=_float_kind(dtype)).astype(dtype.np)


def _truncated_normal(rng: np.random.Generator, shape, dtype: DType) -> np.ndarray:
    """Standard normal samples redrawn until within two standard deviations (about 4.6% of
    draws are redrawn each round, so a few rounds suffice)."""
    kind = _float_kind(dtype)
    sample = rng.standard_normal(shape, dtype=kind)
    outside = np.abs(sample) > _TRUNCATE_AT
    while outside.any():
        sample[outside] = rng.standard_normal(int(outside.sum()), dtype=kind)
        outside = np.abs(sample) > _TRUNCATE_AT
    return sample.astype(dtype.np)


_SAMPLERS: dict[str, Callable] = {
    "RandomUniform": _uniform, "StatelessRandomUniform": _uniform,
    "RandomStandardNormal": _normal, "StatelessRandomNormal": _normal,
    "TruncatedNormal": _truncated_normal, "StatelessTruncatedNormal": _truncated_normal,
}


def output_shape(ctx: KernelContext, value, dtype) -> tuple:
    """The shape vector input as a tuple, refused when malformed or over the byte budget."""
    value = np.asarray(value)
    if value.ndim != 1:
        raise ctx.fail(f"shape must be a vector of {{int32,int64}}, got shape "
                       f"{fmt_shape(value.shape)}")
    shape = tuple(int(d) for d in value)
    for d in shape:
        if d < 0:
            raise ctx.fail(f"Dimension {d} must be >= 0")
    check_budget(ctx, shape, dtype)
    return shape


def _scalar(ctx: KernelContext, value, what: str):
    if np.ndim(value) != 0:
        raise ctx.fail(f"{what} must be 0-D, got shape {fmt_shape(np.shape(value))}")
    return np.asarray(value).item()


def _seed_pair(ctx: KernelContext, seed) -> tuple[int, int]:
    if np.shape(seed) != (2,):
        raise ctx.fail(f"seed must have shape [2], not {fmt_shape(np.shape(seed))}")
    return int(seed[0]), int(seed[1])


def _uniform_int(ctx: KernelContext, rng, shape_value, minval, maxval) -> np.ndarray:
    out = ctx.out_np(0)
    shape = output_shape(ctx, shape_value, out)
    lo, hi = _scalar(ctx, minval, "minval"), _scalar(ctx, maxval, "maxval")
    if 0 in shape:  # no samples: an empty range is fine, as in TensorFlow
        return np.zeros(shape, out)
    if not lo < hi:
        raise ctx.fail(f"Need minval < maxval: {lo} >= {hi}")
    return rng.integers(lo, hi, size=shape, dtype=out)


class _Stream:
    """The per-node generator of a stateful op: keyed by (seed, seed2), or OS entropy when
    both are 0. Runs of the node may come from several threads, hence the lock."""

    def __init__(self, ctx: KernelContext):
        seed, seed2 = int(ctx.attr("seed", 0)), int(ctx.attr("seed2", 0))
        self.rng = (np.random.Generator(np.random.Philox()) if seed == 0 and seed2 == 0
                    else philox(seed, seed2))
        self.lock = threading.Lock()


# -- stateful ---------------------------------------------------------------------------------

@kernel("RandomUniform", "RandomStandardNormal", "TruncatedNormal")
def random_float(ctx: KernelContext):
    sampler, dtype, stream = _SAMPLERS[ctx.node.op], ctx.attr("dtype"), _Stream(ctx)

    def run(shape_value):
        shape = output_shape(ctx, shape_value, dtype.np)
        with stream.lock:
            return sampler(stream.rng, shape, dtype)
    return run


@kernel("RandomUniformInt")
def random_uniform_int(ctx: KernelContext):
    stream = _Stream(ctx)

    def run(shape_value, minval, maxval):
        with stream.lock:
            return _uniform_int(ctx, stream.rng, shape_value, minval, maxval)
    return run


@kernel("RandomShuffle")
def random_shuffle(ctx: KernelContext):
    stream = _Stream(ctx)

    def run(value):
        value = np.asarray(value)
        if value.ndim == 0 or value.shape[0] <= 1:
            return value.copy()
        with stream.lock:
            order = stream.rng.permutation(value.shape[0])
        return value[order]
    return run


# -- stateless --------------------------------------------------------------------------------

@kernel("StatelessRandomUniform", "StatelessRandomNormal", "StatelessTruncatedNormal")
def stateless_random_float(ctx: KernelContext):
    sampler, dtype = _SAMPLERS[ctx.node.op], ctx.attr("dtype")

    def run(shape_value, seed):
        shape = output_shape(ctx, shape_value, dtype.np)
        return sampler(philox(*_seed_pair(ctx, seed)), shape, dtype)
    return run


@kernel("StatelessRandomUniformInt")
def stateless_random_uniform_int(ctx: KernelContext):
    def run(shape_value, seed, minval, maxval):
        rng = philox(*_seed_pair(ctx, seed))
        return _uniform_int(ctx, rng, shape_value, minval, maxval)
    return run
