"""The device options of the command line: ``run --device/--devices``, ``inspect --placement``,
``optimize --devices`` (placed union + one partition file per device), and the exit-2 error
when a GPU is asked for and none exists. Virtual CPUs everywhere; GCC_FLOW_FAKE_GPU=1 where a
GPU is needed."""
from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

import gcc_flow as gf
import runtime
from gcc_flow import cli
from passes.partition import RECV_OPS, SEND_OPS
from schema.io import read_graph_def
from schema.serde import graph_from_graph_def

CPU0 = "/job:localhost/replica:0/task:0/device:CPU:0"
CPU1 = "/job:localhost/replica:0/task:0/device:CPU:1"
GPU0 = "/job:localhost/replica:0/task:0/device:GPU:0"
W = (np.arange(32 * 32, dtype=np.float32).reshape(32, 32) - 500) / 1000
X = np.linspace(-1, 1, 2 * 32, dtype=np.float32).reshape(2, 32)


def reference(x: np.ndarray) -> dict:
    a = np.tanh(x)
    y = a + 2 * np.exp(a)
    return {"y:0": y, "z:0": y @ W}


def write_model(path, far: str = "/cpu:1"):
    """a @CPU:0 -> b @far -> y @CPU:0 (two transfers); z = MatMul(y, w) has no device: the
    cost model places it."""
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 32], name="x")
        with gf.device("/cpu:0"):
            a = gf.tanh(x, name="a")
        with gf.device(far):
            b = gf.multiply(gf.exp(a), 2.0, name="b")
        with gf.device("/cpu:0"):
            y = gf.add(a, b, name="y")
        gf.matmul(y, gf.constant(W, name="w"), name="z")
    gf.io.write_graph(g, path)
    return path


@pytest.fixture
def model(tmp_path):
    return write_model(tmp_path / "model.pb")


@pytest.fixture
def feed(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, X)
    return path


@pytest.fixture
def no_gpu(monkeypatch):
    """No fake GPU and no CuPy, whatever this machine has."""
    monkeypatch.delenv("GCC_FLOW_FAKE_GPU", raising=False)
    monkeypatch.setitem(sys.modules, "cupy", None)


def call(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gcc-flow: error: "), err
    return lines[0]


# -- run -----------------------------------------------------------------------------------------

def test_run_over_two_cpus_prints_and_saves_what_a_plain_run_does(capsys, tmp_path, model,
                                                                   feed):
    fetch = ["--fetch", "y:0", "--fetch", "z:0"]
    code, plain, _ = call(capsys, "run", model, "--feed", f"x={feed}", *fetch,
                          "-o", tmp_path / "plain.npz")
    assert code == 0
    code, split, err = call(capsys, "run", model, "--feed", f"x={feed}", *fetch,
                            "--devices", "cpu:0,cpu:1", "-o", tmp_path / "split.npz")
    assert (code, err) == (0, "")
    assert split.replace("split.npz", "plain.npz") == plain
    want = reference(X)
    for name in ("plain", "split"):
        with np.load(tmp_path / f"{name}.npz") as saved:
            for tensor, value in want.items():
                np.testing.assert_allclose(saved[tensor], value, rtol=1e-5, atol=1e-6)


def test_run_on_the_fake_gpu_alone_and_beside_a_cpu(capsys, monkeypatch, model, feed):
    monkeypatch.setenv("GCC_FLOW_FAKE_GPU", "1")
    _, plain, _ = call(capsys, "run", model, "--feed", f"x={feed}", "--fetch", "y:0")
    for option in (["--device", "gpu"], ["--devices", "cpu:0,gpu:0"]):
        code, out, err = call(capsys, "run", model, "--feed", f"x={feed}", "--fetch", "y:0",
                              *option)
        assert (code, err) == (0, "")
        assert out == plain and out.startswith("y:0  float32  [2, 32]  ")


@pytest.mark.parametrize("option, asked", [(["--device", "gpu"], "--device asks for gpu,"),
                                           (["--devices", "cpu:0,gpu:0"],
                                            "--devices asks for gpu:0,")])
def test_run_without_cupy_names_what_is_missing(capsys, tmp_path, no_gpu, model, feed, option,
                                                asked):
    out_file = tmp_path / "y.npz"
    code, out, err = call(capsys, "run", model, "--feed", f"x={feed}", "--fetch", "y:0",
                          *option, "-o", out_file)
    assert (code, out) == (2, "")
    line = one_line_error(err)
    assert asked in line and "no GPU is available: CuPy is not usable" in line
    assert "install CuPy" in line
    assert not out_file.exists()


def test_run_without_a_cuda_device_says_so(capsys, monkeypatch, model, feed):
    monkeypatch.delenv("GCC_FLOW_FAKE_GPU", raising=False)
    no_devices = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 0))
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(cuda=no_devices))
    code, out, err = call(capsys, "run", model, "--feed", f"x={feed}", "--fetch", "y:0",
                          "--device", "gpu:0")
    assert (code, out) == (2, "")
    assert "--device asks for gpu:0, but no GPU is available: CuPy sees no CUDA device" \
        in one_line_error(err)


