"""Queues, with TensorFlow's op names and attrs.

    q = FIFOQueueV2(component_types=[float32, int32], shapes=[[2], []], capacity=10) -> resource
    QueueEnqueueV2(q, f32[2], i32[])           QueueEnqueueManyV2(q, f32[n,2], i32[n])
    QueueDequeueV2(q) -> f32[2], i32[]          QueueDequeueManyV2(q, 5) -> f32[5,2], i32[5]
    QueueCloseV2(q); QueueSizeV2(q) -> i32[]; QueueIsClosedV2(q) -> bool[]

Every op here reads or changes the queue held by the session, so all are stateful. Shapes of
dequeued components come from the queue op's ``shapes`` attr when the handle can be traced back
to it (through Identity); a component whose queue declares no shapes has an unknown shape.
As in TensorFlow, declared queue shapes must be fully defined, and a RandomShuffleQueue needs
``min_after_dequeue < capacity`` (else no element could ever be dequeued before a close).
"""
from __future__ import annotations

from typing import Optional

from schema.registry import op
from schema.shapes import scalar

__all__ = ["QUEUE_OPS", "queue_declaration"]

QUEUE_OPS = ("FIFOQueueV2", "RandomShuffleQueueV2")
_PASSTHROUGH = ("Identity",)


def queue_declaration(ref):
    """The queue node a resource tensor comes from (following Identity), or None.

    queue_declaration(Identity(FIFOQueueV2(...)):0) -> the FIFOQueueV2 node
    """
    node = ref.node
    for _ in range(64):
        if node.op in QUEUE_OPS:
            return node
        if node.op not in _PASSTHROUGH or not node.inputs:
            return None
        node = node.inputs[0].node
    return None


def _queue_shape(ctx):
    types, shapes = ctx.attr("component_types") or [], ctx.attr("shapes") or []
    if shapes and len(shapes) != len(types):
        raise ctx.fail(f"shapes has {len(shapes)} entries but component_types has "
                       f"{len(types)}; give one shape per component, or none")
    for shape in shapes:
        if shape is None or any(d is None or d < 0 for d in shape):
            raise ctx.fail(f"queue shapes must be fully defined, got {_show(shape)}")
    capacity, floor = ctx.attr("capacity", -1), ctx.attr("min_after_dequeue", 0)
    if floor < 0:
        raise ctx.fail(f"min_after_dequeue {floor} must be >= 0")
    if capacity >= 0 and floor >= capacity:
        raise ctx.fail(f"min_after_dequeue {floor} must be < capacity {capacity}")
    return scalar(ctx)


def _declared_shapes(ctx) -> Optional[list]:
    queue = queue_declaration(ctx.node.inputs[0])
    if queue is None:
        return None
    return list(queue.attrs.get("shapes") or []) or None


def _check_components(ctx, batched: bool) -> None:
    """Enqueued types and shapes must agree with a queue traced back through the handle."""
    queue = queue_declaration(ctx.node.inputs[0])
    if queue is None:
        return
    types = list(queue.attrs.get("component_types") or [])
    given = list(ctx.attr("Tcomponents") or [])
    if types and given != types:
        raise ctx.fail(f"enqueues {[t.tf_name for t in given]} into queue {queue.name!r} of "
                       f"{[t.tf_name for t in types]}")
    for i, declared in enumerate(_declared_shapes(ctx) or []):
        shape = ctx.shape(i + 1)
        if shape is None:
            continue
        element = shape[1:] if batched and shape else shape
        if batched and not shape:
            raise ctx.fail(f"component {i} of an enqueue_many must have a batch dimension, "
                           f"got a scalar")
        if len(element) != len(declared) or any(
                d is not None and d != want for d, want in zip(element, declared)):
            raise ctx.fail(f"component {i} has shape {_show(element)} but queue "
                           f"{queue.name!r} holds {_show(declared)}")


def _enqueue_shape(ctx):
    _check_components(ctx, batched=False)
    return []


def _enqueue_many_shape(ctx):
    _check_components(ctx, batched=True)
    return []


def _dequeue_shape(ctx):
    shapes = _declared_shapes(ctx)
    return list(shapes) if shapes else [None] * len(ctx.node.out_types)


def _dequeue_many_shape(ctx):
    n = ctx.value(1)
    batch = int(n) if n is not None and n.shape == () else None
    if ctx.node.op == "QueueDequeueUpToV2":
        batch = None
    shapes = _declared_shapes(ctx)
    if not shapes:
        return [None] * len(ctx.node.out_types)
    return [(batch,) + tuple(s) for s in shapes]


def _show(shape) -> str:
    return "unknown" if shape is None else str([("?" if d is None else d) for d in shape])


_QUEUE_ATTRS = ["component_types: list(type) >= 1", "shapes: list(shape) = []",
                "capacity: int = -1", "container: string = ''", "shared_name: string = ''"]

op("FIFOQueueV2", outputs=["handle: resource"], attrs=_QUEUE_ATTRS, shape=_queue_shape,
   stateful=True)
op("RandomShuffleQueueV2", outputs=["handle: resource"],
   attrs=_QUEUE_ATTRS + ["min_after_dequeue: int = 0", "seed: int = 0", "seed2: int = 0"],
   shape=_queue_shape, stateful=True)
op("QueueEnqueueV2", inputs=["handle: resource", "components: Tcomponents"],
   attrs=["Tcomponents: list(type) >= 1", "timeout_ms: int = -1"], shape=_enqueue_shape,
   stateful=True)
op("QueueEnqueueManyV2", inputs=["handle: resource", "components: Tcomponents"],
   attrs=["Tcomponents: list(type) >= 1", "timeout_ms: int = -1"], shape=_enqueue_many_shape,
   stateful=True)
op("QueueDequeueV2", inputs=["handle: resource"], outputs=["components: component_types"],
   attrs=["component_types: list(type) >= 1", "timeout_ms: int = -1"], shape=_dequeue_shape,
   stateful=True)
for _name in ("QueueDequeueManyV2", "QueueDequeueUpToV2"):
    op(_name, inputs=["handle: resource", "n: int32"], outputs=["components: component_types"],
       attrs=["component_types: list(type) >= 1", "timeout_ms: int = -1"],
       shape=_dequeue_many_shape, stateful=True)
op("QueueCloseV2", inputs=["handle: resource"],
   attrs=["cancel_pending_enqueues: bool = false"], stateful=True)
op("QueueSizeV2", inputs=["handle: resource"], outputs=["size: int32"], shape=scalar,
   stateful=True)
op("QueueIsClosedV2", inputs=["handle: resource"], outputs=["is_closed: bool"], shape=scalar,
   stateful=True)
