"""The place pass: TensorFlow's placer rules, soft placement, and the cost model.

    y = Relu(x) @/cpu:1, devices [cpu:0, cpu:1]
        -> x @/job:localhost/replica:0/task:0/device:CPU:1 (follows y), y @.../device:CPU:1
"""
from __future__ import annotations

import pytest

import passes
from passes.base import PassContext
from runtime.check import check_equivalent
from passes.cost_model import (PROFILES, compute_seconds, op_cost, tensor_bytes,
                               transfer_seconds)
from passes.place import (DEFAULT_DEVICE, colocation_groups, format_placement, full_device_name,
                          place, place_graph)
from schema.errors import GraphError
from schema.serde import graph_to_graph_def
from schema.text import parse_graph
from schema.validate import validate

CPU = "/job:localhost/replica:0/task:0/device:CPU:"
GPU = "/job:localhost/replica:0/task:0/device:GPU:"
TWO = ["cpu:0", "cpu:1"]


def _devices(graph) -> dict:
    return {n.name: n.device for n in graph}


def _all_kernels(op: str, device_type: str) -> bool:
    return True


def test_full_device_names_fill_job_replica_task_and_index():
    assert full_device_name("cpu:1") == CPU + "1"
    assert full_device_name("/device:GPU:0") == GPU + "0"
    assert full_device_name("/gpu") == GPU + "0"
    for bad in ("/job:localhost", "/job:@@@/gpu:banana", "cpu:x"):
        with pytest.raises(GraphError):
            full_device_name(bad)


REQUESTS = """
%x:0 f32[64,64] = Placeholder() dtype=f32 shape=shape[64,64]
%a:0 f32[64,64] @/cpu:1 = Exp(%x:0) T=f32
%b:0 f32[64,64] @/job:localhost/device:CPU:* = Neg(%a:0) T=f32
%c:0 f32[64,64] @/device:CPU:0 = Tanh(%b:0) T=f32
"""


def test_requests_full_and_partial_become_canonical_and_the_pass_is_idempotent():
    graph = parse_graph(REQUESTS)
    original = graph_to_graph_def(graph)
    ctx = PassContext(fetches=["c:0"], devices=TWO)
    result = place(graph, ctx)
    assert result.modified
    # b may go to either CPU: the cost model keeps it with its input a (no transfer)
    assert _devices(graph) == {"x": CPU + "1", "a": CPU + "1", "b": CPU + "1", "c": CPU + "0"}
    assert any(note.startswith("placed b (Neg) on CPU:1: est.") for note in ctx.notes)
    validate(graph)
    assert check_equivalent(original, graph_to_graph_def(graph), ["c:0"]).ok
    again = place(graph, PassContext(fetches=["c:0"], devices=TWO))
    assert not again.modified and again.stats == {}


def test_without_devices_everything_goes_to_cpu0():
    graph = parse_graph(REQUESTS.replace("@/cpu:1", "").replace("@/device:CPU:0", ""))
    place(graph, PassContext(fetches=["c:0"]))
    assert set(_devices(graph).values()) == {DEFAULT_DEVICE}


COLOCATION = """
%x:0 f32[2] = Placeholder() dtype=f32 shape=shape[2]
%a:0 f32[2] @/device:CPU:1 = Exp(%x:0) T=f32
%b:0 f32[2] = Neg(%x:0) T=f32 _class=["loc:@a"]
%c:0 f32[2] = Tanh(%x:0) T=f32 _class=["loc:@nowhere"]
%d:0 f32[2] @/device:CPU:0 = Sin(%x:0) T=f32 _class=["loc:@nowhere"]
"""


def test_class_attrs_colocate_with_the_named_node_or_each_other():
    graph = parse_graph(COLOCATION)
    place_graph(graph, TWO)
    assert graph.node("b").device == graph.node("a").device == CPU + "1"
    assert graph.node("c").device == graph.node("d").device == CPU + "0"


