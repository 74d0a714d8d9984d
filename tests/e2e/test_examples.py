"""The runnable examples train, and say so: examples/{train_mlp,train_cnn,gan,save_restore}.py.

    train_mlp.main(steps=150) -> {"losses": [...], "accuracy": 0.9x, ...}: the loss falls

Each example's ``main(steps=..., seed=...)`` returns its numbers; these tests assert on them, and
run each example once as a script (`python examples/X.py`) to check its exit code and output.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gcc_flow as gf

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_mlp_loss_falls_and_it_classifies_the_spirals():
    result = load_example("train_mlp").main(steps=150, seed=1, verbose=False)
    assert len(result["losses"]) == 150
    assert result["first_loss"] > 0.9                     # ~ln 3 at the start
    assert result["last_loss"] < 0.5 * result["first_loss"]
    assert result["accuracy"] > 0.85                      # chance is 1/3


def test_train_cnn_loss_falls_and_it_tells_the_bars_apart():
    result = load_example("train_cnn").main(steps=80, seed=2, verbose=False)
    assert result["last_loss"] < 0.3 * result["first_loss"]
    assert result["accuracy"] > 0.8                       # chance is 1/4


def test_gan_losses_move_and_the_samples_approach_the_target():
    result = load_example("gan").main(steps=600, seed=0, verbose=False)
    d, g = np.array(result["d_losses"]), np.array(result["g_losses"])
    assert np.ptp(d) > 0.05 and np.ptp(g) > 0.01          # both networks were trained
    target = result["target_mean"]
    before, after = abs(result["mean_before"] - target), abs(result["mean_after"] - target)
    assert before > 2.5
    assert after < 0.6 * target / 2 and after < before / 4


def test_gan_each_optimizer_updates_only_its_own_network():
    gan = load_example("gan")
    graph = gf.Graph()
    with graph.as_default():
        t = gan.build(np.random.default_rng(0), seed=0)
        trainable = {v.op.name: v for v in gf.trainable_variables()}
    real = np.full((gan.BATCH, 1), 3.0, np.float32)
    with gf.Session(graph=graph) as sess:
        sess.run(t["init"])
        names = sorted(trainable)
        start = dict(zip(names, sess.run([trainable[n] for n in names])))
        for train_op, owner in ((t["d_train"], "discriminator/"), (t["g_train"], "generator/")):
            sess.run(train_op, {t["real"]: real})
            now = dict(zip(names, sess.run([trainable[n] for n in names])))
            changed = {n for n in names if not np.array_equal(now[n], start[n])}
            assert changed == {n for n in names if n.startswith(owner)}, train_op.name
            start = now


def test_save_restore_resumes_with_identical_losses(tmp_path):
    result = load_example("save_restore").main(steps=30, seed=3, checkpoint_dir=str(tmp_path),
                                                verbose=False)
    assert result["first_half"] == result["uninterrupted"][:30]
    assert result["resumed"] == result["uninterrupted"][30:]
    assert result["resumed_runtime"] == result["uninterrupted"][30:]
    assert result["global_step_restored"] == 30
    assert result["checkpoint"] == "model-30"
    assert result["uninterrupted"][-1] < result["uninterrupted"][0]


def test_save_restore_a_fresh_session_without_restore_trains_differently():
    """The restore does the work: a new Session that only re-initializes starts over."""
    example = load_example("save_restore")
    data = example.batches(3, 20)
    graph = gf.Graph()
    with graph.as_default():
        t = example.build(3)
    with gf.Session(graph=graph) as sess:
        sess.run(t["init"])
        trained = example.train(sess, t, data)
    with gf.Session(graph=graph) as sess:
        sess.run(t["init"])
        again = example.train(sess, t, data[10:])
    assert again != trained[10:]


@pytest.mark.parametrize("name, expected", [
    ("train_mlp", "accuracy on 300 points"),
    ("train_cnn", "held-out images"),
    ("gan", "generator samples: mean"),
    ("save_restore", "(identical)"),
])
def test_example_runs_as_a_script(name, expected):
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--steps", "20"],
                          capture_output=True, text=True, timeout=60, cwd=EXAMPLES.parent)
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout
    assert "DIFFERENT" not in done.stdout
    assert 3 <= len(done.stdout.splitlines()) <= 12
