"""When a buffered log file is due for a flush: time-based, so a killed run loses under a second."""

from __future__ import annotations

import time
from collections.abc import Callable

_NS_PER_S = 1_000_000_000

Clock = Callable[[], int]


class FlushSchedule:
    """Says when the rows written since the last flush should go to the OS.

    A flush per row costs a system call per frame; a flush every N rows leaves
    minutes unwritten when frames are slow. Time-based flushing bounds what a
    SIGKILL loses to ``interval_s`` of rows, whatever the frame rate. Rows reach
    the OS (not the disk: no fsync), which survives a killed process, not a
    power cut. Not thread-safe: its owner calls it under its own lock.
    """

    def __init__(self, interval_s: float = 1.0, *, clock: Clock = time.monotonic_ns) -> None:
        """Start counting from now.

        Args:
            interval_s: the longest time rows may wait in the buffer, in seconds (> 0).
            clock: monotonic nanoseconds (injectable for tests).

        Raises:
            ValueError: ``interval_s`` is not positive.
        """
        if not interval_s > 0:
            msg = f"flush interval_s must be > 0, but got {interval_s}"
            raise ValueError(msg)
        self._interval_ns = round(interval_s * _NS_PER_S)
        self._clock = clock
        self._last_flush_ns = clock()

    def is_due(self) -> bool:
        """Whether the buffer should be flushed now (call after each write).

        Returns True at most once per interval and restarts the interval when it does.
        """
        now_ns = self._clock()
        if now_ns - self._last_flush_ns < self._interval_ns:
            return False
        self._last_flush_ns = now_ns
        return True
