"""A CPU and a GPU in one session (``runtime.load(model, devices=["cpu:0", "gpu:0"])``), and
training on the GPU (``runtime.load(model, device="gpu")``).

    MobileNetV2, blocks 0-8 @CPU:0 and 9-18 @GPU:0     -> TF's softmax within 1e-4
    no requests: the cost model puts Conv2D / MatMul on GPU:0, tiny arithmetic on CPU:0
    3 SGD / Adam steps of an MLP on the GPU            -> the CPU's weights within 1e-5,
                                                          the variables in device memory throughout
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gcc_flow as gf
import runtime
from passes.partition import RECV_OPS, SEND_OPS, check_partitions
from schema.io import parse_graph_def, read_graph_def
from schema.ir import Graph
from schema.serde import graph_from_graph_def
from mobilenet_blocks import block_of

pytestmark = pytest.mark.gpu

TF = Path(__file__).resolve().parents[1] / "fixtures" / "tf"
DEVICES = ["cpu:0", "gpu:0"]
CPU, GPU = "/device:CPU:0", "/device:GPU:0"
HEAVY_OPS = ("Conv2D", "DepthwiseConv2dNative", "MatMul")


def _mobilenet() -> tuple[Graph, dict, str, np.ndarray]:
    """(the MobileNetV2 fixture as IR, its feeds, its fetch, TF's output)."""
    entry = json.loads((TF / "manifest.json").read_text())["mobilenet_v2"]
    data = np.load(TF / "mobilenet_v2.npz")
    (fetch, key), = entry["fetches"].items()
    feeds = {tensor: data[k] for tensor, k in entry["feeds"].items()}
    return graph_from_graph_def(read_graph_def(TF / "mobilenet_v2.pb")), feeds, fetch, data[key]


def _device_type(node) -> str:
    return node.device.rsplit("/device:", 1)[-1].split(":")[0]


def _count_downloads(backend, monkeypatch) -> list:
    """Records the shape of every device array copied to the host by kernels compiled from now on
    (a kernel's input converters take ``backend.to_host`` when it compiles) and by fetches."""
    downloads: list = []
    real = backend.to_host

    def counting(value):
        if isinstance(value, backend.array_type):
            downloads.append(tuple(value.shape))
        return real(value)
    monkeypatch.setattr(backend, "to_host", counting)
    return downloads


# -- MobileNetV2 split in two ---------------------------------------------------------------------

@pytest.mark.parametrize("first", ["cpu", "gpu"])
def test_mobilenet_v2_half_on_each_device_gives_tensorflows_output(first, backend, monkeypatch):
    """Blocks 0-8 on ``first``, 9-18 on the other device. Values cross in host memory: from the
    second run on (Consts are converted once), a step downloads exactly the activations the GPU
    sends to the CPU and the fetch when the GPU computes it."""
    graph, feeds, fetch, want = _mobilenet()
    second = {"cpu": GPU, "gpu": CPU}[first]
    for node in graph:
        node.device = second if block_of(node.name) >= 9 else f"/device:{first.upper()}:0"
    downloads = _count_downloads(backend, monkeypatch)         # before the kernels compile
    sess = runtime.load(graph, devices=DEVICES)
    first_run = sess.run(fetch, feeds)
    downloads.clear()
    got = sess.run(fetch, feeds)
    for value in (first_run, got):
        assert type(value) is np.ndarray
        np.testing.assert_allclose(value, want, rtol=1e-4, atol=1e-4)
    parts = {name.rsplit("/device:", 1)[-1]: part for name, part in sess.partitions.items()}
    assert sorted(parts) == ["CPU:0", "GPU:0"]
    assert min(len(p) for p in parts.values()) > 200            # about half of the layers each
    check_partitions(sess.partitions)
    assert any(n.op in RECV_OPS for n in parts[second.rsplit("/device:", 1)[-1]])
    activations = sorted(tuple(n.inputs[0].shape) for n in parts["GPU:0"]
                         if n.op in SEND_OPS and n.inputs[0].node.op != "Const")
    fetched = [tuple(want.shape)] if fetch.split(":")[0] in parts["GPU:0"].nodes else []
    assert sorted(downloads) == sorted(activations + fetched)
    assert len(downloads) >= 1


# -- the placer's cost model with a GPU -----------------------------------------------------------

def test_cost_model_puts_mobilenets_convolutions_on_the_gpu():
    graph, feeds, fetch, want = _mobilenet()
    assert not any(node.device for node in graph)               # no requests in the fixture
    sess = runtime.load(graph, devices=DEVICES)
    placed = sess.placed_graph
    heavy = [n for n in placed if n.op in HEAVY_OPS]
    assert len(heavy) > 50
    assert {_device_type(n) for n in heavy} == {"GPU"}, \
        sorted((n.name, n.device) for n in heavy if _device_type(n) != "GPU")[:5]
    reasons = {d.node: d for d in sess.placement_report.decisions}
    for node in heavy:
        decision = reasons[node.name]
        assert decision.reason == "cost", decision
        assert decision.alternatives[decision.device] == min(decision.alternatives.values())
    np.testing.assert_allclose(sess.run(fetch, feeds), want, rtol=1e-4, atol=1e-4)


def _big_and_small_graph() -> gf.Graph:
    """x f32[512,1024] @ w f32[1024,1024] -> Sum ("total"), and beside it a [4] vector's
    (a + c) * (a + c) ("small")."""
    g = gf.Graph()
    rng = np.random.default_rng(3)
    with g.as_default():
        x = gf.placeholder(gf.float32, [512, 1024], name="x")
        w = gf.constant(rng.standard_normal((1024, 1024)).astype(np.float32) / 32, name="w")
        gf.reduce_sum(gf.matmul(x, w, name="mm"), name="total")
        a = gf.placeholder(gf.float32, [4], name="a")
        s = gf.add(a, gf.constant([1.0, 2.0, 3.0, 4.0]), name="plus")
        gf.multiply(s, s, name="small")
    return g


def test_cost_model_sends_the_big_matmul_to_the_gpu_and_keeps_tiny_ops_on_the_cpu():
    g = _big_and_small_graph()
    sess = runtime.load(g.as_graph_def(), devices=DEVICES)
    placed = {n.name: _device_type(n) for n in sess.placed_graph}
    assert placed["mm"] == "GPU" and placed["total"] == "GPU" and placed["x"] == "GPU"
    assert placed["plus"] == "CPU" and placed["small"] == "CPU"
    rng = np.random.default_rng(4)
    x = rng.standard_normal((512, 1024)).astype(np.float32)
    a = np.arange(4, dtype=np.float32)
    mm, total, small = sess.run(["mm:0", "total:0", "small:0"], {"x:0": x, "a:0": a})
    want = x.astype(np.float64) @ g.ir.node("w").attrs["value"].astype(np.float64)
    np.testing.assert_allclose(mm, want, rtol=1e-4, atol=1e-4)
    # a sum of 2^19 float32 terms of either sign: its error scales with the terms' sizes
    np.testing.assert_allclose(total, want.sum(), rtol=0, atol=1e-6 * np.abs(want).sum())
    np.testing.assert_array_equal(small, (a + [1, 2, 3, 4]) ** 2)


# -- training on the GPU --------------------------------------------------------------------------

SIZES = (20, 32, 16, 4)
BATCH, STEPS = 8, 3
OPTIMIZERS = {
    "sgd": lambda: gf.train.GradientDescentOptimizer(0.1),
    # epsilon 1e-3: Adam's first steps move each weight by about lr * sign(gradient), so with
    # TF's 1e-8 a gradient that is ~0 up to rounding could flip an update; 1e-3 keeps the
    # update a smooth function of the gradient, comparable across devices at 1e-5.
    "adam": lambda: gf.train.AdamOptimizer(0.01, epsilon=1e-3),
}


def _mlp(optimizer) -> tuple[bytes, dict]:
    """A 20-32-16-4 ReLU MLP with softmax cross-entropy, trained by ``optimizer()``; returns the
    serialized GraphDef and names {x, labels, loss, train, init, variables: {w1: read, ...}}."""
    rng = np.random.default_rng(0)
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, SIZES[0]], name="x")
        labels = gf.placeholder(gf.int32, [None], name="labels")
        variables, h = {}, x
        for i, (fan_in, units) in enumerate(zip(SIZES, SIZES[1:]), start=1):
            w = rng.standard_normal((fan_in, units)) * np.sqrt(2 / fan_in)
            variables[f"w{i}"] = gf.Variable(w.astype(np.float32), name=f"w{i}")
            variables[f"b{i}"] = gf.Variable(rng.uniform(-0.1, 0.1, units).astype(np.float32),
                                             name=f"b{i}")
            h = gf.nn.bias_add(gf.matmul(h, variables[f"w{i}"]), variables[f"b{i}"])
            h = gf.nn.relu(h) if i < len(SIZES) - 1 else h
        loss = gf.reduce_mean(gf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=h), name="loss")
        train = optimizer().minimize(loss, name="train")
        init = gf.global_variables_initializer()
    names = {"x": x.name, "labels": labels.name, "loss": loss.name, "train": train.name,
             "init": init.name,
             "variables": {k: v._as_graph_element().name for k, v in variables.items()}}
    return g.as_graph_def().SerializeToString(), names


