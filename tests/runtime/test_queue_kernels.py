"""Queue kernels in a runtime Session: FIFO order, blocking across threads, close, shuffling."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import runtime
from runtime.kernels.data_flow import CancelledError, DeadlineExceededError, Queue
from schema.errors import ExecutionError, OutOfRangeError, ValidationError
from schema.text import parse_graph

FIFO = """
%q:0 res[] = FIFOQueueV2() component_types=[f32, i32] shapes=[shape[2], shape[]] capacity=3
%x:0 f32[2] = Placeholder() dtype=f32 shape=shape[2]
%y:0 i32[] = Placeholder() dtype=i32 shape=shape[]
%xs:0 f32[?,2] = Placeholder() dtype=f32 shape=shape[?,2]
%ys:0 i32[?] = Placeholder() dtype=i32 shape=shape[?]
%n:0 i32[] = Placeholder() dtype=i32 shape=shape[]
%enq = QueueEnqueueV2(%q:0, %x:0, %y:0) Tcomponents=[f32, i32]
%enq_many = QueueEnqueueManyV2(%q:0, %xs:0, %ys:0) Tcomponents=[f32, i32]
%deq:0 f32[2], %deq:1 i32[] = QueueDequeueV2(%q:0) component_types=[f32, i32]
%deq_wait:0 f32[2], %deq_wait:1 i32[] = QueueDequeueV2(%q:0) component_types=[f32, i32] timeout_ms=50
%many:0 f32[?,2], %many:1 i32[?] = QueueDequeueManyV2(%q:0, %n:0) component_types=[f32, i32]
%up_to:0 f32[?,2], %up_to:1 i32[?] = QueueDequeueUpToV2(%q:0, %n:0) component_types=[f32, i32]
%close = QueueCloseV2(%q:0)
%cancel = QueueCloseV2(%q:0) cancel_pending_enqueues=true
%size:0 i32[] = QueueSizeV2(%q:0)
%closed:0 bool[] = QueueIsClosedV2(%q:0)
"""


def _fifo():
    return runtime.load(parse_graph(FIFO))


def _put(sess, i: int):
    sess.run("^enq", {"x:0": np.full(2, i, np.float32), "y:0": i})


def _start(fn, *args) -> tuple[threading.Thread, dict]:
    """Runs fn in a daemon thread; the dict gets 'value' or 'error'."""
    out: dict = {}

    def body():
        try:
            out["value"] = fn(*args)
        except Exception as err:  # noqa: BLE001  (the test inspects it)
            out["error"] = err
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, out


def _blocked(thread: threading.Thread) -> bool:
    thread.join(0.2)
    return thread.is_alive()


def test_fifo_order_size_and_dequeue_many():
    sess = _fifo()
    for i in range(3):
        _put(sess, i)
    assert sess.run("size:0") == 3
    xs, ys = sess.run(["many:0", "many:1"], {"n:0": 2})
    assert xs.tolist() == [[0, 0], [1, 1]] and ys.tolist() == [0, 1] and xs.dtype == np.float32
    x, y = sess.run(["deq:0", "deq:1"])
    assert x.tolist() == [2, 2] and y == 2 and sess.run("size:0") == 0


def test_fed_arrays_are_copied_into_the_queue():
    sess = _fifo()
    value = np.zeros(2, np.float32)
    sess.run("^enq", {"x:0": value, "y:0": 0})
    value[:] = 7
    assert sess.run("deq:0").tolist() == [0, 0]


def test_dequeue_blocks_until_an_enqueue_from_another_thread():
    sess = _fifo()
    thread, out = _start(sess.run, ["deq:0", "deq:1"])
    assert _blocked(thread)
    _put(sess, 5)
    thread.join(5)
    assert out["value"][1] == 5


def test_close_releases_a_blocked_dequeue_with_out_of_range():
    sess = _fifo()
    thread, out = _start(sess.run, "deq:0")
    assert _blocked(thread)
    sess.run("^close")
    thread.join(5)
    assert isinstance(out["error"], OutOfRangeError)
    assert "is closed and has insufficient elements (requested 1, current size 0)" in \
        str(out["error"])
    assert sess.run("closed:0")
    with pytest.raises(CancelledError, match="is closed"):
        _put(sess, 1)


def test_enqueue_blocks_at_capacity_until_a_dequeue():
    sess = _fifo()
    for i in range(3):
        _put(sess, i)
    thread, out = _start(_put, sess, 3)
    assert _blocked(thread) and sess.run("size:0") == 3
    assert sess.run("deq:1") == 0
    thread.join(5)
    assert not thread.is_alive() and "error" not in out
    assert sess.run("many:1", {"n:0": 3}).tolist() == [1, 2, 3]


def test_dequeue_many_larger_than_capacity_takes_elements_as_they_come():
    sess = _fifo()
    thread, out = _start(sess.run, "many:1", {"n:0": 7})
    for i in range(7):
        _put(sess, i)  # would block forever if the dequeue waited for 7 at once
    thread.join(5)
    assert out["value"].tolist() == list(range(7))


def test_closed_dequeue_many_puts_elements_back_and_up_to_takes_the_rest():
    sess = _fifo()
    _put(sess, 1)
    _put(sess, 2)
    sess.run("^close")
    with pytest.raises(OutOfRangeError, match=r"requested 3, current size 2"):
        sess.run("many:1", {"n:0": 3})
    assert sess.run("size:0") == 2
    assert sess.run("up_to:1", {"n:0": 3}).tolist() == [1, 2]
    with pytest.raises(OutOfRangeError):
        sess.run("up_to:1", {"n:0": 3})


def test_enqueue_many_and_empty_dequeue_many():
    sess = _fifo()
    sess.run("^enq_many", {"xs:0": np.ones((2, 2), np.float32), "ys:0": np.array([4, 5])})
    assert sess.run("deq:1") == 4
    empty = sess.run("many:0", {"n:0": 0})
    assert empty.shape == (0, 2) and empty.dtype == np.float32
    with pytest.raises(ExecutionError, match="same first dimension"):
        sess.run("^enq_many", {"xs:0": np.ones((2, 2), np.float32), "ys:0": np.array([1])})


def test_close_with_cancel_fails_pending_enqueues_and_plain_close_does_not():
    sess = _fifo()
    for i in range(3):
        _put(sess, i)
    pending, out = _start(_put, sess, 9)
    assert _blocked(pending)
    sess.run("^close")  # without cancel the pending enqueue still waits for room
    assert _blocked(pending)
    sess.run("deq:1")
    pending.join(5)
    assert "error" not in out and sess.run("size:0") == 3
    cancelled, out = _start(_put, sess, 10)
    cancelled.join(5)
    assert isinstance(out["error"], CancelledError)


def test_cancel_pending_enqueues():
    sess = _fifo()
    for i in range(3):
        _put(sess, i)
    pending, out = _start(_put, sess, 9)
    assert _blocked(pending)
    sess.run("^cancel")
    pending.join(5)
    assert "cancel_pending_enqueues" in str(out["error"])
    assert sess.run("many:1", {"n:0": 3}).tolist() == [0, 1, 2]


def test_timeout_ms_bounds_a_wait():
    sess = _fifo()
    with pytest.raises(DeadlineExceededError, match="timed out"):  # instead of blocking forever
        sess.run("deq_wait:0")


def test_wrong_shapes_are_refused():
    with pytest.raises(ValidationError, match="component 0 has shape \\[3\\]"):
        runtime.load(parse_graph(FIFO + "%c:0 f32[3] = Const() dtype=f32 "
                                        "value=f32[3]{1, 2, 3}\n%e2 = QueueEnqueueV2(%q:0, "
                                        "%c:0, %y:0) Tcomponents=[f32, i32]\n"))
    loose = runtime.load(parse_graph(FIFO + "%u:0 f32[*] = Placeholder() dtype=f32\n"
                                            "%e3 = QueueEnqueueV2(%q:0, %u:0, %y:0) "
                                            "Tcomponents=[f32, i32]\n"))
    with pytest.raises(ExecutionError, match="component 0 has shape \\[2, 1\\] but FIFOQueue"):
        loose.run("^e3", {"u:0": np.ones((2, 1), np.float32), "y:0": 1})
    assert loose.run("size:0") == 0


SHUFFLE = """
%q:0 res[] = RandomShuffleQueueV2() component_types=[i32] shapes=[shape[]] capacity=10 min_after_dequeue=3 seed=7 seed2=11
%ys:0 i32[?] = Placeholder() dtype=i32 shape=shape[?]
%fill = QueueEnqueueManyV2(%q:0, %ys:0) Tcomponents=[i32]
%deq:0 i32[] = QueueDequeueV2(%q:0) component_types=[i32] timeout_ms=100
%all:0 i32[?] = QueueDequeueUpToV2(%q:0, %n:0) component_types=[i32]
%n:0 i32[] = Const() dtype=i32 value=i32[]{100}
%close = QueueCloseV2(%q:0)
%size:0 i32[] = QueueSizeV2(%q:0)
"""


def test_random_shuffle_keeps_min_after_dequeue_until_closed():
    sess = runtime.load(parse_graph(SHUFFLE))
    sess.run("^fill", {"ys:0": np.arange(5)})
    got = [int(sess.run("deq:0")) for _ in range(2)]
    assert sess.run("size:0") == 3
    with pytest.raises(DeadlineExceededError):
        sess.run("deq:0")  # only min_after_dequeue elements are left
    sess.run("^close")
    rest = sess.run("all:0").tolist()
    assert sorted(got + rest) == list(range(5))


def test_random_shuffle_is_seeded_and_shuffles():
    def order():
        sess = runtime.load(parse_graph(SHUFFLE))
        sess.run("^fill", {"ys:0": np.arange(9)})
        sess.run("^close")
        return sess.run("all:0").tolist()
    first = order()
    assert first == order() and sorted(first) == list(range(9)) and first != list(range(9))


def test_min_after_dequeue_must_be_below_capacity():
    with pytest.raises(ValidationError, match="min_after_dequeue 10 must be < capacity 10"):
        parse_graph(SHUFFLE.replace("min_after_dequeue=3", "min_after_dequeue=10"))


def test_queue_shapes_must_be_fully_defined_for_dequeue_many():
    with pytest.raises(ValidationError, match="must be fully defined"):
        parse_graph('%q:0 res[] = FIFOQueueV2() component_types=[f32] shapes=[shape[?]]')
    sess = runtime.load(parse_graph(
        "%q:0 res[] = FIFOQueueV2() component_types=[f32]\n"
        "%n:0 i32[] = Const() dtype=i32 value=i32[]{1}\n"
        "%m:0 f32[*] = QueueDequeueManyV2(%q:0, %n:0) component_types=[f32]\n"))
    with pytest.raises(ExecutionError, match="require the components to have specified shapes"):
        sess.run("m:0")


def test_shared_name_shares_one_queue_and_checks_its_declaration():
    sess = runtime.load(parse_graph(
        '%a:0 res[] = FIFOQueueV2() component_types=[i32] shared_name="shared"\n'
        '%b:0 res[] = FIFOQueueV2() component_types=[i32] shared_name="shared"\n'
        '%c:0 res[] = FIFOQueueV2() component_types=[f32] shared_name="shared"\n'
        "%one:0 i32[] = Const() dtype=i32 value=i32[]{1}\n"
        "%put = QueueEnqueueV2(%a:0, %one:0) Tcomponents=[i32]\n"
        "%size:0 i32[] = QueueSizeV2(%b:0)\n%size_c:0 i32[] = QueueSizeV2(%c:0)\n"))
    sess.run("^put")
    assert sess.run("size:0") == 1
    with pytest.raises(ExecutionError, match="shared queue 'shared' exists as"):
        sess.run("size_c:0")


def test_queue_class_serves_dequeues_in_arrival_order():
    queue = Queue("q", [], [], capacity=-1)
    results: list = []
    threads = [threading.Thread(target=lambda k=k: results.append((k, queue.dequeue(2))),
                                daemon=True) for k in range(2)]
    for k, t in enumerate(threads):
        t.start()
        deadline = time.monotonic() + 5
        while len(queue._dequeuers) <= k and time.monotonic() < deadline:
            time.sleep(0.01)  # thread k is waiting in line before thread k + 1 starts
    queue.enqueue([(i,) for i in range(4)])
    for t in threads:
        t.join(5)
    assert sorted(results) == [(0, [(0,), (1,)]), (1, [(2,), (3,)])]
