"""Size limits that protect against attacker-sized allocations. Each is a documented setting.

Override per call (``Limits(max_tensor_bytes=...)``) or for the process with the environment
variables named below.
"""
from __future__ import annotations

import dataclasses
import os

__all__ = ["Limits", "DEFAULT_LIMITS"]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw and raw.isascii() and raw.isdigit() else default


@dataclasses.dataclass(frozen=True)
class Limits:
    # Largest tensor decoded from a TensorProto or made by a kernel from a data-dependent shape.
    max_tensor_bytes: int = _env_int("GCC_FLOW_MAX_TENSOR_BYTES", 2 << 30)
    # Largest rank accepted anywhere (TensorFlow's own cap is 254).
    max_rank: int = 254
    # Deepest message nesting accepted when parsing .pbtxt / binary files.
    max_recursion_depth: int = 100
    # Largest node name accepted (TensorFlow names are short; 1 MB names are an attack).
    max_name_length: int = 4096
    # Most iterations one while-loop frame may run in one Session.run (v1 control flow: each
    # NextIteration transfer counts); exceeding it is an ExecutionError naming the loop.
    max_loop_iterations: int = _env_int("GCC_FLOW_MAX_LOOP_ITERATIONS", 1_000_000)


DEFAULT_LIMITS = Limits()
