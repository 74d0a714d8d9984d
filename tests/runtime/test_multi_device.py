"""MultiDeviceSession: graphs split over virtual CPU devices give the single-device results.

    MultiDeviceSession(graph, devices=["cpu:0", "cpu:1"]).run("y:0", feeds) == Session(...).run

Also: the rendezvous (TF key form, blocking recv, abort wakes waiters), the kill switch (a
kernel failing in one partition ends the step at once while another waits in a _Recv), device
names, TF fixtures split by node name, and the MobileNetV2 acceptance test.
"""
from __future__ import annotations

import json
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runtime
from passes.partition import SEND_OPS, RECV_OPS, check_partitions, copy_graph
from runtime.devices import resolve_devices
from runtime.multi_device import MultiDeviceSession, load_multi_device
from runtime.rendezvous import LocalRendezvous, StepAborted, make_key, parse_key
from schema.dtypes import DType
from schema.errors import ExecutionError, GraphError
from schema.io import read_graph_def
from schema.ir import Graph
from schema.serde import graph_from_graph_def
from schema.text import parse_graph
from schema.validate import validate
from mobilenet_blocks import block_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tf"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
CPU = "/job:localhost/replica:0/task:0/device:CPU:"
HANG_GUARD_S = 30.0


def _on(graph: Graph, assign) -> Graph:
    """``graph`` with node.device = assign(node) (a device string or "")."""
    for node in graph:
        node.device = assign(node)
    return graph


def _run_both(graph: Graph, devices, fetches, feeds):
    multi = MultiDeviceSession(graph, devices=devices).run(fetches, feeds)
    single = runtime.load(graph).run(fetches, feeds)
    return multi, single


# -- rendezvous ---------------------------------------------------------------------------------

def test_rendezvous_key_has_tensorflows_form():
    key = make_key(CPU + "0", 1, CPU + "1", "edge_5_x")
    assert key == f"{CPU}0;1;{CPU}1;edge_5_x;0:0"
    assert parse_key(key) == {"send_device": CPU + "0", "incarnation": 1,
                              "recv_device": CPU + "1", "tensor_name": "edge_5_x",
                              "frame_iter": (0, 0)}
    with pytest.raises(ExecutionError, match="malformed rendezvous key"):
        parse_key("a;b;c")


def test_recv_blocks_until_the_send_arrives_from_another_thread():
    rdv, key = LocalRendezvous(), make_key(CPU + "0", 1, CPU + "1", "t")
    timer = threading.Timer(0.05, rdv.send, (key, np.arange(3)))
    timer.start()
    np.testing.assert_array_equal(rdv.recv(key, timeout=HANG_GUARD_S), np.arange(3))
    assert rdv.pending() == []
    with pytest.raises(ExecutionError, match="sent twice"):
        rdv.send(key, 1)


