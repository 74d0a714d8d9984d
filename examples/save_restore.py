"""Checkpoint mid-training with gf.train.Saver, restore in a new Session, continue: same losses.

    python examples/save_restore.py
      saved model-100 after 100 steps; restored global_step 100
        uninterrupted, steps 100..199: 0.0095 0.0078 0.0070 ... 0.0026
        resumed         steps 100..199: 0.0095 0.0078 0.0070 ... 0.0026  (identical)
        resumed_runtime steps 100..199: 0.0095 0.0078 0.0070 ... 0.0026  (identical)

Three runs of the same 2 * steps training steps (an MLP regressing y = sin(3 x0) * x1, Adam,
so the checkpoint must carry the Adam slots, beta powers and the global step too):

1. uninterrupted, in one gf.Session;
2. ``steps`` steps, ``saver.save`` -> a NEW gf.Session on the same graph: ``saver.restore``,
   then the remaining steps;
3. the remaining steps on the GraphDef alone, with the runtime (no frontend): restore by
   running the graph's own ``save/restore_all`` op with the checkpoint path fed.

The batches are fixed per step, so the three runs must print identical losses.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import gcc_flow as gf
import runtime


def batches(seed: int, count: int, size: int = 32) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` fixed batches (x f32[size, 2], y f32[size, 1]) of y = sin(3 x0) * x1."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        x = rng.uniform(-1, 1, (size, 2)).astype(np.float32)
        out.append((x, (np.sin(3 * x[:, :1]) * x[:, 1:]).astype(np.float32)))
    return out


def build(seed: int) -> dict:
    rng = np.random.default_rng(seed + 1)
    x = gf.placeholder(gf.float32, [None, 2], name="x")
    y = gf.placeholder(gf.float32, [None, 1], name="y")
    h, width = x, 2
    for i, units in enumerate([32, 32, 1]):
        with gf.name_scope(f"dense{i}"):
            w = gf.Variable(rng.normal(0, np.sqrt(1 / width), (width, units)).astype(np.float32),
                            name="w")
            b = gf.Variable(np.zeros(units, np.float32), name="b")
            h = gf.nn.bias_add(gf.matmul(h, w), b)
            h = gf.tanh(h) if units > 1 else h
        width = units
    loss = gf.losses.mean_squared_error(y, h)
    loss = gf.identity(loss, name="loss")
    step = gf.train.get_or_create_global_step()
    train_op = gf.train.AdamOptimizer(0.01).minimize(loss, global_step=step)
    init = gf.global_variables_initializer()
    return {"x": x, "y": y, "loss": loss, "train": train_op, "init": init,
            "saver": gf.train.Saver(), "step": step}


def train(sess, t: dict, data: list) -> list[float]:
    """One run([loss, train]) per batch; the losses."""
    return [float(sess.run([t["loss"], t["train"]], {t["x"]: x, t["y"]: y})[0]) for x, y in data]


def resume_with_runtime(graph: gf.Graph, t: dict, path: str, data: list) -> list[float]:
    """Restores and trains on the GraphDef alone: runtime.load + the graph's own restore op."""
    sess = runtime.load(graph.as_graph_def())
    sess.run("^" + t["saver"].restore_op_name, {t["saver"].filename_tensor_name: path})
    fetches = [t["loss"].name, "^" + t["train"].name]
    return [float(sess.run(fetches, {t["x"].name: x, t["y"].name: y})[0]) for x, y in data]


def main(steps: int = 100, seed: int = 0, checkpoint_dir: str | None = None,
         verbose: bool = True) -> dict:
    """Returns {"uninterrupted", "first_half", "resumed", "resumed_runtime" (loss lists),
    "checkpoint", "global_step_restored"}."""
    data = batches(seed, 2 * steps)
    graph = gf.Graph()
    with graph.as_default():
        t = build(seed)
    with gf.Session(graph=graph) as sess:
        sess.run(t["init"])
        uninterrupted = train(sess, t, data)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(checkpoint_dir or tmp)
        with gf.Session(graph=graph) as sess:
            sess.run(t["init"])
            first_half = train(sess, t, data[:steps])
            path = t["saver"].save(sess, str(folder / "model"), global_step=t["step"])
        with gf.Session(graph=graph) as sess:             # fresh variables: nothing carried
            t["saver"].restore(sess, gf.train.latest_checkpoint(str(folder)))
            restored_step = int(sess.run(t["step"]))
            resumed = train(sess, t, data[steps:])
        resumed_runtime = resume_with_runtime(graph, t, path, data[steps:])
    result = {"uninterrupted": uninterrupted, "first_half": first_half, "resumed": resumed,
              "resumed_runtime": resumed_runtime, "checkpoint": Path(path).name,
              "global_step_restored": restored_step}
    if verbose:
        report(result, steps)
    return result


def report(result: dict, steps: int) -> None:
    def show(losses: list) -> str:
        return " ".join(f"{v:.4f}" for v in losses[:3]) + " ... " + f"{losses[-1]:.4f}"
    print(f"saved {result['checkpoint']} after {steps} steps; restored global_step "
          f"{result['global_step_restored']}")
    print(f"  uninterrupted, steps {steps}..{2 * steps - 1}: "
          f"{show(result['uninterrupted'][steps:])}")
    for key in ("resumed", "resumed_runtime"):
        same = result[key] == result["uninterrupted"][steps:]
        print(f"  {key:<15} steps {steps}..{2 * steps - 1}: {show(result[key])}  "
              f"({'identical' if same else 'DIFFERENT'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(steps=args.steps, seed=args.seed)
