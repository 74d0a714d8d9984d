"""``gf.errors``: every error type gcc-flow raises for bad input, in one namespace.

    try:
        sess.run(dequeue)
    except gf.errors.OutOfRangeError:
        ...
"""
from __future__ import annotations

from runtime.checkpoint import CheckpointError, CheckpointNotFoundError
from runtime.kernels.data_flow import CancelledError, DeadlineExceededError
from schema.errors import (
    DecodeError, ExecutionError, FeedError, FetchError, GccFlowError, GraphError, LimitExceeded,
    OutOfRangeError, TensorError, UninitializedVariableError, UnknownOpError, ValidationError,
)

__all__ = [
    "GccFlowError", "DecodeError", "GraphError", "ValidationError", "UnknownOpError",
    "TensorError", "LimitExceeded", "FeedError", "FetchError", "ExecutionError",
    "UninitializedVariableError", "OutOfRangeError", "CancelledError", "DeadlineExceededError",
    "CheckpointError", "CheckpointNotFoundError",
]
