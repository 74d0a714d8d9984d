"""Random tensors, seeds and dropout with TensorFlow 1.x's names and seed rules.

    gf.set_random_seed(42)                            # the graph-level seed (Graph.seed)
    u = gf.random_uniform([2, 3], -1.0, 1.0)          -> random_uniform/RandomUniform, .../mul,
                                                         random_uniform (AddV2)
    n = gf.random_normal([4], seed=7)                 -> RandomStandardNormal seed=42 seed2=7
    s = gf.random.stateless_uniform([3], seed=[1, 2]) -> StatelessRandomUniform (pure)
    y = gf.nn.dropout(x, rate=0.5)                    -> x / 0.5 where uniform >= 0.5, else 0

Seeds follow ``tf.compat.v1.get_seed``: with neither seed set an op gets seed = seed2 = 0 and
draws different numbers in every Session; with an op seed only, the graph seed is 87654321; with
a graph seed only, the op seed is the number of nodes in the graph at the time (TensorFlow uses
its op counter), so rebuilding the same graph reproduces the same numbers. The numbers
themselves are not TensorFlow's (see runtime/kernels/random.py).
"""
from __future__ import annotations

import numbers
import types
from typing import Optional

import numpy as np

from gcc_flow import math_ops
from gcc_flow.array_ops import shape as _shape_of
from gcc_flow.array_ops import shape_arg
from gcc_flow.framework import (
    Graph, Operation, Tensor, apply_op, convert_to_tensor, get_default_graph,
)
from schema.dtypes import DType

DEFAULT_GRAPH_SEED = 87654321
_MAXINT32 = 2 ** 31 - 1


def set_random_seed(seed: Optional[int]) -> None:
    """Sets the default graph's seed (``tf.compat.v1.set_random_seed``)."""
    get_default_graph().seed = None if seed is None else int(seed)


def get_seed(op_seed: Optional[int]) -> tuple[Optional[int], Optional[int]]:
    """(graph seed, op seed) for an op, as ``tf.compat.v1.get_seed``.

    get_seed(None) -> (None, None) without a graph seed;  get_seed(5) -> (87654321, 5)
    """
    graph = get_default_graph()
    if graph.seed is not None:
        if op_seed is None:
            op_seed = len(graph.ir.nodes)
        seeds = (graph.seed % _MAXINT32, int(op_seed) % _MAXINT32)
    elif op_seed is not None:
        seeds = (DEFAULT_GRAPH_SEED, int(op_seed) % _MAXINT32)
    else:
        seeds = (None, None)
    # (0, 0) would mean "nondeterministic" to the kernels, unlike what the caller asked for
    return (0, _MAXINT32) if seeds == (0, 0) else seeds


def _seed_attrs(seed: Optional[int]) -> dict:
    seed1, seed2 = get_seed(seed)
    return {"seed": seed1 or 0, "seed2": seed2 or 0}


def adopt_scope_name(item, scope: str):
    """Renames the op of ``item`` to the scope's own name, as TensorFlow names the last op of a
    composite after the composite: (op "random_normal/add", "random_normal/") -> "random_normal".
    Leaves it alone when that name is taken."""
    op = item if isinstance(item, Operation) else item.op
    target = scope.rstrip("/")
    if target and target not in op.graph.ir.nodes:
        op.graph.ir.rename(op._node, target)
    return item


def _dtype(dtype) -> DType:
    return DType.parse(dtype) if isinstance(dtype, str) else dtype


def _graph_of(*values) -> Graph:
    for v in values:
        if isinstance(v, Tensor):
            return v.graph
        if isinstance(getattr(v, "graph", None), Graph):
            return v.graph
    return get_default_graph()


def _shape_tensor(shape) -> Tensor:
    """A shape argument as an int32 (or int64) vector: [2, 3], (), a Tensor, a Tensor list."""
    if isinstance(shape, Tensor):
        return shape
    if isinstance(shape, (list, tuple)) and len(shape) == 0:
        return convert_to_tensor(np.zeros(0, np.int32), name="shape")
    value = shape_arg(list(shape) if isinstance(shape, tuple) else shape)
    return convert_to_tensor(value, name="shape")


