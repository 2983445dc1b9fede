"""Rolling figures for the HUD, fed by the latency log; and the progress bar output."""

from __future__ import annotations

import collections
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from overlays.drawers import HudStats
from perception.result import FrameResult
from stream.latency import DropEvent, LatencyLog, LatencyRecord, LogEntry, RunEvent

_NS_PER_S = 1e9


class RollingHudStats:
    """A LatencyLog that keeps the last ``window`` records and answers :class:`HudStats`.

    Written from the render thread (records) and other threads (drops); read by
    the HUD drawer in the render thread. Thread-safe. The figures shown on frame
    N come from frames before N (a frame's own record exists only once written).
    """

    def __init__(self, window: int = 30, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self._records: collections.deque[LatencyRecord] = collections.deque(maxlen=window)
        self._drops = 0
        self._lock = threading.Lock()
        self._clock = clock

    def write(self, entry: LogEntry) -> None:
        """Take a record or a drop."""
        with self._lock:
            if isinstance(entry, LatencyRecord):
                self._records.append(entry)
            elif isinstance(entry, DropEvent):
                self._drops += 1

    def close(self) -> None:
        """Nothing to release."""

    def __call__(self) -> HudStats:
        """The current figures (medians over the window)."""
        with self._lock:
            records = list(self._records)
            drops = self._drops
        if not records:
            return HudStats(drops=drops)
        fps = None
        if len(records) > 1:
            span_ns = records[-1].written_ns - records[0].written_ns
            fps = (len(records) - 1) * _NS_PER_S / span_ns if span_ns > 0 else None

        def median(values: list[float]) -> float:
            return float(np.median(np.asarray(values)))

        return HudStats(
            fps=fps,
            queue_wait_ms=median([r.queue_wait_ms for r in records]),
            inference_ms=median([r.inference_ms for r in records]),
            render_ms=median([r.render_ms for r in records]),
            end_to_end_ms=median([r.end_to_end_ms for r in records]),
            drops=drops,
        )


class ProgressOutput:
    """An Output that shows a progress bar (frames, fps, ETA when the total is known) on stderr."""

    def __init__(self, total: int | None, *, is_enabled: bool = True) -> None:
        self._bar: Any = tqdm(
            total=total,
            unit="frame",
            disable=not is_enabled,
            file=sys.stderr,
            dynamic_ncols=True,
            smoothing=0.1,
        )

    def write(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        """Count one frame."""
        del image, result
        self._bar.update(1)

    def close(self) -> None:
        """Close the bar."""
        self._bar.close()


class ProgressEvents:
    """An Output that reports progress (frames done / total) as run events to a log.

    Meant for the browser view's progress bar; one small event per frame.
    """

    def __init__(
        self, log: LatencyLog, total: int | None, clock: Callable[[], int] = time.monotonic_ns
    ) -> None:
        self._log = log
        self._total = total
        self._clock = clock
        self._done = 0

    def write(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        """Count one frame and report it."""
        del image, result
        self._done += 1
        self._log.write(
            RunEvent("progress", self._clock(), {"done": self._done, "total": self._total})
        )

    def close(self) -> None:
        """Nothing to release."""
