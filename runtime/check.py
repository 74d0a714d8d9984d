"""The differential checker: runs the original and the optimized graph on the same random feeds
and compares every fetched tensor.

    result = check_equivalent(original_gd, optimized_gd, fetches=["y:0"], trials=3)
    result.ok, result.first_mismatch   # ("y:0", "max abs diff 0.5 at index (1, 2)")

Feeds are generated for every Placeholder the fetches need (unknown dims become ``unknown_dim``);
PlaceholderWithDefault inputs keep their defaults.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

from runtime.session import Session, load
from schema.dtypes import DType
from schema.ir import Graph

__all__ = ["check_equivalent", "CheckResult", "random_feeds", "random_array", "difference"]


@dataclasses.dataclass
class CheckResult:
    trials: int
    compared: int
    first_mismatch: Optional[tuple[str, str]] = None

    @property
    def ok(self) -> bool:
        return self.first_mismatch is None


def random_feeds(graph: Graph, rng: np.random.Generator, unknown_dim: int = 2,
                 only: Optional[set] = None) -> dict:
    feeds = {}
    for node in graph:
        if node.op != "Placeholder" or (only is not None and node.name not in only):
            continue
        dtype: DType = node.attrs["dtype"]
        shape = node.attrs.get("shape")
        dims = (unknown_dim,) if shape is None else tuple(unknown_dim if d is None else d
                                                          for d in shape)
        feeds[f"{node.name}:0"] = random_array(dtype, dims, rng)
    return feeds


def random_array(dtype: DType, dims: tuple, rng: np.random.Generator) -> np.ndarray:
    if dtype == DType.BOOL:
        return rng.random(dims) < 0.5
    if dtype.is_integer:
        return rng.integers(-5 if dtype.np.kind == "i" else 0, 6, dims).astype(dtype.np)
    if dtype.is_floating:
        return rng.uniform(-2, 2, dims).astype(dtype.np)
    if dtype.is_complex:
        return (rng.uniform(-2, 2, dims) + 1j * rng.uniform(-2, 2, dims)).astype(dtype.np)
    raise ValueError(f"cannot make random feeds of {dtype.tf_name}")


def _session(model) -> Session:
    return model if isinstance(model, Session) else load(model)


def check_equivalent(original, optimized, fetches: Sequence[str], trials: int = 3,
                     rtol: float = 1e-5, atol: float = 1e-6, seed: int = 0,
                     targets: Sequence[str] = ()) -> CheckResult:
    """Compares ``fetches`` of two models (GraphDef, path, IR graph or Session)."""
    before, after = _session(original), _session(optimized)
    for target in targets:
        before.run(target)
        after.run(target)
    rng = np.random.default_rng(seed)
    needed = _placeholders_needed(before.graph, fetches)
    result = CheckResult(trials=trials, compared=0)
    for _ in range(trials):
        feeds = random_feeds(before.graph, rng, only=needed)
        want = before.run(list(fetches), feeds)
        got = after.run(list(fetches), {k: v for k, v in feeds.items()
                                        if k.split(":")[0] in after.graph.nodes})
        for name, a, b in zip(fetches, want, got):
            result.compared += 1
            problem = difference(a, b, rtol, atol)
            if problem:
                result.first_mismatch = (name, problem)
                return result
    return result


def _placeholders_needed(graph: Graph, fetches: Sequence[str]) -> set:
    from schema.ir import needed_nodes
    refs = [graph.tensor(f) for f in fetches if not f.startswith("^")]
    return {n.name for n in needed_nodes(refs, [], set()) if n.op == "Placeholder"}


def difference(a, b, rtol: float, atol: float) -> Optional[str]:
    """None when equal within tolerance (NaN equals NaN), else what differs and where."""
    if a is None or b is None:
        return None if a is None and b is None else "one side produced no value"
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype:
        return f"dtype {a.dtype} != {b.dtype}"
    if a.shape != b.shape:
        return f"shape {a.shape} != {b.shape}"
    if a.dtype.kind in "fc":
        close = np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
    else:
        close = a == b
    if close.all():
        return None
    index = np.unravel_index(int(np.argmin(close)), a.shape) if a.shape else ()
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64)) if a.dtype.kind in "fciub" else 0
    return f"max abs diff {np.max(diff)} (first at index {index}: {a[index]} vs {b[index]})"
