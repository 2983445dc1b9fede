"""The search/track logic and the tracker behind the worker's FramePerception protocol."""

from __future__ import annotations

import threading
from dataclasses import replace

from configs.app_config import TrackerConfig
from perception.at_rest import RestBall, RestLook
from perception.change import CandidateChange
from perception.detector import Detector
from perception.frame_input import frame_input_of
from perception.result import BallState, FrameResult, PerceptionStep, TrackStatus
from perception.search import BallSearch
from perception.tracker import BallTracker, LaggedTracker, seeding_for
from stream.frame import Frame

# what waits in the lagged tracker until its frame's ball is settled
_Key = tuple[Frame, PerceptionStep, int, str]


def tracker_for(detector: Detector, config: TrackerConfig) -> BallTracker:
    """A fresh tracker set for what ``detector`` sees (:func:`perception.tracker.seeding_for`)."""
    return BallTracker(seeding_for(config, frame_input_of(detector)))


class SearchAndTrack:
    """Looks where the tracker expects the ball (or searches), then updates the tracker.

    The tracker reports each frame ``tracker.lag_frames`` frames late (gaps filled from
    detections on both sides), so :meth:`process` returns the frames settled by the
    new one, in order, each with its own step and ball; :meth:`flush` settles the rest.

    Called only from the perception thread, except :meth:`request_swap` (thread-safe):
    the INT8 switch asks from another thread, and the swap happens at the start of the
    next :meth:`process`, between two frames, keeping the track.

    With a :class:`RestLook`, a frame the tracker reports lost gets the ball at rest where
    the last long track ended, when the colour model finds it lying still there.
    """

    def __init__(
        self,
        search: BallSearch,
        tracker: BallTracker,
        detector: Detector,
        rest_look: RestLook | None = None,
    ) -> None:
        self._search = search
        self._rest_look = rest_look
        self._at_rest: dict[int, RestBall] = {}  # frame index -> ball at rest, until settled
        self._tracker = LaggedTracker[_Key](tracker)
        self._detector = detector
        config = tracker.config
        self._change = CandidateChange(config.change_floor, config.change_noise_sigmas)
        self._swap_lock = threading.Lock()
        self._pending_swap: Detector | None = None

    @classmethod
    def build(
        cls,
        detector: Detector,
        search: BallSearch,
        tracker_cfg: TrackerConfig,
        rest_look: RestLook | None = None,
    ) -> SearchAndTrack:
        """Wire a search and a fresh tracker, set for what ``detector`` sees, around it."""
        return cls(search, tracker_for(detector, tracker_cfg), detector, rest_look)

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
        if self._rest_look is not None:
            step = self._look_at_rest(self._rest_look, frame, step)
        key = (frame, step, dequeued_ns, self.precision)
        size = (frame.width, frame.height)
        moving = self._change.moving(frame.image, step.detections)
        settled = self._tracker.push(key, step.detections, frame.pts_s, size, moving)
        return self._results(settled)

    def _look_at_rest(self, look: RestLook, frame: Frame, step: PerceptionStep) -> PerceptionStep:
        """Run the rest look (on the track as it stood after the last frame).

        Its time and pixels join the step's, so the latency log counts them.
        """
        start_ns = self._search.clock()
        found = look.observe(frame.image, frame.pts_s, self._tracker.tracker.last_point)
        if found is not None:
            self._at_rest[frame.index] = found
        pixels = look.looked_px
        if not pixels:
            return step
        return replace(
            step,
            pixels=step.pixels + pixels,
            windows=step.windows + 1,
            infer_start_ns=step.infer_start_ns or start_ns,
            infer_end_ns=self._search.clock(),
        )

    def flush(self) -> list[FrameResult]:
        """Settle every waiting frame (end of stream)."""
        return self._results(self._tracker.flush())

    def reset(self) -> list[FrameResult]:
        """Settle the waiting frames, then forget the track (the scene may have changed)."""
        self._search.reset()
        self._change.reset()
        settled = self._results(self._tracker.reset())
        if self._rest_look is not None:
            self._rest_look.reset()
        return settled

    def _results(self, settled: list[tuple[_Key, BallState]]) -> list[FrameResult]:
        results = []
        for (frame, step, dequeued_ns, precision), tracked in settled:
            rest = self._at_rest.pop(frame.index, None)
            ball = tracked
            if rest is not None and tracked.status is TrackStatus.LOST:
                ball = BallState(TrackStatus.REST, rest.x, rest.y, rest.score)
            results.append(FrameResult(frame, step, ball, dequeued_ns, precision))
        return results
