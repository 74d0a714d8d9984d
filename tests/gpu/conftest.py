"""GPU tests: every test here is marked ``gpu`` and skipped unless a GPU can run plans (CuPy with a
CUDA device, or the numpy-backed fake GPU with ``GCC_FLOW_FAKE_GPU=1``).

    python -m pytest -q -m gpu tests/gpu                      # on a machine with a GPU
    GCC_FLOW_FAKE_GPU=1 python -m pytest -q tests/gpu         # the same path on numpy
"""
from __future__ import annotations

import pytest

from runtime.gpu import GpuBackend, gpu_available


def pytest_collection_modifyitems(config, items):
    here = __file__.rsplit("/", 1)[0]
    available = gpu_available()
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.gpu)
            if not available:
                item.add_marker(pytest.mark.skip(reason="no CUDA device (CuPy missing or no GPU)"))


@pytest.fixture(scope="session")
def backend() -> GpuBackend:
    return GpuBackend.default()
