"""GPU tests: every test in this folder is marked ``gpu``. They run when a GPU can run plans:
CuPy with a CUDA device, or the numpy-backed fake GPU (runtime/gpu_fake.py) when
``GCC_FLOW_FAKE_GPU=1`` is set; otherwise each is skipped with the reason.

    python -m pytest -q -m gpu tests/gpu                      # on a machine with a GPU
    GCC_FLOW_FAKE_GPU=1 python -m pytest -q tests/gpu         # the same path on numpy

This file imports only the project, numpy and pytest (the GPU machine has nothing else for sure).
"""
from __future__ import annotations

import os

import pytest

from runtime.gpu import GpuBackend, gpu_available

HERE = os.path.dirname(os.path.abspath(__file__))


def _skip_reason() -> str | None:
    """None when the tests can run; else why not."""
    if gpu_available():
        return None
    return ("no CUDA device (CuPy missing or it sees no GPU); set GCC_FLOW_FAKE_GPU=1 to run "
            "these tests on the numpy stand-in")


def pytest_collection_modifyitems(config, items):
    reason = _skip_reason()
    for item in items:
        if os.path.abspath(str(item.fspath)).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.gpu)
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def backend() -> GpuBackend:
    """The GPU every session in these tests runs on (the fake one under GCC_FLOW_FAKE_GPU=1)."""
    return GpuBackend.default()
