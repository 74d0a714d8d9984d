"""Whole graphs on the GPU (``runtime.load(model, device="gpu")``, which runs through runtime.gpu's
hooks): TensorFlow's fixtures give TensorFlow's outputs, MobileNetV2 included; only fetches are
copied back; out-of-memory is a clean error that frees the run's memory.

    runtime.load("mobilenet_v2.pb", device="gpu").run("Identity:0", {"input:0": x})
        == TF's output (1e-4)
"""
from __future__ import annotations

import gc
import json
from pathlib import Path

import numpy as np
import pytest

import gcc_flow as gf
import runtime
from runtime.gpu import DeviceOutOfMemoryError, gpu_node_info
from schema.errors import GccFlowError

pytestmark = pytest.mark.gpu

TF = Path(__file__).resolve().parents[1] / "fixtures" / "tf"
RTOL, ATOL = 1e-4, 1e-4     # sums run in another order on the GPU


def load_gpu(model):
    """runtime.load on the GPU: a GraphDef, a .pb path or IR."""
    return runtime.load(model, device="gpu")


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


FIXTURES = [(TF, name) for name in sorted(_manifest(TF))]
FIXTURES += [(TF / "control_flow", name) for name in sorted(_manifest(TF / "control_flow"))]


def mismatch(tensor: str, got, want: np.ndarray):
    got = np.asarray(got)
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"{tensor}: got {got.dtype}{list(got.shape)}, TF {want.dtype}{list(want.shape)}"
    if want.dtype.kind in "fc":
        ok = np.allclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)
    else:
        ok = np.array_equal(got, want)
    return None if ok else f"{tensor}: max abs diff " \
        f"{np.nanmax(np.abs(got.astype(np.float64) - want.astype(np.float64))):.3g}"


def run_fixture(folder: Path, name: str) -> list[str]:
    entry, data = _manifest(folder)[name], np.load(folder / f"{name}.npz")
    sess = load_gpu(folder / f"{name}.pb")
    if entry["targets"]:
        assert sess.run(["^" + t for t in entry["targets"]]) == [None] * len(entry["targets"])
    steps = [{"feeds": entry["feeds"], "targets": [], "fetches": entry["fetches"]}]
    problems = []
    for number, step in enumerate(steps + entry.get("sequence", [])):
        feeds = {tensor: data[key] for tensor, key in step["feeds"].items()}
        fetches = list(step["fetches"])
        results = sess.run(fetches + ["^" + t for t in step["targets"]], feeds)
        problems += [f"step {number}: {p}" for t, got in zip(fetches, results)
                     if (p := mismatch(t, got, data[step["fetches"][t]]))]
    return problems


@pytest.mark.parametrize("folder,name", FIXTURES, ids=[n for _, n in FIXTURES])
def test_tensorflow_fixture_on_the_gpu(folder, name):
    problems = run_fixture(folder, name)
    assert not problems, f"{name} differs from TensorFlow on the GPU:\n" + "\n".join(problems)


def test_mobilenet_v2_matches_tensorflow_and_copies_back_only_the_fetch(backend, monkeypatch):
    downloads = []
    to_host = backend.to_host

    def counting(value):
        if isinstance(value, backend.array_type):
            downloads.append(value.shape)
        return to_host(value)
    monkeypatch.setattr(backend, "to_host", counting)
    entry, data = _manifest(TF)["mobilenet_v2"], np.load(TF / "mobilenet_v2.npz")
    sess = load_gpu(TF / "mobilenet_v2.pb")
    (fetch, key), = entry["fetches"].items()
    feeds = {t: data[k] for t, k in entry["feeds"].items()}
    got = sess.run(fetch, feeds)
    np.testing.assert_allclose(got, data[key], rtol=1e-4, atol=1e-4)
    assert downloads == [data[key].shape]      # no host round trip inside the network
    assert sess.device == "/device:GPU:0"


def test_fused_mobilenet_v2_matches_tensorflow():
    """After the default pass pipeline: _FusedConv2D / _FusedDepthwiseConv2dNative on the GPU."""
    import passes
    from schema.io import read_graph_def
    entry, data = _manifest(TF)["mobilenet_v2"], np.load(TF / "mobilenet_v2.npz")
    (fetch, key), = entry["fetches"].items()
    graph_def, _ = passes.optimize(read_graph_def(TF / "mobilenet_v2.pb"), [fetch])
    assert any(n.op.startswith("_Fused") for n in graph_def.node)
    got = load_gpu(graph_def).run(fetch, {t: data[k] for t, k in entry["feeds"].items()})
    np.testing.assert_allclose(got, data[key], rtol=1e-4, atol=1e-4)


