"""The partition pass and partition_graph: _Send/_Recv pairs for every cross-device edge.

    x @CPU:0 -> y @CPU:1, z @CPU:1  ->  one _Send on CPU:0, one _Recv on CPU:1 feeding y and z
"""
from __future__ import annotations

import numpy as np
import pytest

import passes
from passes.base import PassContext
from passes.partition import (RECV_OPS, SEND_OPS, check_partitions, copy_graph,
                              insert_send_recv, partition, partition_graph, split_by_device)
from passes.place import place_graph
from runtime.check import check_equivalent
from runtime.multi_device import MultiDeviceSession
from runtime.rendezvous import make_key
from schema.dtypes import DType
from schema.errors import GraphError
from schema.serde import graph_from_graph_def, graph_to_graph_def
from schema.text import parse_graph
from schema.validate import validate

CPU = "/job:localhost/replica:0/task:0/device:CPU:"
TWO = ["cpu:0", "cpu:1"]

GRAPH = """
%x:0 f32[2,3] @/device:CPU:0 = Placeholder() dtype=f32 shape=shape[2,3]
%a:0 f32[2,3] @/device:CPU:0 = Exp(%x:0) T=f32
%b:0 f32[2,3] @/device:CPU:1 = Neg(%a:0) T=f32
%c:0 f32[2,3] @/device:CPU:1 = Tanh(%a:0, ^%x) T=f32
%d:0 f32[2,3] @/device:CPU:0 = AddV2(%b:0, %a:0) T=f32
%e:0 f32[2,3] @/device:CPU:1 = Sin(%c:0, ^%d) T=f32
"""


def _placed(text: str = GRAPH):
    graph = parse_graph(text)
    place_graph(graph, TWO)
    return graph


def _ops(graph, ops) -> list:
    return sorted(n.name for n in graph if n.op in ops)


def test_the_pass_inserts_one_pair_per_tensor_and_destination_and_control_pairs():
    graph = parse_graph(GRAPH)
    original = graph_to_graph_def(graph)
    ctx = PassContext(fetches=["e:0", "d:0"], devices=TWO)
    result = partition(graph, ctx)
    assert result.modified
    assert result.stats == {"send_recv_pairs": 4, "control_pairs": 2, "partitions_remaining": 2}
    assert _ops(graph, RECV_OPS) == ["a/_recv_0_on_CPU_1", "b/_recv_0_on_CPU_0",
                                     "d/_ctrl_recv_on_CPU_1", "x/_ctrl_recv_on_CPU_1"]
    recv = graph.node("a/_recv_0_on_CPU_1")
    assert [u.name for u in recv.users] == ["b", "c"]   # two consumers, one _Recv
    assert graph.node("d").inputs[1].node.name == "a"   # a same-device edge is untouched
    dummy = graph.node("d/_ctrl_to_CPU_1")
    assert dummy.op == "Const" and dummy.control_inputs == [graph.node("d")]
    assert dummy.device == CPU + "0"
    assert [c.name for c in graph.node("e").control_inputs] == ["d/_ctrl_recv_on_CPU_1"]
    send = graph.node("a/_send_0_to_CPU_1")
    assert send.attrs == {"T": DType.FLOAT, "tensor_name": "edge_1_a",
                          "send_device": CPU + "0", "send_device_incarnation": 1,
                          "recv_device": CPU + "1", "client_terminated": False}
    assert recv.attrs["tensor_type"] == DType.FLOAT
    assert make_key(send.attrs["send_device"], 1, send.attrs["recv_device"], "edge_1_a") == \
        f"{CPU}0;1;{CPU}1;edge_1_a;0:0"
    validate(graph)
    for node in graph:  # the union graph has no edge across devices left
        assert all(r.node.device == node.device for r in node.inputs)
        assert all(c.device == node.device for c in node.control_inputs)
    sess = MultiDeviceSession(graph_from_graph_def(graph_to_graph_def(graph)), devices=TWO)
    assert check_equivalent(original, sess, ["e:0", "d:0"]).ok
    assert not partition(graph, PassContext(fetches=["e:0"], devices=TWO)).modified


def test_partition_graph_splits_into_valid_graphs_and_leaves_the_input_alone():
    graph = _placed()
    before = str(graph)
    parts = partition_graph(graph)
    assert str(graph) == before
    assert sorted(parts) == [CPU + "0", CPU + "1"]
    check_partitions(parts)
    for device, part in parts.items():
        assert {n.device for n in part} == {device}
        validate(copy_graph(part))
    assert len(_ops(parts[CPU + "0"], SEND_OPS)) == 3 and len(_ops(parts[CPU + "1"], SEND_OPS)) == 1


