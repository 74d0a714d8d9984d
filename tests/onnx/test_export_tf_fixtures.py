"""TensorFlow's own graphs (tests/fixtures/tf, written by TF 2.21) exported to ONNX and run by
onnxruntime reproduce TensorFlow's stored outputs (1e-4 relative) for every fetch, at the
default opset and at opset 13. Graphs with variables or v1 control flow are refused by name.

Every fetch of these fixtures exports; UNEXPORTABLE lists the ones that do not, with why.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np
import onnx
import pytest

pytest.importorskip("onnxruntime")

from onnx_export_check import run_onnxruntime  # noqa: E402

from gcc_flow.onnx.exporter import ExportNotSupported, export_model, onnx_name  # noqa: E402
from schema.io import read_graph_def  # noqa: E402

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures" / "tf"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
EXPORTED = ["mlp", "cnn", "depthwise", "depthwise_dilated", "strided_slice", "broadcast_arith",
            "reductions", "frozen", "array_ops", "mobilenet_v2"]
# fixture -> {fetch: reason}: fetches that cannot be exported. None at present.
UNEXPORTABLE: dict[str, dict[str, str]] = {}


def exported_fetches(name: str) -> dict:
    skip = UNEXPORTABLE.get(name, {})
    return {f: key for f, key in MANIFEST[name]["fetches"].items() if f not in skip}


@pytest.mark.parametrize("opset", [None, 13])
@pytest.mark.parametrize("name", EXPORTED)
def test_fixture_runs_in_onnxruntime_with_tensorflows_outputs(name, opset):
    spec, data = MANIFEST[name], np.load(FIXTURES / f"{name}.npz")
    fetches = exported_fetches(name)
    model = export_model(read_graph_def(FIXTURES / f"{name}.pb"), inputs=list(spec["feeds"]),
                         outputs=list(fetches), opset=opset)
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == [onnx_name(f) for f in fetches]
    names = {i.name for i in model.graph.input}
    feeds = {onnx_name(k): data[v] for k, v in spec["feeds"].items() if onnx_name(k) in names}
    for fetch, got in zip(fetches, run_onnxruntime(model, feeds)):
        want = data[fetches[fetch]]
        assert got.dtype == want.dtype and got.shape == want.shape, fetch
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=fetch)
        else:
            np.testing.assert_array_equal(got, want, err_msg=fetch)


def test_mobilenet_exports_as_nchw_convolutions_without_inner_transposes():
    model = export_model(read_graph_def(FIXTURES / "mobilenet_v2.pb"))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Conv") == 52 and ops.count("Transpose") == 2
    assert len(model.graph.node) < 110   # TF's graph has 1053 nodes before optimization


def test_variables_are_refused_with_a_hint_to_freeze():
    with pytest.raises(ExportNotSupported, match="VarHandleOp.*freeze"):
        export_model(read_graph_def(FIXTURES / "resource_vars.pb"), outputs=["y:0"])


def test_v1_control_flow_is_refused_naming_the_node():
    graph_def = read_graph_def(FIXTURES / "control_flow" / "cond_grad.pb")
    with pytest.raises(ExportNotSupported, match="not supported: node '.*' \\((Switch|Merge)\\)"):
        export_model(graph_def, outputs=["loss:0"])
