"""Random ops with TensorFlow's names and attrs: stateful (seed/seed2 attrs) and stateless (a
``seed`` input of shape [2]).

    RandomUniform(shape=Const [2, 3], dtype=float, seed=1, seed2=7) -> f32[2,3] in [0, 1)
    RandomUniformInt(Const [4], minval=0, maxval=10) -> i32[4] in [0, 10)
    StatelessRandomNormal(Const [5], seed=Const i64[2]{1, 2}) -> f32[5]
    RandomShuffle(f32[6, 2]) -> f32[6, 2] (rows permuted)

Every op here is declared ``random=True`` (which implies stateful), so passes never fold or merge
them, stateless ones included (they are pure, but folding them would bake a sample into the
graph, which is rarely what a user of a random op wants).
"""
from __future__ import annotations

from schema.ops.array import shape_tensor
from schema.ops.array_rules import fmt_shape
from schema.registry import op
from schema.shapes import same_as_input

__all__ = ["random_output_shape"]

_FLOAT = "{half, bfloat16, float, double}"
_INDEX = "{int32, int64}"
_SEEDS = ["seed: int = 0", "seed2: int = 0"]


def random_output_shape(ctx):
    """The shape named by input 0 (a shape vector): Const [2, 3] -> (2, 3); unknown entries are
    None. Negative dims and non-vector shapes are refused."""
    shape = ctx.shape(0)
    if shape is not None and len(shape) != 1:
        raise ctx.fail(f"shape must be a vector of {{int32,int64}}, got shape {fmt_shape(shape)}")
    dims = shape_tensor(ctx, 0)
    for d in dims or ():
        if d is not None and d < 0:
            raise ctx.fail(f"Dimension {d} must be >= 0")
    return None if dims is None else tuple(dims)


def _require_scalar(ctx, index: int, what: str) -> None:
    shape = ctx.shape(index)
    if shape is not None and len(shape) != 0:
        raise ctx.fail(f"{what} must be 0-D, got shape {fmt_shape(shape)}")


def _require_seed_pair(ctx, index: int) -> None:
    shape = ctx.shape(index)
    if shape is not None and (len(shape) != 1 or shape[0] not in (None, 2)):
        raise ctx.fail(f"seed must have shape [2], not {fmt_shape(shape)}")


def _sample_shape(ctx):
    return [random_output_shape(ctx)]


def _uniform_int_shape(ctx):
    _require_scalar(ctx, 1, "minval")
    _require_scalar(ctx, 2, "maxval")
    return [random_output_shape(ctx)]


def _stateless_shape(ctx):
    _require_seed_pair(ctx, 1)
    return [random_output_shape(ctx)]


def _stateless_int_shape(ctx):
    _require_seed_pair(ctx, 1)
    _require_scalar(ctx, 2, "minval")
    _require_scalar(ctx, 3, "maxval")
    return [random_output_shape(ctx)]


# -- stateful: a per-node stream seeded by (seed, seed2) -------------------------------------

for _name in ("RandomUniform", "RandomStandardNormal", "TruncatedNormal"):
    op(_name, inputs=["shape: T"], outputs=["output: dtype"],
       attrs=_SEEDS + [f"dtype: {_FLOAT}", f"T: {_INDEX}"], shape=_sample_shape, random=True)
op("RandomUniformInt", inputs=["shape: T", "minval: Tout", "maxval: Tout"],
   outputs=["output: Tout"], attrs=_SEEDS + [f"Tout: {_INDEX}", f"T: {_INDEX}"],
   shape=_uniform_int_shape, random=True)
op("RandomShuffle", inputs=["value: T"], outputs=["output: T"], attrs=_SEEDS + ["T: type"],
   shape=same_as_input(0), random=True)

# -- stateless: pure functions of (shape, seed) ----------------------------------------------

for _name in ("StatelessRandomUniform", "StatelessRandomNormal", "StatelessTruncatedNormal"):
    op(_name, inputs=["shape: T", "seed: Tseed"], outputs=["output: dtype"],
       attrs=[f"dtype: {_FLOAT} = float", f"T: {_INDEX} = int32", f"Tseed: {_INDEX} = int64"],
       shape=_stateless_shape, random=True)
op("StatelessRandomUniformInt", inputs=["shape: T", "seed: Tseed", "minval: dtype",
                                        "maxval: dtype"],
   outputs=["output: dtype"],
   attrs=[f"dtype: {_INDEX}", f"T: {_INDEX}", f"Tseed: {_INDEX} = int64"],
   shape=_stateless_int_shape, random=True)
