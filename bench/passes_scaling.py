"""Pass pipeline scaling: the default pipeline on synthetic graphs of 10k, 50k and 100k nodes.

Each graph is a stack of identical blocks: a constant subexpression to fold, an Identity to
prune, duplicated work for CSE, arithmetic with neutral elements to simplify, and a dead branch.
Prints the best-of-3 time per size (each size in a fresh interpreter) and time(100k) / time(10k);
linear scaling gives about 10 (target: at most 12).

    python bench/passes_scaling.py [--sizes 10000,50000,100000]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import passes
from schema import graph_pb2

_BLOCK_NODES = 10


def _node(gd, name, op, inputs=(), **attrs):
    node = gd.node.add(name=name, op=op, input=list(inputs))
    node.attr["T"].type = 1
    return node


def _const(gd, name, value):
    node = gd.node.add(name=name, op="Const")
    node.attr["dtype"].type = 1
    tensor = node.attr["value"].tensor
    tensor.dtype = 1
    tensor.float_val.append(value)
    return node


def synthetic_graph(n_nodes: int) -> tuple[graph_pb2.GraphDef, str]:
    gd = graph_pb2.GraphDef()
    x = gd.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    x.attr["shape"].shape.dim.add().size = 4
    prev = "x"
    for b in range(max(1, n_nodes // _BLOCK_NODES)):
        p = f"b{b}/"
        _const(gd, p + "one", 1.0)
        _const(gd, p + "two", 2.0)
        _node(gd, p + "four", "Mul", [p + "two", p + "two"])      # folds to a Const
        _node(gd, p + "id", "Identity", [prev])                    # pruned
        _node(gd, p + "m1", "Mul", [p + "id", p + "one"])          # x * 1 -> x
        _node(gd, p + "t1", "Tanh", [p + "m1"])
        _node(gd, p + "t2", "Tanh", [p + "m1"])                    # CSE with t1
        _node(gd, p + "s", "AddV2", [p + "t1", p + "t2"])
        _node(gd, p + "out", "Mul", [p + "s", p + "four"])
        _node(gd, p + "dead", "Exp", [p + "out"])                  # pruned (not fetched)
        prev = p + "out"
    return gd, prev + ":0"


def time_size(size: int, repeat: int, pipeline: list) -> tuple[float, int, int, int]:
    """Best of ``repeat`` runs of passes.optimize on the synthetic graph of ``size`` nodes."""
    graph_def, fetch = synthetic_graph(size)
    best, out_nodes, rounds = float("inf"), 0, 0
    for _ in range(repeat):
        start = time.perf_counter()
        optimized, report = passes.optimize(graph_def, fetches=[fetch], pipeline=pipeline,
                                            validate=False)
        best = min(best, time.perf_counter() - start)
        out_nodes, rounds = len(optimized.node), report.iterations
    return best, len(graph_def.node), out_nodes, rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs per size")
    parser.add_argument("--one-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    pipeline = [p for p in passes.DEFAULT_PIPELINE if p in passes.available()]
    if args.one_size:
        print(json.dumps(time_size(args.one_size, args.repeat, pipeline)))
        return
    print(f"pipeline: {pipeline}")
    times = {}
    for size in (int(s) for s in args.sizes.split(",")):
        # Each size in a fresh interpreter: the heap a bigger run leaves behind would otherwise
        # slow the next one and blur the scaling being measured.
        result = subprocess.run([sys.executable, __file__, "--one-size", str(size),
                                 "--repeat", str(args.repeat)], capture_output=True, text=True,
                                check=True)
        seconds, nodes_in, nodes_out, rounds = json.loads(result.stdout)
        times[size] = seconds
        print(f"{nodes_in:>8} nodes -> {nodes_out:>7} in {seconds:7.2f} s ({rounds} rounds)")
    sizes = sorted(times)
    ratio = times[sizes[-1]] / times[sizes[0]]
    print(f"time({sizes[-1]}) / time({sizes[0]}) = {ratio:.1f} "
          f"(linear: {sizes[-1] / sizes[0]:.0f}; target <= 12)")


if __name__ == "__main__":
    main()
