"""GraphDef <-> IR: TensorFlow's graphs survive a round trip; bad graphs fail naming the node.

    graph_to_graph_def(graph_from_graph_def(tf_graph_def))  keeps names, ops, inputs, devices,
    attrs (compared decoded, tensors by value), versions and fields we do not declare.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

from schema import graph_pb2
from schema.dtypes import DType
from schema.errors import GraphError, LimitExceeded, TensorError, UnknownOpError, ValidationError
from schema.io import read_graph_def
from schema.registry import FuncAttr, find_op
from schema.serde import attr_from_proto, attr_to_proto, graph_from_graph_def, graph_to_graph_def

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tf"
TF_GRAPHS = sorted(p.stem for p in FIXTURES.glob("*.pb"))

F32 = 'attr { key: "dtype" value { type: DT_FLOAT } }'
T_F32 = 'attr { key: "T" value { type: DT_FLOAT } }'


def parse(text: str) -> graph_pb2.GraphDef:
    return text_format.Parse(text, graph_pb2.GraphDef())


def placeholder(name: str, dtype: str = "DT_FLOAT") -> str:
    attr = f'attr {{ key: "dtype" value {{ type: {dtype} }} }}'
    return f'node {{ name: "{name}" op: "Placeholder" {attr} }}'


def same_value(a, b) -> bool:
    """Decoded attr values by value: arrays by dtype, shape and elements (NaN equal to NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same_value, a, b))
    return type(a) is type(b) and a == b


# -- round trip of TensorFlow's own graphs ----------------------------------------------------

@pytest.mark.parametrize("name", TF_GRAPHS)
def test_tf_graph_round_trip_keeps_every_node(name):
    original = read_graph_def(FIXTURES / f"{name}.pb")
    graph = graph_from_graph_def(original, allow_unknown=True)
    again = graph_pb2.GraphDef.FromString(graph_to_graph_def(graph).SerializeToString())
    assert [n.name for n in again.node] == [n.name for n in original.node]
    assert again.versions == original.versions and again.library == original.library
    for before, after in zip(original.node, again.node):
        where = f"{name}: node {before.name!r}"
        assert (after.op, list(after.input), after.device) == \
            (before.op, list(before.input), before.device), where
        for key, value in before.attr.items():
            assert key in after.attr, f"{where} lost attr {key!r}"
            assert same_value(attr_from_proto(after.attr[key]), attr_from_proto(value)), \
                f"{where} attr {key!r} changed"
        _assert_added_attrs_are_defaults(before, after, where)


def _assert_added_attrs_are_defaults(before, after, where: str) -> None:
    op_def = find_op(before.op)
    for key in set(after.attr) - set(before.attr):
        assert op_def is not None and key in op_def.attrs, f"{where} gained attr {key!r}"
        assert same_value(attr_from_proto(after.attr[key]), op_def.attrs[key].default), where


@pytest.mark.parametrize("name", TF_GRAPHS)
def test_second_round_trip_is_byte_identical(name):
    once = graph_to_graph_def(graph_from_graph_def(read_graph_def(FIXTURES / f"{name}.pb"),
                                                   allow_unknown=True))
    twice = graph_to_graph_def(graph_from_graph_def(once, allow_unknown=True))
    assert twice.SerializeToString(deterministic=True) == once.SerializeToString(
        deterministic=True)


# -- loading --------------------------------------------------------------------------------

def test_forward_references_load():
    graph_def = parse(f'''
        node {{ name: "y" op: "Neg" input: "x" input: "^c" {T_F32} }}
        node {{ name: "c" op: "NoOp" }}
        {placeholder("x")}''')
    graph = graph_from_graph_def(graph_def)
    y = graph.node("y")
    assert y.inputs[0].node is graph.node("x") and y.control_inputs == [graph.node("c")]
    assert y.out_types == [DType.FLOAT]
    out = graph_to_graph_def(graph)
    assert [n.name for n in out.node] == ["y", "c", "x"]
    assert list(out.node[0].input) == ["x", "^c"]


def test_unknown_graph_fields_survive():
    debug_info = b"\x0a\x04a.py"                      # GraphDebugInfo{files: "a.py"}
    field5 = b"\x2a" + bytes([len(debug_info)]) + debug_info
    graph_def = graph_pb2.GraphDef.FromString(parse(placeholder("x")).SerializeToString() + field5)
    out = graph_to_graph_def(graph_from_graph_def(graph_def)).SerializeToString()
    assert field5 in out
    assert graph_pb2.GraphDef.FromString(out).node[0].name == "x"


def test_versions_and_devices_survive():
    graph_def = parse(f'''
        node {{ name: "x" op: "Placeholder" device: "/job:localhost/replica:0/task:0/device:CPU:0"
                {F32} }}
        versions {{ producer: 27 min_consumer: 12 bad_consumers: 3 }}''')
    out = graph_to_graph_def(graph_from_graph_def(graph_def))
    assert out.versions == graph_def.versions
    assert out.node[0].device == "/job:localhost/replica:0/task:0/device:CPU:0"


