"""The search/track logic and the tracker behind the worker's FramePerception protocol."""

from __future__ import annotations

import threading

from configs.app_config import TrackerConfig
from perception.detector import Detector
from perception.result import BallState, PerceptionStep
from perception.search import BallSearch
from perception.tracker import BallTracker
from stream.frame import Frame


class SearchAndTrack:
    """Looks where the tracker expects the ball (or searches), then updates the tracker.

    Called only from the perception thread, except :meth:`request_swap` (thread-safe):
    the INT8 switch asks from another thread, and the swap happens at the start of the
    next :meth:`process`, between two frames, keeping the track.
    """

    def __init__(self, search: BallSearch, tracker: BallTracker, detector: Detector) -> None:
        self._search = search
        self._tracker = tracker
        self._detector = detector
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

    def process(self, frame: Frame) -> tuple[PerceptionStep, BallState]:
        """Search or track on ``frame``; the tracker's state after it."""
        with self._swap_lock:
            pending, self._pending_swap = self._pending_swap, None
        if pending is not None:
            self.swap_detector(pending)
        prediction = self._tracker.predict(frame.pts_s)
        step = self._search.step(frame, prediction)
        ball = self._tracker.update(step.detections, frame.pts_s, (frame.width, frame.height))
        return step, ball

    def reset(self) -> None:
        """Forget the track."""
        self._tracker.reset()
