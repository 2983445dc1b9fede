"""The capture stage: reads a source, stamps frames, feeds the frame queue."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from stream.control import PlaybackControl
from stream.frame import Frame
from stream.messages import END_OF_STREAM, StageFailure
from stream.queues import BoundedQueue
from stream.source import FrameSource
from stream.stage import Stage

logger = logging.getLogger(__name__)

Clock = Callable[[], int]


class CaptureStage(Stage):
    """Reads frames from a source into the frame queue (thread ``capture``).

    With ``is_realtime`` a replay is paced by its timestamps so it behaves like a
    live feed. A ``control`` can pause it before a read (the pacing clock then
    moves on by the pause). The end marker is always sent,
    also after ``stop()`` or a failure (then a :class:`StageFailure` first).
    """

    def __init__(
        self,
        source: FrameSource,
        frames_out: BoundedQueue[Frame],
        *,
        is_realtime: bool = False,
        clock: Clock = time.monotonic_ns,
        control: PlaybackControl | None = None,
    ) -> None:
        super().__init__("capture")
        self._control = control
        self._source = source
        self._frames_out = frames_out
        self._is_realtime = is_realtime
        self._clock = clock
        self._pace_origin: tuple[int, float] | None = None
        self.frames_read = 0

    def run_once(self) -> bool:
        """Read, stamp and queue one frame; False at the end of the stream."""
        if self._control is not None:
            self._shift_pace(self._control.wait_while_paused(self.stop_event))
        source_frame = self._source.read(self.stop_event)
        if source_frame is None:
            return False
        captured_ns = self._clock()
        if self._is_realtime:
            self._wait_for_pts(source_frame.pts_s)
            captured_ns = self._clock()
        self.frames_read += 1
        frame = Frame(
            index=source_frame.index,
            image=source_frame.image,
            pts_s=source_frame.pts_s,
            captured_ns=captured_ns,
            enqueued_ns=self._clock(),
            truth=source_frame.truth,
            epoch=source_frame.epoch,
        )
        return self._frames_out.put(frame, self.abort_event)

    def _shift_pace(self, paused_s: float) -> None:
        if paused_s > 0 and self._pace_origin is not None:
            origin_ns, origin_pts = self._pace_origin
            self._pace_origin = (origin_ns + int(paused_s * 1e9), origin_pts)

    def _wait_for_pts(self, pts_s: float) -> None:
        now_ns = time.monotonic_ns()
        if self._pace_origin is None:
            self._pace_origin = (now_ns, pts_s)
            return
        origin_ns, origin_pts = self._pace_origin
        due_ns = origin_ns + int((pts_s - origin_pts) * 1e9)
        delay_s = (due_ns - now_ns) / 1e9
        if delay_s > 0:
            self.stop_event.wait(delay_s)

    def on_failure(self, error: BaseException) -> None:
        """Tell the worker that capture failed."""
        self._frames_out.put(StageFailure(self.name, error), self.abort_event)

    def teardown(self) -> None:
        """Close the source and send the end marker."""
        try:
            self._source.close()
        finally:
            self._frames_out.put(END_OF_STREAM, self.abort_event)
