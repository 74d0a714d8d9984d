"""Real TensorFlow graphs using the NN ops, run by runtime.load and compared with TensorFlow's
own outputs (tests/fixtures/tf, written by TF 2.21; see manifest.json).

A fixture that also needs an op of another family which is not available yet is skipped with
the missing op's name; a missing or wrong NN op fails.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import runtime
from runtime.kernels import KERNELS
from schema import graph_pb2
from schema.registry import find_op

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tf"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
NN_OPS = {
    "MatMul", "BatchMatMulV2", "Relu", "Relu6", "Elu", "Selu", "LeakyRelu", "Softplus",
    "Softmax", "LogSoftmax", "BiasAdd", "BiasAddV1", "Conv2D", "DepthwiseConv2dNative",
    "Conv2DBackpropInput", "MaxPool", "AvgPool", "FusedBatchNorm", "FusedBatchNormV2",
    "FusedBatchNormV3", "SpaceToBatchND", "BatchToSpaceND",
}


def _missing_ops(graph_def) -> set[str]:
    ops = {node.op for node in graph_def.node}
    return {op for op in ops if find_op(op) is None or KERNELS.lookup(op) is None}


@pytest.mark.parametrize("name", ["mlp", "cnn", "depthwise", "depthwise_dilated",
                                  "mobilenet_v2"])
def test_fixture_matches_tensorflow(name):
    spec = MANIFEST[name]
    graph_def = graph_pb2.GraphDef()
    graph_def.ParseFromString((FIXTURES / f"{name}.pb").read_bytes())
    missing = _missing_ops(graph_def)
    assert not missing & NN_OPS, f"NN ops without a declaration or kernel: {missing & NN_OPS}"
    if missing:
        pytest.skip(f"fixture {name} also needs ops of other families: {sorted(missing)}")
    data = np.load(FIXTURES / f"{name}.npz")
    sess = runtime.load(graph_def)
    feeds = {tensor: data[key] for tensor, key in spec["feeds"].items()}
    outs = sess.run(list(spec["fetches"]), feeds)
    for (tensor, key), got in zip(spec["fetches"].items(), outs):
        want = data[key]
        assert got.shape == want.shape and got.dtype == want.dtype, tensor
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=tensor)

