"""The perception stage: detector + search/track + tracker on every frame it gets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from perception.result import FrameResult
from stream.frame import Frame
from stream.latency import LatencyLog, NullLatencyLog, RunEvent
from stream.messages import END_OF_STREAM, EndOfStream, StageFailure
from stream.queues import BoundedQueue
from stream.stage import Stage

logger = logging.getLogger(__name__)

Clock = Callable[[], int]


class FramePerception(Protocol):
    """Looks at one frame (search tiles or a tracked crop) and updates the ball track.

    Called only from the perception thread, frames in order. A tracker that reports
    with a lag returns a frame's result a few frames later, so every call returns
    the results settled by it (possibly none, possibly several), oldest first.
    """

    @property
    def precision(self) -> str:
        """Precision of the detector now in use (``fp32``, ``int8``…)."""
        ...

    def process(self, frame: Frame, dequeued_ns: int) -> list[FrameResult]:
        """Look at ``frame``; the results settled by it."""
        ...

    def flush(self) -> list[FrameResult]:
        """The results of every frame still waiting (end of stream)."""
        ...

    def reset(self) -> list[FrameResult]:
        """Settle what is waiting, then forget the track (a reconnect: the scene may differ)."""
        ...


class PerceptionWorker(Stage):
    """Runs perception on frames from the frame queue (thread ``perception``).

    A frame that fails in the detector fails the stage (a model error is not an
    expected per-frame condition); the failure travels down as a typed message.
    """

    def __init__(
        self,
        perception: FramePerception,
        frames_in: BoundedQueue[Frame],
        results_out: BoundedQueue[FrameResult],
        *,
        clock: Clock = time.monotonic_ns,
        latency_log: LatencyLog | None = None,
    ) -> None:
        super().__init__("perception")
        self._perception = perception
        self._frames_in = frames_in
        self._results_out = results_out
        self._clock = clock
        self._log = latency_log or NullLatencyLog()
        self._epoch: int | None = None
        self.frames_processed = 0

    def run_once(self) -> bool:
        """Process one frame; False at the end of the stream."""
        entry = self._frames_in.get(self.abort_event)
        if entry is None:
            return True
        if isinstance(entry, EndOfStream):
            self._emit(self._perception.flush())
            return False
        if isinstance(entry, StageFailure):
            self._results_out.put(entry, self.abort_event)
            return False
        self._process(entry)
        return True

    def _process(self, frame: Frame) -> None:
        dequeued_ns = self._clock()
        if self._epoch is not None and frame.epoch != self._epoch:
            self._emit(self._perception.reset())
            self._log.write(RunEvent("reset", dequeued_ns, {"epoch": frame.epoch}))
        self._epoch = frame.epoch
        self._emit(self._perception.process(frame, dequeued_ns))

    def _emit(self, results: list[FrameResult]) -> None:
        for result in results:
            self.frames_processed += 1
            self._results_out.put(result, self.abort_event)

    def on_failure(self, error: BaseException) -> None:
        """Tell the renderer that perception failed."""
        self._results_out.put(StageFailure(self.name, error), self.abort_event)

    def teardown(self) -> None:
        """Send the end marker downstream."""
        self._results_out.put(END_OF_STREAM, self.abort_event)
