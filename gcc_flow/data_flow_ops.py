"""Queues with TensorFlow 1.x's Python API: ``gf.FIFOQueue`` and ``gf.RandomShuffleQueue``.

    q = gf.FIFOQueue(10, [gf.float32, gf.int32], shapes=[[2], []])  -> fifo_queue (FIFOQueueV2)
    q.enqueue([x, label])                 -> fifo_queue_enqueue (QueueEnqueueV2)
    xs, labels = q.dequeue_many(4)        -> fifo_queue_DequeueMany: f32[4,2], i32[4]
    q.close()                             -> fifo_queue_Close

Enqueue and dequeue block inside ``Session.run`` (several threads may run on one Session);
after ``close()`` a dequeue that cannot be served raises ``schema.errors.OutOfRangeError`` and an
enqueue ``runtime.kernels.data_flow.CancelledError``. Dequeuing a one-component queue gives a
Tensor, several components a list, and a queue made with ``names`` a dict.
"""
from __future__ import annotations

from typing import Optional, Sequence

from gcc_flow.framework import Operation, Tensor, apply_op, convert_to_tensor
from gcc_flow.random_ops import get_seed
from schema.dtypes import DType

__all__ = ["QueueBase", "FIFOQueue", "RandomShuffleQueue"]


def _dtype_list(dtypes) -> list[DType]:
    items = dtypes if isinstance(dtypes, (list, tuple)) else [dtypes]
    if not items:
        raise ValueError("a queue needs at least one component dtype")
    return [DType.parse(d) if isinstance(d, str) else DType(d).base for d in items]


def _shape_list(shapes, count: int) -> list[tuple]:
    if shapes is None:
        return []
    if count == 1 and (not shapes or not isinstance(shapes[0], (list, tuple))):
        shapes = [shapes]  # one component: its shape may be given bare, as [2] or []
    if len(shapes) != count:
        raise ValueError(f"shapes has {len(shapes)} entries for {count} component dtypes")
    result = []
    for shape in shapes:
        dims = tuple(None if d is None or d == -1 else int(d) for d in shape)
        if any(d is None for d in dims):
            raise ValueError(f"all queue shapes must be fully defined, got {list(shape)}")
        result.append(dims)
    return result


