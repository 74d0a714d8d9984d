"""Every kernel with a GPU body gives the numpy kernel's result on the device, within tolerance,
for the small random inputs of tests/gpu/gpu_op_cases.py.

    Conv2D(x f32[2,9,9,3], w f32[3,3,3,4]) on cupy == on numpy (rtol 1e-4); output in device memory
"""
from __future__ import annotations

import numpy as np
import pytest

from gpu_op_cases import NOT_KERNEL_TESTED, build_node, cases_for, flat_inputs
from runtime.gpu import DeviceHooks
from runtime.kernels import KERNELS, KernelContext, compile_node

pytestmark = pytest.mark.gpu

GPU_OPS = sorted(KERNELS.ops("gpu"))
CASES = [case for op in GPU_OPS for case in cases_for(op)]


def test_every_gpu_kernel_has_a_case_or_a_reason():
    missing = [op for op in GPU_OPS if not cases_for(op) and op not in NOT_KERNEL_TESTED]
    assert not missing, f"GPU kernels without a test case: {missing}"
    assert len(CASES) > 200


def _outputs(result) -> list:
    return list(result) if isinstance(result, (list, tuple)) else [result]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gpu_kernel_matches_numpy(case, backend):
    node = build_node(case)
    inputs = [np.asarray(a) for a in flat_inputs(case)]
    want = _outputs(compile_node(KernelContext(node=node))(*inputs))
    info = KERNELS.info(node.op, "gpu")
    fn = DeviceHooks(backend).device_kernel(node, info)
    got = _outputs(fn(*[backend.to_device(a) for a in inputs]))
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        on_device = isinstance(g, backend.array_type)
        assert on_device != info.host_outputs, f"output {i} in the wrong memory: {type(g)}"
        g = np.asarray(backend.to_host(g))
        w = np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (i, g.dtype, g.shape, w.dtype, w.shape)
        if w.dtype.kind in "fc":
            np.testing.assert_allclose(g, w, rtol=case.rtol, atol=case.atol, equal_nan=True,
                                       err_msg=f"output {i}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"output {i}")


@pytest.mark.parametrize("op", ["Lgamma", "Digamma", "Polygamma", "RandomUniform", "SaveV2",
                                "VariableV2", "Assign", "ApplyAdam", "InvertPermutation"])
def test_ops_without_a_gpu_body_have_no_gpu_kernel(op):
    assert KERNELS.lookup(op, "gpu") is None
    assert KERNELS.lookup(op, "cpu") is not None


def test_integer_division_by_zero_is_an_error_on_the_gpu(backend):
    from schema.errors import ExecutionError
    from gpu_op_cases import Case
    node = build_node(Case("FloorDiv", [np.array([4, 5], np.int32), np.array([2, 1], np.int32)]))
    fn = DeviceHooks(backend).device_kernel(node)
    with pytest.raises(ExecutionError, match="Integer division by zero"):
        fn(backend.to_device(np.array([1, 2], np.int32)),
           backend.to_device(np.array([1, 0], np.int32)))


def test_gather_index_out_of_range_names_it_on_the_gpu(backend):
    from schema.errors import ExecutionError
    from gpu_op_cases import Case
    case = Case("GatherV2", [np.ones((3, 2), np.float32), np.array([0, 2]), np.int32(0)])
    fn = DeviceHooks(backend).device_kernel(build_node(case))
    with pytest.raises(ExecutionError, match=r"indices\[1\] = 7 is not in \[0, 3\)"):
        fn(backend.to_device(np.ones((3, 2), np.float32)),
           backend.to_device(np.array([0, 7], np.int64)), np.int32(0))
