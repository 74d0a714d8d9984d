"""Models written by PyTorch's ONNX exporter, imported by gcc-flow and checked against onnxruntime.

The fixtures and their outputs come from tests/fixtures/onnx/make_torch_fixtures.py (torch
2.13, both of its exporters; see the manifest format in that script's docstring):

    graph_def = gcc_flow.onnx.import_model("lstm.onnx")
    runtime.load(graph_def).run(["output:0", "h_n:0"], {"x:0": x})
        == onnxruntime's outputs (stored in lstm.npz, and recomputed live here)

Inputs and outputs are found through the ``_alias`` attr the importer puts on each input
Placeholder and output Identity (the original ONNX name). A model whose ops the importer
cannot convert yet fails with the importer's "not supported: <op>" message: these tests are
never skipped.
"""
from __future__ import annotations

import functools
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import runtime
from gcc_flow import onnx as gf_onnx
from gcc_flow.onnx.importer import sanitize_name

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "fixtures", "onnx")
with open(os.path.join(FIXTURES, "manifest.json")) as _f:
    MANIFEST: dict = json.load(_f)
NAMES = sorted(MANIFEST)

RTOL, ATOL = 1e-4, 1e-5
TORCH_RTOL, TORCH_ATOL = 2e-4, 2e-5   # torch and onnxruntime already differ by up to RTOL
ALIAS = gf_onnx.ALIAS_ATTR
MAX_FIXTURE_BYTES = 200 * 1024


def _path(name: str) -> str:
    return os.path.join(FIXTURES, MANIFEST[name]["model"])


@functools.lru_cache(maxsize=None)
def _data(name: str) -> dict[str, np.ndarray]:
    with np.load(os.path.join(FIXTURES, MANIFEST[name]["data"])) as npz:
        return {key: npz[key] for key in npz.files}


def _stored_inputs(name: str) -> dict[str, np.ndarray]:
    data = _data(name)
    return {onnx_name: data[key] for onnx_name, key in MANIFEST[name]["inputs"].items()}


def _stored_outputs(name: str, source: str) -> list[np.ndarray]:
    data = _data(name)
    return [data[key] for key in MANIFEST[name][source].values()]


@functools.lru_cache(maxsize=None)
def _imported(name: str):
    """(GraphDef, Session, {ONNX name: node name}) of one fixture, imported once."""
    graph_def = gf_onnx.import_model(_path(name))
    aliases = {node.attr[ALIAS].s.decode(): node.name
               for node in graph_def.node if ALIAS in node.attr}
    return graph_def, runtime.load(graph_def), aliases


def run_gcc_flow(name: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Runs the imported fixture; feeds and the returned outputs follow the ONNX names."""
    _graph_def, session, aliases = _imported(name)
    fetches = [f"{aliases[o]}:0" for o in MANIFEST[name]["onnxruntime"]]
    return session.run(fetches, {f"{aliases[i]}:0": v for i, v in feeds.items()})


@functools.lru_cache(maxsize=None)
def _ort_session(name: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(_path(name), options, providers=["CPUExecutionProvider"])


def run_onnxruntime(name: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return _ort_session(name).run(list(MANIFEST[name]["onnxruntime"]), feeds)


def assert_outputs_close(name: str, got: list, want: list, rtol: float = RTOL,
                         atol: float = ATOL) -> None:
    assert len(got) == len(want)
    for onnx_name, g, w in zip(MANIFEST[name]["onnxruntime"], got, want):
        g = np.asarray(g)
        assert (g.dtype, g.shape) == (w.dtype, w.shape), \
            f"{name}: output {onnx_name!r} is {g.dtype}{list(g.shape)}, want {w.dtype}{w.shape}"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol,
                                   err_msg=f"{name}: output {onnx_name!r}")


def _fresh_inputs(name: str, seed: int) -> dict[str, np.ndarray]:
    """New values of the stored inputs' shapes and dtypes (tokens stay within the vocabulary)."""
    rng = np.random.default_rng(seed)
    fresh = {}
    for onnx_name, value in _stored_inputs(name).items():
        if value.dtype.kind in "iu":
            fresh[onnx_name] = rng.integers(0, int(value.max()) + 1, value.shape, value.dtype)
        else:
            fresh[onnx_name] = rng.standard_normal(value.shape).astype(value.dtype)
    return fresh


# -- the fixtures themselves -------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_fixture_is_a_small_plain_opset18_model(name):
    entry = MANIFEST[name]
    model = onnx.load(_path(name), load_external_data=False)
    assert os.path.getsize(_path(name)) < MAX_FIXTURE_BYTES
    assert {o.domain or "ai.onnx": o.version for o in model.opset_import}["ai.onnx"] == 18
    assert not [t.name for t in model.graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL]
    assert sorted({n.op_type for n in model.graph.node}) == entry["ops"]
    assert [i.name for i in model.graph.input] == list(entry["inputs"])
    assert [o.name for o in model.graph.output] == list(entry["onnxruntime"])
    assert list(entry["torch"]) == list(entry["onnxruntime"])


def test_both_exporters_are_covered():
    assert {e["exporter"] for e in MANIFEST.values()} == {"dynamo", "torchscript"}
    base = {"cnn_bn_gelu", "transformer_encoder", "lstm", "gru"}
    assert base <= set(MANIFEST) and {f"{b}_legacy" for b in base} <= set(MANIFEST)


# -- import -> runtime against the references --------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_inputs_and_outputs_keep_their_onnx_names(name):
    graph_def, _session, aliases = _imported(name)
    nodes = {node.name: node for node in graph_def.node}
    for onnx_name in MANIFEST[name]["inputs"]:
        assert aliases[onnx_name] == sanitize_name(onnx_name)
        assert nodes[aliases[onnx_name]].op == "Placeholder"
    for onnx_name in MANIFEST[name]["onnxruntime"]:
        assert aliases[onnx_name] == sanitize_name(onnx_name)
        assert nodes[aliases[onnx_name]].op == "Identity"


@pytest.mark.parametrize("name", NAMES)
def test_matches_stored_onnxruntime_outputs(name):
    got = run_gcc_flow(name, _stored_inputs(name))
    assert_outputs_close(name, got, _stored_outputs(name, "onnxruntime"))


@pytest.mark.parametrize("name", NAMES)
def test_matches_live_onnxruntime(name):
    feeds = _stored_inputs(name)
    assert_outputs_close(name, run_gcc_flow(name, feeds), run_onnxruntime(name, feeds))


@pytest.mark.parametrize("name", NAMES)
def test_matches_live_onnxruntime_on_fresh_inputs(name):
    feeds = _fresh_inputs(name, seed=7)
    assert_outputs_close(name, run_gcc_flow(name, feeds), run_onnxruntime(name, feeds))


@pytest.mark.parametrize("name", NAMES)
def test_matches_pytorch_outputs(name):
    got = run_gcc_flow(name, _stored_inputs(name))
    assert_outputs_close(name, got, _stored_outputs(name, "torch"), TORCH_RTOL, TORCH_ATOL)
