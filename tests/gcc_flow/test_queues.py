"""gf.FIFOQueue and gf.RandomShuffleQueue: graph structure, and producers and consumers in
several threads sharing one gf.Session."""
from __future__ import annotations

import threading

import pytest

import gcc_flow as gf
from schema.errors import OutOfRangeError, ValidationError


def test_fifo_queue_nodes_and_shapes():
    g = gf.Graph()
    with g.as_default():
        q = gf.FIFOQueue(10, [gf.float32, gf.int32], shapes=[[2], []])
        enq = q.enqueue([[1.0, 2.0], 3])
        xs, ys = q.dequeue_many(4)
        x, y = q.dequeue()
    assert q.queue_ref.op.type == "FIFOQueueV2" and q.name == "fifo_queue"
    assert q.queue_ref.op.get_attr("capacity") == 10
    assert (enq.name, enq.type) == ("fifo_queue_enqueue", "QueueEnqueueV2")
    assert xs.op.name == "fifo_queue_DequeueMany" and xs.shape == (4, 2) and ys.shape == (4,)
    assert x.shape == (2,) and y.shape == () and y.dtype == gf.int32
    assert (q.close().type, q.size().dtype, q.is_closed().dtype) == \
        ("QueueCloseV2", gf.int32, gf.bool)


def test_names_give_dicts_and_enqueue_checks_shapes():
    g = gf.Graph()
    with g.as_default():
        q = gf.FIFOQueue(5, [gf.float32, gf.string], shapes=[[], []], names=["v", "s"])
        enq = q.enqueue({"v": 1.5, "s": "a"})
        out = q.dequeue()
        with pytest.raises(ValidationError, match="component 0 has shape \\[2\\]"):
            q.enqueue({"v": [1.0, 2.0], "s": "b"})
        with pytest.raises(ValueError, match="queue's names"):
            q.enqueue({"v": 1.0})
    sess = gf.Session(g)
    sess.run(enq)
    got = sess.run(out)
    assert set(got) == {"v", "s"} and got["v"] == 1.5 and got["s"] == b"a"


def test_two_producers_one_consumer_everything_arrives_once():
    g = gf.Graph()
    with g.as_default():
        q = gf.FIFOQueue(4, gf.int32, shapes=[])  # small: producers block on capacity
        value = gf.placeholder(gf.int32, [])
        enq = q.enqueue(value)
        batch = q.dequeue_many(5)
        close = q.close()
    sess = gf.Session(g)
    received: list[int] = []
    errors: list = []

    def produce(start: int):
        for i in range(start, start + 50):
            sess.run(enq, {value: i})

    def consume():
        try:
            for _ in range(20):
                received.extend(sess.run(batch).tolist())
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=produce, args=(k * 1000,), daemon=True) for k in (0, 1)]
    threads.append(threading.Thread(target=consume, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads) and not errors
    sess.run(close)
    assert sorted(received) == list(range(50)) + list(range(1000, 1050))
    for start in (0, 1000):  # each producer's elements keep their order
        mine = [v for v in received if start <= v < start + 50]
        assert mine == sorted(mine)


def test_blocked_dequeue_is_released_by_close():
    g = gf.Graph()
    with g.as_default():
        q = gf.FIFOQueue(3, [gf.float32], shapes=[[2]])
        out = q.dequeue()
        close = q.close()
    sess = gf.Session(g)
    caught: list = []
    waiter = threading.Thread(target=lambda: _catch(caught, sess.run, out), daemon=True)
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()
    sess.run(close)
    waiter.join(5)
    assert not waiter.is_alive() and isinstance(caught[0], OutOfRangeError)
    assert "FIFOQueue 'fifo_queue' is closed" in str(caught[0])


def _catch(into: list, fn, *args):
    try:
        fn(*args)
    except Exception as err:  # noqa: BLE001
        into.append(err)


def test_capacity_blocks_enqueue_many_until_room():
    g = gf.Graph()
    with g.as_default():
        q = gf.FIFOQueue(2, gf.int32, shapes=[])
        enq = q.enqueue_many([[1, 2, 3, 4, 5]])
        first = q.dequeue_many(2)
        size = q.size()
    sess = gf.Session(g)
    producer = threading.Thread(target=sess.run, args=(enq,), daemon=True)
    producer.start()
    producer.join(0.2)
    assert producer.is_alive() and sess.run(size) == 2
    got = [sess.run(first).tolist() for _ in range(2)]
    producer.join(5)
    assert not producer.is_alive() and got == [[1, 2], [3, 4]] and sess.run(size) == 1


def test_random_shuffle_queue_min_after_dequeue():
    g = gf.Graph()
    with g.as_default():
        q = gf.RandomShuffleQueue(20, 5, gf.int32, shapes=[], seed=42)
        fill = q.enqueue_many([list(range(12))])
        take = q.dequeue_many(7)
        rest = q.dequeue_up_to(100)
        size = q.size()
        close = q.close()
    attrs = q.queue_ref.op
    assert (attrs.get_attr("min_after_dequeue"), attrs.get_attr("seed2")) == (5, 42)
    sess = gf.Session(g)
    sess.run(fill)
    taken = sess.run(take).tolist()
    assert sess.run(size) == 5 and taken != list(range(7))
    remaining: list = []
    waiter = threading.Thread(target=lambda: remaining.extend(sess.run(rest).tolist()),
                              daemon=True)
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # only min_after_dequeue elements are left: it waits
    sess.run(close)
    waiter.join(5)
    assert not waiter.is_alive() and sess.run(size) == 0
    assert sorted(taken + remaining) == list(range(12))


def test_random_shuffle_queue_validates_its_arguments():
    with gf.Graph().as_default():
        with pytest.raises(ValidationError, match="min_after_dequeue 5 must be < capacity 3"):
            gf.RandomShuffleQueue(3, 5, gf.int32)
        with pytest.raises(ValueError, match="fully defined"):
            gf.FIFOQueue(3, gf.int32, shapes=[[None]])
        with pytest.raises(ValueError, match="2 components, got 1"):
            gf.FIFOQueue(3, [gf.int32, gf.int32]).enqueue(1)
