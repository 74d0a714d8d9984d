"""Kernels for v1 control flow and stacks.

    Switch(x, pred=True)  -> (DEAD, x)          Merge(DEAD, y) -> (y, 1)
    Enter(x) / Exit(x) / NextIteration(x) -> x  (moving between frames is the executor's job)

``DEAD`` stands for a dead tensor: the untaken output of a Switch. Only the dataflow executor
(runtime/dataflow.py) sees it; it never reaches a fetch or an ordinary kernel, since a node
with a dead input does not run and its outputs are dead too.

A stack (StackV2) lives for one run: each execution of StackV2 makes a new, empty one, which
StackPushV2 / StackPopV2 reach through the handle tensor.
"""
from __future__ import annotations

import numpy as np

from runtime.kernels import KernelContext, kernel
from schema.errors import ExecutionError

__all__ = ["DEAD", "Stack"]


class _Dead:
    """The value of a dead tensor (a singleton)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEAD"


DEAD = _Dead()


def _scalar_bool(ctx: KernelContext, value, what: str) -> bool:
    if np.ndim(value) != 0:
        raise ctx.fail(f"{what} must be a scalar bool, got shape {list(np.shape(value))}")
    return bool(value)


@kernel("Switch", "RefSwitch", device="any")
def switch(ctx: KernelContext):
    def run(data, pred):
        return (DEAD, data) if _scalar_bool(ctx, pred, "pred") else (data, DEAD)
    return run


@kernel("Merge", "RefMerge", device="any")
def merge(ctx: KernelContext):
    def run(*inputs):
        for index, value in enumerate(inputs):
            if value is not DEAD:
                return value, np.array(index, dtype=np.int32)
        return DEAD, DEAD
    return run


@kernel("Enter", "RefEnter", "Exit", "RefExit", "NextIteration", "RefNextIteration",
        device="any")
def forward(ctx: KernelContext):
    return lambda data: data


@kernel("LoopCond", device="any")
def loop_cond(ctx: KernelContext):
    def run(value):
        _scalar_bool(ctx, value, "the loop condition")
        return value
    return run


@kernel("ControlTrigger", device="any")
def control_trigger(ctx: KernelContext):
    return lambda: None


# -- stacks ------------------------------------------------------------------------------------

class Stack:
    """One run's stack of tensors of ``elem_type``, at most ``max_size`` deep (< 0: unbounded).

    s = Stack("s", DType.FLOAT, -1); s.push(x); s.pop() -> x
    """

    def __init__(self, name: str, elem_type, max_size: int):
        self.name, self.elem_type, self.max_size = name, elem_type, max_size
        self.items: list = []
        self.closed = False

    def push(self, value) -> None:
        if self.closed:
            raise ExecutionError(f"stack {self.name!r} is closed")
        if 0 <= self.max_size <= len(self.items):
            raise ExecutionError(f"stack {self.name!r} is full (max_size {self.max_size})")
        self.items.append(value)

    def pop(self):
        if self.closed:
            raise ExecutionError(f"stack {self.name!r} is closed")
        if not self.items:
            raise ExecutionError(f"stack {self.name!r} is empty: more pops than pushes")
        return self.items.pop()


def _stack(ctx: KernelContext, handle) -> Stack:
    if not isinstance(handle, Stack):
        raise ctx.fail(f"input 0 is not a stack handle (got {type(handle).__name__})")
    return handle


@kernel("StackV2")
def stack_v2(ctx: KernelContext):
    name = ctx.attr("stack_name") or ctx.node.name
    elem_type = ctx.attr("elem_type")
    return lambda max_size: Stack(name, elem_type, int(max_size))


@kernel("StackPushV2")
def stack_push(ctx: KernelContext):
    want = ctx.attr("T")

    def run(handle, elem):
        stack = _stack(ctx, handle)
        if stack.elem_type != want:
            raise ctx.fail(f"pushes {want.tf_name} onto stack {stack.name!r} of "
                           f"{stack.elem_type.tf_name}")
        stack.push(elem)
        return elem
    return run


@kernel("StackPopV2")
def stack_pop(ctx: KernelContext):
    want = ctx.attr("elem_type")

    def run(handle):
        stack = _stack(ctx, handle)
        if stack.elem_type != want:
            raise ctx.fail(f"pops {want.tf_name} from stack {stack.name!r} of "
                           f"{stack.elem_type.tf_name}")
        return stack.pop()
    return run


@kernel("StackCloseV2")
def stack_close(ctx: KernelContext):
    def run(handle):
        stack = _stack(ctx, handle)
        stack.closed = True
        stack.items.clear()
    return run