def _batch(step: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(100 + step)
    return (rng.standard_normal((BATCH, SIZES[0])).astype(np.float32),
            rng.integers(0, SIZES[-1], BATCH).astype(np.int32))


def _train(model: bytes, names: dict, check_after_step=lambda sess: None, **load) -> dict:
    sess = runtime.load(model, **load)
    sess.run("^" + names["init"])
    for step in range(STEPS):
        x, labels = _batch(step)
        sess.run("^" + names["train"], {names["x"]: x, names["labels"]: labels})
        check_after_step(sess)
    return sess.run(names["variables"])


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_training_steps_on_the_gpu_give_the_cpus_weights(optimizer, backend, monkeypatch):
    model, names = _mlp(OPTIMIZERS[optimizer])
    want = _train(model, names)
    downloads = _count_downloads(backend, monkeypatch)
    stored_types: list = []

    def variables_in_device_memory(sess):
        assert sess.device == GPU
        stored = list(sess.resources._values.values())
        stored_types.extend({type(v) for v in stored})
        assert downloads == [], f"a training step copied device values to the host: {downloads}"
    got = _train(model, names, variables_in_device_memory, device="gpu")
    assert set(stored_types) == {backend.array_type}        # every variable, after every step
    assert len(downloads) == len(names["variables"])        # the final fetch of the weights
    for key in sorted(want):
        assert type(got[key]) is np.ndarray and got[key].dtype == np.float32
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-5, err_msg=key)
    initial = runtime.load(model)
    initial.run("^" + names["init"])
    moved = initial.run(names["variables"])
    assert max(float(np.max(np.abs(moved[k] - want[k]))) for k in want) > 1e-3  # it trained