VARIABLES = """
%init:0 f32[3] = Const() dtype=f32 value=f32[3]{1.0, 2.0, 3.0}
%v:0 res[] @/device:CPU:0 = VarHandleOp() dtype=f32 shape=shape[3] shared_name="v"
%h:0 res[] = Identity(%v:0) T=res
%assign @/device:CPU:1 = AssignVariableOp(%h:0, %init:0) dtype=f32
%read:0 f32[3] @/device:CPU:1 = ReadVariableOp(%v:0) dtype=f32
%r:0 f32&[3] = VariableV2() dtype=f32 shape=shape[3]
%rassign:0 f32&[3] = Assign(%r:0, %init:0) T=f32
%rread:0 f32[3] @/device:CPU:1 = Identity(%r:0) T=f32
"""


def test_resource_and_reference_edges_colocate_and_the_variable_wins_softly():
    graph = parse_graph(VARIABLES)
    report = place_graph(graph, TWO)
    groups = colocation_groups(graph)
    assert groups.find(graph.node("assign")) is groups.find(graph.node("v"))
    assert {graph.node(n).device for n in ("v", "h", "assign", "read")} == {CPU + "0"}
    assert graph.node("r").device == graph.node("rassign").device == graph.node("rread").device
    assert any("soft placement: cannot colocate node" in n and "resource edge" in n
               for n in report.notes)
    assert report.stats["soft_placed"] >= 2


def test_colocation_conflicts_are_errors_naming_both_nodes_without_soft_placement():
    graph = parse_graph(VARIABLES)
    with pytest.raises(GraphError, match=r"cannot colocate node '(assign|read)' .*"
                                         r"with node 'v' .*soft placement is off"):
        place_graph(graph, TWO, allow_soft_placement=False)


MISSING = """
%x:0 f32[2] = Placeholder() dtype=f32 shape=shape[2]
%y:0 f32[2] @/device:GPU:0 = Relu(%x:0) T=f32
"""


def test_a_missing_device_falls_back_softly_or_is_an_error():
    graph = parse_graph(MISSING)
    report = place_graph(graph, ["cpu:0"])
    assert graph.node("y").device == CPU + "0"
    assert any("requests device '/device:GPU:0', which matches none" in n for n in report.notes)
    with pytest.raises(GraphError, match="'y' .*'/device:GPU:0'.*soft placement is off"):
        place_graph(parse_graph(MISSING), ["cpu:0"], allow_soft_placement=False)


def test_an_op_without_a_kernel_on_the_requested_device_moves_to_one_that_has_it():
    graph = parse_graph(MISSING)

    def no_gpu_relu(op: str, device_type: str) -> bool:
        return not (op == "Relu" and device_type == "GPU")
    report = place_graph(graph, ["cpu:0", "gpu:0"], has_kernel=no_gpu_relu)
    assert graph.node("y").device == CPU + "0"
    assert any("op Relu (node 'y') has no kernel on ['GPU']" in n for n in report.notes)
    with pytest.raises(GraphError, match="no kernel"):
        place_graph(parse_graph(MISSING), ["cpu:0", "gpu:0"], allow_soft_placement=False,
                    has_kernel=no_gpu_relu)


def test_zero_devices_and_malformed_requests_are_errors():
    with pytest.raises(GraphError, match="zero devices"):
        place_graph(parse_graph(MISSING), [])
    graph = parse_graph(MISSING)
    graph.node("y").device = "/job:@@@/gpu:banana"
    with pytest.raises(GraphError, match="node 'y' \\(Relu\\): malformed device"):
        place_graph(graph, ["cpu:0"])


COSTS = """
%x:0 f32[1024,1024] = Placeholder() dtype=f32 shape=shape[1024,1024]
%w:0 f32[1024,1024] = Placeholder() dtype=f32 shape=shape[1024,1024]
%mm:0 f32[1024,1024] = MatMul(%x:0, %w:0) T=f32
%shape:0 i32[2] = Shape(%mm:0) T=f32 out_type=i32
%tiny:0 i32[2] = Mul(%shape:0, %shape:0) T=i32
%s:0 f32[4] = Placeholder() dtype=f32 shape=shape[4]
%small:0 f32[4] = Neg(%s:0) T=f32
%out:0 f32[4] @/device:CPU:0 = Exp(%small:0) T=f32
%r:0 f32[?,?] @/device:CPU:0 = Reshape(%mm:0, %tiny:0) T=f32 Tshape=i32
"""


