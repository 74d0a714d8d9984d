"""Graphs written by TensorFlow 2.21 run on gcc-flow's runtime and give TensorFlow's outputs.

    mlp.pb + feeds of mlp.npz -> runtime.load(...).run(fetches) == TF's fetches in mlp.npz

Protocol (tests/fixtures/tf/make_fixtures.py): run ``targets`` first, with no feeds; fetch with
the feeds; then run every ``sequence`` step as one run() call in the same session, so variable
state carries over. A fixture fails while one of its ops has no kernel yet: that is intended.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import runtime

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tf"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
RTOL, ATOL = 1e-5, 1e-6


def mismatch(tensor: str, got, want: np.ndarray) -> str | None:
    """None when ``got`` matches TensorFlow's ``want``: dtype and shape exactly; floats within
    RTOL + ATOL, ints and bools exactly. Otherwise what differs."""
    got = np.asarray(got)
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"{tensor}: got {got.dtype}{list(got.shape)}, TF {want.dtype}{list(want.shape)}"
    if want.dtype.kind in "fc":
        ok = np.allclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)
    else:
        ok = np.array_equal(got, want)
    if ok:
        return None
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    return f"{tensor}: values differ in {int(np.sum(~np.isclose(got, want, RTOL, ATOL)))} of " \
           f"{want.size} elements (max abs diff {np.nanmax(diff):.3g})"


def run_step(sess, step: dict, data) -> list[str]:
    """One Session.run call: targets (as ^name) and fetches, with the step's feeds."""
    feeds = {tensor: data[key] for tensor, key in step["feeds"].items()}
    fetches = list(step["fetches"])
    results = sess.run(fetches + ["^" + t for t in step["targets"]], feeds)
    problems = [mismatch(t, got, data[step["fetches"][t]])
                for t, got in zip(fetches, results[:len(fetches)])]
    assert all(r is None for r in results[len(fetches):]), "targets must fetch nothing"
    return [p for p in problems if p]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_fixture_matches_tensorflow(name):
    entry = MANIFEST[name]
    data = np.load(FIXTURES / f"{name}.npz")
    sess = runtime.load(FIXTURES / f"{name}.pb")
    if entry["targets"]:
        assert sess.run(["^" + t for t in entry["targets"]]) == [None] * len(entry["targets"])
    steps = [{"feeds": entry["feeds"], "targets": [], "fetches": entry["fetches"]}]
    steps += entry.get("sequence", [])
    problems = []
    for number, step in enumerate(steps):
        problems += [f"step {number}: {p}" for p in run_step(sess, step, data)]
    assert not problems, f"{name} differs from TensorFlow:\n" + "\n".join(problems)


def test_every_fixture_file_is_in_the_manifest():
    on_disk = {p.stem for p in FIXTURES.glob("*.pb")}
    assert on_disk == set(MANIFEST)
    assert all((FIXTURES / f"{name}.npz").exists() for name in MANIFEST)


def test_mismatch_reports_dtype_shape_and_values():
    want = np.array([1.0, 2.0], np.float32)
    assert mismatch("t", want.copy(), want) is None
    assert mismatch("t", want * (1 + 1e-7), want) is None
    assert "float64" in mismatch("t", want.astype(np.float64), want)
    assert "[1, 2]" in mismatch("t", want.reshape(1, 2), want)
    assert "1 of 2" in mismatch("t", np.array([1.0, 2.1], np.float32), want)
    assert "1 of 2" in mismatch("t", np.array([1, 3], np.int32), np.array([1, 2], np.int32))