def test_abort_wakes_every_waiter_with_the_root_cause():
    rdv = LocalRendezvous(step_id=3)
    errors: list = []

    def wait(name):
        try:
            rdv.recv(make_key(CPU + "0", 1, CPU + "1", name))
        except StepAborted as err:
            errors.append(err)
    threads = [threading.Thread(target=wait, args=(f"t{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    rdv.abort(ValueError("boom"))
    rdv.abort(KeyError("later errors are not the root cause"))
    for t in threads:
        t.join(HANG_GUARD_S)
    assert not any(t.is_alive() for t in threads)
    assert len(errors) == 3 and all("boom" in str(e) for e in errors)
    assert isinstance(rdv.error, ValueError)


def test_recv_fails_when_its_sender_finished_without_sending_and_on_timeout():
    rdv = LocalRendezvous()
    rdv.sender_done(CPU + "0")
    with pytest.raises(ExecutionError, match="finished without sending"):
        rdv.recv(make_key(CPU + "0", 1, CPU + "1", "t"))
    with pytest.raises(ExecutionError, match="timed out"):
        rdv.recv(make_key(CPU + "2", 1, CPU + "1", "t"), timeout=0.01)


# -- devices ------------------------------------------------------------------------------------

def test_device_names_become_canonical_and_bad_ones_are_refused():
    devices = resolve_devices(["cpu:0", "/device:CPU:1", "/job:localhost/cpu:2"])
    assert [d.name for d in devices] == [CPU + "0", CPU + "1", CPU + "2"]
    assert [d.virtual for d in devices] == [False, True, True]
    for bad, message in [([], "zero devices"), (["/job:@@@/gpu:banana"], "malformed"),
                         (["cpu:0", "CPU:0"], "named twice"), (["tpu:0"], "unsupported"),
                         (["/job:worker/cpu:0"], "localhost"), (["/replica:0"], "no device")]:
        with pytest.raises(GraphError, match=message):
            resolve_devices(bad)
    with pytest.raises(GraphError, match="zero devices"):
        MultiDeviceSession(parse_graph("%x:0 f32[] = Placeholder() dtype=f32 shape=shape[]"),
                           devices=[])


# -- edge kinds ---------------------------------------------------------------------------------

EDGES = """
%x:0 f32[2,3] @/device:CPU:0 = Placeholder() dtype=f32 shape=shape[2,3]
%a:0 f32[2,3] @/device:CPU:0 = Exp(%x:0) T=f32
%b:0 f32[2,3] @/device:CPU:1 = Neg(%a:0) T=f32
%c:0 f32[2,3] @/device:CPU:1 = Tanh(%a:0) T=f32
%d:0 f32[2,3] @/device:CPU:0 = AddV2(%b:0, %c:0) T=f32
%e @/device:CPU:1 = NoOp(^%d)
"""


def test_data_control_and_chained_edges_give_single_device_results(rng):
    graph = parse_graph(EDGES)
    feeds = {"x:0": rng.random((2, 3), np.float32)}
    multi, single = _run_both(graph, ["cpu:0", "cpu:1"], ["d:0", "b:0", "e"], feeds)
    np.testing.assert_array_equal(multi[0], single[0])
    np.testing.assert_array_equal(multi[1], single[1])
    assert multi[2] is None
    sess = MultiDeviceSession(graph, devices=["cpu:0", "cpu:1"])
    recvs = [n for n in sess.placed_graph if n.op in RECV_OPS]
    assert sorted(n.attrs["tensor_name"] for n in recvs) == \
        ["edge_1_a", "edge_2_b", "edge_3_c", "edge_4_d"]  # a: one Recv for b and c
    assert graph.node("a").device == "/device:CPU:0"  # the caller's graph is left as it was
    assert not any(n.op in SEND_OPS for n in graph)


def test_fetch_and_feed_on_a_non_default_device(rng):
    graph = parse_graph(EDGES)
    b = rng.random((2, 3), np.float32)
    sess = MultiDeviceSession(graph, devices=["cpu:0", "cpu:1"])
    # b (CPU:1) fed: CPU:1 computes nothing for d but sends the fed value; x is not needed.
    got = sess.run(["d:0", "b:0"], {"b:0": b, "c:0": b})
    np.testing.assert_array_equal(got[0], b + b)
    np.testing.assert_array_equal(got[1], b)


def test_resource_variable_state_across_devices_and_runs():
    graph = parse_graph("""
    %init:0 f32[3] = Const() dtype=f32 value=f32[3]{1.0, 2.0, 3.0}
    %v:0 res[] @/device:CPU:0 = VarHandleOp() dtype=f32 shape=shape[3] shared_name="v"
    %assign @/device:CPU:1 = AssignVariableOp(%v:0, %init:0) dtype=f32
    %one:0 f32[3] = Const() dtype=f32 value=f32[3]{1.0, 1.0, 1.0}
    %inc @/device:CPU:1 = AssignAddVariableOp(%v:0, %one:0) dtype=f32
    %read:0 f32[3] @/device:CPU:1 = ReadVariableOp(%v:0) dtype=f32
    %y:0 f32[3] @/device:CPU:1 = Square(%read:0) T=f32
    """)
    sess = MultiDeviceSession(graph, devices=["cpu:0", "cpu:1"])
    assert {n.device for n in sess.placed_graph if n.name in ("v", "assign", "inc", "read")} \
        == {CPU + "0"}  # resource edges colocate with the variable
    sess.run("assign")
    sess.run("inc")
    np.testing.assert_array_equal(sess.run("y:0"), np.array([4, 9, 16], np.float32))
    assert any("soft placement" in note for note in sess.placement_report.notes)


# -- kill switch --------------------------------------------------------------------------------

FAILING = """
%x:0 f32[2,3] @/device:CPU:0 = Placeholder() dtype=f32 shape=shape[2,3]
%shape:0 i32[1] @/device:CPU:0 = Placeholder() dtype=i32 shape=shape[1]
%bad:0 f32[?] @/device:CPU:0 = Reshape(%x:0, %shape:0) T=f32 Tshape=i32
%y:0 f32[?] @/device:CPU:1 = Neg(%bad:0) T=f32
%z:0 f32[2,3] @/device:CPU:2 = Tanh(%x:0) T=f32
%w:0 f32[?] @/device:CPU:2 = Sin(%y:0) T=f32
"""


def test_a_failing_kernel_aborts_the_step_on_every_device(rng):
    """CPU:1 and CPU:2 wait in a _Recv for what CPU:0 never sends: the step ends with CPU:0's
    error, naming the node and its device."""
    sess = MultiDeviceSession(parse_graph(FAILING), devices=["cpu:0", "cpu:1", "cpu:2"])
    feeds = {"x:0": rng.random((2, 3), np.float32), "shape:0": np.array([7], np.int32)}
    outcome: dict = {}

    def step():
        try:
            sess.run(["w:0", "z:0"], feeds)
        except BaseException as err:  # noqa: BLE001 (the test inspects it)
            outcome["error"] = err
    thread = threading.Thread(target=step)
    thread.start()
    thread.join(HANG_GUARD_S)
    assert not thread.is_alive(), "the step hung after a kernel failed"
    error = outcome["error"]
    assert isinstance(error, ExecutionError) and not isinstance(error, StepAborted)
    assert "'bad'" in str(error) and f"{CPU}0" in str(error) and "Reshape" in str(error)
    # the session stays usable: the next step with good feeds runs
    feeds["shape:0"] = np.array([6], np.int32)
    got = sess.run(["w:0", "z:0"], feeds)
    np.testing.assert_allclose(got[0], np.sin(-feeds["x:0"].reshape(6)), rtol=1e-6)


# -- random graphs ------------------------------------------------------------------------------

UNARY = ["Neg", "Tanh", "Abs", "Square", "Sin"]
BINARY = ["AddV2", "Mul", "Sub", "Maximum"]


@st.composite
def random_graphs(draw):
    """(graph, fetches, device count): 2 placeholders, 3-12 ops, random devices (some left
    to the placer) and a few control edges."""
    n_devices = draw(st.sampled_from([2, 3]))
    device = st.sampled_from([""] + [f"/device:CPU:{i}" for i in range(n_devices)])
    lines = [f"%p{i}:0 f32[3,4] @{draw(device) or '/device:CPU:0'} = Placeholder() dtype=f32 "
             f"shape=shape[3,4]" for i in range(2)]
    names = ["p0", "p1"]
    for k in range(draw(st.integers(3, 12))):
        binary = draw(st.booleans())
        op = draw(st.sampled_from(BINARY if binary else UNARY))
        args = [f"%{draw(st.sampled_from(names))}:0" for _ in range(2 if binary else 1)]
        if draw(st.integers(0, 4)) == 0:
            args.append(f"^%{draw(st.sampled_from(names))}")
        where = draw(device)
        lines.append(f"%n{k}:0 f32[3,4]{' @' + where if where else ''} = {op}({', '.join(args)}) "
                     f"T=f32")
        names.append(f"n{k}")
    fetches = draw(st.lists(st.sampled_from(names[2:]), min_size=1, max_size=3, unique=True))
    return parse_graph("\n".join(lines)), [f"{f}:0" for f in fetches], n_devices


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs())
def test_random_graphs_on_2_and_3_devices_match_one_device(case):
    graph, fetches, n_devices = case
    rng = np.random.default_rng(1)
    feeds = {"p0:0": rng.uniform(-2, 2, (3, 4)).astype(np.float32),
             "p1:0": rng.uniform(-2, 2, (3, 4)).astype(np.float32)}
    devices = [f"cpu:{i}" for i in range(n_devices)]
    sess = MultiDeviceSession(graph, devices=devices)
    got = sess.run(fetches, feeds)
    want = runtime.load(graph).run(fetches, feeds)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    check_partitions(sess.partitions)
    for part in sess.partitions.values():
        assert len({n.device for n in part}) == 1


# -- TensorFlow fixtures ------------------------------------------------------------------------

def _split_by_name(graph: Graph, n: int = 2) -> Graph:
    """Each node on CPU:(crc32(name) % n): a scattered, edge-heavy split."""
    return _on(graph, lambda node: f"/device:CPU:{zlib.crc32(node.name.encode()) % n}")


def _fixture_steps(name: str) -> list[dict]:
    entry = MANIFEST[name]
    steps = [{"feeds": entry["feeds"], "targets": [], "fetches": entry["fetches"]}]
    return steps + entry.get("sequence", [])


@pytest.mark.parametrize("name", sorted(n for n in MANIFEST if n != "mobilenet_v2"))
def test_tf_fixtures_split_over_two_devices_give_tensorflows_outputs(name):
    data = np.load(FIXTURES / f"{name}.npz")
    graph = _split_by_name(graph_from_graph_def(read_graph_def(FIXTURES / f"{name}.pb")))
    sess = MultiDeviceSession(graph, devices=["cpu:0", "cpu:1"])
    if MANIFEST[name]["targets"]:
        sess.run(["^" + t for t in MANIFEST[name]["targets"]])
    for step in _fixture_steps(name):
        feeds = {tensor: data[key] for tensor, key in step["feeds"].items()}
        fetches = list(step["fetches"])
        got = sess.run(fetches + ["^" + t for t in step["targets"]], feeds)
        for tensor, value in zip(fetches, got):
            want = data[step["fetches"][tensor]]
            assert np.asarray(value).dtype == want.dtype, tensor
            np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6, err_msg=tensor)
    check_partitions(sess.partitions)


CONTROL_FLOW = FIXTURES / "control_flow"
CONTROL_FLOW_MANIFEST = json.loads((CONTROL_FLOW / "manifest.json").read_text())


@pytest.mark.parametrize("name", sorted(CONTROL_FLOW_MANIFEST))
def test_control_flow_fixtures_split_over_two_devices_give_tensorflows_outputs(name):
    """Scattered requests: the control flow and what follows a Switch stay on one device
    (soft placement), the rest runs where asked; each step in a fresh session."""
    entry, data = CONTROL_FLOW_MANIFEST[name], np.load(CONTROL_FLOW / f"{name}.npz")
    for step in [entry] + entry["sequence"]:
        graph = _split_by_name(graph_from_graph_def(read_graph_def(CONTROL_FLOW / f"{name}.pb")))
        sess = MultiDeviceSession(graph, devices=["cpu:0", "cpu:1"])
        sess.run(["^" + t for t in entry["targets"]])
        feeds = {tensor: data[key] for tensor, key in step["feeds"].items()}
        for (tensor, key), got in zip(step["fetches"].items(),
                                      sess.run(list(step["fetches"]), feeds)):
            np.testing.assert_allclose(got, data[key], rtol=1e-5, atol=1e-6, err_msg=tensor)
    assert len(sess.partitions) == 2
    check_partitions(sess.partitions)


def test_mobilenet_v2_split_in_two_matches_one_device():
    data = np.load(FIXTURES / "mobilenet_v2.npz")
    entry = MANIFEST["mobilenet_v2"]
    graph = graph_from_graph_def(read_graph_def(FIXTURES / "mobilenet_v2.pb"))
    _on(graph, lambda node: f"/device:CPU:{int(block_of(node.name) >= 9)}")
    devices = {node.device for node in graph}
    assert devices == {"/device:CPU:0", "/device:CPU:1"}
    feeds = {t: data[k] for t, k in entry["feeds"].items()}
    fetches = list(entry["fetches"])
    sess = load_multi_device(graph, ["cpu:0", "cpu:1"])
    got = sess.run(fetches, feeds)
    want = runtime.load(graph).run(fetches, feeds)
    for tensor, g, w in zip(fetches, got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=tensor)
        np.testing.assert_allclose(g, data[entry["fetches"][tensor]], rtol=1e-4, atol=1e-5)
    parts = sess.partitions
    assert sorted(parts) == [CPU + "0", CPU + "1"]
    assert min(len(p) for p in parts.values()) > 200          # about half of the layers each
    check_partitions(parts)                                    # every _Send has its _Recv
    sends = [n for p in parts.values() for n in p if n.op in SEND_OPS]
    assert sends and len(sends) == sum(n.op in RECV_OPS for p in parts.values() for n in p)
    for part in parts.values():
        validate(copy_graph(part))
    assert all(n.out_types[0] == DType.FLOAT for p in parts.values() for n in p
               if n.op in RECV_OPS)


def test_a_gpu_partition_through_runtime_gpu_on_the_fake_gpu(monkeypatch, rng):
    """CPU -> GPU -> CPU with the cost model choosing: values cross in host memory."""
    monkeypatch.setenv("GCC_FLOW_FAKE_GPU", "1")
    graph = parse_graph("""
    %x:0 f32[256,256] = Placeholder() dtype=f32 shape=shape[256,256]
    %lx:0 f32[256,256] = Lgamma(%x:0) T=f32
    %mm:0 f32[256,256] = MatMul(%lx:0, %lx:0) T=f32
    %out:0 f32[256,256] = Lgamma(%mm:0) T=f32
    """)
    sess = MultiDeviceSession(graph, devices=["cpu:0", "gpu:0"])
    x = rng.uniform(1, 2, (256, 256)).astype(np.float32)
    got = sess.run(["out:0", "mm:0"], {"x:0": x})
    want = runtime.load(graph).run(["out:0", "mm:0"], {"x:0": x})
    for g, w in zip(got, want):
        assert type(g) is np.ndarray
        np.testing.assert_allclose(g, w, rtol=1e-5)
    placed = {n.name: n.device for n in sess.placed_graph}
    assert placed["mm"].endswith("GPU:0") and placed["lx"].endswith("CPU:0")  # no GPU Lgamma
    check_partitions(sess.partitions)
    with pytest.raises(GraphError, match="no such GPU"):
        resolve_devices(["gpu:1"])


def test_cpu_devices_never_import_cupy():
    import subprocess
    import sys
    code = ("import sys, runtime.devices as d; d.resolve_devices(['cpu:0', 'cpu:1']); "
            "import runtime.multi_device; print('cupy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
