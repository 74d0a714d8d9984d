"""The xp refactor of the kernels, on the CPU: the kernel table's devices and memory annotations,
the CPU fast path, GPU placement, and every GPU body run on runtime/gpu_fake.py (numpy behind
cupy's rules: no implicit host copies, no numpy arrays into device functions) against the numpy
kernel. tests/gpu runs the same cases on a real GPU.

    KERNELS.lookup("Add", "gpu") -> the same factory as on the CPU; its CPU kernel is np.add
    runtime.load(graph, device="gpu") under GCC_FLOW_FAKE_GPU=1 runs MobileNetV2 with only the
    fetch copied back
"""
from __future__ import annotations

import gc
import sys
from pathlib import Path

import numpy as np
import pytest

import gcc_flow as gf
import runtime
from gcc_flow.framework import apply_op
from runtime import gpu_fake
from runtime.gpu import (DeviceHooks, DeviceOutOfMemoryError, GpuBackend, _ConstCache,
                         compile_for_device, device_kind, gpu_node_info)
from runtime.kernels import BOTH, KERNELS, KernelContext, KernelTable, compile_node, kernel
from schema.errors import GccFlowError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gpu"))
from gpu_op_cases import CASES, build_node, flat_inputs  # noqa: E402

FAKE = GpuBackend(gpu_fake)
ALL_CASES = [c for op in sorted(CASES) for c in CASES[op]]


# -- the kernel table -----------------------------------------------------------------------------

def test_a_kernel_registered_for_both_devices_is_one_factory():
    table = KernelTable()
    factory = lambda ctx: None  # noqa: E731
    table.register("Op", factory, "cpu", host_inputs=(1, -1))
    table.register("Op", factory, "gpu", host_inputs=(1, -1))
    assert table.lookup("Op", "gpu") is table.lookup("Op", "cpu") is factory
    info = table.info("Op", "gpu")
    assert [i for i in range(4) if info.is_host_input(i, 4)] == [1, 3]
    with pytest.raises(ValueError, match="registered twice"):
        table.register("Op", factory, "gpu")


def test_any_kernels_serve_the_gpu_and_cpu_only_ops_do_not():
    assert KERNELS.lookup("Identity", "gpu") is KERNELS.lookup("Identity", "cpu")
    assert {"Const", "Conv2D", "MatMul", "Reshape"} <= KERNELS.ops("gpu")
    for op in ("Lgamma", "Digamma", "RandomUniform", "SaveV2", "VariableV2"):
        assert KERNELS.lookup(op, "gpu") is None and KERNELS.lookup(op, "cpu") is not None
    assert KERNELS.info("Shape", "gpu").host_outputs and KERNELS.info("Shape", "gpu").shape_only
    assert KERNELS.info("Reshape", "gpu").host_inputs == (1,)


def test_the_cpu_fast_path_returns_numpy_ufuncs_themselves():
    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [3], name="x")
        gf.negative(x, name="neg")
        gf.add(x, x, name="add")
    for name, ufunc in (("neg", np.negative), ("add", np.add)):
        assert compile_node(KernelContext(node=g.ir.node(name))) is ufunc


def test_kernel_decorator_takes_a_device_tuple():
    table_before = set(KERNELS.ops("gpu"))
    kernel("_TestOnlyOp", device=BOTH, host_inputs=(0,))(lambda ctx: None)
    try:
        assert KERNELS.info("_TestOnlyOp", "cpu").host_inputs == (0,)
        assert "_TestOnlyOp" in KERNELS.ops("gpu") - table_before
    finally:
        for dev in BOTH:
            KERNELS._infos.pop(("_TestOnlyOp", dev))


# -- placement ------------------------------------------------------------------------------------

def _node(build):
    g = gf.Graph()
    with g.as_default():
        build()
    return g.ir.node("n")


