"""One SGD training step of a 784-512-512-10 MLP (ReLU, softmax cross-entropy), batch 64:
gcc-flow's runtime beside the same step written by hand in numpy, and TensorFlow's Session.

    GCC_FLOW_TF_PYTHON=/path/to/tfvenv/bin/python python bench/train_step.py [--profile]
      same update: runtime vs numpy max |diff| 1.5e-08 (the step moved weights by
        up to 0.026) ... ok
      784-512-512-10 MLP, batch 64, one SGD step, best of 30:
        runtime.load(graph_def).run(train_op) :    1.72 ms
        gf.Session.run(train_op)               :    1.73 ms
        numpy by hand                          :    1.15 ms
      same update: TensorFlow vs numpy max |diff| 1.5e-08 ... ok
        TensorFlow 2.21.0 Session              :    1.30 ms
      ratio runtime/numpy: 1.50 (target <= 1.3)

(2 cores, OpenBLAS; the numbers move with the machine's load: measure on a quiet machine.)

The graph is built with the frontend (resource variables initialized from fixed numpy arrays,
gf.nn.sparse_softmax_cross_entropy_with_logits, GradientDescentOptimizer.minimize) and run
as a GraphDef through runtime.load, and through gf.Session; each timed call is one
``sess.run(train_op, feeds)``. Before timing, one step from the same weights must give the
same weights in the runtime and in numpy (within 1e-5), and in TensorFlow when it is measured.
TensorFlow runs in this process when it imports here, else with the Python named by
GCC_FLOW_TF_PYTHON (a scratch venv; never a project dependency); without either it is skipped.
``--profile`` prints where the runtime's step spends its time (cProfile, top 25).
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time

import numpy as np

import gcc_flow as gf
import runtime

SIZES = (784, 512, 512, 10)
BATCH, LEARNING_RATE, TOLERANCE = 64, 0.1, 1e-5
PARAMS = ("w1", "b1", "w2", "b2", "w3", "b3")


def make_problem(seed: int = 0) -> tuple[dict, np.ndarray, np.ndarray]:
    """He-initialized weights {w1, b1, ...}, a batch x f32[64, 784] and labels int32[64]."""
    rng = np.random.default_rng(seed)
    params = {}
    for i, (fan_in, units) in enumerate(zip(SIZES, SIZES[1:]), start=1):
        params[f"w{i}"] = (rng.standard_normal((fan_in, units)) * np.sqrt(2 / fan_in)).astype(
            np.float32)
        params[f"b{i}"] = rng.uniform(-0.1, 0.1, units).astype(np.float32)
    x = rng.random((BATCH, SIZES[0]), dtype=np.float32)
    labels = rng.integers(0, SIZES[-1], BATCH).astype(np.int32)
    return params, x, labels


def build_graph(params: dict) -> tuple[gf.Graph, dict]:
    """The training graph; returns it and the names {x, labels, train, init, <param>: read}."""
    graph = gf.Graph()
    with graph.as_default():
        x = gf.placeholder(gf.float32, [None, SIZES[0]], name="x")
        labels = gf.placeholder(gf.int32, [None], name="labels")
        variables = {k: gf.Variable(v, name=k) for k, v in params.items()}
        h = x
        for i in range(1, len(SIZES)):
            h = gf.nn.bias_add(gf.matmul(h, variables[f"w{i}"]), variables[f"b{i}"])
            h = gf.nn.relu(h) if i < len(SIZES) - 1 else h
        loss = gf.reduce_mean(gf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=h), name="loss")
        train = gf.train.GradientDescentOptimizer(LEARNING_RATE).minimize(loss)
        init = gf.global_variables_initializer()
    names = {"x": x.name, "labels": labels.name, "train": train.name, "init": init.name}
    names.update({k: v._as_graph_element().name for k, v in variables.items()})
    return graph, names


def numpy_step(p: dict, x: np.ndarray, labels: np.ndarray) -> float:
    """Forward, backward and SGD update of ``p`` in place, by hand; returns the loss."""
    a1 = x @ p["w1"] + p["b1"]
    h1 = np.maximum(a1, 0)
    a2 = h1 @ p["w2"] + p["b2"]
    h2 = np.maximum(a2, 0)
    logits = h2 @ p["w3"] + p["b3"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = np.mean(np.log(total[:, 0]) - shifted[rows, labels])
    d3 = exp / total
    d3[rows, labels] -= 1
    d3 *= np.float32(1.0 / len(labels))
    d2 = (d3 @ p["w3"].T) * (a2 > 0)
    d1 = (d2 @ p["w2"].T) * (a1 > 0)
    grads = {"w3": h2.T @ d3, "b3": d3.sum(0), "w2": h1.T @ d2, "b2": d2.sum(0),
             "w1": x.T @ d1, "b1": d1.sum(0)}
    lr = np.float32(LEARNING_RATE)
    for k, g in grads.items():
        p[k] -= lr * g
    return float(loss)


def runtime_session(graph: gf.Graph, names: dict) -> runtime.Session:
    sess = runtime.load(graph.as_graph_def())
    sess.run("^" + names["init"])
    return sess


def max_difference(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in PARAMS)


def check_same_update(graph: gf.Graph, names: dict, params: dict, x, labels) -> dict:
    """One step in the runtime and in numpy from the same weights; raises unless they agree.
    Returns numpy's weights after the step."""
    sess = runtime_session(graph, names)
    sess.run("^" + names["train"], {names["x"]: x, names["labels"]: labels})
    ours = dict(zip(PARAMS, sess.run([names[k] for k in PARAMS])))
    by_hand = {k: v.copy() for k, v in params.items()}
    numpy_step(by_hand, x, labels)
    diff = max_difference(ours, by_hand)
    moved = max_difference(by_hand, params)
    print(f"same update: runtime vs numpy max |diff| {diff:.2g} (the step moved weights by up "
          f"to {moved:.2g}) ... {'ok' if diff <= TOLERANCE else 'MISMATCH'}")
    if diff > TOLERANCE or moved <= TOLERANCE:
        raise SystemExit("the runtime and numpy do not compute the same update")
    return by_hand


