"""One device job at a time: a first-come-first-served turn that API requests (and the app's jobs) wait for.

``DeviceQueue.turn(cancelled)`` is a context manager for any thread: it waits until every earlier waiter has had
its turn and the device is free, and gives up (``Cancelled``) as soon as ``cancelled`` is set, e.g. when the client
that asked has gone. ``QueueFull`` when ``max_waiting`` requests already wait (``bounded=False``: a caller whose own
queue is bounded already, such as the app's jobs behind Gradio's queue). The Gradio app, mounting the API, runs its
device work in the same object's ``turn()`` so both take turns.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Iterator


class Cancelled(Exception):
    """The job was cancelled (its client disconnected) before or while it ran."""


class QueueFull(Exception):
    """Too many jobs already wait for the device."""


class DeviceQueue:
    """A fair (FIFO) lock for the device, with a bound on how many may wait and cancellable waits."""

    def __init__(self, max_waiting: int = 16):
        self.max_waiting = max_waiting
        self._cond = threading.Condition()
        self._waiters: deque[object] = deque()
        self._busy = False
        self.completed = 0  # turns finished (a health figure)

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @contextlib.contextmanager
    def turn(self, cancelled: threading.Event | None = None, *, bounded: bool = True) -> Iterator[None]:
        me = object()
        with self._cond:
            if bounded and len(self._waiters) >= self.max_waiting:
                raise QueueFull(f"{len(self._waiters)} requests already wait for the device; try again later")
            self._waiters.append(me)
            try:
                while True:
                    if cancelled is not None and cancelled.is_set():
                        raise Cancelled("cancelled while waiting for the device")
                    if not self._busy and self._waiters[0] is me:
                        break
                    self._cond.wait(timeout=0.1)  # wakes on release, and polls ``cancelled``
            finally:
                self._waiters.remove(me)
                self._cond.notify_all()
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self.completed += 1
                self._cond.notify_all()
