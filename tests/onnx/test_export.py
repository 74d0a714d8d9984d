"""export_model and save_model: names, inputs and outputs, what becomes an initializer, layout
transposes, opsets, refusals that name the node, and writing (one file, or a model with
external data past a lowered limit, safely)."""
from __future__ import annotations

import os

import numpy as np
import onnx
import pytest

pytest.importorskip("onnxruntime")

from onnx_export_check import export_and_compare, ops_of, run_onnxruntime  # noqa: E402

import gcc_flow as gf  # noqa: E402
from gcc_flow.onnx.exporter import (MAX_OPSET, ExportNotSupported, OnnxExportError,  # noqa: E402
                                    choose_opset, export_model, external_data_name,
                                    onnx_name, save_model, tensor_name_of)
from schema.errors import GccFlowError, GraphError  # noqa: E402

RNG = np.random.default_rng(3)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def conv_net():
    """x NHWC -> conv -> relu -> conv -> relu -> softmax over a dense layer."""
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 8, 8, 3], name="x")
        h = gf.nn.relu(gf.nn.conv2d(x, gf.constant(f32(3, 3, 3, 4)), 1, "SAME"))
        h = gf.nn.relu(gf.nn.conv2d(h, gf.constant(f32(3, 3, 4, 4)), 2, "SAME"))
        flat = gf.reshape(h, [-1, 64])
        gf.nn.softmax(gf.matmul(flat, gf.constant(f32(64, 5))), name="probs")
    return g


# -- names, inputs, outputs ------------------------------------------------------------------

def test_names_follow_the_tensors():
    assert onnx_name("y:0") == "y" and onnx_name("split:1") == "split:1"
    assert tensor_name_of("y") == "y:0" and tensor_name_of("split:1") == "split:1"
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2, 4], name="x")
        gf.split(gf.tanh(x), 2, axis=1, name="parts")
    model = export_and_compare(g, {"x:0": f32(2, 4)})
    assert [i.name for i in model.graph.input] == ["x"]
    assert [o.name for o in model.graph.output] == ["parts", "parts:1"]


def test_conv_chain_keeps_only_the_boundary_transposes():
    model = export_and_compare(conv_net(), {"x:0": f32(2, 8, 8, 3)}, atol=1e-5)
    ops = ops_of(model)
    assert ops.count("Transpose") == 2 and ops.count("Conv") == 2
    assert ops.index("Relu") < ops.index("Transpose", 1)   # relu stays in NCHW


def test_constants_read_only_for_their_value_are_not_initializers():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2, 3, 4], name="x")
        gf.reduce_sum(gf.transpose(gf.reshape(x, [4, 6], name="r"), [1, 0]), [0], name="y")
    model = export_and_compare(g, {"x:0": f32(2, 3, 4)})
    assert ops_of(model) == ["Reshape", "Transpose", "ReduceSum"]
    # the int32 shape and axes Consts become int64 initializers; the Consts themselves are
    # not exported
    assert [onnx.numpy_helper.to_array(t).tolist() for t in model.graph.initializer] == \
        [[4, 6], [0]]
    dtypes = {onnx.numpy_helper.to_array(t).dtype for t in model.graph.initializer}
    assert dtypes == {np.dtype(np.int64)}


def test_a_constant_output_is_an_identity_of_its_initializer():
    g = gf.Graph()
    with g.as_default():
        gf.constant([1.0, 2.0], name="c")
    model = export_model(g.as_graph_def(), outputs=["c:0"])
    assert ops_of(model) == ["Identity"] and model.graph.output[0].name == "c"
    np.testing.assert_array_equal(run_onnxruntime(model, {})[0], [1.0, 2.0])


def test_placeholder_with_default_is_an_input_with_an_initializer():
    g = gf.Graph()
    with g.as_default():
        p = gf.placeholder_with_default(gf.constant([[1.0, 2.0]]), [None, 2], name="p")
        gf.multiply(p, 10.0, name="y")
    model = export_and_compare(g, {})
    assert [i.name for i in model.graph.input] == ["p"]
    assert [t.name for t in model.graph.initializer if t.name == "p"] == ["p"]
    np.testing.assert_array_equal(run_onnxruntime(model, {})[0], [[10.0, 20.0]])
    fed = run_onnxruntime(model, {"p": np.ones((3, 2), np.float32)})[0]
    np.testing.assert_array_equal(fed, np.full((3, 2), 10.0))