def test_default_attrs_are_filled():
    graph_def = parse(f'''
        {placeholder("x")}
        node {{ name: "e" op: "Equal" input: "x" input: "x" {T_F32} }}
        node {{ name: "c" op: "Cast" input: "x" attr {{ key: "SrcT" value {{ type: DT_FLOAT }} }}
                attr {{ key: "DstT" value {{ type: DT_INT32 }} }} }}''')
    graph = graph_from_graph_def(graph_def)
    assert graph.node("x").attrs["shape"] is None
    assert graph.node("e").attrs["incompatible_shape_error"] is True
    assert graph.node("c").attrs["Truncate"] is False
    out = {n.name: n for n in graph_to_graph_def(graph).node}
    assert out["e"].attr["incompatible_shape_error"].b is True
    assert out["x"].attr["shape"].shape.unknown_rank


def test_unknown_op_is_refused_unless_allowed():
    graph_def = parse(f'{placeholder("x")} node {{ name: "m" op: "MyCustomOp" input: "x" }}'
                      f'node {{ name: "n" op: "Neg" input: "m" {T_F32} }}')
    with pytest.raises(UnknownOpError, match="'m'.*MyCustomOp"):
        graph_from_graph_def(graph_def)
    graph = graph_from_graph_def(graph_def, allow_unknown=True)
    assert graph.node("m").num_outputs == 1
    out = graph_to_graph_def(graph)
    assert out.node[1].op == "MyCustomOp" and list(out.node[1].input) == ["x"]


# -- validation errors name the node ----------------------------------------------------------

@pytest.mark.parametrize("body, error, pattern", [
    # Const without its dtype attr
    ('node { name: "k" op: "Const" attr { key: "value" value { tensor { dtype: DT_FLOAT '
     'tensor_shape {} float_val: 1 } } } }', ValidationError,
     r"'k'.*missing required attr 'dtype'"),
    # Cast's DstT given as an int
    (f'{placeholder("x")} node {{ name: "c" op: "Cast" input: "x" attr {{ key: "SrcT" value '
     f'{{ type: DT_FLOAT }} }} attr {{ key: "DstT" value {{ i: 3 }} }} }}', ValidationError,
     r"'c'.*'DstT' must be of type type"),
    # Neg with two inputs
    (f'{placeholder("x")} node {{ name: "n" op: "Neg" input: "x" input: "x" {T_F32} }}',
     ValidationError, r"'n'.*2 data inputs but its op takes 1"),
    # AddV2 with no inputs
    (f'node {{ name: "a" op: "AddV2" {T_F32} }}', ValidationError, r"'a'.*0 data inputs"),
    # float into an int32 input
    (f'{placeholder("x")} {placeholder("i", "DT_INT32")} node {{ name: "s" op: "AddV2" '
     f'input: "x" input: "i" {T_F32} }}', ValidationError, r"'s'.*input 1 expects float32.*int32"),
    # a type outside the op's allowed set
    (f'{placeholder("b", "DT_BOOL")} node {{ name: "n" op: "Neg" input: "b" '
     f'attr {{ key: "T" value {{ type: DT_BOOL }} }} }}', ValidationError, r"'n'.*'T' = 'bool'"),
    # Const whose dtype attr disagrees with its tensor
    ('node { name: "k" op: "Const" attr { key: "dtype" value { type: DT_INT32 } } attr { key: '
     '"value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 1 } } } }',
     TensorError, r"'k'.*int32.*float32"),
    # structure
    (f'node {{ name: "n" op: "Neg" input: "nope" {T_F32} }}', GraphError, r"'n'.*'nope'"),
    (f'node {{ name: "n" op: "Neg" input: "^nope" {T_F32} }}', GraphError, r"'n'.*'nope'"),
    (f'{placeholder("x")} node {{ name: "n" op: "Neg" input: "x:1" {T_F32} }}', GraphError,
     r"'n'.*x:1"),
    (f'{placeholder("x")} {placeholder("x")}', GraphError, r"duplicate node name 'x'"),
    (f'node {{ name: "a" op: "Neg" input: "b" {T_F32} }} '
     f'node {{ name: "b" op: "Neg" input: "a" {T_F32} }}', GraphError, r"cycle: (a -> b -> a|"
     r"b -> a -> b)"),
])
def test_bad_graph_error_names_the_node(body, error, pattern):
    with pytest.raises(error, match=pattern):
        graph_from_graph_def(parse(body))


def test_tensor_attr_errors_name_the_node():
    body = ('node { name: "k" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } } '
            'attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { dim { size: '
            '1000000 } dim { size: 1000000 } } float_val: 1 } } } }')
    with pytest.raises(LimitExceeded, match=r"node 'k' \(Const\) attr 'value'"):
        graph_from_graph_def(parse(body))


# -- attr encoding ------------------------------------------------------------------------------

@pytest.mark.parametrize("value, attr_type", [
    (3, "int"), (2.5, "float"), (2, "float"), (True, "bool"), ("SAME", "string"),
    (b"\xff\x00", "string"), (DType.HALF, "type"), ((None, 3), "shape"), (None, "shape"),
    ([1, 2], "list(int)"), ([], "list(int)"), ([DType.FLOAT, DType.INT32], "list(type)"),
    ([(1,), ()], "list(shape)"), (["a", "b"], "list(string)"), ([0.5], "list(float)"),
    (np.arange(6, dtype=np.int64).reshape(2, 3), "tensor"),
    (FuncAttr("f", (("T", DType.FLOAT),)), "func"),
])
def test_attr_values_round_trip(value, attr_type):
    decoded = attr_from_proto(attr_to_proto(value, attr_type))
    want = float(value) if attr_type == "float" else value
    assert same_value(decoded, want)