def _is_python_int(value, target: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value == target


def random_uniform(shape, minval=0, maxval=None, dtype=DType.FLOAT, seed: Optional[int] = None,
                   name: Optional[str] = None) -> Tensor:
    """Uniform in [minval, maxval): RandomUniform scaled, or RandomUniformInt for integers."""
    dtype = _dtype(dtype)
    if maxval is None:
        if dtype.is_integer:
            raise ValueError(f"Must specify maxval for integer dtype {dtype.tf_name}")
        maxval = 1
    graph = _graph_of(shape, minval, maxval)
    with graph.as_default(), graph.name_scope(name or "random_uniform") as scope:
        shape = _shape_tensor(shape)
        zero_min, one_max = _is_python_int(minval, 0), _is_python_int(maxval, 1)
        if not zero_min or not one_max or dtype.is_integer:
            minval = convert_to_tensor(minval, dtype, name="min")
            maxval = convert_to_tensor(maxval, dtype, name="max")
        if dtype.is_integer:
            result = apply_op("RandomUniformInt", [shape, minval, maxval], _seed_attrs(seed))
            return adopt_scope_name(result, scope)
        result = apply_op("RandomUniform", [shape], {"dtype": dtype, **_seed_attrs(seed)})
        if zero_min:
            return result if one_max else math_ops.multiply(result, maxval)
        return adopt_scope_name(math_ops.add(result * (maxval - minval), minval), scope)


def _scaled_normal(op_type: str, default_name: str, shape, mean, stddev, dtype, seed,
                   name: Optional[str]) -> Tensor:
    dtype = _dtype(dtype)
    graph = _graph_of(shape, mean, stddev)
    with graph.as_default(), graph.name_scope(name or default_name) as scope:
        shape = _shape_tensor(shape)
        mean = convert_to_tensor(mean, dtype, name="mean")
        stddev = convert_to_tensor(stddev, dtype, name="stddev")
        sample = apply_op(op_type, [shape], {"dtype": dtype, **_seed_attrs(seed)})
        return adopt_scope_name(math_ops.add(sample * stddev, mean), scope)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=DType.FLOAT, seed: Optional[int] = None,
                  name: Optional[str] = None) -> Tensor:
    """Normal(mean, stddev): RandomStandardNormal * stddev + mean."""
    return _scaled_normal("RandomStandardNormal", "random_normal", shape, mean, stddev, dtype,
                          seed, name)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=DType.FLOAT,
                     seed: Optional[int] = None, name: Optional[str] = None) -> Tensor:
    """Normal(mean, stddev) redrawn beyond two standard deviations: TruncatedNormal."""
    return _scaled_normal("TruncatedNormal", "truncated_normal", shape, mean, stddev, dtype,
                          seed, name)


def random_shuffle(value, seed: Optional[int] = None, name: Optional[str] = None) -> Tensor:
    """Permutes ``value`` along its first dimension: [[1, 2], [3, 4], [5, 6]] -> rows reordered."""
    value = convert_to_tensor(value)
    with value.graph.as_default():
        return apply_op("RandomShuffle", [value], _seed_attrs(seed), name=name)


# -- stateless: pure functions of (shape, seed) ---------------------------------------------------

def stateless_random_uniform(shape, seed, minval=0, maxval=None, dtype=DType.FLOAT,
                             name: Optional[str] = None) -> Tensor:
    """``tf.random.stateless_uniform``: the same (shape, seed) always gives the same tensor."""
    dtype = _dtype(dtype)
    graph = _graph_of(shape, seed, minval, maxval)
    if dtype.is_integer and (minval is None or maxval is None):
        raise ValueError(f"Must specify minval and maxval for integer dtype {dtype.tf_name}")
    with graph.as_default(), graph.name_scope(name or "stateless_random_uniform") as scope:
        shape = _shape_tensor(shape)
        minval = convert_to_tensor(minval, dtype, name="min")
        maxval = convert_to_tensor(1 if maxval is None else maxval, dtype, name="max")
        if dtype.is_integer:
            result = apply_op("StatelessRandomUniformInt", [shape, seed, minval, maxval],
                              {"dtype": dtype})
            return adopt_scope_name(result, scope)
        sample = apply_op("StatelessRandomUniform", [shape, seed], {"dtype": dtype})
        return adopt_scope_name(math_ops.add(sample * (maxval - minval), minval), scope)


def _stateless_normal(op_type: str, default_name: str, shape, seed, mean, stddev, dtype,
                      name: Optional[str]) -> Tensor:
    dtype = _dtype(dtype)
    graph = _graph_of(shape, seed, mean, stddev)
    with graph.as_default(), graph.name_scope(name or default_name) as scope:
        shape = _shape_tensor(shape)
        mean = convert_to_tensor(mean, dtype, name="mean")
        stddev = convert_to_tensor(stddev, dtype, name="stddev")
        sample = apply_op(op_type, [shape, seed], {"dtype": dtype})
        return adopt_scope_name(math_ops.add(sample * stddev, mean), scope)


