"""Kernels of the math ops gradients are built from (declared in schema/ops/math_grad.py).

    BroadcastGradientArgs([2, 1, 3], [1, 3]) -> ([1], [0, 1])
    TanhGrad(y=[0.5], dy=[2]) -> [1.5];  UnsortedSegmentSum([1, 2, 3], [0, 0, 2], 3) -> [3, 0, 3]

The *Grad kernels and UnsortedSegmentSum have one body for numpy and cupy (``xp = ctx.xp``);
BroadcastGradientArgs, InvertPermutation (shape math) and Polygamma run on the host.
"""
from __future__ import annotations

import math

import numpy as np

from runtime.kernels import BOTH, KernelContext, kernel
from schema.tensors import check_byte_budget


def _ints(values) -> list[int]:
    return [int(v) for v in np.asarray(values).reshape(-1)]


def broadcast_gradient_args(s0: list[int], s1: list[int]) -> tuple[list[int], list[int]]:
    """TensorFlow's BCast reduction indices: for unequal shapes, every (right-aligned) axis
    where an input has size 1 or no dimension at all; nothing for equal shapes.

    ([2, 3, 4], [3, 1]) -> ([], [0, 2]);  ([5, 1], [1, 1]) -> ([1], [0, 1])
    """
    if s0 == s1:
        return [], []
    rank = max(len(s0), len(s1))
    a = [1] * (rank - len(s0)) + s0
    b = [1] * (rank - len(s1)) + s1
    for x, y in zip(a, b):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"Incompatible shapes: {s0} vs. {s1}")
    return [i for i in range(rank) if a[i] == 1], [i for i in range(rank) if b[i] == 1]


@kernel("BroadcastGradientArgs")
def broadcast_gradient_args_kernel(ctx: KernelContext):
    dtype = ctx.out_np(0)

    def run(s0, s1):
        if np.ndim(s0) != 1 or np.ndim(s1) != 1:
            raise ctx.fail(f"inputs must be vectors, got shapes {list(np.shape(s0))} and "
                           f"{list(np.shape(s1))}")
        try:
            r0, r1 = broadcast_gradient_args(_ints(s0), _ints(s1))
        except ValueError as err:
            raise ctx.fail(str(err)) from None
        return np.array(r0, dtype), np.array(r1, dtype)
    return run


def _conj(y, xp=np):
    return xp.conj(y) if xp.iscomplexobj(y) else y


# z = dy * f'(x), written with y = f(x) (conjugated for complex types, as TensorFlow).
_Y_GRADS = {
    "SigmoidGrad": lambda y, dy: dy * (y * (1 - y)),
    "TanhGrad": lambda y, dy: dy * (1 - y * y),
    "RsqrtGrad": lambda y, dy: dy * (y * y * y) * y.dtype.type(-0.5),
    "SqrtGrad": lambda y, dy: dy * y.dtype.type(0.5) / y,
    "ReciprocalGrad": lambda y, dy: -dy * (y * y),
    "InvGrad": lambda y, dy: -dy * (y * y),
}


def _y_grad(ctx: KernelContext):
    fn = _Y_GRADS[ctx.node.op]
    out, xp = ctx.out_np(0), ctx.xp
    return lambda y, dy: xp.asarray(fn(_conj(xp.asarray(y), xp), xp.asarray(dy))).astype(
        out, copy=False)


for _op in _Y_GRADS:
    kernel(_op, device=BOTH)(_y_grad)


@kernel("UnsortedSegmentSum", device=BOTH, host_inputs=(2,))
def unsorted_segment_sum(ctx: KernelContext):
    """Rows with a negative id are dropped (as TensorFlow); an id >= num_segments is an error."""
    out_type, xp = ctx.out_np(0), ctx.xp

    def run(data, ids, num_segments):
        if np.size(num_segments) != 1:
            raise ctx.fail("num_segments should be a scalar")
        num = int(np.asarray(num_segments).reshape(-1)[0])
        ids = xp.asarray(ids)
        if num < 0 or data.shape[:ids.ndim] != ids.shape:
            raise ctx.fail(f"segment_ids shape {list(ids.shape)} must be a prefix of data shape "
                           f"{list(data.shape)} and num_segments ({num}) non-negative")
        too_big = ids >= num
        if too_big.any():
            raise ctx.fail(f"segment_ids {int(ids[too_big][0])} is out of range [0, {num})")
        rest = data.shape[ids.ndim:]
        check_byte_budget((num,) + rest, np.dtype(out_type).itemsize, ctx.limits)
        out = xp.zeros((num,) + rest, out_type)
        keep = ids.reshape(-1) >= 0
        xp.add.at(out, ids.reshape(-1)[keep], data.reshape((-1,) + rest)[keep])
        return out
    return run


