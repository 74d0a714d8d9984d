"""`gcc-flow optimize`: writes the optimized graph, prints the per-pass table, reports JSON,
checks equivalence, refuses to overwrite its input."""
from __future__ import annotations

import json

import numpy as np
import pytest

import gcc_flow as gf
import runtime
from gcc_flow import cli


@pytest.fixture
def model(tmp_path):
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 4], name="x")
        two = gf.constant(2.0) * gf.constant(1.5)      # folds to 3.0
        h = gf.tanh(x * two) + gf.tanh(x * two)         # CSE
        gf.identity(h * 1.0, name="y")                  # simplify + keep fetched name
        gf.exp(x, name="unused")
    path = tmp_path / "model.pb"
    gf.io.write_graph(g, path)
    return path


def test_optimize_writes_a_smaller_equivalent_graph(model, tmp_path, capsys):
    out, report = tmp_path / "small.pbtxt", tmp_path / "report.json"
    code = cli.main(["optimize", str(model), "-o", str(out), "--fetch", "y:0",
                     "--passes", "prune,fold_constants,simplify_arithmetic,cse,prune",
                     "--report", str(report), "--check", "3"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "fold_constants" in printed and "check: 3 tensors equal" in printed
    data = json.loads(report.read_text())
    assert data["nodes_after"] < data["nodes_before"]
    x = np.random.default_rng(0).random((2, 4), dtype=np.float32)
    want = runtime.load(model).run("y:0", {"x:0": x})
    got = runtime.load(out).run("y:0", {"x:0": x})
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert "unused" not in runtime.load(out).graph.nodes


def test_optimize_refuses_its_input_and_existing_outputs(model, tmp_path, capsys):
    assert cli.main(["optimize", str(model), "-o", str(model), "--passes", "prune"]) == 2
    assert "refusing to overwrite the input" in capsys.readouterr().err
    existing = tmp_path / "exists.pb"
    existing.write_bytes(b"keep me")
    assert cli.main(["optimize", str(model), "-o", str(existing), "--passes", "prune"]) == 2
    assert existing.read_bytes() == b"keep me"


def test_optimize_unknown_pass_is_invalid_input(model, tmp_path, capsys):
    code = cli.main(["optimize", str(model), "-o", str(tmp_path / "o.pb"), "--passes", "nope"])
    assert code == 2 and "unknown pass 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "o.pb").exists()


def test_check_failure_names_the_tensor(model, tmp_path, capsys, monkeypatch):
    from passes.base import PassResult, register_pass, _PASSES

    @register_pass("_corrupt_for_test")
    def corrupt(graph, ctx):
        for node in graph:
            if node.op == "Tanh":
                node.op = "Sigmoid"
        return PassResult(graph, True, {})

    try:
        code = cli.main(["optimize", str(model), "-o", str(tmp_path / "bad.pb"), "--fetch",
                         "y:0", "--passes", "_corrupt_for_test", "--check", "1"])
    finally:
        _PASSES.pop("_corrupt_for_test")
    assert code == 1
    assert "check failed: y:0 differs" in capsys.readouterr().err
