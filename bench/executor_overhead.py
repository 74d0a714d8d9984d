"""Executor overhead: a chain of 5,000 tiny elementwise nodes through runtime.Session.run,
beside numpy doing the same arithmetic by hand in the same process.

The chain alternates Tanh and x*1.0001+0.5 (a Mul and an AddV2 node) on float32[8], so each node
does almost no arithmetic and the time is the executor's own cost per node. Prints the ratio
runtime / numpy (the target is at most 1.5).

    python bench/executor_overhead.py [--nodes 5000] [--repeat 30]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import gcc_flow as gf
import runtime


def build_chain(n_nodes: int):
    """x -> Tanh -> Mul(1.0001) -> AddV2(0.5) -> Tanh -> ... : n_nodes compute nodes."""
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [8], name="x")
        scale = gf.constant(1.0001, gf.float32, name="scale")
        shift = gf.constant(0.5, gf.float32, name="shift")
        y = x
        for i in range(n_nodes):
            kind = i % 3
            if kind == 0:
                y = gf.tanh(y)
            elif kind == 1:
                y = gf.multiply(y, scale)
            else:
                y = gf.add(y, shift)
    return g, y.name


def by_hand(x: np.ndarray, n_nodes: int) -> np.ndarray:
    scale, shift = np.float32(1.0001), np.float32(0.5)
    y = x
    for i in range(n_nodes):
        kind = i % 3
        if kind == 0:
            y = np.tanh(y)
        elif kind == 1:
            y = y * scale
        else:
            y = y + shift
    return y


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    graph, fetch = build_chain(args.nodes)
    sess = runtime.load(graph.as_graph_def())
    x = np.linspace(-1, 1, 8, dtype=np.float32)
    feeds = {"x:0": x}
    ours = sess.run(fetch, feeds)  # compiles the plan once; also the correctness check
    reference = by_hand(x, args.nodes)
    np.testing.assert_allclose(ours, reference, rtol=1e-6)

    run_min, run_med = best_of(lambda: sess.run(fetch, feeds), args.repeat)
    np_min, np_med = best_of(lambda: by_hand(x, args.nodes), args.repeat)
    print(f"chain of {args.nodes} nodes on float32[8], best of {args.repeat}:")
    print(f"  runtime.Session.run : {run_min * 1e3:8.3f} ms  (median {run_med * 1e3:.3f} ms, "
          f"{run_min / args.nodes * 1e9:.0f} ns/node)")
    print(f"  numpy by hand       : {np_min * 1e3:8.3f} ms  (median {np_med * 1e3:.3f} ms)")
    print(f"ratio runtime/numpy: {run_min / np_min:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