@kernel("InvertPermutation")
def invert_permutation(ctx: KernelContext):
    def run(x):
        x = np.asarray(x)
        if x.ndim != 1:
            raise ctx.fail(f"permutation must be a vector, got shape {list(x.shape)}")
        if sorted(_ints(x)) != list(range(x.size)):
            raise ctx.fail(f"{_ints(x)[:20]} is not a permutation of 0..{x.size - 1}")
        inverse = np.empty_like(x)
        inverse[x] = np.arange(x.size, dtype=x.dtype)
        return inverse
    return run


# -- Polygamma ------------------------------------------------------------------------------------

# Bernoulli numbers B2, B4, ... B14 over (2j)!: the Euler-Maclaurin tail of the Hurwitz zeta.
_BERNOULLI = [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6]
_FACTORIAL_2J = [2, 24, 720, 40320, 3628800, 479001600, 87178291200]
_MAX_TERMS = 10_000        # direct terms for very negative q; beyond, the result is NaN


def hurwitz_zeta(s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """zeta(s, q) = sum over k >= 0 of (q + k)^-s, for s > 1 (float64; Eigen's method: direct
    terms until q + k > 9, then the Euler-Maclaurin tail). zeta(3, 1) -> 1.2020569..."""
    s, q = np.broadcast_arrays(np.asarray(s, np.float64), np.asarray(q, np.float64))
    finite = np.isfinite(q) & (q > -_MAX_TERMS)
    terms = int(max(9.0, np.ceil(9.0 - q[finite].min()) + 1)) if finite.any() else 9
    total = np.zeros(s.shape)
    with np.errstate(all="ignore"):
        for k in range(terms):
            total += (q + k) ** -s
        a = q + terms
        total += a ** (1 - s) / (s - 1) + 0.5 * a ** -s
        rising = s.copy()                      # s (s + 1) ... (s + 2j - 2)
        for j, (b, f) in enumerate(zip(_BERNOULLI, _FACTORIAL_2J)):
            total += b / f * rising * a ** (-s - 2 * j - 1)
            rising = rising * (s + 2 * j + 1) * (s + 2 * j + 2)
    poles = (q <= 0) & (q == np.floor(q))
    return np.where(poles, np.inf, np.where(finite | ~np.isfinite(q), total, np.nan))


def digamma(x: np.ndarray) -> np.ndarray:
    """psi(x) by the recurrence psi(x) = psi(x + 1) - 1/x up to 6, then the asymptotic series."""
    x = np.asarray(x, np.float64)
    result = np.zeros(x.shape)
    v = x.copy()
    with np.errstate(all="ignore"):
        for _ in range(6):
            small = v < 6
            result -= np.where(small, 1 / v, 0)
            v = np.where(small, v + 1, v)
        f = 1 / (v * v)
        series = np.log(v) - 0.5 / v - f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (
            1 / 240 - f / 132))))
    return np.where((x <= 0) & (x == np.floor(x)), np.nan, result + series)


def polygamma(n: np.ndarray, x: np.ndarray) -> np.ndarray:
    """psi^(n)(x) = (-1)^(n+1) n! zeta(n + 1, x) for integers n >= 1; digamma for n = 0;
    NaN for a negative or fractional n (as TensorFlow)."""
    n, x = np.broadcast_arrays(np.asarray(n, np.float64), np.asarray(x, np.float64))
    whole = (n >= 0) & (n == np.floor(n))
    order = np.where(whole, n, 1)
    factorial = np.vectorize(math.gamma, otypes=[np.float64])(order + 1) if order.size \
        else order
    sign = np.where(order % 2 == 1, 1.0, -1.0)
    higher = sign * factorial * hurwitz_zeta(order + 1, x)
    return np.where(~whole, np.nan, np.where(n == 0, digamma(x), higher))


@kernel("Polygamma")
def polygamma_kernel(ctx: KernelContext):
    out = ctx.out_np(0)
    return lambda a, x: polygamma(a, x).astype(out)
