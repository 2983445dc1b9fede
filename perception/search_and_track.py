"""The search/track logic and the tracker behind the worker's FramePerception protocol."""

from __future__ import annotations

import threading

from configs.app_config import TrackerConfig
from perception.change import CandidateChange
from perception.detector import Detector
from perception.result import BallState, FrameResult, PerceptionStep
from perception.search import BallSearch
from perception.tracker import BallTracker, LaggedTracker
from stream.frame import Frame

# what waits in the lagged tracker until its frame's ball is settled
_Key = tuple[Frame, PerceptionStep, int, str]


class SearchAndTrack:
    """Looks where the tracker expects the ball (or searches), then updates the tracker.

    The tracker reports each frame ``tracker.lag_frames`` frames late (gaps filled from
    detections on both sides), so :meth:`process` returns the frames settled by the
    new one, in order, each with its own step and ball; :meth:`flush` settles the rest.

    Called only from the perception thread, except :meth:`request_swap` (thread-safe):
    the INT8 switch asks from another thread, and the swap happens at the start of the
    next :meth:`process`, between two frames, keeping the track.
    """

    def __init__(self, search: BallSearch, tracker: BallTracker, detector: Detector) -> None:
        self._search = search
        self._tracker = LaggedTracker[_Key](tracker)
        self._detector = detector
        config = tracker.config
        self._change = CandidateChange(config.change_floor, config.change_noise_sigmas)
        self._swap_lock = threading.Lock()
        self._pending_swap: Detector | None = None

    @classmethod
    def build(
        cls, detector: Detector, search: BallSearch, tracker_cfg: TrackerConfig
    ) -> SearchAndTrack:
        """Wire a search and a fresh tracker around ``detector``."""
        return cls(search, BallTracker(tracker_cfg), detector)

    @property
    def precision(self) -> str:
        """Precision of the detector in use."""
        return str(self._detector.precision)

    def request_swap(self, detector: Detector) -> None:
        """Run ``detector`` from the next frame on. Thread-safe; returns at once."""
        with self._swap_lock:
            self._pending_swap = detector

    def swap_detector(self, detector: Detector) -> None:
        """Run ``detector`` from now on (perception thread only); the track is kept.

        Raises:
            ValueError: ``detector`` runs at another resolution.
        """
        self._search.swap_detector(detector)
        self._detector = detector

    def process(self, frame: Frame, dequeued_ns: int) -> list[FrameResult]:
        """Search or track on ``frame``; the results of the frames it settled, oldest first."""
        with self._swap_lock:
            pending, self._pending_swap = self._pending_swap, None
        if pending is not None:
            self.swap_detector(pending)
        prediction = self._tracker.predict(frame.pts_s)
        seeds = self._tracker.tracker.seeds(frame.pts_s)
        step = self._search.step(frame, prediction, seeds)
        key = (frame, step, dequeued_ns, self.precision)
        size = (frame.width, frame.height)
        moving = self._change.moving(frame.image, step.detections)
        return _results(self._tracker.push(key, step.detections, frame.pts_s, size, moving))

    def flush(self) -> list[FrameResult]:
        """Settle every waiting frame (end of stream)."""
        return _results(self._tracker.flush())

    def reset(self) -> list[FrameResult]:
        """Settle the waiting frames, then forget the track (the scene may have changed)."""
        self._search.reset()
        self._change.reset()
        return _results(self._tracker.reset())


def _results(settled: list[tuple[_Key, BallState]]) -> list[FrameResult]:
    return [
        FrameResult(frame=frame, step=step, ball=ball, dequeued_ns=dequeued_ns, precision=precision)
        for (frame, step, dequeued_ns, precision), ball in settled
    ]