def test_inputs_may_cut_the_graph_and_unfed_placeholders_are_refused():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        h = gf.exp(x, name="h")
        gf.add(h, gf.placeholder(gf.float32, [3], name="other"), name="y")
    model = export_and_compare(g, {"h:0": f32(3), "other:0": f32(3)}, inputs=["h", "other:0"],
                               outputs=["y:0"])
    assert [i.name for i in model.graph.input] == ["h", "other"] and ops_of(model) == ["Add"]
    with pytest.raises(OnnxExportError, match="placeholder 'other'.*not among the inputs"):
        export_model(g.as_graph_def(), inputs=["h:0"], outputs=["y:0"])
    with pytest.raises(GraphError, match="nope"):
        export_model(g.as_graph_def(), outputs=["nope:0"])


def test_default_outputs_are_the_sinks_and_skip_outputs_without_onnx_form():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [1, 2, 2, 3], name="x")
        params = [gf.constant(np.ones(3, np.float32)) for _ in range(4)]
        gf.nn.fused_batch_norm(x, *params, is_training=False, name="bn")
        gf.no_op(name="nothing")
    model = export_and_compare(g, {"x:0": f32(1, 2, 2, 3)})
    assert [o.name for o in model.graph.output] == ["bn", "bn:1", "bn:2", "bn:3", "bn:4"]
    with pytest.raises(ExportNotSupported, match="output 5 of node 'bn'"):
        export_model(g.as_graph_def(), outputs=["bn:5"])


def test_progress_is_reported_per_node():
    calls = []
    export_model(conv_net().as_graph_def(), progress=lambda done, total: calls.append(
        (done, total)))
    assert calls and calls[-1][0] == calls[-1][1] and len(calls) == calls[-1][1]


def test_sources_path_graph_and_graph_def(tmp_path):
    g = conv_net()
    path = tmp_path / "m.pbtxt"
    gf.io.write_graph(g, path)
    from_path, from_graph = export_model(str(path)), export_model(g)
    assert ops_of(from_path) == ops_of(from_graph) == ops_of(export_model(g.as_graph_def()))


# -- opsets -------------------------------------------------------------------------------------

def test_opset_default_range_and_refusals():
    assert choose_opset(None) == MAX_OPSET == onnx.defs.onnx_opset_version()
    assert choose_opset(13) == 13
    for bad in (12, MAX_OPSET + 1, "17", True):
        with pytest.raises(OnnxExportError, match="opset"):
            choose_opset(bad)
    model = export_model(conv_net())
    assert model.opset_import[0].version == MAX_OPSET
    assert model.ir_version == onnx.helper.find_min_ir_version_for(list(model.opset_import))


def test_reduce_axes_are_an_attr_before_opset_18_and_an_input_after():
    g = gf.Graph()
    with g.as_default():
        gf.reduce_max(gf.placeholder(gf.float32, [2, 3], name="x"), 1, name="y")
    for opset, attrs, inputs in ((13, ["axes", "keepdims"], 1), (18, ["keepdims"], 2)):
        model = export_and_compare(g, {"x:0": f32(2, 3)}, opset=opset)
        node = model.graph.node[0]
        assert sorted(a.name for a in node.attribute) == attrs and len(node.input) == inputs


def test_computed_axes_of_max_need_opset_18():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2, 3], name="x")
        gf.reduce_max(x, gf.placeholder(gf.int32, [1], name="axes"), keepdims=True, name="y")
    with pytest.raises(ExportNotSupported, match="'y' \\(Max\\).*opset 18"):
        export_model(g.as_graph_def(), opset=17)
    export_and_compare(g, {"x:0": f32(2, 3), "axes:0": np.array([1], np.int32)}, opset=18)


# -- refusals -----------------------------------------------------------------------------------

def test_unsupported_ops_name_the_node():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2], name="x")
        gf.add(x, gf.random_uniform([2], name="noise"), name="y")
    with pytest.raises(ExportNotSupported, match="node 'noise/RandomUniform' \\(RandomUniform\\)"
                                                 ".*freeze"):
        export_model(g.as_graph_def())
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.int32, [1, 4, 4, 1], name="x")
        gf.nn.conv2d(x, gf.constant(np.ones((1, 1, 1, 1), np.int32)), 1, "VALID", name="conv")
    with pytest.raises(ExportNotSupported, match="'conv' \\(Conv2D\\): int32"):
        export_model(g.as_graph_def())


