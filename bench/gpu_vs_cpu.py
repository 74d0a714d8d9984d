"""CPU (numpy) against GPU (cupy) through the runtime: MobileNetV2 on a batch of 32 (as TF wrote
it, after the default pass pipeline fused it, and placed by the cost model over
devices=["cpu:0", "gpu:0"]), and a chain of 2048x2048 MatMuls. Best of N wall-clock Session.run
times, fetches copied back to the host included; prints the GPU speedup.

    python bench/gpu_vs_cpu.py [--batch 32] [--size 2048] [--chain 8] [--repeat 5]

Without a GPU it says so and exits 0 (GCC_FLOW_FAKE_GPU=1 runs the GPU column on numpy, which
only checks that the path works).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import gcc_flow as gf
import runtime
from runtime.gpu import GpuBackend, gpu_available
from schema.io import read_graph_def
from schema.serde import graph_from_graph_def

MOBILENET = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tf" / "mobilenet_v2.pb"


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def mobilenet(optimized: bool):
    """(IR graph, fetch, feed name): the fixture with its batch dimension left open."""
    graph_def = read_graph_def(MOBILENET)
    for node in graph_def.node:
        if node.op == "Placeholder":
            node.attr["shape"].shape.dim[0].size = -1
    if optimized:
        import passes
        graph_def, _ = passes.optimize(graph_def, ["Identity:0"])
    return graph_from_graph_def(graph_def), "Identity:0", "input:0"


def matmul_chain(size: int, chain: int):
    """x [size, size] -> MatMul with `chain` constant weights -> Sum (the fetch is a scalar)."""
    rng = np.random.default_rng(0)
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [size, size], name="x")
        y = x
        for i in range(chain):
            w = rng.standard_normal((size, size), np.float32) / np.float32(np.sqrt(size))
            y = gf.matmul(y, gf.constant(w, name=f"w{i}"), name=f"mm{i}")
        total = gf.reduce_sum(y, name="total")
    return g.ir, total.name, "x:0"


def compare(label: str, graph, fetch: str, feed: str, value: np.ndarray, repeat: int,
            gpu_repeat: int, **gpu_load) -> None:
    """``gpu_load``: runtime.load's arguments for the GPU column (default device="gpu")."""
    cpu, gpu = runtime.load(graph), runtime.load(graph, **(gpu_load or {"device": "gpu"}))
    feeds = {feed: value}
    want = cpu.run(fetch, feeds)
    got = gpu.run(fetch, feeds)                      # compiles the plan and the cupy kernels
    gpu.run(fetch, feeds)
    diff = float(np.max(np.abs(np.asarray(got, np.float64) - want)) / (np.max(np.abs(want)) or 1))
    cpu_s = best_of(lambda: cpu.run(fetch, feeds), repeat)
    gpu_s = best_of(lambda: gpu.run(fetch, feeds), gpu_repeat)
    print(f"{label:<34} cpu {cpu_s * 1e3:9.2f} ms   gpu {gpu_s * 1e3:8.2f} ms   "
          f"speedup {cpu_s / gpu_s:7.1f}x   (max rel diff {diff:.1e})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--chain", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--gpu-repeat", type=int, default=20)
    args = parser.parse_args()
    if not gpu_available():
        print("no GPU available (CuPy missing or no CUDA device): nothing to compare")
        return
    backend = GpuBackend.default()
    print(f"device: {backend.name}; "
          f"best of {args.repeat} (CPU) / {args.gpu_repeat} (GPU) Session.run calls")
    rng = np.random.default_rng(1)
    images = rng.standard_normal((args.batch, 96, 96, 3)).astype(np.float32)
    for optimized in (False, True):
        try:
            graph, fetch, feed = mobilenet(optimized)
        except Exception as err:  # the pass pipeline is optional here
            print(f"MobileNetV2 optimized: skipped ({type(err).__name__}: {err})")
            continue
        label = f"MobileNetV2 b{args.batch} {'fused (passes)' if optimized else 'as written'}"
        compare(label, graph, fetch, feed, images, args.repeat, args.gpu_repeat)
    graph, fetch, feed = mobilenet(False)
    compare(f"MobileNetV2 b{args.batch} on cpu:0+gpu:0", graph, fetch, feed, images,
            args.repeat, args.gpu_repeat, devices=["cpu:0", "gpu:0"])
    graph, fetch, feed = matmul_chain(args.size, args.chain)
    x = rng.standard_normal((args.size, args.size)).astype(np.float32)
    compare(f"MatMul chain {args.chain} x {args.size}^2", graph, fetch, feed, x, args.repeat,
            args.gpu_repeat)


if __name__ == "__main__":
    main()
