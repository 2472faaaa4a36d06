"""A one-item mailbox between two threads: the producer never waits, the consumer gets the newest item.

This is the "latest frame" policy of the live side: when the consumer (inference) is slower than the
producer (the camera), old items are overwritten and counted as dropped, so lag cannot build up.
"""
from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Thread-safe single-item slot. ``put`` replaces an unread item; ``get`` waits for a new one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False
        self.puts = 0
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._cond:
            if self._full:
                self.dropped += 1
            self._item, self._full = item, True
            self.puts += 1
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> T | None:
        """The newest unread item, waiting up to ``timeout`` s; None on timeout or once closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: self._full or self._closed, timeout)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            return item

    def close(self) -> None:
        """Wake every waiter; ``get`` still returns an item put before closing, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def drained(self) -> bool:
        """True once closed and nothing is left to read."""
        with self._cond:
            return self._closed and not self._full