def test_the_cost_model_sends_big_matmuls_to_the_gpu_and_keeps_small_ops_with_consumers():
    graph = parse_graph(COSTS)
    report = place_graph(graph, ["cpu:0", "gpu:0"], has_kernel=_all_kernels)
    placed = _devices(graph)
    assert placed["mm"] == GPU + "0" and placed["w"] == placed["x"] == GPU + "0"
    assert placed["shape"] == GPU + "0"                 # shape op: with its input
    assert placed["tiny"] == CPU + "0"                  # tiny op: with its consumer r
    assert placed["small"] == placed["s"] == CPU + "0"  # follows out
    decision = next(d for d in report.decisions if d.node == "mm")
    assert decision.reason == "cost" and decision.alternatives[CPU + "0"] > decision.finish_s
    assert report.estimated_step_s > 0 and report.stats["estimated_step_us"] > 0
    assert any(n.startswith("placed mm (MatMul) on GPU:0") for n in report.notes)


def test_independent_branches_spread_over_virtual_cpus():
    graph = parse_graph("""
    %x:0 f32[512,512] = Placeholder() dtype=f32 shape=shape[512,512]
    %a:0 f32[512,512] = MatMul(%x:0, %x:0) T=f32
    %b:0 f32[512,512] = MatMul(%x:0, %x:0) T=f32 transpose_a=true
    """)
    place_graph(graph, TWO)
    assert {graph.node("a").device, graph.node("b").device} == {CPU + "0", CPU + "1"}


def test_without_the_cost_model_unconstrained_nodes_take_the_first_candidate():
    graph = parse_graph(COSTS)
    place_graph(graph, ["cpu:0", "gpu:0"], use_cost_model=False, has_kernel=_all_kernels)
    assert graph.node("mm").device == CPU + "0"


def test_cost_model_numbers():
    graph = parse_graph(COSTS)
    mm = graph.node("mm")
    assert op_cost(mm).flops == 2 * 1024 ** 3
    assert tensor_bytes(mm.output(0)) == 4 << 20
    assert compute_seconds(op_cost(mm), "GPU") < compute_seconds(op_cost(mm), "CPU")
    shape_cost = op_cost(graph.node("shape"))   # reads no input values: 8 bytes written
    assert shape_cost.flops == 0 and shape_cost.bytes == 8
    assert compute_seconds(shape_cost, "CPU") == pytest.approx(PROFILES["CPU"].launch_s, 1e-3)
    assert transfer_seconds(1 << 20, "CPU", "GPU", same_device=True) == 0.0
    assert transfer_seconds(1 << 20, "CPU", "GPU") > transfer_seconds(1, "CPU", "GPU")


def test_control_flow_stays_on_one_device():
    graph = parse_graph("""
    %x:0 f32[2] = Placeholder() dtype=f32 shape=shape[2]
    %p:0 bool[] = Placeholder() dtype=bool shape=shape[]
    %sw:0 f32[2], %sw:1 f32[2] = Switch(%x:0, %p:0) T=f32
    %t:0 f32[2] @/device:CPU:1 = Neg(%sw:1) T=f32
    %f:0 f32[2] @/device:CPU:0 = Exp(%sw:0) T=f32
    %m:0 f32[2], %m:1 i32[] = Merge(%f:0, %t:0) T=f32 N=2
    %after:0 f32[2] = Tanh(%m:0) T=f32
    """)
    report = place_graph(graph, TWO)
    assert len({graph.node(n).device for n in ("sw", "t", "f", "m", "after")}) == 1
    assert any("v1 control flow" in n for n in report.notes)


def test_the_pass_runs_in_a_pipeline_and_format_placement_lists_nodes_by_device():
    graph_def = graph_to_graph_def(parse_graph(REQUESTS))
    optimized, report = passes.optimize(graph_def, fetches=["c:0"], pipeline=["place"],
                                        devices=TWO)
    assert report.iterations == 2 and report.rewrites()["place"]["placed_fixed"] == 2
    assert {n.device for n in optimized.node} == {CPU + "0", CPU + "1"}
    graph = parse_graph(REQUESTS)
    place_graph(graph, TWO)
    text = format_placement(graph)
    assert text.splitlines()[0] == f"{CPU}0  (1 node)"
    assert text.splitlines()[2] == f"{CPU}1  (3 nodes)"
    assert "  x  Placeholder" in text
