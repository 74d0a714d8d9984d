"""The importer: loading, model checks, names and aliases, inputs/initializers, outputs."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import runtime
from gcc_flow.onnx import ALIAS_ATTR, NotSupported, OnnxImportError, import_graph, import_model
from gcc_flow.onnx.context import decode_tensor
from schema.ir import NAME_RE
from schema.serde import graph_from_graph_def
from schema.validate import validate


def _vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def _model(nodes, inputs, outputs, initializers=(), opset=17, **kwargs) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], **kwargs)


def _add_model(**kwargs):
    return _model([helper.make_node("Add", ["x", "y"], ["z"])],
                  [_vi("x", [2]), _vi("y", [2])], [_vi("z", [2])], **kwargs)


# -- names ---------------------------------------------------------------------------------------

def test_any_onnx_name_becomes_a_valid_node_name_with_an_alias():
    names = ["input:0", "/model/conv 1/out", "ünïcode", "-dash", "", "a" * 5000]
    x_names, y_names = names[:3], names[3:]
    nodes = [helper.make_node("Relu", [x], [y], name=y) for x, y in zip(x_names, y_names)]
    model = _model(nodes, [_vi(x, [2]) for x in x_names], [_vi(y, [2]) for y in y_names[:2]]
                   + [_vi(y_names[2], [2])])
    model.graph.output[1].name = ""  # helper refuses empty names; the importer must not
    model.graph.node[1].output[0] = "b:0"
    model.graph.output[1].name = "b:0"
    result = import_graph(model)
    graph = result.graph.ir
    assert all(NAME_RE.match(n) for n in graph.nodes), list(graph.nodes)
    aliases = {n.attrs[ALIAS_ATTR]: n for n in graph if ALIAS_ATTR in n.attrs}
    assert set(aliases) == set(x_names) | {y_names[0], "b:0", y_names[2]}
    assert {aliases[x].op for x in x_names} == {"Placeholder"}
    assert aliases["b:0"].op == "Identity"
    feeds = {t: np.array([-1.0, 2.0], np.float32) * (i + 1) for i, (_, t) in
             enumerate(result.inputs)}
    outs = runtime.load(graph).run([t for _, t in result.outputs], feeds)
    np.testing.assert_array_equal(outs[1], [0.0, 4.0])


def test_sanitized_names_do_not_collide():
    nodes = [helper.make_node("Neg", ["a:b"], ["a_b"]), helper.make_node("Neg", ["a_b"], ["o"])]
    result = import_graph(_model(nodes, [_vi("a:b", [1])], [_vi("o", [1])]))
    assert len({t for _, t in result.inputs + result.outputs}) == 2
    value = runtime.load(result.graph.ir).run(result.outputs[0][1], {result.inputs[0][1]: [3.0]})
    np.testing.assert_array_equal(value, [3.0])


# -- inputs, initializers, outputs -------------------------------------------------------------

def test_initializer_that_is_an_input_is_an_overridable_default():
    y = numpy_helper.from_array(np.array([10, 20], np.float32), "y")
    result = import_graph(_add_model(initializers=[y]))
    graph = result.graph.ir
    (_, x), (_, y_name) = result.inputs
    assert graph.nodes[y_name.split(":")[0]].op == "PlaceholderWithDefault"
    assert result.feed_inputs == [("x", x)] and result.defaults == {"y"}
    sess = runtime.load(graph)
    z = result.outputs[0][1]
    np.testing.assert_array_equal(sess.run(z, {x: [1, 2]}), [11, 22])
    np.testing.assert_array_equal(sess.run(z, {x: [1, 2], y_name: [0, 0]}), [1, 2])


def test_initializer_only_is_a_const():
    y = numpy_helper.from_array(np.array([1, 2], np.float32), "y")
    model = _model([helper.make_node("Add", ["x", "y"], ["z"])], [_vi("x", [2])],
                   [_vi("z", [2])], [y])
    graph = import_graph(model).graph.ir
    assert graph.nodes["y"].op == "Const"
    validate(graph)


def test_symbolic_and_missing_dims():
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", ["N", 3, None])],
                   [_vi("y", ["N", 3, None])])
    graph = import_graph(model).graph.ir
    assert graph.nodes["x"].attrs["shape"] == (None, 3, None)
    assert graph.nodes["y"].out_shapes[0] == (None, 3, None)


def test_output_that_is_an_input_keeps_one_alias():
    model = _model([], [_vi("x", [2])], [_vi("x", [2])])
    result = import_graph(model)
    assert result.outputs == result.inputs == [("x", "x:0")]


def test_string_initializer_is_bytes():
    s = helper.make_tensor("s", TensorProto.STRING, [2], [b"ab", b"c"])
    model = _model([helper.make_node("Identity", ["s"], ["o"])], [], [_vi("o", [2], 8)], [s])
    result = import_graph(model)
    out = runtime.load(result.graph.ir).run(result.outputs[0][1])
    assert list(out) == [b"ab", b"c"]


def test_import_model_returns_a_graph_def_that_loads():
    gd = import_model(_add_model())
    sess = runtime.load(gd)
    np.testing.assert_array_equal(sess.run("z", {"x": [1, 2], "y": [3, 4]}), [4, 6])
    graph = graph_from_graph_def(gd)
    assert graph.nodes["x"].attrs[ALIAS_ATTR] == "x"


def test_optimize_folds_and_keeps_inputs():
    c = numpy_helper.from_array(np.array([1, 2], np.float32), "c")
    nodes = [helper.make_node("Add", ["c", "c"], ["cc"]), helper.make_node("Mul", ["x", "cc"],
                                                                           ["z"])]
    model = _model(nodes, [_vi("x", [2]), _vi("unused", [2])], [_vi("z", [2])], [c])
    plain, optimized = import_model(model), import_model(model, optimize=True)
    ops = {n.op for n in optimized.node}
    assert "AddV2" not in ops and "AddV2" in {n.op for n in plain.node}
    assert {"x", "unused"} <= {n.name for n in optimized.node}
    np.testing.assert_array_equal(runtime.load(optimized).run("z", {"x": [1, 1]}), [2, 4])


# -- loading and model checks --------------------------------------------------------------------

def test_bytes_and_path(tmp_path):
    data = _add_model().SerializeToString()
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    for source in (data, str(path), path):
        assert [n for n, _ in import_graph(source).outputs] == ["z"]


@pytest.mark.parametrize("data, match", [
    (b"", "empty"),
    (b"\xff\xff\xff\xff", "not an ONNX model"),
    (b"\x08\x01", "not supported: ir_version 1"),  # valid protobuf: ir_version=1, nothing else
])
def test_bad_bytes(data, match):
    with pytest.raises(OnnxImportError, match=match):
        import_graph(data)


def test_graph_def_given_as_onnx_is_refused():
    from gcc_flow.framework import Graph
    import gcc_flow as gf
    g = Graph()
    with g.as_default():
        gf.placeholder(gf.float32, [2], name="x")
    with pytest.raises(OnnxImportError, match="not an ONNX model|ir_version"):
        import_graph(g.as_graph_def().SerializeToString())


def test_paths_that_are_not_files(tmp_path):
    with pytest.raises(OnnxImportError, match="cannot open"):
        import_graph(str(tmp_path / "missing.onnx"))
    with pytest.raises(OnnxImportError, match="not a regular file"):
        import_graph(str(tmp_path))


@pytest.mark.parametrize("opset, error, match", [
    (0, OnnxImportError, "invalid version 0"),
    (999, OnnxImportError, "opset 999 of the default domain does not exist"),
    (6, NotSupported, "not supported: opset 6"),
])
def test_opsets(opset, error, match):
    with pytest.raises(error, match=match):
        import_graph(_add_model(opset=opset))


def test_missing_default_domain():
    model = _add_model()
    del model.opset_import[:]
    with pytest.raises(OnnxImportError, match="opset_import is empty"):
        import_graph(model)
    model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))
    with pytest.raises(NotSupported, match="without the default domain"):
        import_graph(model)


@pytest.mark.parametrize("ir_version, match", [
    (onnx.IR_VERSION + 1, "newer than the newest"), (0, "ir_version is missing"),
    (2, "not supported: ir_version 2"),
])
def test_ir_versions(ir_version, match):
    model = _add_model()
    model.ir_version = ir_version
    with pytest.raises(OnnxImportError, match=match):
        import_graph(model)


def test_checker_failure_is_an_import_error():
    model = _model([helper.make_node("Relu", ["nope"], ["y"])], [_vi("x", [2])], [_vi("y", [2])])
    with pytest.raises(OnnxImportError, match="invalid ONNX model"):
        import_graph(model)


_MALFORMED = [
    (lambda t: t.dims.append(3), "dims \\[2, 3\\] need 24"),
    (lambda t: t.float_data.append(1.0), "several fields"),
    (lambda t: t.dims.__setitem__(0, 1 << 40), "above the limit"),
    (lambda t: t.dims.__setitem__(0, -2), "negative dimension"),
]


@pytest.mark.parametrize("mutate, match", _MALFORMED)
def test_malformed_initializers(mutate, match):
    """onnx.checker refuses these first; decode_tensor refuses them on its own too."""
    y = numpy_helper.from_array(np.array([1, 2], np.float32), "y")
    mutate(y)
    model = _model([helper.make_node("Identity", ["y"], ["z"])], [], [_vi("z", [2])], [y])
    with pytest.raises(OnnxImportError, match="'y'|name: y"):
        import_graph(model)
    with pytest.raises(OnnxImportError, match=match):
        decode_tensor(y)


def test_decode_tensor_refuses_unresolved_external_data():
    y = numpy_helper.from_array(np.array([1, 2], np.float32), "y")
    y.data_location = TensorProto.EXTERNAL
    with pytest.raises(OnnxImportError, match="unresolved external data"):
        decode_tensor(y)


def test_unknown_op_is_not_supported():
    model = _model([helper.make_node("Relu", ["x"], ["y"]),
                    helper.make_node("Foo", ["y"], ["z"], domain="my.domain")],
                   [_vi("x", [2])], [_vi("z", [2])])
    model.opset_import.append(helper.make_opsetid("my.domain", 1))
    with pytest.raises(NotSupported, match="not supported: Foo \\(domain my.domain, opset 1\\)"):
        import_graph(model)


def test_invalid_utf8_in_a_name_is_refused():
    data = _add_model().SerializeToString().replace(b"\x12\x01z", b"\x12\x01\xff")
    with pytest.raises(OnnxImportError, match="invalid UTF-8"):
        import_graph(data)