class QueueBase:
    """Methods shared by every queue; ``queue_ref`` is the resource handle tensor."""

    def __init__(self, op_type: str, dtypes, shapes, names, attrs: dict, name: str):
        self._dtypes = _dtype_list(dtypes)
        self._shapes = _shape_list(shapes, len(self._dtypes))
        self._names = list(names) if names is not None else None
        if self._names is not None and len(self._names) != len(self._dtypes):
            raise ValueError(f"names has {len(self._names)} entries for {len(self._dtypes)} "
                             f"component dtypes")
        attrs = dict(attrs, component_types=self._dtypes, shapes=self._shapes)
        self._queue_ref = apply_op(op_type, [], attrs, name=name)
        self._name = self._queue_ref.op.name

    queue_ref = property(lambda self: self._queue_ref)
    name = property(lambda self: self._name)
    dtypes = property(lambda self: list(self._dtypes))
    shapes = property(lambda self: list(self._shapes))
    names = property(lambda self: self._names)

    def _components(self, vals) -> list[Tensor]:
        """vals as one tensor per component, converted to the queue's dtypes."""
        if isinstance(vals, dict):
            if self._names is None or set(vals) != set(self._names):
                raise ValueError(f"enqueue with a dict needs exactly the queue's names "
                                 f"{self._names}, got {sorted(vals)}")
            vals = [vals[n] for n in self._names]
        elif not isinstance(vals, (list, tuple)):
            vals = [vals]
        if len(vals) != len(self._dtypes):
            raise ValueError(f"queue {self._name!r} has {len(self._dtypes)} components, got "
                             f"{len(vals)} values")
        with self._queue_ref.graph.as_default():
            return [convert_to_tensor(v, dtype=t) for v, t in zip(vals, self._dtypes)]

    def _op(self, op_type: str, inputs: Sequence, attrs: dict, name: Optional[str],
            suffix: str):
        with self._queue_ref.graph.as_default():
            return apply_op(op_type, [self._queue_ref, *inputs], attrs,
                            name=name or f"{self._name}_{suffix}")

    def _dequeued(self, outputs):
        outputs = outputs if isinstance(outputs, list) else [outputs]
        if self._names is not None:
            return dict(zip(self._names, outputs))
        return outputs[0] if len(outputs) == 1 else outputs

    def enqueue(self, vals, name: Optional[str] = None) -> Operation:
        """Adds one element (blocks while the queue is full)."""
        return self._op("QueueEnqueueV2", [self._components(vals)], {}, name, "enqueue")

    def enqueue_many(self, vals, name: Optional[str] = None) -> Operation:
        """Adds the slices along dimension 0 of every component as separate elements."""
        return self._op("QueueEnqueueManyV2", [self._components(vals)], {}, name,
                        "EnqueueMany")

    def dequeue(self, name: Optional[str] = None):
        """Removes one element (blocks while the queue is empty and open)."""
        return self._dequeued(self._op("QueueDequeueV2", [],
                                       {"component_types": self._dtypes}, name, "Dequeue"))

    def dequeue_many(self, n, name: Optional[str] = None):
        """Removes n elements, stacked along a new dimension 0 (needs declared shapes)."""
        return self._dequeued(self._many("QueueDequeueManyV2", n, name, "DequeueMany"))

    def dequeue_up_to(self, n, name: Optional[str] = None):
        """As dequeue_many, but a closed queue gives its last, smaller batch."""
        return self._dequeued(self._many("QueueDequeueUpToV2", n, name, "DequeueUpTo"))

    def _many(self, op_type: str, n, name: Optional[str], suffix: str):
        with self._queue_ref.graph.as_default():
            count = convert_to_tensor(n, dtype=DType.INT32)
        return self._op(op_type, [count], {"component_types": self._dtypes}, name, suffix)

    def close(self, cancel_pending_enqueues: bool = False,
              name: Optional[str] = None) -> Operation:
        """Closes the queue: no more enqueues; waiting dequeues that cannot be served fail."""
        return self._op("QueueCloseV2", [],
                        {"cancel_pending_enqueues": bool(cancel_pending_enqueues)}, name,
                        "Close")

    def size(self, name: Optional[str] = None) -> Tensor:
        return self._op("QueueSizeV2", [], {}, name, "Size")

    def is_closed(self, name: Optional[str] = None) -> Tensor:
        return self._op("QueueIsClosedV2", [], {}, name, "IsClosed")


class FIFOQueue(QueueBase):
    """``gf.FIFOQueue(capacity, dtypes, shapes=None, names=None, shared_name=None)``."""

    def __init__(self, capacity: int, dtypes, shapes=None, names=None,
                 shared_name: Optional[str] = None, name: str = "fifo_queue"):
        super().__init__("FIFOQueueV2", dtypes, shapes, names,
                         {"capacity": int(capacity), "shared_name": shared_name or ""}, name)


class RandomShuffleQueue(QueueBase):
    """``gf.RandomShuffleQueue(capacity, min_after_dequeue, dtypes, shapes=None, seed=None)``.

    A dequeue takes a uniformly random element, and only while more than min_after_dequeue
    elements remain (until the queue is closed). Seeds follow gf.get_seed.
    """

    def __init__(self, capacity: int, min_after_dequeue: int, dtypes, shapes=None, names=None,
                 seed: Optional[int] = None, shared_name: Optional[str] = None,
                 name: str = "random_shuffle_queue"):
        seed1, seed2 = get_seed(seed)
        attrs = {"capacity": int(capacity), "min_after_dequeue": int(min_after_dequeue),
                 "seed": seed1 or 0, "seed2": seed2 or 0, "shared_name": shared_name or ""}
        super().__init__("RandomShuffleQueueV2", dtypes, shapes, names, attrs, name)
