"""`gcc-flow convert`: GraphDef -> ONNX and ONNX -> GraphDef by extension, --opset, --optimize,
--check (our runtime against onnxruntime, exit 1 naming the first tensor that differs),
progress on stderr, refusal to overwrite its input (also through links), --force, atomic
writes, and exit code 2 with one line for bad input (also in a subprocess under a memory limit,
leaving the output folder unchanged)."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

pytest.importorskip("onnxruntime")

import gcc_flow as gf  # noqa: E402
import runtime  # noqa: E402
from gcc_flow import cli  # noqa: E402
from gcc_flow.onnx import export_ops  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "tf"
X = np.random.default_rng(1).standard_normal((2, 6)).astype(np.float32)


@pytest.fixture
def model(tmp_path) -> Path:
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 6], name="x")
        h = gf.tanh(gf.matmul(x, gf.constant(np.eye(6, 4, dtype=np.float32)) + 0.5))
        gf.nn.softmax(h, name="probs")
    path = tmp_path / "model.pb"
    gf.io.write_graph(g, path)
    return path


def call(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def ort_run(path: Path, feeds: dict) -> list:
    import onnxruntime as ort
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


def assert_one_line_error(err: str, fragment: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gcc-flow: error: "), err
    assert fragment in lines[0], lines[0]


# -- both directions -----------------------------------------------------------------------------

def test_graph_def_to_onnx_and_back(capsys, model, tmp_path):
    onnx_path, back = tmp_path / "m.onnx", tmp_path / "back.pbtxt"
    code, out, err = call(capsys, "convert", model, onnx_path, "--opset", "13")
    assert (code, err) == (0, "") and f"wrote {onnx_path}" in out and "opset 13" in out
    written = onnx.load(str(onnx_path))
    onnx.checker.check_model(written, full_check=True)
    assert written.opset_import[0].version == 13 and written.graph.output[0].name == "probs"
    want = runtime.load(model).run("probs:0", {"x:0": X})
    np.testing.assert_allclose(ort_run(onnx_path, {"x": X})[0], want, rtol=1e-6)
    code, out, err = call(capsys, "convert", onnx_path, back)
    assert (code, err) == (0, "") and "outputs probs" in out
    got = runtime.load(back).run("probs:0", {"x:0": X})
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("optimize", [[], ["--optimize"]])
def test_check_compares_both_runtimes_in_both_directions(capsys, model, tmp_path, optimize):
    onnx_path, back = tmp_path / "m.onnx", tmp_path / "back.pb"
    code, out, _ = call(capsys, "convert", model, onnx_path, "--check", "3", *optimize)
    assert code == 0 and "check: 1 tensors equal on 3 random feeds" in out
    code, out, _ = call(capsys, "convert", onnx_path, back, "--check", "2", *optimize)
    assert code == 0 and "check: 1 tensors equal on 2 random feeds" in out


def test_a_real_model_converts_and_checks(capsys, tmp_path):
    out_path = tmp_path / "mobilenet.onnx"
    code, out, _ = call(capsys, "convert", FIXTURES / "mobilenet_v2.pb", out_path, "--check", "1")
    assert code == 0 and "check: 1 tensors equal on 1 random feeds" in out
    data = np.load(FIXTURES / "mobilenet_v2.npz")
    np.testing.assert_allclose(ort_run(out_path, {"input": data["feed_0"]})[0], data["fetch_0"],
                               rtol=1e-4, atol=1e-6)


def test_check_failure_exits_1_naming_the_tensor(capsys, model, tmp_path, monkeypatch):
    monkeypatch.setitem(export_ops.EMITTERS, "Tanh",
                        lambda ctx, node: ctx.emit("Sigmoid", [ctx.input(node, 0)]))
    code, out, err = call(capsys, "convert", model, tmp_path / "m.onnx", "--check", "2")
    assert code == 1
    assert "check failed: probs:0 (ONNX 'probs') differs between our runtime and onnxruntime" \
        in err


def test_inputs_and_outputs_choose_the_onnx_graph(capsys, model, tmp_path):
    out_path = tmp_path / "part.onnx"
    code, out, _ = call(capsys, "convert", model, out_path, "--inputs", "MatMul:0",
                        "--outputs", "Tanh:0", "--check", "2")
    written = onnx.load(str(out_path))
    assert code == 0 and "check: 1 tensors equal on 2 random feeds" in out
    assert [i.name for i in written.graph.input] == ["MatMul"]
    assert [o.name for o in written.graph.output] == ["Tanh"]
    assert [n.op_type for n in written.graph.node] == ["Tanh"]


def test_large_weights_go_to_external_data_and_still_check(capsys, model, tmp_path,
                                                           monkeypatch):
    from gcc_flow.onnx import exporter, save
    size = exporter.export_model(model).ByteSize()
    monkeypatch.setattr(save, "MAX_PROTOBUF_BYTES", size - 1)   # just over the limit
    monkeypatch.setattr(save, "EXTERNAL_MIN_BYTES", 64)        # the 6x4 weight moves
    out_path, side = tmp_path / "m.onnx", tmp_path / "m.onnx.data"
    side.write_bytes(b"stale")
    code, _, err = call(capsys, "convert", model, out_path)
    assert code == 2 and side.read_bytes() == b"stale" and not out_path.exists()
    assert_one_line_error(err, "needs external data and")
    code, out, _ = call(capsys, "convert", model, out_path, "--force", "--check", "2")
    assert code == 0 and "+ external data m.onnx.data" in out and "check: 1 tensors" in out
    onnx.checker.check_model(str(out_path), full_check=True)
    want = runtime.load(model).run("probs:0", {"x:0": X})
    np.testing.assert_allclose(ort_run(out_path, {"x": X})[0], want, rtol=1e-6)


# -- progress ----------------------------------------------------------------------------------

def test_progress_on_request_and_not_for_small_models_without_a_tty(tmp_path, model):
    def run(*extra):
        return subprocess.run([sys.executable, "-m", "gcc_flow", "convert", str(model),
                               str(tmp_path / "m.onnx"), "--force", *extra], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    quiet, loud = run(), run("--progress")
    assert quiet.returncode == loud.returncode == 0
    assert "export [" not in quiet.stderr
    lines = loud.stderr.splitlines()
    assert lines[-1].startswith("export [" + "#" * 30 + "]")
    assert len(lines) >= 2 and all(line.startswith("export [") for line in lines)


# -- files written ---------------------------------------------------------------------------------

def test_refuses_to_overwrite_its_input_even_through_links(capsys, model, tmp_path):
    before = model.read_bytes()
    link = tmp_path / "link.onnx"
    link.symlink_to(model)
    hard = tmp_path / "hard.onnx"
    os.link(model, hard)
    for target in (link, hard):
        code, _, err = call(capsys, "convert", model, target, "--force")
        assert code == 2
        assert_one_line_error(err, "refusing to overwrite the input")
    assert model.read_bytes() == before


def test_existing_output_needs_force(capsys, model, tmp_path):
    out_path = tmp_path / "m.onnx"
    out_path.write_bytes(b"keep me")
    code, _, err = call(capsys, "convert", model, out_path)
    assert code == 2 and out_path.read_bytes() == b"keep me"
    assert_one_line_error(err, "already exists; pass --force")
    code, _, _ = call(capsys, "convert", model, out_path, "--force")
    assert code == 0 and onnx.load(str(out_path)).graph.output[0].name == "probs"


def test_a_failed_write_keeps_the_previous_output(capsys, model, tmp_path, monkeypatch):
    out_path = tmp_path / "m.onnx"
    out_path.write_bytes(b"previous")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", fail)
    code, _, err = call(capsys, "convert", model, out_path, "--force")
    assert code == 2 and "No space left" in err
    assert out_path.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "model.pb"]


# -- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, fragment", [
    (["same.pb", "other.pbtxt"], "cannot tell what to convert"),
    (["model.pb", "out.txt2"], "cannot tell what to convert"),
    (["model.pb", "out.onnx", "--opset", "5"], "cannot export opset 5"),
    (["model.pb", "out.onnx", "--check", "-1"], "non-negative"),
    (["in.onnx", "out.pb", "--opset", "13"], "apply to .pb -> .onnx only"),
    (["missing.pb", "out.onnx"], "no such file"),
    (["model.pb", "no/such/folder/out.onnx"], "not a file in an existing folder"),
])
def test_usage_errors_exit_2(capsys, model, tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "same.pb").write_bytes(model.read_bytes())
    (tmp_path / "in.onnx").write_bytes(b"\x08\x07")
    code, _, err = call(capsys, "convert", *args)
    assert code == 2
    assert_one_line_error(err, fragment)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


BAD_FILES = {
    "random.pb": (np.random.default_rng(0).bytes(64), "out.onnx", "not a binary GraphDef"),
    "empty.pb": (b"", "out.onnx", "empty"),
    "graph_as_onnx.onnx": (None, "out.pb", "not an ONNX model"),
    "onnx_as_graph.pb": ("onnx", "out.onnx", "looks like an ONNX model"),
    "unsupported.pbtxt": ('node { name: "v" op: "VarHandleOp" attr { key: "dtype" value { '
                          'type: DT_FLOAT } } attr { key: "shape" value { shape { } } } }\n'
                          'node { name: "r" op: "ReadVariableOp" input: "v" attr { key: '
                          '"dtype" value { type: DT_FLOAT } } }', "out.onnx",
                          "not supported: node"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_exit_2_in_a_limited_subprocess(tmp_path, model, name):
    content, out_name, fragment = BAD_FILES[name]
    if content is None:
        content = model.read_bytes()
    elif content == "onnx":
        content = _tiny_onnx()
    path = tmp_path / "in" / name
    path.parent.mkdir()
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    folder = tmp_path / "out"
    folder.mkdir()
    proc = subprocess.run([sys.executable, "-m", "gcc_flow", "convert", str(path),
                           str(folder / out_name)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, preexec_fn=_limit_memory)
    assert proc.returncode == 2, proc.stderr
    assert_one_line_error(proc.stderr, fragment)
    assert os.listdir(folder) == []


def _tiny_onnx() -> bytes:
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    return helper.make_model(graph).SerializeToString()
