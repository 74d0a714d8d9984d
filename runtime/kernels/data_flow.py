"""Queue kernels: FIFOQueueV2 and RandomShuffleQueueV2 with blocking enqueue and dequeue.

    q = FIFOQueueV2(component_types=[float32], shapes=[[2]], capacity=2)  -> the Queue object
    QueueEnqueueV2(q, x)          blocks while the queue is full
    QueueDequeueManyV2(q, 3)      blocks until 3 elements are there -> f32[3,2]
    QueueCloseV2(q)               wakes every waiter; a dequeue that cannot be served then raises
                                  OutOfRangeError, an enqueue CancelledError

The queue lives in the session's ResourceManager under (container, shared_name or node name),
so concurrent Session.run calls from several threads share it; they wait on one
threading.Condition. Attempts are served in arrival order on each side (as TensorFlow does): the
oldest dequeue takes elements first, an enqueue_many's elements stay together. A dequeue_many
takes elements as they come, so n may exceed the capacity; if the queue closes first, what it
took goes back to the front. A ``timeout_ms`` attr >= 0 bounds each wait (DeadlineExceededError).
"""
from __future__ import annotations

import collections
import contextlib
import threading
import time
from typing import Optional

import numpy as np

from runtime.kernels import KernelContext, kernel
from schema.dtypes import DType
from schema.errors import ExecutionError, OutOfRangeError

__all__ = ["Queue", "FIFOQueue", "RandomShuffleQueue", "CancelledError",
           "DeadlineExceededError"]


class CancelledError(ExecutionError):
    """An enqueue into a closed queue, or one pending when the queue closed with cancel."""


class DeadlineExceededError(ExecutionError):
    """A queue operation waited longer than its timeout_ms."""


class Queue:
    """A bounded FIFO of elements (tuples of arrays, one per component). Thread-safe."""

    kind = "FIFOQueue"
    UNBOUNDED = (1 << 31) - 1  # capacity -1: as many as an int32 size can count

    def __init__(self, name: str, types: list[DType], shapes: list, capacity: int):
        self.name, self.types, self.shapes = name, list(types), [tuple(s) for s in shapes]
        self.capacity = capacity if capacity >= 0 else self.UNBOUNDED
        self._items: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._closed = self._cancelled = False
        self._enqueuers: collections.deque = collections.deque()
        self._dequeuers: collections.deque = collections.deque()

    # -- what subclasses change ------------------------------------------------------------
    def _available(self) -> int:
        return len(self._items)

    def _take(self):
        return self._items.popleft()

    def _put_back(self, elements: list) -> None:
        self._items.extendleft(reversed(elements))

    # -- public ----------------------------------------------------------------------------
    def size(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, cancel_pending_enqueues: bool = False) -> None:
        with self._cond:
            self._closed = True
            self._cancelled = self._cancelled or cancel_pending_enqueues
            self._cond.notify_all()

    def enqueue(self, elements: list, timeout: Optional[float] = None) -> None:
        """Appends the elements in order, waiting for room; all of them stay together."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._closed:
                raise CancelledError(f"{self.kind} {self.name!r} is closed")
            with self._turn(self._enqueuers, deadline):
                done = 0
                while done < len(elements):
                    self._wait(lambda: self._cancelled or len(self._items) < self.capacity,
                               deadline, "enqueue")
                    if self._cancelled:
                        raise CancelledError(f"{self.kind} {self.name!r} was closed with "
                                             f"cancel_pending_enqueues")
                    room = self.capacity - len(self._items)
                    self._items.extend(elements[done:done + room])
                    done += min(room, len(elements) - done)
                    self._cond.notify_all()

    def dequeue(self, n: int, allow_smaller: bool = False,
                timeout: Optional[float] = None) -> list:
        """n elements, waiting for them; with allow_smaller a closed queue gives what it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond, self._turn(self._dequeuers, deadline):
            taken: list = []
            try:
                while len(taken) < n:
                    if self._available() > 0:
                        while len(taken) < n and self._available() > 0:
                            taken.append(self._take())
                        self._cond.notify_all()  # room for waiting enqueues
                    if len(taken) == n or (self._closed and allow_smaller and taken):
                        break
                    if self._closed:
                        raise OutOfRangeError(
                            f"{self.kind} {self.name!r} is closed and has insufficient elements "
                            f"(requested {n}, current size {len(self._items) + len(taken)})")
                    self._wait(lambda: self._closed or self._available() > 0, deadline,
                               "dequeue")
            except BaseException:
                self._put_back(taken)
                self._cond.notify_all()
                raise
            return taken

    # -- waiting ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _turn(self, line: collections.deque, deadline: Optional[float]):
        """Waits until this attempt is the oldest in ``line``; leaves the line at exit."""
        token = object()
        line.append(token)
        try:
            self._wait(lambda: line[0] is token, deadline, "wait for its turn")
            yield
        finally:
            line.remove(token)
            self._cond.notify_all()

    def _wait(self, ready, deadline: Optional[float], what: str) -> None:
        while not ready():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceededError(f"{self.kind} {self.name!r}: {what} timed out")
            self._cond.wait(remaining)


