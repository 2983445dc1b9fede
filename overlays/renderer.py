"""The render stage: draws overlays on the frame the detection came from, then writes outputs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from overlays.output import Drawer, Output
from perception.result import FrameResult
from stream.latency import LatencyLog, LatencyRecord, NullLatencyLog
from stream.messages import EndOfStream, StageFailure
from stream.queues import BoundedQueue
from stream.stage import Stage

logger = logging.getLogger(__name__)

Clock = Callable[[], int]


class RenderStage(Stage):
    """Draws every result and hands it to the output (thread ``render``).

    Per-frame drawing errors are not expected (drawers are pure numpy/cv2 on a
    valid image), so any error here fails the stage; the output is closed in
    ``teardown`` either way, so a video stays playable up to the last frame.
    Writes one :class:`LatencyRecord` per frame to the latency log.
    """

    def __init__(
        self,
        results_in: BoundedQueue[FrameResult],
        drawers: Sequence[Drawer],
        output: Output,
        *,
        latency_log: LatencyLog | None = None,
        clock: Clock = time.monotonic_ns,
    ) -> None:
        super().__init__("render")
        self._results_in = results_in
        self._drawers = tuple(drawers)
        self._output = output
        self._log = latency_log or NullLatencyLog()
        self._clock = clock
        self.frames_written = 0

    def run_once(self) -> bool:
        """Render and write one result; False at the end of the stream."""
        entry = self._results_in.get(self.abort_event)
        if entry is None:
            return True
        if isinstance(entry, EndOfStream):
            return False
        if isinstance(entry, StageFailure):
            return False  # the failing stage re-raises it from its own join()
        self._render(entry)
        return True

    def _render(self, result: FrameResult) -> None:
        image = result.frame.image.copy()
        for drawer in self._drawers:
            drawer.draw_on(image, result)
        rendered_ns = self._clock()
        self._output.write(image, result)
        written_ns = self._clock()
        self.frames_written += 1
        frame = result.frame
        step = result.step
        self._log.write(
            LatencyRecord(
                frame_index=frame.index,
                pts_s=frame.pts_s,
                captured_ns=frame.captured_ns,
                enqueued_ns=frame.enqueued_ns,
                dequeued_ns=result.dequeued_ns,
                infer_start_ns=step.infer_start_ns,
                infer_end_ns=step.infer_end_ns,
                rendered_ns=rendered_ns,
                written_ns=written_ns,
                mode=str(step.mode),
                pixels=step.pixels,
                precision=result.precision,
                ball_status=str(result.ball.status),
                windows=step.windows,
                candidates=step.candidates,
            )
        )

    def teardown(self) -> None:
        """Finalize the outputs (a playable video, a flushed CSV)."""
        self._output.close()