@pytest.mark.parametrize("build,on_gpu", [
    (lambda: gf.add(gf.constant([1.0]), gf.constant([2.0]), name="n"), True),
    (lambda: gf.add(gf.constant([1]), gf.constant([2]), name="n"), False),         # int32: host
    (lambda: gf.add(gf.constant([1], gf.int64), gf.constant([2], gf.int64), name="n"), True),
    (lambda: gf.constant([1, 2], name="n"), False),
    (lambda: gf.constant([1.0, 2.0], name="n"), True),
    (lambda: gf.cast(gf.constant([1.0]), gf.bfloat16, name="n"), False),           # no bfloat16
    (lambda: gf.shape(gf.placeholder(gf.float32, [None]), name="n"), True),        # host output
    (lambda: apply_op("Lgamma", [gf.constant([1.5])], name="n"), False),           # no GPU body
    (lambda: gf.greater(gf.constant([1]), gf.constant([0]), name="n"), True),      # bool out
])
def test_gpu_placement(build, on_gpu):
    assert (gpu_node_info(_node(build)) is not None) == on_gpu


@pytest.mark.parametrize("text,kind", [("cpu", ("cpu", 0)), ("/device:GPU:0", ("gpu", 0)),
                                       ("gpu", ("gpu", 0)), ("GPU:1", ("gpu", 1)),
                                       ("cuda:0", ("gpu", 0))])
def test_device_kind(text, kind):
    assert device_kind(text) == kind


def test_bad_devices_are_refused():
    with pytest.raises(GccFlowError, match="unsupported device"):
        device_kind("/gpu:banana")
    assert compile_for_device(None, "cpu") is None
    with pytest.raises(GccFlowError, match="only GPU:0"):
        compile_for_device(None, "gpu:1", backend=FAKE)


def test_const_inputs_convert_once():
    calls = []
    cache = _ConstCache(lambda v: calls.append(v) or v * 2)
    value = np.ones(2)
    assert cache(value) is cache(value) and len(calls) == 1
    cache(np.zeros(2))
    assert len(calls) == 2


# -- the fake GPU behaves like cupy ---------------------------------------------------------------

def test_fake_gpu_refuses_what_cupy_refuses():
    a = gpu_fake.asarray(np.arange(6.0).reshape(2, 3))
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="Unsupported type"):
        gpu_fake.add(a, np.ones(3))
    with pytest.raises(TypeError, match="Unsupported type"):
        np.ones(3) + a
    with pytest.raises(NotImplementedError):
        gpu_fake.maximum.reduce(a)
    assert isinstance(np.maximum(a, 1.0), gpu_fake.ndarray)          # __array_ufunc__
    assert isinstance(np.where(a > 2, a, 0.0), gpu_fake.ndarray)      # __array_function__
    np.testing.assert_array_equal(a.sum(axis=0).get(), [3.0, 5.0, 7.0])


def test_fake_gpu_counts_memory_and_runs_out():
    pool = gpu_fake.get_default_memory_pool()
    gc.collect()
    before = pool.used_bytes()
    a = gpu_fake.zeros((256,), np.float32)
    assert pool.used_bytes() == before + 1024
    del a
    assert pool.used_bytes() == before
    pool.set_limit(size=before + 100)
    try:
        with pytest.raises(MemoryError):
            gpu_fake.zeros((256,), np.float32)
    finally:
        pool.set_limit(size=0)


# -- every GPU body on the fake GPU ---------------------------------------------------------------

@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_gpu_body_on_fake_gpu_matches_numpy(case):
    node = build_node(case)
    inputs = [np.asarray(a) for a in flat_inputs(case)]
    want = compile_node(KernelContext(node=node))(*inputs)
    got = DeviceHooks(FAKE).device_kernel(node)(*[FAKE.to_device(a) for a in inputs])
    want = list(want) if isinstance(want, (list, tuple)) else [want]
    got = list(got) if isinstance(got, (list, tuple)) else [got]
    for g, w in zip(got, want, strict=True):
        g, w = np.asarray(FAKE.to_host(g)), np.asarray(w)
        assert (g.dtype, g.shape) == (w.dtype, w.shape)
        np.testing.assert_allclose(g, w, rtol=case.rtol, atol=case.atol, equal_nan=True)