def best_of(contenders: dict, repeat: int) -> dict:
    """{name: best seconds of one call} over ``repeat`` rounds; each round calls every
    contender once, in turn, so a busy machine slows them alike."""
    for fn in contenders.values():
        fn()  # warm: plans compiled, caches filled
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(repeat):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


TF_SCRIPT = r"""
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np
import tensorflow as tf
v1 = tf.compat.v1
data_path, out_path, repeat, lr = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
data = np.load(data_path)
names = ["w1", "b1", "w2", "b2", "w3", "b3"]
g = tf.Graph()
with g.as_default():
    x = v1.placeholder(tf.float32, [None, 784])
    labels = v1.placeholder(tf.int32, [None])
    var = {k: v1.get_variable(k, initializer=data[k], use_resource=True) for k in names}
    h = x
    for i in (1, 2, 3):
        h = tf.nn.bias_add(tf.matmul(h, var["w%d" % i]), var["b%d" % i])
        h = tf.nn.relu(h) if i < 3 else h
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=h))
    train = v1.train.GradientDescentOptimizer(lr).minimize(loss)
    init = v1.global_variables_initializer()
feeds = {x: data["x"], labels: data["labels"]}
with v1.Session(graph=g) as sess:
    sess.run(init)
    sess.run(train, feeds)
    np.savez(out_path, **dict(zip(names, sess.run([var[k] for k in names]))))
    sess.run(train, feeds)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        sess.run(train, feeds)
        best = min(best, time.perf_counter() - start)
print(json.dumps({"seconds": best, "version": tf.__version__}))
"""


def tensorflow_python():
    """This interpreter when tensorflow imports here, else $GCC_FLOW_TF_PYTHON, else None."""
    try:
        import tensorflow  # noqa: F401
        return sys.executable
    except ImportError:
        return os.environ.get("GCC_FLOW_TF_PYTHON")


def time_tensorflow(params: dict, x, labels, expected: dict, repeat: int):
    """TensorFlow's best step time (None when unavailable); checks TF's update too."""
    python = tensorflow_python()
    if not python:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data, out = os.path.join(tmp, "data.npz"), os.path.join(tmp, "after.npz")
        np.savez(data, x=x, labels=labels, **params)
        done = subprocess.run([python, "-c", TF_SCRIPT, data, out, str(repeat),
                               str(LEARNING_RATE)], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            print(f"TensorFlow run failed: {done.stderr.strip().splitlines()[-1:]}")
            return None
        after = dict(np.load(out))
    diff = max_difference(after, expected)
    print(f"same update: TensorFlow vs numpy max |diff| {diff:.2g} ... "
          f"{'ok' if diff <= TOLERANCE else 'MISMATCH'}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def profile_runtime(step, top: int = 25) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(20):
        step()
    profiler.disable()
    print("\ncProfile of 20 runtime steps (cumulative, top %d):" % top)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def main(repeat: int = 30, profile: bool = False, seed: int = 0) -> dict:
    params, x, labels = make_problem(seed)
    graph, names = build_graph(params)
    expected = check_same_update(graph, names, params, x, labels)
    feeds = {names["x"]: x, names["labels"]: labels}
    sess = runtime_session(graph, names)
    frontend = gf.Session(graph=graph)
    frontend.run(names["init"])
    by_hand = {k: v.copy() for k, v in params.items()}
    times = best_of({"runtime": lambda: sess.run("^" + names["train"], feeds),
                     "gf.Session": lambda: frontend.run(names["train"], feeds),
                     "numpy": lambda: numpy_step(by_hand, x, labels)}, repeat)
    print(f"784-512-512-10 MLP, batch {BATCH}, one SGD step, best of {repeat}:")
    print(f"  runtime.load(graph_def).run(train_op) : {times['runtime'] * 1e3:7.2f} ms")
    print(f"  gf.Session.run(train_op)               : {times['gf.Session'] * 1e3:7.2f} ms")
    print(f"  numpy by hand                          : {times['numpy'] * 1e3:7.2f} ms")
    tf = time_tensorflow(params, x, labels, expected, repeat)
    if tf is None:
        print("  TensorFlow                             : not measured (no tensorflow; set "
              "GCC_FLOW_TF_PYTHON)")
    else:
        times["tensorflow"] = tf["seconds"]
        label = f"TensorFlow {tf['version']} Session"
        print(f"  {label:<39}: {tf['seconds'] * 1e3:7.2f} ms")
    ratio = times["runtime"] / times["numpy"]
    print(f"ratio runtime/numpy: {ratio:.2f} (target <= 1.3)")
    if profile:
        profile_runtime(lambda: sess.run("^" + names["train"], feeds))
    return dict(times, ratio=ratio)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    main(repeat=args.repeat, profile=args.profile)
