"""The search/track logic and the tracker behind the worker's FramePerception protocol."""

from __future__ import annotations

from configs.app_config import TrackerConfig
from perception.detector import Detector
from perception.result import BallState, PerceptionStep
from perception.search import BallSearch
from perception.tracker import BallTracker
from stream.frame import Frame


class SearchAndTrack:
    """Looks where the tracker expects the ball (or searches), then updates the tracker.

    Called only from the perception thread. ``swap_detector`` replaces the backend
    between two frames (the INT8 switch) and keeps the track.
    """

    def __init__(self, search: BallSearch, tracker: BallTracker, detector: Detector) -> None:
        self._search = search
        self._tracker = tracker
        self._detector = detector

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

    def process(self, frame: Frame) -> tuple[PerceptionStep, BallState]:
        """Search or track on ``frame``; the tracker's state after it."""
        prediction = self._tracker.predict(frame.pts_s)
        step = self._search.step(frame, prediction)
        ball = self._tracker.update(step.detections, frame.pts_s, (frame.width, frame.height))
        return step, ball

    def reset(self) -> None:
        """Forget the track."""
        self._tracker.reset()