# -- sessions on the fake GPU ---------------------------------------------------------------------

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tf"


@pytest.fixture
def fake_gpu(monkeypatch) -> GpuBackend:
    """GCC_FLOW_FAKE_GPU=1 for this test: runtime.load(..., device="gpu") runs on the backend
    returned (the fake GPU's default, which every GPU session of the test shares)."""
    monkeypatch.setenv("GCC_FLOW_FAKE_GPU", "1")
    backend = GpuBackend.default()
    assert backend.fake
    return backend


def test_mobilenet_v2_on_the_fake_gpu_copies_back_only_the_fetch(fake_gpu, monkeypatch):
    downloads = []
    real = fake_gpu.to_host
    monkeypatch.setattr(fake_gpu, "to_host", lambda v: (
        downloads.append(isinstance(v, gpu_fake.ndarray)), real(v))[1])
    data = np.load(FIXTURES / "mobilenet_v2.npz")
    sess = runtime.load(FIXTURES / "mobilenet_v2.pb", device="gpu")
    assert sess._device_hooks.backend is fake_gpu and sess.device == "/device:GPU:0"
    got = sess.run("Identity:0", {"input:0": data["feed_0"]})
    np.testing.assert_allclose(got, data["fetch_0"], rtol=1e-4, atol=1e-5)  # im2col sums
    assert downloads.count(True) == 1


def test_out_of_memory_on_the_fake_gpu_releases_the_run(fake_gpu):
    g = gf.Graph()
    with g.as_default():
        dims = gf.placeholder(gf.int32, [2], name="dims")
        total = gf.reduce_sum(gf.fill(dims, 1.5, name="big") * 2.0)
    sess = runtime.load(g.ir, device="gpu")
    assert float(sess.run(total, {"dims:0": [2, 3]})) == 18.0
    gc.collect()
    baseline = fake_gpu.used_bytes()
    fake_gpu.pool.set_limit(size=baseline + 4096)
    try:
        with pytest.raises(DeviceOutOfMemoryError, match=r"out of GPU memory: node 'big'"):
            sess.run(total, {"dims:0": [100, 100]})
        gc.collect()
        assert fake_gpu.used_bytes() == baseline
    finally:
        fake_gpu.pool.set_limit(size=0)
    assert float(sess.run(total, {"dims:0": [4, 4]})) == 48.0


def test_resource_variables_live_on_the_device_between_runs(fake_gpu):
    g = gf.Graph()
    with g.as_default():
        v = gf.Variable(np.ones(3, np.float32), name="v")
        step = gf.assign_add(v, gf.constant([1.0, 2.0, 3.0]), name="step")
    sess = runtime.load(g.ir, device="gpu")
    sess.run(v.initializer)
    sess.run(step)
    stored = next(iter(sess.resources._values.values()))
    assert isinstance(stored, gpu_fake.ndarray)
    np.testing.assert_array_equal(sess.run(v), [2.0, 3.0, 4.0])


def test_cpu_sessions_have_no_device_hooks_and_gpu_sessions_need_a_gpu(monkeypatch):
    assert runtime.load(_const_graph(), device="cpu")._device_hooks is None
    monkeypatch.delenv("GCC_FLOW_FAKE_GPU", raising=False)
    monkeypatch.setitem(sys.modules, "cupy", None)               # import cupy -> ImportError
    with pytest.raises(GccFlowError, match="no GPU is available"):
        runtime.load(_const_graph(), device="gpu")


def _const_graph():
    g = gf.Graph()
    with g.as_default():
        gf.constant([1.0, 2.0], name="c")
    return g.ir