def test_a_chain_a_b_a_gives_one_pair_each_way():
    graph = _placed("""
    %x:0 f32[2] @/device:CPU:0 = Placeholder() dtype=f32 shape=shape[2]
    %a:0 f32[2] @/device:CPU:0 = Exp(%x:0) T=f32
    %b:0 f32[2] @/device:CPU:1 = Neg(%a:0) T=f32
    %c:0 f32[2] @/device:CPU:0 = AddV2(%b:0, %a:0) T=f32
    """)
    parts = partition_graph(graph)
    sends = {d: [(n.attrs["send_device"], n.attrs["recv_device"]) for n in p if n.op in SEND_OPS]
             for d, p in parts.items()}
    assert sends == {CPU + "0": [(CPU + "0", CPU + "1")], CPU + "1": [(CPU + "1", CPU + "0")]}


def test_new_names_never_collide_with_existing_nodes_or_transfers():
    graph = _placed("""
    %x:0 f32[2] @/device:CPU:0 = Placeholder() dtype=f32 shape=shape[2]
    %"x/_recv_0_on_CPU_1":0 f32[2] @/device:CPU:1 = Placeholder() dtype=f32 shape=shape[2]
    %y:0 f32[2] @/device:CPU:1 = Neg(%x:0) T=f32
    """)
    taken = graph.node("x/_recv_0_on_CPU_1")
    graph.add_node("_Send", "old", inputs=[taken.output(0)], device=CPU + "1", attrs={
        "T": DType.FLOAT, "tensor_name": "edge_1_x", "send_device": CPU + "1",
        "send_device_incarnation": 1, "recv_device": CPU + "0", "client_terminated": False})
    insert_send_recv(graph)
    recv = graph.node("y").inputs[0].node
    assert recv.op == "_Recv" and recv.name == "x/_recv_0_on_CPU_1_1"
    assert recv.attrs["tensor_name"] == "edge_2_x"


def test_unplaced_graphs_resource_edges_and_control_flow_exits_are_refused():
    with pytest.raises(GraphError, match="node 'x' \\(Placeholder\\) is not placed"):
        insert_send_recv(parse_graph(GRAPH))
    hand_placed = parse_graph(f"""
    %v:0 res[] @{CPU}0 = VarHandleOp() dtype=f32 shape=shape[3] shared_name="v"
    %r:0 f32[3] @{CPU}1 = ReadVariableOp(%v:0) dtype=f32
    """)
    with pytest.raises(GraphError, match="resource edge v -> r crosses devices"):
        insert_send_recv(hand_placed)
    branches = parse_graph(f"""
    %x:0 f32[2] @{CPU}0 = Placeholder() dtype=f32 shape=shape[2]
    %p:0 bool[] @{CPU}0 = Placeholder() dtype=bool shape=shape[]
    %sw:0 f32[2], %sw:1 f32[2] @{CPU}0 = Switch(%x:0, %p:0) T=f32
    %t:0 f32[2] @{CPU}1 = Neg(%sw:1) T=f32
    """)
    with pytest.raises(GraphError, match="edge sw -> t leaves v1 control flow"):
        insert_send_recv(branches)


def test_split_by_device_refuses_crossing_edges_and_check_partitions_finds_lone_halves():
    graph = _placed()
    with pytest.raises(GraphError, match="edge a -> b crosses devices"):
        split_by_device(graph)
    parts = partition_graph(graph)
    with pytest.raises(GraphError, match="_Send 'a/_send_0_to_CPU_1' .* no matching _Recv"):
        check_partitions({CPU + "0": parts[CPU + "0"]})
    recv_only = copy_graph(parts[CPU + "1"], [n for n in parts[CPU + "1"] if n.op in RECV_OPS])
    with pytest.raises(GraphError, match="_Recv 'a/_recv_0_on_CPU_1' .* no matching _Send"):
        check_partitions({CPU + "1": recv_only})
    with pytest.raises(GraphError, match="attrs put it on"):
        check_partitions({CPU + "1": parts[CPU + "0"], CPU + "0": parts[CPU + "1"]})


def test_the_pass_in_a_pipeline_places_first_and_is_idempotent(rng):
    graph_def = graph_to_graph_def(parse_graph(GRAPH))
    optimized, report = passes.optimize(graph_def, fetches=["e:0"], pipeline=["partition"],
                                        devices=TWO)
    assert report.iterations == 2
    assert report.rewrites()["partition"]["send_recv_pairs"] == 4
    sends = [n for n in optimized.node if n.op == "_Send"]
    assert len(sends) == 4 and all(n.device.startswith("/job:localhost") for n in optimized.node)
    sess = MultiDeviceSession(graph_from_graph_def(optimized), devices=TWO)
    x = rng.random((2, 3), np.float32)
    np.testing.assert_allclose(sess.run("e:0", {"x:0": x}), np.sin(np.tanh(np.exp(x))),
                               rtol=1e-6)
