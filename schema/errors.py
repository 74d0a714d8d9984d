"""The exception hierarchy shared by every layer.

Every error that bad input can cause is a ``GccFlowError``; the CLI maps those to exit code 2 with
a one-line message. Anything else escaping is a bug (exit code 1).
"""
from __future__ import annotations

__all__ = [
    "GccFlowError", "DecodeError", "GraphError", "ValidationError", "TensorError",
    "LimitExceeded", "UnknownOpError", "FeedError", "FetchError", "ExecutionError",
    "UninitializedVariableError", "OutOfRangeError",
]


class GccFlowError(Exception):
    """Base of every error caused by the input (a file, a graph, a feed), not by a bug."""


class DecodeError(GccFlowError):
    """A file or byte string is not a valid serialized graph or tensor."""


class GraphError(GccFlowError):
    """A graph is structurally broken: a cycle, a dangling input, a duplicate name."""


class ValidationError(GraphError):
    """A node breaks its op's declaration: arity, attrs, dtypes. The message names the node."""


class UnknownOpError(ValidationError):
    """A node uses an op that the registry does not declare."""


class TensorError(GccFlowError):
    """A tensor value is malformed: shape, data length, dtype."""


class LimitExceeded(TensorError):
    """A documented size limit would be exceeded; nothing was allocated."""


class FeedError(GccFlowError):
    """A feed names an unknown tensor or has the wrong dtype or shape."""


class FetchError(GccFlowError):
    """A fetch names a tensor or node that the graph does not have."""


class ExecutionError(GccFlowError):
    """A kernel failed while running; the message names the node, op, input shapes and device."""


class UninitializedVariableError(ExecutionError):
    """A variable was read before it was assigned."""


class OutOfRangeError(ExecutionError):
    """An input is exhausted: a dequeue from a closed queue with too few elements left."""
