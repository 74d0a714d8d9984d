"""The gcc-flow command line: inspect, run, exit codes, one-line errors, safe output files."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

import schema.io
from gcc_flow import cli
from schema import graph_pb2
from schema.io import read_graph_def
from schema.registry import find_op
from schema.tensors import to_numpy

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "tf"
CPU = "/job:localhost/replica:0/task:0/device:CPU:0"


def _attr_type(key: str, dtype: str) -> str:
    return f'attr {{ key: "{key}" value {{ type: {dtype} }} }}'


def _attr_shape(dims: list) -> str:
    inner = " ".join(f"dim {{ size: {d} }}" for d in dims)
    return f'attr {{ key: "shape" value {{ shape {{ {inner} }} }} }}'


def _const(name: str, dtype: str, dims: list, values: str) -> str:
    shape = " ".join(f"dim {{ size: {d} }}" for d in dims)
    return (f'node {{ name: "{name}" op: "Const" {_attr_type("dtype", dtype)} attr {{ key: '
            f'"value" value {{ tensor {{ dtype: {dtype} tensor_shape {{ {shape} }} {values} }} '
            f'}} }} }}\n')


MODEL = "".join([
    f'node {{ name: "x" op: "Placeholder" {_attr_type("dtype", "DT_FLOAT")} '
    f'{_attr_shape([-1, 3])} }}\n',
    _const("b", "DT_FLOAT", [3], "float_val: 1 float_val: 2 float_val: 3"),
    _const("w", "DT_FLOAT", [3, 2], "float_val: 0.5"),
    _const("k", "DT_INT32", [2], "int_val: 4 int_val: -7"),
    f'node {{ name: "y" op: "AddV2" input: "x" input: "b" {_attr_type("T", "DT_FLOAT")} }}\n',
    f'node {{ name: "s" op: "Neg" input: "k" device: "/cpu:0" {_attr_type("T", "DT_INT32")} }}\n',
    f'node {{ name: "v" op: "VarHandleOp" device: "{CPU}" {_attr_type("dtype", "DT_FLOAT")} '
    f'{_attr_shape([4, 5])} }}\n',
    f'node {{ name: "v2" op: "VariableV2" {_attr_type("dtype", "DT_FLOAT")} '
    f'{_attr_shape([-1])} }}\n',
    'node { name: "init" op: "NoOp" input: "^v" }\n',
])
X = np.arange(6, dtype=np.float32).reshape(2, 3)


@pytest.fixture
def model(tmp_path) -> Path:
    path = tmp_path / "model.pbtxt"
    path.write_text(MODEL)
    return path


@pytest.fixture
def feed(tmp_path) -> Path:
    path = tmp_path / "x.npy"
    np.save(path, X)
    return path


def call(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, fragment: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gcc-flow: error: ") and fragment in lines[0], lines[0]


# -- inspect -------------------------------------------------------------------------------------

def test_inspect_json_reports_inputs_outputs_variables_parameters_devices(capsys, model):
    code, out, err = call(capsys, "inspect", model, "--json", "--allow-unknown")
    assert (code, err) == (0, "")
    s = json.loads(out)
    assert s["format"] == "text" and s["nodes"] == 9
    assert s["ops"] == {"Const": 3, "AddV2": 1, "Neg": 1, "NoOp": 1, "Placeholder": 1,
                        "VarHandleOp": 1, "VariableV2": 1}
    assert list(s["ops"])[0] == "Const"  # most frequent first
    assert s["inputs"] == [{"name": "x:0", "op": "Placeholder", "dtype": "float32",
                            "shape": [None, 3]}]
    assert s["outputs"] == [{"name": "y:0", "op": "AddV2", "dtype": "float32", "shape": [None, 3]},
                            {"name": "s:0", "op": "Neg", "dtype": "int32", "shape": [2]}]
    assert s["variables"] == [
        {"name": "v", "op": "VarHandleOp", "dtype": "float32", "shape": [4, 5]},
        {"name": "v2", "op": "VariableV2", "dtype": "float32", "shape": [None]}]
    # float Consts b (3) and w (6); int32 k is not a weight; v has 20; v2's size is unknown
    assert (s["parameters"], s["const_parameters"], s["variable_parameters"]) == (29, 9, 20)
    assert s["variables_of_unknown_size"] == ["v2"]
    assert s["devices"] == {"/cpu:0": 1, CPU: 1}


def test_inspect_text_is_one_fact_per_line(capsys, model):
    code, out, _ = call(capsys, "inspect", model, "--allow-unknown")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].startswith(f"model: {model} (text GraphDef, producer 0")
    assert "nodes: 9" in lines
    assert any(line.split() == ["x:0", "float32[?,3]"] for line in lines)
    assert any(line.split() == ["s:0", "int32[2]"] for line in lines)
    assert any(line.split() == ["v2", "float32[?]", "(VariableV2)"] for line in lines)
    assert ("parameters: 29 (float Const elements 9, variable elements 20; 1 variables of "
            "unknown size)") in lines


def test_inspect_graph_lists_every_node(capsys, model):
    code, out, _ = call(capsys, "inspect", model, "--allow-unknown", "--graph")
    lines = out.splitlines()
    assert code == 0
    graph_lines = lines[lines.index("graph:") + 1:]
    assert len(graph_lines) == 9
    assert "  %y:0 f32[?,3] = AddV2(%x:0, %b:0) T=f32" in graph_lines
    code, out, _ = call(capsys, "inspect", model, "--allow-unknown", "--graph", "--json")
    assert [line.strip() for line in graph_lines] == json.loads(out)["graph"]


@pytest.mark.skipif(find_op("VarHandleOp") is None, reason="VarHandleOp not declared yet")
def test_inspect_without_allow_unknown_when_variables_are_declared(capsys, model):
    code, out, _ = call(capsys, "inspect", model, "--json")
    assert code == 0 and json.loads(out)["parameters"] == 29


def test_inspect_refuses_unknown_ops_unless_allowed(capsys, tmp_path):
    path = tmp_path / "m.pbtxt"
    path.write_text('node { name: "a" op: "FrobnicateV9" }')
    code, _, err = call(capsys, "inspect", path)
    assert code == 2
    assert_one_line_error(err, "node 'a' uses unknown op 'FrobnicateV9'")
    code, out, _ = call(capsys, "inspect", path, "--allow-unknown", "--json")
    assert code == 0 and json.loads(out)["ops"] == {"FrobnicateV9": 1}


def test_inspect_a_real_tensorflow_graph(capsys):
    path = FIXTURES / "mlp.pb"
    graph_def = read_graph_def(path)
    code, out, err = call(capsys, "inspect", path, "--json", "--allow-unknown")
    assert (code, err) == (0, "")
    s = json.loads(out)
    assert s["nodes"] == len(graph_def.node)
    assert s["ops"] == dict(Counter(n.op for n in graph_def.node))
    weights = [to_numpy(n.attr["value"].tensor) for n in graph_def.node if n.op == "Const"]
    assert s["const_parameters"] == sum(w.size for w in weights if w.dtype.kind == "f")
    manifest = json.loads((FIXTURES / "manifest.json").read_text())["mlp"]
    assert [i["name"] for i in s["inputs"]] == list(manifest["feeds"])
    assert s["inputs"][0]["shape"] == [None, 8]
    assert "probs:0" in [o["name"] for o in s["outputs"]]


# -- run -----------------------------------------------------------------------------------------

def test_run_prints_fetches_and_saves_npz(capsys, tmp_path, model, feed):
    out_file = tmp_path / "out.npz"
    code, out, err = call(capsys, "run", model, "--allow-unknown", "--feed", f"x={feed}",
                          "--fetch", "y:0", "--fetch", "s", "-o", out_file)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "y:0  float32  [2, 3]  [[1., 3., 5.], [4., 6., 8.]]"
    assert lines[1] == "s  int32  [2]  [-4, 7]"
    assert lines[2] == f"wrote 2 tensors to {out_file}"
    with np.load(out_file, allow_pickle=False) as saved:
        assert sorted(saved.files) == ["s", "y:0"]
        np.testing.assert_array_equal(saved["y:0"], X + np.array([1, 2, 3], np.float32))
        np.testing.assert_array_equal(saved["s"], np.array([-4, 7], np.int32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pbtxt", "out.npz", "x.npy"]


def test_run_target_and_a_node_without_outputs(capsys, model):
    code, out, _ = call(capsys, "run", model, "--allow-unknown", "--fetch", "s:0",
                        "--fetch", "init", "--target", "init")
    assert code == 0
    assert out.splitlines() == ["s:0  int32  [2]  [-4, 7]",
                                "init  (no outputs; ran as a target)"]


def test_run_preview_is_short_for_big_tensors(capsys, tmp_path, model):
    np.save(tmp_path / "big.npy", np.zeros((1000, 3), np.float32))
    code, out, _ = call(capsys, "run", model, "--allow-unknown", "--feed",
                        f"x:0={tmp_path / 'big.npy'}", "--fetch", "y:0")
    assert code == 0
    line = out.splitlines()[0]
    assert line.startswith("y:0  float32  [1000, 3]  [[1., 2., 3.], [1., 2., 3.], ...")
    assert len(line) < 160


def test_run_string_feed_and_fetch(capsys, tmp_path):
    path = tmp_path / "m.pbtxt"
    path.write_text(f'node {{ name: "x" op: "Placeholder" {_attr_type("dtype", "DT_STRING")} }}'
                    f'node {{ name: "y" op: "Identity" input: "x" '
                    f'{_attr_type("T", "DT_STRING")} }}')
    np.save(tmp_path / "x.npy", np.array(["ab", "c"]))
    code, out, err = call(capsys, "run", path, "--feed", f"x={tmp_path / 'x.npy'}",
                          "--fetch", "y:0", "-o", tmp_path / "o.npz")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "y:0  string  [2]  [b'ab', b'c']"
    with np.load(tmp_path / "o.npz", allow_pickle=False) as saved:
        assert saved["y:0"].tolist() == [b"ab", b"c"]


def test_run_a_real_tensorflow_fixture_matches_tensorflow(capsys, tmp_path):
    from runtime.kernels import KERNELS
    graph_def = read_graph_def(FIXTURES / "broadcast_arith.pb")
    if any(find_op(n.op) is None or KERNELS.lookup(n.op) is None for n in graph_def.node):
        pytest.skip("some op of the fixture is not declared or has no kernel yet")
    manifest = json.loads((FIXTURES / "manifest.json").read_text())["broadcast_arith"]
    expected = np.load(FIXTURES / "broadcast_arith.npz")
    args = ["run", FIXTURES / "broadcast_arith.pb", "-o", tmp_path / "o.npz"]
    for tensor, key in manifest["feeds"].items():
        np.save(tmp_path / f"{key}.npy", expected[key])
        args += ["--feed", f"{tensor}={tmp_path / f'{key}.npy'}"]
    for tensor in manifest["fetches"]:
        args += ["--fetch", tensor]
    code, _, err = call(capsys, *args)
    assert (code, err) == (0, "")
    with np.load(tmp_path / "o.npz") as saved:
        for tensor, key in manifest["fetches"].items():
            np.testing.assert_allclose(saved[tensor], expected[key], rtol=1e-6)


# -- output files --------------------------------------------------------------------------------

def test_existing_output_needs_force(capsys, tmp_path, model, feed):
    out_file = tmp_path / "out.npz"
    out_file.write_bytes(b"precious")
    args = ["run", model, "--allow-unknown", "--feed", f"x={feed}", "--fetch", "y:0",
            "-o", out_file]
    code, out, err = call(capsys, *args)
    assert (code, out) == (2, "")
    assert_one_line_error(err, "already exists; pass --force")
    assert out_file.read_bytes() == b"precious"
    code, _, _ = call(capsys, *args, "--force")
    assert code == 0
    with np.load(out_file) as saved:
        assert saved["y:0"].shape == (2, 3)


@pytest.mark.parametrize("target", ["model", "link", "feed"])
def test_never_overwrites_an_input_even_with_force(capsys, tmp_path, model, feed, target):
    link = tmp_path / "link.npz"
    link.symlink_to(model)
    out_file = {"model": model, "link": link, "feed": feed}[target]
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code, _, err = call(capsys, "run", model, "--allow-unknown", "--feed", f"x={feed}",
                        "--fetch", "y:0", "-o", out_file, "--force")
    assert code == 2
    assert_one_line_error(err, "refusing to overwrite the input")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("name, fragment", [("out.npy", "must end in .npz"),
                                            ("missing/out.npz", "does not exist"),
                                            ("folder.npz", "is a directory")])
def test_bad_output_paths(capsys, tmp_path, model, feed, name, fragment):
    (tmp_path / "folder.npz").mkdir()
    code, _, err = call(capsys, "run", model, "--allow-unknown", "--feed", f"x={feed}",
                        "--fetch", "y:0", "-o", tmp_path / name)
    assert code == 2
    assert_one_line_error(err, fragment)


@pytest.mark.parametrize("broken", ["fsync", "replace"])
def test_failed_output_write_leaves_no_file(capsys, tmp_path, monkeypatch, model, feed,
                                            broken):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("unrelated")

    def fail(*args, **kwargs):
        raise OSError(30, "Read-only file system")
    monkeypatch.setattr(schema.io.os, broken, fail)
    code, _, err = call(capsys, "run", model, "--allow-unknown", "--feed", f"x={feed}",
                        "--fetch", "y:0", "-o", out / "r.npz")
    assert code == 2
    assert_one_line_error(err, "Read-only file system")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


# -- feeds ---------------------------------------------------------------------------------------

def _npy_header(path: Path, shape: tuple) -> None:
    """A .npy file whose header claims ``shape`` but holds 8 bytes of data."""
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": "<f4", "fortran_order": False, "shape": shape})
        handle.write(b"\0" * 8)


@pytest.mark.parametrize("make, fragment", [
    (lambda p: None, "cannot read"),
    (lambda p: p.write_bytes(b"not numpy"), "is not a valid .npy file"),
    (lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True),
     "never unpickles"),
    (lambda p: _npy_header(p, (4,)), "has 8 data bytes but its header float32[4] needs 16"),
    (lambda p: _npy_header(p, (10**6, 10**6)), "above the limit max_tensor_bytes"),
])
def test_bad_feed_files(capsys, tmp_path, model, make, fragment):
    path = tmp_path / "f.npy"
    make(path)
    code, _, err = call(capsys, "run", model, "--allow-unknown", "--feed", f"x={path}",
                        "--fetch", "y:0")
    assert code == 2
    assert_one_line_error(err, fragment)


# -- command line and exit codes -----------------------------------------------------------------

@pytest.mark.parametrize("args, fragment", [
    ([], "the following arguments are required"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["inspect"], "the following arguments are required: model"),
    (["inspect", "MODEL", "--bogus"], "unrecognized arguments: --bogus"),
    (["run", "MODEL"], "run needs at least one --fetch or --target"),
    (["run", "MODEL", "--feed", "x", "--fetch", "y"], "expected NAME=FILE.npy"),
    (["run", "MODEL", "--feed", "x=a.npy", "--feed", "x:0=b.npy", "--fetch", "y"],
     "--feed 'x:0' is given more than once"),
    (["run", "MODEL", "--fetch", "y", "--fetch", "y"], "--fetch 'y' is given more than once"),
    (["inspect", "does/not/exist.pb"], "no such file: does/not/exist.pb"),
])
def test_usage_errors_exit_2_with_one_line(capsys, model, args, fragment):
    code, out, err = call(capsys, *[str(model) if a == "MODEL" else a for a in args])
    assert (code, out) == (2, "")
    assert_one_line_error(err, fragment)


def test_help_exits_0(capsys):
    code, out, _ = call(capsys, "run", "--help")
    assert code == 0 and "--feed NAME=FILE.npy" in out


def test_internal_error_exits_1_with_one_line(capsys, monkeypatch, model):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(cli, "read_graph_def", boom)
    code, out, err = call(capsys, "inspect", model)
    assert (code, out) == (1, "")
    assert_one_line_error(err, "internal error: RuntimeError: boom (rerun with --debug")
    code, _, err = call(capsys, "--debug", "inspect", model)
    assert code == 1
    assert err.startswith("Traceback") and "RuntimeError: boom" in err
    assert err.splitlines()[-1] == "gcc-flow: error: internal error: RuntimeError: boom"


def test_debug_shows_the_traceback_of_an_input_error(capsys, tmp_path):
    path = tmp_path / "empty.pb"
    path.write_bytes(b"")
    code, _, err = call(capsys, "inspect", path, "--debug")
    assert code == 2
    assert "Traceback" in err and "DecodeError" in err
    assert err.splitlines()[-1].startswith("gcc-flow: error: ") and "empty" in err


@pytest.mark.parametrize("command", [[sys.executable, "-m", "gcc_flow"],
                                     [str(Path(sys.executable).parent / "gcc-flow")]])
def test_module_and_console_script(tmp_path, command, model):
    if not Path(command[0]).exists():
        pytest.skip("console script not installed (pip install -e .)")
    ok = subprocess.run(command + ["inspect", str(model), "--allow-unknown", "--json"],
                        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and json.loads(ok.stdout)["nodes"] == 9
    bad = subprocess.run(command + ["inspect", str(tmp_path / "none.pb")], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == f"gcc-flow: error: no such file: {tmp_path / 'none.pb'}\n"


def test_graph_def_written_by_gf_io_runs_from_the_cli(capsys, tmp_path, feed):
    import gcc_flow as gf
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 3], name="x")
        gf.multiply(x, 2.0, name="y")
    gf.io.write_graph(g, tmp_path / "m.pb")
    code, out, _ = call(capsys, "run", tmp_path / "m.pb", "--feed", f"x={feed}",
                        "--fetch", "y:0")
    assert code == 0
    assert out.splitlines() == ["y:0  float32  [2, 3]  [[ 0., 2., 4.], [ 6., 8., 10.]]"]
    assert isinstance(read_graph_def(tmp_path / "m.pb"), graph_pb2.GraphDef)
    assert text_format.MessageToString(read_graph_def(tmp_path / "m.pb")).count("node {") == 3
