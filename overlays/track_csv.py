"""The track CSV output: one row per rendered frame (and bridged dropped frame), flushed often."""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray

from overlays.outputs import ensure_writable, os_cause
from perception.result import BallState, FrameResult
from perception.tracker.dropped import DroppedFrames
from stream.errors import OutputError
from stream.flushing import FlushSchedule

logger = logging.getLogger(__name__)


class TrackCsvOutput:
    """Writes the ball track: one row per frame, ``frame,pts_s,status,x,y,confidence``.

    ``x``, ``y`` and ``confidence`` are empty when the ball is lost. A frame a live run
    dropped gets a row (status ``predicted``, on the line between its neighbours) when
    :class:`~perception.tracker.dropped.DroppedFrames` bridges it, else none. The header
    is written at construction; rows are flushed at least every
    ``flush_interval_s`` (on the next row) and on close, so a killed run keeps
    all but the last second. Not thread-safe: the render thread owns it.
    """

    HEADER = ("frame", "pts_s", "status", "x", "y", "confidence")

    def __init__(
        self,
        path: str | Path,
        *,
        flush_interval_s: float = 1.0,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        """Create (or replace) the CSV file and write the header.

        Args:
            path: the CSV file; replaced if present.
            flush_interval_s: the longest time a row waits before it is flushed.
            clock: monotonic nanoseconds (injectable for tests).

        Raises:
            OutputError: the file cannot be created.
        """
        self.path = Path(path)
        ensure_writable(self.path, "track CSV")
        try:
            self._file: IO[str] = self.path.open("w", newline="", encoding="utf-8")
        except OSError as exc:
            msg = f"cannot write track CSV {str(self.path)!r}: {exc.strerror}"
            raise OutputError(msg) from exc
        self._writer = csv.writer(self._file)
        self._flush = FlushSchedule(flush_interval_s, clock=clock)
        self._has_failed = False
        self._dropped = DroppedFrames()
        self._guarded(lambda: self._writer.writerow(self.HEADER))

    def write(self, image: NDArray[np.uint8], result: FrameResult) -> None:
        """Append the row of ``result`` (the image is not used).

        Raises:
            OutputError: the row cannot be written (disk full, file too large…).
        """
        del image
        frame = result.frame
        rows = [
            _row(gap.index, gap.pts_s, gap.ball)
            for gap in self._dropped.bridge(frame.index, frame.pts_s, result.ball)
        ]
        rows.append(_row(frame.index, frame.pts_s, result.ball))
        self._guarded(lambda: self._writer.writerows(rows))
        if self._flush.is_due():
            self._guarded(self._file.flush)

    def close(self) -> None:
        """Flush and close the file; safe to call more than once.

        Raises:
            OutputError: the last rows cannot be written (not raised again after a
                failed write, which was already reported).
        """
        if self._file.closed:
            return
        if self._has_failed:
            _close_quietly(self._file, self.path)
            return
        try:
            self._guarded(self._file.flush)
        finally:
            _close_quietly(self._file, self.path)

    def _guarded(self, action: Callable[[], object]) -> None:
        try:
            action()
        except OSError as exc:
            self._has_failed = True
            msg = f"cannot write track CSV {str(self.path)!r}: {os_cause(exc)}"
            raise OutputError(msg) from exc


def _close_quietly(file: IO[str], path: Path) -> None:
    """Close ``file`` whose failure was already reported (what is still buffered is lost)."""
    try:
        file.close()
    except OSError as exc:
        logger.debug("closing %s after a failed write: %s", path, exc)


def _row(index: int, pts_s: float, ball: BallState) -> tuple[object, ...]:
    has_position = ball.has_position
    return (
        index,
        f"{pts_s:.6f}",
        str(ball.status),
        _format_optional(ball.x, 2, has_position),
        _format_optional(ball.y, 2, has_position),
        _format_optional(ball.confidence, 4, has_position),
    )


def _format_optional(value: float, digits: int, is_known: bool) -> str:
    return f"{value:.{digits}f}" if is_known else ""