FIFOQueue = Queue


class RandomShuffleQueue(Queue):
    """Dequeues a uniformly random element, keeping min_after_dequeue until closed."""

    kind = "RandomShuffleQueue"

    def __init__(self, name, types, shapes, capacity, min_after_dequeue: int, seeds):
        super().__init__(name, types, shapes, capacity)
        self.min_after_dequeue = min_after_dequeue
        self._items = []  # type: ignore[assignment]
        self._rng = np.random.default_rng(None if seeds == (0, 0) else list(seeds))

    def _available(self) -> int:
        if self._closed:
            return len(self._items)
        return max(0, len(self._items) - self.min_after_dequeue)

    def _take(self):
        i = int(self._rng.integers(len(self._items)))
        self._items[i], self._items[-1] = self._items[-1], self._items[i]
        return self._items.pop()

    def _put_back(self, elements: list) -> None:
        self._items.extend(elements)


# -- kernels -------------------------------------------------------------------------------------

_BUILDERS = {
    "FIFOQueueV2": lambda ctx, name, types, shapes, capacity: Queue(
        name, types, shapes, capacity),
    "RandomShuffleQueueV2": lambda ctx, name, types, shapes, capacity: RandomShuffleQueue(
        name, types, shapes, capacity, int(ctx.attr("min_after_dequeue", 0)),
        (int(ctx.attr("seed", 0)), int(ctx.attr("seed2", 0)))),
}


_KINDS = {"FIFOQueueV2": "FIFOQueue", "RandomShuffleQueueV2": "RandomShuffleQueue"}


@kernel("FIFOQueueV2", "RandomShuffleQueueV2")
def queue_handle(ctx: KernelContext):
    """The queue itself is the handle's value, created in the session's resources on first run."""
    shared = ctx.attr("shared_name", "") or ctx.node.name
    types, shapes = list(ctx.attr("component_types")), list(ctx.attr("shapes") or [])
    capacity = int(ctx.attr("capacity", -1))
    build = _BUILDERS[ctx.node.op]
    key = ("queue", str(ctx.attr("container", "")), shared)

    wanted = (_KINDS[ctx.node.op], types, [tuple(s) for s in shapes],
              capacity if capacity >= 0 else Queue.UNBOUNDED)

    def handle() -> Queue:
        queue = ctx.resources.get_or_create(key, lambda: build(ctx, shared, types, shapes,
                                                               capacity))
        found = (queue.kind, queue.types, queue.shapes, queue.capacity) \
            if isinstance(queue, Queue) else None
        if found != wanted:
            raise ctx.fail(f"shared queue {shared!r} exists as {found}, but this op declares "
                           f"{wanted} (kind, component types, shapes, capacity)")
        return queue
    return handle


def _queue(ctx: KernelContext, value) -> Queue:
    if not isinstance(value, Queue):
        raise ctx.fail(f"expected a queue handle, got {type(value).__name__}")
    return value


def _timeout(ctx: KernelContext) -> Optional[float]:
    ms = int(ctx.attr("timeout_ms", -1))
    return None if ms < 0 else ms / 1000.0