def test_variables_on_the_gpu_partition_stay_in_device_memory(backend):
    """Split training: variables requested on GPU:0 live there as device arrays between runs,
    the others as numpy arrays on the CPU; the weights match one CPU's."""
    model, names = _mlp(OPTIMIZERS["sgd"])
    want = _train(model, names)
    graph = graph_from_graph_def(parse_graph_def(model))
    for node in graph:
        node.device = GPU if node.name.startswith(("w2", "b2", "w3", "b3")) else CPU
    sess = runtime.load(graph, devices=DEVICES)
    sess.run("^" + names["init"])
    placed = {n.attrs["shared_name"] or n.name: _device_type(n) for n in sess.placed_graph
              if n.op == "VarHandleOp"}
    for step in range(STEPS):
        x, labels = _batch(step)
        sess.run("^" + names["train"], {names["x"]: x, names["labels"]: labels})
        stored = {key[1]: value for key, value in sess.resources._values.items()}
        on_device = {name: isinstance(value, backend.array_type) for name, value in stored.items()}
        assert on_device == {name: placed[name] == "GPU" for name in stored}, (placed, on_device)
    assert {placed[k] for k in ("w2", "b2", "w3", "b3")} == {"GPU"}
    assert {placed[k] for k in ("w1", "b1")} == {"CPU"}
    got = sess.run(names["variables"])
    for key in sorted(want):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-5, err_msg=key)