def test_unknown_rank_input_and_empty_graphs_are_refused():
    g = gf.Graph()
    with g.as_default():
        gf.tanh(gf.placeholder(gf.float32, None, name="x"), name="y")
    with pytest.raises(ExportNotSupported, match="input x:0 has an unknown rank"):
        export_model(g.as_graph_def())
    g = gf.Graph()
    with g.as_default():
        gf.placeholder(gf.float32, [2], name="x")
    with pytest.raises(OnnxExportError, match="no outputs"):
        export_model(g.as_graph_def())
    with pytest.raises(TypeError, match="save_model"):
        export_model(g.as_graph_def(), "model.onnx")


def test_errors_are_gcc_flow_errors():
    assert issubclass(ExportNotSupported, OnnxExportError)
    assert issubclass(OnnxExportError, GccFlowError)


# -- writing ------------------------------------------------------------------------------------

def big_model():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [2, 64], name="x")
        h = gf.matmul(x, gf.constant(f32(64, 64), name="w1"))
        gf.add(gf.matmul(h, gf.constant(f32(64, 8), name="w2")), gf.constant(f32(8)), name="y")
    return g


def test_save_model_writes_one_file_under_the_limit(tmp_path):
    model = export_model(big_model())
    files = save_model(model, tmp_path / "m.onnx")
    assert files == [tmp_path / "m.onnx"] and os.listdir(tmp_path) == ["m.onnx"]
    assert (tmp_path / "m.onnx").read_bytes() == model.SerializeToString()


def test_save_model_moves_large_weights_to_a_side_file(tmp_path):
    model = export_model(big_model())
    before = model.SerializeToString()
    out = tmp_path / "m.onnx"
    files = save_model(model, out, max_protobuf_bytes=4096, external_min_bytes=1024)
    side = tmp_path / external_data_name(out)
    assert files == [out, side] and sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.data"]
    assert model.SerializeToString() == before            # the caller's model is unchanged
    stored = onnx.load(str(out), load_external_data=False)
    external = {t.name: {e.key: e.value for e in t.external_data}
                for t in stored.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL}
    assert set(external) == {"w1", "w2"}
    assert {e["location"] for e in external.values()} == {"m.onnx.data"}
    assert all(int(e["offset"]) % 4096 == 0 for e in external.values())
    assert out.stat().st_size < 4096
    onnx.checker.check_model(str(out), full_check=True)
    x = f32(2, 64)
    np.testing.assert_array_equal(run_onnxruntime(out, {"x": x})[0],
                                  run_onnxruntime(model, {"x": x})[0])


def test_save_model_replaces_a_link_at_the_side_file_name_without_following_it(tmp_path):
    target = tmp_path / "elsewhere.bin"
    target.write_bytes(b"do not touch")
    (tmp_path / "m.onnx.data").symlink_to(target)
    save_model(export_model(big_model()), tmp_path / "m.onnx", max_protobuf_bytes=4096)
    assert target.read_bytes() == b"do not touch"
    assert not (tmp_path / "m.onnx.data").is_symlink()
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_save_model_refuses_before_writing(tmp_path):
    model = export_model(big_model())
    with pytest.raises(OnnxExportError, match="even with its large weights"):
        save_model(model, tmp_path / "m.onnx", max_protobuf_bytes=100, external_min_bytes=10**9)
    model.graph.initializer[0].data_location = onnx.TensorProto.EXTERNAL
    with pytest.raises(OnnxExportError, match="already refers to external data"):
        save_model(model, tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_save_model_into_a_read_only_folder_leaves_nothing(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(GccFlowError, match="cannot write"):
            save_model(export_model(big_model()), folder / "m.onnx", max_protobuf_bytes=4096)
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o700)


def test_a_failed_write_leaves_neither_side_file_nor_temp_files(tmp_path, monkeypatch):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous model")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(GccFlowError, match="No space left"):
        save_model(export_model(big_model()), out, max_protobuf_bytes=4096)
    assert os.listdir(tmp_path) == ["m.onnx"] and out.read_bytes() == b"previous model"