def stateless_random_normal(shape, seed, mean=0.0, stddev=1.0, dtype=DType.FLOAT,
                            name: Optional[str] = None) -> Tensor:
    return _stateless_normal("StatelessRandomNormal", "stateless_random_normal", shape, seed,
                             mean, stddev, dtype, name)


def stateless_truncated_normal(shape, seed, mean=0.0, stddev=1.0, dtype=DType.FLOAT,
                               name: Optional[str] = None) -> Tensor:
    return _stateless_normal("StatelessTruncatedNormal", "stateless_truncated_normal", shape,
                             seed, mean, stddev, dtype, name)


# -- dropout --------------------------------------------------------------------------------------

def _noise_shape(x: Tensor, noise_shape):
    """shape(x) by default; None entries of a static noise_shape take x's static dims."""
    if noise_shape is None:
        return _shape_of(x)
    if isinstance(noise_shape, (list, tuple)) and x.shape is not None \
            and len(noise_shape) == len(x.shape) \
            and not any(isinstance(d, Tensor) for d in noise_shape):
        return [x.shape[i] if d is None and x.shape[i] is not None else d
                for i, d in enumerate(noise_shape)]
    return noise_shape


def _dropout_rate(rate, keep_prob):
    if rate is not None and keep_prob is not None:
        raise ValueError("Cannot specify both keep_prob and rate")
    if rate is None and keep_prob is None:
        raise ValueError("dropout needs rate (or keep_prob)")
    if rate is not None:
        return rate
    if isinstance(keep_prob, numbers.Real):
        return 1 - keep_prob
    return math_ops.subtract(1.0, keep_prob)


def dropout(x, rate=None, keep_prob=None, noise_shape=None, seed: Optional[int] = None,
            name: Optional[str] = None) -> Tensor:
    """Zeroes each element with probability ``rate`` and scales the rest by 1 / (1 - rate).

    As TensorFlow: the kept elements are those whose uniform sample is >= rate; a Python rate of
    0 returns x itself. ``keep_prob`` is TF1's spelling (rate = 1 - keep_prob).
    """
    rate = _dropout_rate(rate, keep_prob)
    is_number = isinstance(rate, numbers.Real)
    if is_number and not 0 <= rate < 1:
        raise ValueError(f"`rate` must be a scalar tensor or a float in the range [0, 1). "
                         f"Received: rate={rate}")
    x = convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise ValueError(f"`x.dtype` must be a floating point tensor as `x` will be scaled. "
                         f"Received: x_dtype={x.dtype.tf_name}")
    graph = x.graph
    with graph.as_default(), graph.name_scope(name or "dropout"):
        if is_number and rate == 0:
            return x
        if is_number:
            kept = math_ops.multiply(x, convert_to_tensor(1 / (1 - rate), x.dtype))
        else:
            rate = math_ops.cast(convert_to_tensor(rate), x.dtype)
            kept = math_ops.realdiv(x, math_ops.subtract(convert_to_tensor(1, x.dtype), rate))
        noise = random_uniform(_noise_shape(x, noise_shape), dtype=x.dtype, seed=seed)
        keep_mask = noise >= rate
        return math_ops.where(keep_mask, kept, convert_to_tensor(0, x.dtype))


# -- gf.random: TensorFlow 2's short names --------------------------------------------------------

random = types.SimpleNamespace(
    uniform=random_uniform, normal=random_normal, truncated_normal=truncated_normal,
    shuffle=random_shuffle, set_seed=set_random_seed, stateless_uniform=stateless_random_uniform,
    stateless_normal=stateless_random_normal,
    stateless_truncated_normal=stateless_truncated_normal,
)

from gcc_flow import initializers  # noqa: E402  (initializers build on the functions above)
from gcc_flow.initializers import *  # noqa: E402,F401,F403
from gcc_flow.initializers import __all__ as _initializers_all  # noqa: E402

__all__ = [
    "set_random_seed", "get_seed", "random_uniform", "random_normal", "truncated_normal",
    "random_shuffle", "stateless_random_uniform", "stateless_random_normal",
    "stateless_truncated_normal", "random", "initializers",
] + list(_initializers_all)
