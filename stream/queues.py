"""Bounded queues with a named full-queue policy; control messages are never dropped."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Generic, TypeVar

from stream.messages import EndOfStream, StageFailure


class DropPolicy(StrEnum):
    """What a full queue does with a new item.

    ``BLOCK`` waits for room (replays: nothing is lost); ``LATEST`` drops the
    oldest waiting item so the newest wins (live sources: latency stays bounded).
    """

    BLOCK = "block"
    LATEST = "latest"


class DropCause(StrEnum):
    """Why a frame never reached the renderer."""

    QUEUE_FULL = "queue_full"
    STALE = "stale"
    DECODE_ERROR = "decode_error"


T = TypeVar("T")
Control = EndOfStream | StageFailure
DropCallback = Callable[[object, DropCause], None]
_POLL_S = 0.1


def _ignore_drop(item: object, cause: DropCause) -> None:
    del item, cause


class BoundedQueue(Generic[T]):
    """A thread-safe bounded queue of items and control messages.

    ``put`` and ``get`` wait at most ``_POLL_S`` at a time and give up as soon as
    the caller's stop event is set, so no thread ever blocks forever. Under
    ``LATEST`` a full queue drops its oldest *item* (never a control message) and
    reports it through ``on_drop``. Safe to share between one producer and one
    consumer thread.
    """

    def __init__(
        self,
        maxsize: int,
        policy: DropPolicy,
        on_drop: DropCallback = _ignore_drop,
    ) -> None:
        if maxsize < 1:
            msg = f"queue maxsize must be >= 1, but got {maxsize}"
            raise ValueError(msg)
        self.maxsize = maxsize
        self.policy = policy
        self._on_drop = on_drop
        self._items: collections.deque[T | Control] = collections.deque()
        self._cond = threading.Condition()
        self._drops = 0

    @property
    def drop_count(self) -> int:
        """How many items this queue has dropped so far."""
        with self._cond:
            return self._drops

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, item: T | Control, stop: threading.Event) -> bool:
        """Put an item or a control message.

        Args:
            item: the item, or ``END_OF_STREAM`` / ``StageFailure``.
            stop: the caller's stop event; a blocked put gives up when it is set.

        Returns:
            True when the item was queued, False when ``stop`` was set first.
        """
        is_control = isinstance(item, EndOfStream | StageFailure)
        dropped: list[T | Control] = []
        with self._cond:
            # control messages never wait and never count against the capacity
            while not is_control and self._item_count() >= self.maxsize:
                if self.policy is DropPolicy.LATEST:
                    victim = self._oldest_item_index()
                    if victim is not None:
                        dropped.append(self._items[victim])
                        del self._items[victim]
                        self._drops += 1
                        continue
                if stop.is_set():
                    return False
                self._cond.wait(_POLL_S)
            self._items.append(item)
            self._cond.notify_all()
        for victim_item in dropped:
            self._on_drop(victim_item, DropCause.QUEUE_FULL)
        return True

    def get(
        self, stop: threading.Event | None = None, timeout_s: float = _POLL_S
    ) -> T | Control | None:
        """Take the oldest entry, waiting up to ``timeout_s``.

        Returns:
            The entry, or None when nothing arrived in time (or ``stop`` is set).
        """
        with self._cond:
            if not self._items:
                if stop is not None and stop.is_set():
                    return None
                self._cond.wait(timeout_s)
                if not self._items:
                    return None
            entry = self._items.popleft()
            self._cond.notify_all()
            return entry

    def _item_count(self) -> int:
        return sum(not isinstance(entry, EndOfStream | StageFailure) for entry in self._items)

    def _oldest_item_index(self) -> int | None:
        for position, entry in enumerate(self._items):
            if not isinstance(entry, EndOfStream | StageFailure):
                return position
        return None