def _check_types(ctx: KernelContext, queue: Queue, types: list) -> None:
    if [t.base for t in types] != queue.types:
        raise ctx.fail(f"{queue.kind} {queue.name!r} holds {[t.tf_name for t in queue.types]}, "
                       f"this op has {[t.base.tf_name for t in types]}")


def _element(ctx: KernelContext, queue: Queue, components) -> tuple:
    """A private copy of one element, after checking it against the queue's shapes."""
    for i, (value, shape) in enumerate(zip(components, queue.shapes)):
        if tuple(np.shape(value)) != shape:
            raise ctx.fail(f"component {i} has shape {list(np.shape(value))} but "
                           f"{queue.kind} {queue.name!r} holds {list(shape)}")
    return tuple(np.array(c, copy=True) for c in components)


@kernel("QueueEnqueueV2")
def enqueue(ctx: KernelContext):
    timeout, types = _timeout(ctx), ctx.in_types[1:]

    def run(handle, *components):
        queue = _queue(ctx, handle)
        _check_types(ctx, queue, types)
        queue.enqueue([_element(ctx, queue, components)], timeout)
    return run


@kernel("QueueEnqueueManyV2")
def enqueue_many(ctx: KernelContext):
    timeout, types = _timeout(ctx), ctx.in_types[1:]

    def run(handle, *components):
        queue = _queue(ctx, handle)
        _check_types(ctx, queue, types)
        sizes = {np.shape(c)[0] if np.ndim(c) else None for c in components}
        if len(sizes) != 1 or None in sizes:
            raise ctx.fail(f"every component of an enqueue_many needs the same first "
                           f"dimension, got shapes {[list(np.shape(c)) for c in components]}")
        count = sizes.pop()
        queue.enqueue([_element(ctx, queue, [c[i] for c in components])
                       for i in range(count)], timeout)
    return run


def _outputs(values: list):
    return values[0] if len(values) == 1 else tuple(values)


@kernel("QueueDequeueV2")
def dequeue(ctx: KernelContext):
    timeout, types = _timeout(ctx), ctx.out_types

    def run(handle):
        queue = _queue(ctx, handle)
        _check_types(ctx, queue, types)
        return _outputs(list(queue.dequeue(1, timeout=timeout)[0]))
    return run


_ALLOW_SMALLER = {"QueueDequeueManyV2": False, "QueueDequeueUpToV2": True}


@kernel("QueueDequeueManyV2", "QueueDequeueUpToV2")
def dequeue_many(ctx: KernelContext):
    timeout, types = _timeout(ctx), ctx.out_types
    allow_smaller = _ALLOW_SMALLER[ctx.node.op]

    def run(handle, n):
        queue = _queue(ctx, handle)
        _check_types(ctx, queue, types)
        if np.shape(n) != () or int(n) < 0:
            raise ctx.fail(f"n must be a non-negative scalar, got {np.asarray(n).tolist()!r:.40}")
        if not queue.shapes:
            raise ctx.fail(f"{queue.kind}'s DequeueMany and DequeueUpTo require the components "
                           f"to have specified shapes")
        elements = queue.dequeue(int(n), allow_smaller, timeout)
        return _outputs([_stack([e[i] for e in elements], t.np, shape)
                         for i, (t, shape) in enumerate(zip(queue.types, queue.shapes))])
    return run


def _stack(values: list, dtype, shape: tuple) -> np.ndarray:
    if not values:
        return np.empty((0,) + shape, dtype=dtype)
    return np.stack(values)


@kernel("QueueCloseV2")
def close(ctx: KernelContext):
    cancel = bool(ctx.attr("cancel_pending_enqueues", False))
    return lambda handle: _queue(ctx, handle).close(cancel)


@kernel("QueueSizeV2")
def size(ctx: KernelContext):
    return lambda handle: np.asarray(_queue(ctx, handle).size(), dtype=np.int32)


@kernel("QueueIsClosedV2")
def is_closed(ctx: KernelContext):
    return lambda handle: np.asarray(_queue(ctx, handle).closed)
