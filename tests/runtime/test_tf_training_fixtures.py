"""Training graphs written by TensorFlow 2.21 train on gcc-flow's runtime exactly as in TensorFlow.

    mlp_adam.pb: run init; 5 x run([loss, train]) on fixed batches -> TF's 5 losses (1e-5 rel.)
                 and, after the last step, every variable (weights, slots, beta powers, step)

Protocol (tests/fixtures/tf/make_training_fixtures.py): ``init`` alone with no feeds, then per
step ONE run call fetching ``[loss, train_op]`` in that order with the step's batch, then the
variables' values. The loss of a step is computed before that step's update, as in TensorFlow.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import runtime
from runtime.kernels import KERNELS
from schema.registry import find_op

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tf" / "training"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
RTOL, ATOL = 1e-5, 1e-6


def close(got, want: np.ndarray) -> bool:
    got = np.asarray(got)
    if got.dtype != want.dtype or got.shape != want.shape:
        return False
    if want.dtype.kind == "f":
        return bool(np.allclose(got, want, rtol=RTOL, atol=ATOL))
    return bool(np.array_equal(got, want))


def train(name: str) -> tuple[runtime.Session, list]:
    """Loads the fixture, runs init and every step as TF did; returns the session and losses."""
    entry, data = MANIFEST[name], np.load(FIXTURES / f"{name}.npz")
    sess = runtime.load(FIXTURES / f"{name}.pb")
    assert sess.run(entry["init"]) is None
    fetches = [entry[key] for key in entry["fetch_order"]]
    losses = []
    for step in range(entry["steps"]):
        feeds = {entry["feeds"][k]: data[f"{k}_{step}"] for k in ("x", "labels")}
        results = dict(zip(entry["fetch_order"], sess.run(fetches, feeds)))
        assert results["train_op"] is None
        losses.append(results["loss"])
    return sess, losses


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_every_op_tensorflow_emitted_is_declared_and_has_a_kernel(name):
    ops = MANIFEST[name]["ops"]
    assert [op for op in ops if find_op(op) is None] == []
    assert [op for op in ops if KERNELS.lookup(op) is None] == []


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_losses_match_tensorflow_step_by_step(name):
    data = np.load(FIXTURES / f"{name}.npz")
    _, losses = train(name)
    want = [data[f"loss_{s}"] for s in range(MANIFEST[name]["steps"])]
    wrong = [f"step {s}: got {got!r}, TF {tf!r}" for s, (got, tf) in enumerate(zip(losses, want))
             if not close(got, tf)]
    assert not wrong, f"{name} differs from TensorFlow:\n" + "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_final_variables_match_tensorflow(name):
    entry, data = MANIFEST[name], np.load(FIXTURES / f"{name}.npz")
    sess, _ = train(name)
    names = sorted(entry["variables"])
    values = sess.run([entry["variables"][n] for n in names])
    wrong = [n for n, got in zip(names, values) if not close(got, data[f"final/{n}"])]
    assert not wrong, f"{name}: variables differ from TensorFlow: {wrong}"


def test_training_changes_the_weights_and_the_fixture_sees_it():
    """The final weights differ from the initial ones, so comparing them is a real check."""
    entry, data = MANIFEST["mlp_adam"], np.load(FIXTURES / "mlp_adam.npz")
    sess = runtime.load(FIXTURES / "mlp_adam.pb")
    sess.run(entry["init"])
    initial = sess.run(entry["variables"]["hidden/w"])
    assert not close(initial, data["final/hidden/w"])
    assert int(data["final/global_step"]) == entry["steps"]


def test_every_fixture_file_is_in_the_manifest():
    assert {p.stem for p in FIXTURES.glob("*.pb")} == set(MANIFEST)
    assert all((FIXTURES / f"{name}.npz").exists() for name in MANIFEST)
    wanted = {"ResourceApplyAdam", "ResourceApplyMomentum", "ResourceApplyRMSProp",
              "ResourceApplyCenteredRMSProp", "ResourceApplyAdagrad", "ApplyGradientDescent",
              "ApplyAdam", "AssignAddVariableOp", "NoOp", "BroadcastGradientArgs"}
    assert wanted <= {op for entry in MANIFEST.values() for op in entry["ops"]}