@pytest.mark.parametrize("option, fragment", [
    (["--device", "gpu", "--devices", "cpu:0"], "not allowed with argument --device"),
    (["--device", "tpu"], "--device: unsupported device 'tpu'"),
    (["--devices", "cpu:0,,cpu:1"], "--devices 'cpu:0,,cpu:1': expected comma-separated"),
    (["--devices", "cpu:0,cpu:banana"], "device index 'banana' is not a number"),
    (["--devices", "cpu:0,/cpu:0"], "device '/cpu:0' is named twice"),
    (["--devices", "tpu:0"], "unsupported device type 'TPU'"),
])
def test_bad_device_options_exit_2(capsys, model, feed, option, fragment):
    code, out, err = call(capsys, "run", model, "--feed", f"x={feed}", "--fetch", "y:0",
                          *option)
    assert (code, out) == (2, "")
    assert fragment in one_line_error(err)


# -- inspect --placement -------------------------------------------------------------------------

def test_inspect_placement_lists_devices_and_costed_decisions(capsys, model):
    code, out, err = call(capsys, "inspect", model, "--placement", "--devices", "cpu:0,cpu:1")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    start = lines.index(f"{CPU0}  (5 nodes)")
    assert lines[start - 1].startswith("placement on CPU:0, CPU:1; estimated step ")
    assert lines[start - 1].endswith(" us; 2 send/recv pairs, 0 control pairs")
    cpu1 = lines.index(f"{CPU1}  (3 nodes)")
    assert sorted(line.split()[0] for line in lines[cpu1 + 1:cpu1 + 4]) == ["Const", "Exp", "b"]
    assert {line.split()[0] for line in lines[start + 1:cpu1]} == {"x", "a", "y", "w", "z"}
    decisions = lines[lines.index("decisions:") + 1:]
    z_line = next(line for line in decisions if line.split()[0] == "z")
    assert z_line.split()[1:4] == ["->", "CPU:0", "by"]
    assert "cost: compute " in z_line and " us, done at " in z_line
    assert "(elsewhere: CPU:1 " in z_line


def test_inspect_placement_json_has_each_decision_and_its_estimates(capsys, model):
    code, out, _ = call(capsys, "inspect", model, "--placement", "--devices", "cpu:0,cpu:1",
                        "--json")
    assert code == 0
    placement = json.loads(out)["placement"]
    assert placement["devices"] == [CPU0, CPU1]
    assert placement["nodes"] == {"x": CPU0, "a": CPU0, "Exp": CPU1, "Const": CPU1, "b": CPU1,
                                  "y": CPU0, "w": CPU0, "z": CPU0}
    assert placement["transfers"] == {"send_recv_pairs": 2}
    z = next(d for d in placement["decisions"] if d["node"] == "z")
    assert z["reason"] == "cost" and z["device"] == CPU0
    assert set(z["alternatives_us"]) == {CPU0, CPU1}
    assert 0 < z["compute_us"] <= z["finish_us"] == z["alternatives_us"][CPU0]
    assert z["alternatives_us"][CPU1] > z["finish_us"]
    assert placement["estimated_step_us"] >= z["finish_us"]


def test_inspect_placement_defaults_to_the_devices_found(capsys, monkeypatch, no_gpu, model):
    code, out, _ = call(capsys, "inspect", model, "--placement", "--json")
    placement = json.loads(out)["placement"]
    assert code == 0 and placement["devices"] == [CPU0]
    # CPU:1 is not there: soft placement moves its nodes to CPU:0 and says so
    assert set(placement["nodes"].values()) == {CPU0}
    assert any(n.startswith("soft placement: node 'b' (Mul)") for n in placement["notes"])
    monkeypatch.setenv("GCC_FLOW_FAKE_GPU", "1")
    code, out, _ = call(capsys, "inspect", model, "--placement", "--json")
    assert code == 0 and json.loads(out)["placement"]["devices"] == [CPU0, GPU0]


def test_inspect_devices_needs_placement_and_a_real_gpu(capsys, no_gpu, model):
    code, _, err = call(capsys, "inspect", model, "--devices", "cpu:0")
    assert code == 2 and "--devices needs --placement" in one_line_error(err)
    code, out, err = call(capsys, "inspect", model, "--placement", "--devices", "gpu:0")
    assert (code, out) == (2, "")
    assert "--devices asks for gpu:0, but no GPU is available" in one_line_error(err)


# -- optimize --devices --------------------------------------------------------------------------

def _nodes(path) -> dict:
    return {n.name: n for n in read_graph_def(path).node}


