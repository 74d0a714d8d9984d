"""Pass pipeline time on the MobileNetV2 fixture, beside TensorFlow's Grappler on the same graph.

Ours: passes.optimize (GraphDef in, GraphDef out, the default pipeline). Grappler:
tf_optimizer.OptimizeGraph with a default RewriterConfig, fetch = the model's output. Both best
of --repeat. Grappler runs in this process when tensorflow imports here, else with the Python
named by GCC_FLOW_TF_PYTHON (a scratch venv with tensorflow; never a project dependency); without
either, only our time is printed. Target: at most 2x Grappler's time.

    GCC_FLOW_TF_PYTHON=/path/to/tfvenv/bin/python python bench/passes_time.py
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import passes
from schema.io import read_graph_def

MODEL = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tf" / "mobilenet_v2.pb"
FETCH = "Identity"

GRAPPLER = MODEL.parent / "grappler_count.py"  # the committed script that measured 301 nodes


def time_ours(repeat: int) -> tuple[float, int]:
    graph_def = read_graph_def(MODEL)
    best, nodes = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        out, _ = passes.optimize(graph_def, fetches=[f"{FETCH}:0"], validate=False)
        best = min(best, time.perf_counter() - start)
        nodes = len(out.node)
    return best, nodes


def time_grappler(repeat: int):
    try:
        import tensorflow  # noqa: F401
        python = sys.executable
    except ImportError:
        python = os.environ.get("GCC_FLOW_TF_PYTHON")
    if not python:
        return None
    result = subprocess.run([python, str(GRAPPLER), "--repeat", str(repeat)],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        print(f"Grappler run failed: {result.stderr.strip().splitlines()[-1:]}")
        return None
    report = json.loads(result.stdout)
    return {"seconds": report["grappler_seconds"], "nodes": report["nodes_after"],
            "version": report["tf_version"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ours, our_nodes = time_ours(args.repeat)
    print(f"mobilenet_v2.pb, default pipeline {list(passes.DEFAULT_PIPELINE)}, best of "
          f"{args.repeat}:")
    print(f"  gcc-flow passes.optimize : {ours * 1e3:8.1f} ms -> {our_nodes} nodes")
    grappler = time_grappler(args.repeat)
    if grappler is None:
        print("  Grappler                 : not measured (no tensorflow; set GCC_FLOW_TF_PYTHON)")
        return
    print(f"  Grappler (TF {grappler['version']})     : {grappler['seconds'] * 1e3:8.1f} ms -> "
          f"{grappler['nodes']} nodes")
    print(f"ratio gcc-flow/Grappler time: {ours / grappler['seconds']:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
