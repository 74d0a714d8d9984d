"""Graphs built with gcc-flow's frontend load and run in TensorFlow with the same results.

    gf graph -> model.pb -> runtime.load(...).run  == tf.compat.v1.import_graph_def + Session.run

Each case is written as <name>.pb with <name>.npz (feeds, our outputs) and <name>.json (tensor
names); tf_import_check.py runs them all in one subprocess under a Python with TensorFlow
($GCC_FLOW_TF_PYTHON, or this one if it imports tensorflow). Skipped when there is none.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import gcc_flow as gf
import runtime
from gcc_flow.linalg_ops import matmul
from schema.io import write_graph_def

HELPER = Path(__file__).resolve().with_name("tf_import_check.py")
RTOL, ATOL = 1e-5, 1e-6


def _helper():
    spec = importlib.util.spec_from_file_location("tf_import_check", HELPER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tf_check = _helper()


@dataclasses.dataclass
class Case:
    graph: gf.Graph
    feeds: dict           # gf.Tensor -> numpy value
    fetches: list         # gf.Tensor
    targets: list = dataclasses.field(default_factory=list)   # gf.Operation, run first


CASES: dict[str, Callable[[np.random.Generator], Case]] = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def floats(rng, *shape, low=-1.0, high=1.0, dtype=np.float32):
    return rng.uniform(low, high, shape).astype(dtype)


# -- the graphs ---------------------------------------------------------------------------------

@case
def mlp(rng) -> Case:
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 8], name="x")
        with gf.name_scope("dense1"):
            h = gf.nn.relu(gf.nn.bias_add(matmul(x, floats(rng, 8, 16)), floats(rng, 16)))
        with gf.name_scope("dense2"):
            logits = gf.nn.bias_add(matmul(h, floats(rng, 16, 5)), floats(rng, 5))
        probs = gf.nn.softmax(logits, name="probs")
        logp = gf.nn.log_softmax(logits, name="logp")
        t = matmul(x, floats(rng, 3, 8), transpose_b=True)
    return Case(g, {x: floats(rng, 4, 8)}, [h, logits, probs, logp, t])


@case
def elementwise_float(rng) -> Case:
    g = gf.Graph()
    with g.as_default():
        a = gf.placeholder(gf.float32, [3, 1, 4], name="a")
        b = gf.placeholder(gf.float32, [5, 1], name="b")
        p = gf.placeholder(gf.float32, [3, 1, 4], name="p")
        binary = [a + b, a - b, a * b, a / b, gf.maximum(a, b), gf.minimum(a, b),
                  gf.squared_difference(a, b), gf.pow(p, b), gf.atan2(a, b), a // b, a % b,
                  gf.add_n([a, p, a])]
        unary = [gf.abs(a), -a, gf.sign(a), gf.exp(a), gf.log(p), gf.log1p(p), gf.expm1(a),
                 gf.sqrt(p), gf.rsqrt(p), gf.square(a), gf.reciprocal(p), gf.tanh(a),
                 gf.sigmoid(a), gf.sin(a), gf.cos(a), gf.erf(a), gf.floor(a * 3),
                 gf.ceil(a * 3), gf.round(a * 4), gf.clip_by_value(a, -0.5, 0.5)]
    bs = floats(rng, 5, 1)
    bs[np.abs(bs) < 0.1] = 0.5  # keep the divisor away from zero
    feeds = {a: floats(rng, 3, 1, 4, low=-2, high=2), b: bs, p: floats(rng, 3, 1, 4, low=0.1)}
    return Case(g, feeds, binary + unary)


@case
def elementwise_double_and_int(rng) -> Case:
    g = gf.Graph()
    with g.as_default():
        d = gf.placeholder(gf.float64, [6], name="d")
        i = gf.placeholder(gf.int32, [2, 6], name="i")
        j = gf.placeholder(gf.int32, [6], name="j")
        outs = [d * 2.5 + 1.0, gf.exp(d), gf.tanh(d), i + j, i - j, i * j, i // j, i % j,
                gf.maximum(i, j), gf.minimum(i, j), gf.abs(i), -i, gf.sign(i), gf.square(j),
                i / j, gf.add_n([i, i])]
    js = rng.integers(-5, 6, 6).astype(np.int32)
    js[js == 0] = 3
    feeds = {d: floats(rng, 6, dtype=np.float64), i: rng.integers(-20, 20, (2, 6)).astype(
        np.int32), j: js}
    return Case(g, feeds, outs)


@case
def cast_compare_select(rng) -> Case:
    g = gf.Graph()
    with g.as_default():
        h = gf.placeholder(gf.float32, [8], name="halves")
        x = gf.placeholder(gf.float32, [2, 8], name="x")
        c = gf.placeholder(gf.bool, [2, 8], name="c")
        casts = [gf.cast(h, gf.int32), gf.cast(h, gf.float64), gf.cast(h, gf.bool),
                 gf.cast(gf.cast(h, gf.int32), gf.float32), gf.cast(h, gf.uint8),
                 gf.cast(c, gf.float32), gf.cast(h, gf.float16)]
        compares = [x < h, x <= h, x > h, x >= h, gf.equal(x, h), gf.not_equal(x, h)]
        logic = [gf.logical_and(c, x > 0), gf.logical_or(c, x > 0), gf.logical_not(c)]
        select = [gf.select(c, x, -x), gf.where(x > 0, x, h), gf.where(c),
                  gf.is_nan(x / h), gf.is_finite(x / h)]
    hv = np.array([-2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 3.7], np.float32)
    xv = floats(rng, 2, 8, low=-3, high=3)
    xv[0, :4] = hv[:4]  # some equal elements
    xv[1, 3] = 0.0      # 0 / 0 -> NaN; x / 0 -> inf
    feeds = {h: hv, x: xv, c: rng.random((2, 8)) < 0.5}
    return Case(g, feeds, casts + compares + logic + select)


@case
def reductions(rng) -> Case:
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3, 4, 5], name="x")
        m = gf.placeholder(gf.bool, [3, 4], name="m")
        i = gf.placeholder(gf.int32, [3, 4], name="i")
        outs = [gf.reduce_sum(x, 1), gf.reduce_mean(x, [0, 2], keepdims=True),
                gf.reduce_max(x, -1), gf.reduce_min(x), gf.reduce_prod(x, 0),
                gf.reduce_all(m, 1), gf.reduce_any(m, 0), gf.argmax(x, 2),
                gf.argmin(x, 0, output_type=gf.int32), gf.reduce_euclidean_norm(x, 1),
                gf.reduce_sum(i, [0, 1]), gf.reduce_mean(i, 1), gf.argmin(i, 1)]
    feeds = {x: floats(rng, 3, 4, 5), m: rng.random((3, 4)) < 0.7,
             i: rng.integers(-3, 4, (3, 4)).astype(np.int32)}
    return Case(g, feeds, outs)


@case
def cnn(rng) -> Case:
    g = gf.Graph()
    with g.as_default():
        img = gf.placeholder(gf.float32, [2, 9, 9, 3], name="img")
        c1 = gf.nn.relu6(gf.nn.bias_add(gf.nn.conv2d(img, floats(rng, 3, 3, 3, 8), 1, "SAME"),
                                        floats(rng, 8)))
        p1 = gf.nn.max_pool2d(c1, 2, 2, "VALID")
        c2 = gf.nn.relu(gf.nn.conv2d(p1, floats(rng, 2, 2, 8, 6), [1, 2, 2, 1], "VALID"))
        p2 = gf.nn.avg_pool2d(c2, 3, 1, "SAME")
        dw = gf.nn.depthwise_conv2d(img, floats(rng, 3, 3, 3, 2), [1, 1, 1, 1], "SAME")
        bn, _, _ = gf.nn.fused_batch_norm(dw, floats(rng, 6, low=0.5), floats(rng, 6),
                                          floats(rng, 6), floats(rng, 6, low=0.5, high=2.0),
                                          is_training=False)
        acts = [gf.nn.leaky_relu(bn, 0.1), gf.nn.elu(bn), gf.nn.selu(bn), gf.nn.softplus(bn),
                gf.nn.sigmoid(bn), gf.nn.tanh(bn)]
    return Case(g, {img: floats(rng, 2, 9, 9, 3)}, [c1, p1, c2, p2, dw, bn] + acts)


@case
def array_ops(rng) -> Case:
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2, 3, 4], name="x")
        z = gf.placeholder(gf.float32, [None, 3], name="z")
        idx = gf.placeholder(gf.int32, [4], name="idx")
        parts = gf.split(x, [1, 3], axis=2)
        outs = [gf.reshape(x, [4, -1]), gf.transpose(x, [2, 0, 1]), gf.concat([x, x], 1),
                parts[1], gf.slice(x, [0, 1, 1], [2, 2, -1]), x[1:, ::-1, 2], x[..., None, 1:3],
                x[-1], gf.squeeze(gf.expand_dims(z, 1), [1]),
                gf.pad(x, [[0, 1], [1, 0], [2, 2]]), gf.pad(x, [[1, 1], [0, 0], [2, 1]],
                                                         mode="REFLECT"),
                gf.tile(z, [2, 1]), gf.gather(x, [2, 0], axis=1), gf.gather_nd(x, [[1, 2], [0, 0]]),
                gf.shape(z), gf.size(z), gf.rank(x), gf.fill(gf.shape(z), 1.5),
                gf.zeros_like(z), gf.ones_like(z), gf.range(2, 11, 3),
                gf.stack([z, z * 2], axis=1), gf.unstack(x, axis=1)[2],
                gf.one_hot(idx, 5), gf.broadcast_to(z[0], [2, 3]), gf.identity(x)]
    feeds = {x: floats(rng, 2, 3, 4), z: floats(rng, 5, 3),
             idx: np.array([2, 0, -1, 4], np.int32)}
    return Case(g, feeds, outs)


@case
def variables(rng) -> Case:
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 3], name="x")
        w = gf.Variable(floats(rng, 3, 2), name="w")
        b = gf.Variable(floats(rng, 2), name="b")
        v = gf.Variable(np.float32(2.0), name="v", use_resource=False)
        y = gf.nn.bias_add(matmul(x, w), b) * v
        init = gf.global_variables_initializer()
    return Case(g, {x: floats(rng, 4, 3)}, [y], [init])


# -- running both sides ---------------------------------------------------------------------------

def write_case(folder: Path, name: str, built: Case) -> None:
    """<name>.pb, <name>.json (tensor names -> npz keys) and <name>.npz (feeds, our outputs)."""
    write_graph_def(built.graph.as_graph_def(), folder / f"{name}.pb")
    feed_keys = {t.name: f"feed_{i}" for i, t in enumerate(built.feeds)}
    fetch_keys = {t.name: f"fetch_{i}" for i, t in enumerate(built.fetches)}
    assert len(fetch_keys) == len(built.fetches), f"{name}: a tensor is fetched twice"
    spec = {"feeds": feed_keys, "fetches": fetch_keys,
            "targets": [op.name for op in built.targets]}
    (folder / f"{name}.json").write_text(json.dumps(spec, indent=1))
    feeds = {t.name: v for t, v in built.feeds.items()}
    sess = runtime.load(folder / f"{name}.pb")
    if built.targets:
        sess.run(["^" + op.name for op in built.targets])
    ours = sess.run(list(fetch_keys), feeds)
    np.savez(folder / f"{name}.npz", **{feed_keys[k]: v for k, v in feeds.items()},
             **{"ours_" + fetch_keys[k]: v for k, v in zip(fetch_keys, ours)})


@pytest.fixture(scope="module")
def tf_results(tmp_path_factory) -> Path:
    python = tf_check.find_tf_python()
    if python is None:
        pytest.skip(f"TensorFlow is not importable and ${tf_check.ENV_VAR} names no Python "
                    f"with TensorFlow")
    folder = tmp_path_factory.mktemp("tf_cases")
    for number, (name, build) in enumerate(CASES.items()):
        write_case(folder, name, build(np.random.default_rng(number)))
    result = tf_check.run_tf(python, "run", str(folder), timeout=300)
    assert result.returncode == 0, f"TensorFlow's side failed:\n{result.stderr[-4000:]}"
    return folder


def differences(name: str, spec: dict, ours, theirs) -> list[str]:
    problems = []
    for tensor, key in spec["fetches"].items():
        got, want = ours["ours_" + key], theirs[key]
        if got.dtype != want.dtype or got.shape != want.shape:
            problems.append(f"{name} {tensor}: ours {got.dtype}{list(got.shape)}, TF "
                            f"{want.dtype}{list(want.shape)}")
        elif not (np.allclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)
                  if want.dtype.kind in "fc" else np.array_equal(got, want)):
            problems.append(f"{name} {tensor}: values differ\n ours {got.ravel()[:8]}\n "
                            f"TF   {want.ravel()[:8]}")
    return problems


@pytest.mark.parametrize("name", list(CASES))
def test_tensorflow_gives_our_outputs(tf_results, name):
    error = tf_results / f"{name}.tf.error"
    assert not error.exists(), f"TensorFlow refused {name}.pb: {error.read_text()[:2000]}"
    spec = json.loads((tf_results / f"{name}.json").read_text())
    ours, theirs = np.load(tf_results / f"{name}.npz"), np.load(tf_results / f"{name}.tf.npz")
    assert sorted(theirs.files) == sorted(spec["fetches"].values())
    problems = differences(name, spec, ours, theirs)
    assert not problems, "\n".join(problems)