def test_optimize_writes_the_placed_union_and_one_partition_per_device(capsys, tmp_path,
                                                                        model):
    out = tmp_path / "model.opt.pb"
    code, printed, err = call(capsys, "optimize", model, "-o", out, "--fetch", "z:0",
                              "--passes", "prune", "--devices", "cpu:0,cpu:1", "--check", "2")
    assert (code, err) == (0, "")
    parts = {CPU0: tmp_path / "model.opt.CPU_0.pb", CPU1: tmp_path / "model.opt.CPU_1.pb"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["model.pb", "model.opt.pb", "model.opt.CPU_0.pb", "model.opt.CPU_1.pb"])
    union = _nodes(out)
    assert sum(n.op in SEND_OPS for n in union.values()) == 2
    assert sum(n.op in RECV_OPS for n in union.values()) == 2
    seen = {}
    for device, path in parts.items():
        nodes = _nodes(path)
        assert {n.device for n in nodes.values()} == {device}
        seen.update(nodes)
        assert f"wrote {path} ({len(nodes)} nodes on {device[-5:]})" in printed
    assert set(seen) == set(union)  # the partitions split the union, nothing more or less
    assert {union[n].device for n in ("a", "y", "z")} == {CPU0} and union["b"].device == CPU1
    assert "placed on CPU:0, CPU:1; estimated step " in printed
    assert ": 2 send/recv pairs, 0 control pairs" in printed
    # one fetch compared on each of 2 trials
    assert "check: 2 tensors equal on 2 random feeds (output partitioned over CPU:0, CPU:1)" \
        in printed
    session = runtime.load(out, devices=["cpu:0", "cpu:1"])
    np.testing.assert_allclose(session.run("z:0", {"x:0": X}), reference(X)["z:0"],
                               rtol=1e-5, atol=1e-6)
    session.close()
    graph_from_graph_def(read_graph_def(parts[CPU1]))  # each partition is a valid graph


def test_optimize_devices_refuses_an_existing_partition_without_force(capsys, tmp_path, model):
    out, stale = tmp_path / "m.pbtxt", tmp_path / "m.CPU_1.pbtxt"
    stale.write_text("keep me")
    code, printed, err = call(capsys, "optimize", model, "-o", out, "--devices", "cpu:0,cpu:1")
    assert (code, printed) == (2, "")
    assert f"output {stale} already exists; pass --force" in one_line_error(err)
    assert not out.exists() and stale.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.CPU_1.pbtxt", "model.pb"]
    code, _, _ = call(capsys, "optimize", model, "-o", out, "--devices", "cpu:0,cpu:1",
                      "--force")
    assert code == 0 and "node {" in stale.read_text()
    assert (tmp_path / "m.CPU_0.pbtxt").read_text().count('op: "_Send"') == 1


def test_optimize_devices_never_writes_a_partition_over_the_input(capsys, tmp_path, model):
    source = tmp_path / "net.CPU_0.pb"
    source.write_bytes(model.read_bytes())
    before = source.read_bytes()
    code, _, err = call(capsys, "optimize", source, "-o", tmp_path / "net.pb", "--devices",
                        "cpu:0", "--force")
    assert code == 2 and "refusing to overwrite the input" in one_line_error(err)
    assert source.read_bytes() == before and not (tmp_path / "net.pb").exists()


def test_optimize_check_runs_the_partitions_on_cpu_and_fake_gpu(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GCC_FLOW_FAKE_GPU", "1")
    model, out = write_model(tmp_path / "model.pb", far="/gpu:0"), tmp_path / "g.pb"
    code, printed, err = call(capsys, "optimize", model, "-o", out, "--fetch", "z:0",
                              "--fetch", "y:0", "--devices", "cpu:0,gpu:0", "--check", "2")
    assert (code, err) == (0, "")
    assert "check: 4 tensors equal on 2 random feeds (output partitioned over CPU:0, GPU:0)" \
        in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.CPU_0.pb", "g.GPU_0.pb", "g.pb",
                                                         "model.pb"]
    gpu_part = _nodes(tmp_path / "g.GPU_0.pb")
    assert {"Exp", "b"} <= set(gpu_part) and {n.device for n in gpu_part.values()} == {GPU0}
    assert {n.op for n in gpu_part.values()} >= {"_Recv", "_Send"}


def test_optimize_devices_without_a_gpu_writes_nothing(capsys, tmp_path, no_gpu, model):
    code, out, err = call(capsys, "optimize", model, "-o", tmp_path / "o.pb", "--devices",
                          "cpu:0,gpu:0")
    assert (code, out) == (2, "")
    assert "no GPU is available" in one_line_error(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pb"]


def test_help_lists_the_device_options(capsys):
    assert call(capsys, "run", "--help")[1].count("--devices") >= 1
    code, out, _ = call(capsys, "optimize", "--help")
    assert code == 0 and "--devices cpu:0,gpu:0" in out
    code, out, _ = call(capsys, "inspect", "--help")
    assert code == 0 and "--placement" in out and "--devices cpu:0,gpu:0" in out
