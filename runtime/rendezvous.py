"""Rendezvous: where a step's _Send and _Recv kernels meet, keyed by TensorFlow's key strings.

    key = make_key(cpu0, 1, cpu1, "edge_5_x")    # cpu0 = "/job:localhost/.../device:CPU:0"
        -> "/job:localhost/replica:0/task:0/device:CPU:0;1;"
           "/job:localhost/replica:0/task:0/device:CPU:1;edge_5_x;0:0"
    rdv = LocalRendezvous(step_id=7)
    rdv.send(key, value)            # on the sending device's worker
    rdv.recv(key)                   # on the receiving one: blocks until sent -> value
    rdv.abort(error)                # wakes every waiter: recv raises StepAborted

``Rendezvous`` is the interface (send, recv, abort); ``LocalRendezvous`` is the in-process table
of one step and ``RendezvousManager`` hands out one per step id, so a cross-process transport
can implement the same three calls later. Kernels find the rendezvous of the step they run in
through ``current()``, bound per worker thread with ``bind(rdv)``: steps never share one.

A recv never hangs on a tensor that cannot come: ``sender_done(device)`` (called when a device's
partition finished) makes every pending or later recv of a key that device should have sent
fail with an ExecutionError naming the key.
"""
from __future__ import annotations

import abc
import contextlib
import threading
import time
from typing import Any, Iterator, Optional

from schema.errors import ExecutionError

__all__ = ["Rendezvous", "LocalRendezvous", "RendezvousManager", "StepAborted", "make_key",
           "parse_key", "bind", "current"]


class StepAborted(ExecutionError):
    """Raised in a partition because another partition of the same step failed."""


def make_key(send_device: str, incarnation: int, recv_device: str, tensor_name: str,
             frame_iter: tuple[int, int] = (0, 0)) -> str:
    """TensorFlow's Rendezvous::CreateKey form."""
    return (f"{send_device};{incarnation:x};{recv_device};{tensor_name};"
            f"{frame_iter[0]}:{frame_iter[1]}")


def parse_key(key: str) -> dict:
    """The fields of ``make_key``; ExecutionError for a malformed key."""
    parts = key.split(";")
    frame, _, iteration = parts[-1].partition(":") if len(parts) == 5 else ("", "", "")
    if len(parts) != 5 or not frame.isdigit() or not iteration.isdigit():
        raise ExecutionError(f"malformed rendezvous key {key!r}: expected "
                             f"'send_device;incarnation;recv_device;tensor_name;frame:iter'")
    return {"send_device": parts[0], "incarnation": int(parts[1], 16), "recv_device": parts[2],
            "tensor_name": parts[3], "frame_iter": (int(frame), int(iteration))}


class Rendezvous(abc.ABC):
    """One step's meeting point. Implementations must make recv wake on abort."""

    @abc.abstractmethod
    def send(self, key: str, value: Any) -> None:
        """Makes ``value`` available under ``key``; each key is sent once per step."""

    @abc.abstractmethod
    def recv(self, key: str, timeout: Optional[float] = None) -> Any:
        """The value sent under ``key``, waiting for it; StepAborted once aborted."""

    @abc.abstractmethod
    def abort(self, error: BaseException) -> None:
        """Ends the step: every waiting and later send/recv raises StepAborted."""


class LocalRendezvous(Rendezvous):
    """The in-process table of one step: a dict guarded by a condition variable."""

    def __init__(self, step_id: int = 0):
        self.step_id = step_id
        self._values: dict[str, Any] = {}
        self._received: set[str] = set()
        self._done_senders: set[str] = set()
        self._error: Optional[BaseException] = None
        self._cond = threading.Condition()

    @property
    def error(self) -> Optional[BaseException]:
        """The first error passed to abort: the step's root cause."""
        return self._error

    def send(self, key: str, value: Any) -> None:
        with self._cond:
            self._raise_if_aborted(key)
            if key in self._values or key in self._received:
                raise ExecutionError(f"step {self.step_id}: key {key!r} was sent twice")
            self._values[key] = value
            self._cond.notify_all()

    def recv(self, key: str, timeout: Optional[float] = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        sender = key.split(";", 1)[0]
        with self._cond:
            while key not in self._values:
                self._raise_if_aborted(key)
                if sender in self._done_senders:
                    raise ExecutionError(
                        f"step {self.step_id}: recv of {key!r} cannot complete: the partition "
                        f"on {sender} finished without sending it")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise ExecutionError(f"step {self.step_id}: recv of {key!r} timed out "
                                         f"after {timeout} s")
                self._cond.wait(left)
            self._received.add(key)
            return self._values.pop(key)

    def abort(self, error: BaseException) -> None:
        with self._cond:
            if self._error is None:
                self._error = error
            self._cond.notify_all()

    def sender_done(self, device: str) -> None:
        """``device`` will send nothing more this step (its partition finished)."""
        with self._cond:
            self._done_senders.add(device)
            self._cond.notify_all()

    def pending(self) -> list[str]:
        """Keys sent but not received (a finished step should have none)."""
        with self._cond:
            return sorted(self._values)

    def _raise_if_aborted(self, key: str) -> None:
        if self._error is not None:
            raise StepAborted(f"step {self.step_id} aborted while waiting on {key!r}: "
                              f"{type(self._error).__name__}: {self._error}")


class RendezvousManager:
    """Hands out one LocalRendezvous per step id (TensorFlow's RendezvousMgr, in process)."""

    def __init__(self):
        self._steps: dict[int, LocalRendezvous] = {}
        self._next = 1
        self._lock = threading.Lock()

    def new_step(self) -> LocalRendezvous:
        with self._lock:
            step_id, self._next = self._next, self._next + 1
            rdv = self._steps[step_id] = LocalRendezvous(step_id)
            return rdv

    def find(self, step_id: int) -> Optional[LocalRendezvous]:
        with self._lock:
            return self._steps.get(step_id)

    def cleanup(self, step_id: int) -> None:
        with self._lock:
            self._steps.pop(step_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._steps)


_bound = threading.local()


@contextlib.contextmanager
def bind(rdv: Rendezvous) -> Iterator[Rendezvous]:
    """Makes ``rdv`` the rendezvous of the kernels this thread runs inside the block."""
    previous = getattr(_bound, "rdv", None)
    _bound.rdv = rdv
    try:
        yield rdv
    finally:
        _bound.rdv = previous


def current(node_name: str = "") -> Rendezvous:
    """The rendezvous bound to this thread; ExecutionError outside a multi-device step."""
    rdv = getattr(_bound, "rdv", None)
    if rdv is None:
        where = f"node {node_name!r}: " if node_name else ""
        raise ExecutionError(f"{where}_Send/_Recv run only inside a multi-device step "
                             f"(runtime.multi_device.MultiDeviceSession); no rendezvous is bound")
    return rdv