TRAINING = TF / "training"


@pytest.mark.parametrize("name", ["mlp_adam", "mlp_momentum_decay", "mlp_rmsprop_centered",
                                  "mlp_adagrad"])
def test_training_fixture_trains_on_the_gpu(name):
    entry, data = _manifest(TRAINING)[name], np.load(TRAINING / f"{name}.npz")
    sess = load_gpu(TRAINING / f"{name}.pb")
    assert sess.run(entry["init"]) is None
    fetches = [entry[key] for key in entry["fetch_order"]]
    for step in range(entry["steps"]):
        feeds = {entry["feeds"][k]: data[f"{k}_{step}"] for k in ("x", "labels")}
        loss = dict(zip(entry["fetch_order"], sess.run(fetches, feeds)))["loss"]
        np.testing.assert_allclose(loss, data[f"loss_{step}"], rtol=RTOL, atol=ATOL)
    names = sorted(entry["variables"])
    for n, got in zip(names, sess.run([entry["variables"][n] for n in names])):
        np.testing.assert_allclose(got, data[f"final/{n}"], rtol=1e-3, atol=1e-4, err_msg=n)


def _shape_math_graph():
    """x f32[?, 6] -> Reshape(x, [Shape(x)[0], 3, 2]) -> Relu; the shape math is int32."""
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 6], name="x")
        rows = gf.shape(x)[0]
        y = gf.nn.relu(gf.reshape(x, gf.stack([rows, 3, 2])), name="y")
    return g, y


def test_int32_shape_math_stays_on_the_host_and_never_waits_for_the_gpu(backend, monkeypatch):
    g, y = _shape_math_graph()
    sess = load_gpu(g.ir)
    placed = {n.op: gpu_node_info(n) is not None for n in g.ir.nodes.values()}
    assert placed["Shape"] and placed["Reshape"] and placed["Relu"]
    assert not placed["Pack"] and not placed["StridedSlice"]
    downloads = []
    monkeypatch.setattr(backend, "to_host", lambda v, real=backend.to_host: (
        downloads.append(type(v)), real(v))[1])
    sess = load_gpu(g.ir)          # compiled after the patch: its kernels see the counter
    x = np.linspace(-1, 1, 24, dtype=np.float32).reshape(4, 6)
    np.testing.assert_array_equal(sess.run(y, {"x:0": x}), np.maximum(x.reshape(4, 3, 2), 0))
    assert downloads.count(backend.array_type) == 1     # the fetch


def _fill_graph():
    g = gf.Graph()
    with g.as_default():
        dims = gf.placeholder(gf.int32, [2], name="dims")
        big = gf.fill(dims, 1.5, name="big")
        total = gf.reduce_sum(big * 2.0, name="total")
    return g, total


def test_out_of_memory_is_a_clean_error_and_releases_the_run(backend):
    g, total = _fill_graph()
    sess = load_gpu(g.ir)
    assert float(sess.run(total, {"dims:0": [2, 3]})) == 18.0
    gc.collect()
    pool = backend.pool
    pool.free_all_blocks()
    baseline = pool.used_bytes()
    pool.set_limit(size=pool.total_bytes() + (64 << 20))
    try:
        with pytest.raises(DeviceOutOfMemoryError, match=r"'big' \(op Fill\).*out of GPU memory"
                           r"|out of GPU memory.*'big'") as info:
            sess.run(total, {"dims:0": [8192, 8192]})          # 256 MiB
        assert isinstance(info.value, GccFlowError)
        del info
        gc.collect()
        assert pool.used_bytes() == baseline
    finally:
        pool.set_limit(size=0)
    assert float(sess.run(total, {"dims:0": [4, 4]})) == 48.0   # the session still works


def test_a_failing_kernel_names_the_node_and_the_gpu():
    g = gf.Graph()
    with g.as_default():
        a = gf.placeholder(gf.float32, [None, None], name="a")
        b = gf.placeholder(gf.float32, [None, None], name="b")
        gf.matmul(a, b, name="mm")
    sess = load_gpu(g.ir)
    with pytest.raises(GccFlowError, match=r"'mm' \(op MatMul\) on /device:GPU:0.*"
                                           r"Matrix size-incompatible"):
        sess.run("mm:0", {"a:0": np.ones((2, 3), np.float32), "b:0": np.ones((2, 3), np.float32)})
