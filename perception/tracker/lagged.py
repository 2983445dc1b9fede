"""The fixed-lag stage: each frame's ball settled ``lag_frames`` frames late.

Owns :class:`LaggedTracker`: with detections on both sides of a frame, gaps are
interpolated instead of extrapolated, seen positions are smoothed along the path, and the
first detection of a new track is shown once confirmed. It adds ``lag_frames`` frames of
latency; ``lag_frames: 0`` reports each frame at once (online). Not thread-safe.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from perception.detections import Detections
from perception.result import BallState, TrackStatus
from perception.tracker.candidates import streak_speed
from perception.tracker.motion_fit import MotionFit
from perception.tracker.online import BallTracker
from perception.tracker.values import TrackerPrediction, TrackPoint

K = TypeVar("K")


@dataclass(slots=True)
class _Pending(Generic[K]):
    """A frame waiting to be settled (mutable: a later confirmation fills ``point``)."""

    key: K
    t_s: float
    state: BallState
    point: TrackPoint | None
    segment: int


class LaggedTracker(Generic[K]):
    """Reports each frame's ball ``lag_frames`` frames late, using detections on both sides.

    Each pushed frame gets a caller's key (the frame itself, its index…); settled frames
    come back in order as ``(key, state)``. With ``lag_frames == 0`` every push returns
    its own frame at once, with the online state. Not thread-safe.

    Args:
        tracker: the online tracker (it keeps predicting for the search).
    """

    def __init__(self, tracker: BallTracker) -> None:
        self._tracker = tracker
        config = tracker.config
        self._lag = config.lag_frames
        self._pending: deque[_Pending[K]] = deque()
        self._context: deque[_Pending[K]] = deque(maxlen=max(config.history, 2))

    @property
    def tracker(self) -> BallTracker:
        """The online tracker inside."""
        return self._tracker

    def predict(self, t_s: float) -> TrackerPrediction | None:
        """The online tracker's prediction (for the search crop)."""
        return self._tracker.predict(t_s)

    def push(
        self,
        key: K,
        detections: Detections,
        t_s: float,
        frame_size: tuple[int, int] | None = None,
        moving: NDArray[np.bool_] | None = None,
    ) -> list[tuple[K, BallState]]:
        """Add one frame's candidates; returns the frames settled by it, oldest first."""
        step = self._tracker.observe(detections, t_s, frame_size, moving)
        if step.confirmed is not None:
            self._confirm(step.confirmed, step.segment)
        if step.retracted_t_s is not None:
            self._retract(step.retracted_t_s, step.segment)
        self._pending.append(_Pending(key, t_s, step.state, step.point, step.segment))
        settled = []
        while len(self._pending) > self._lag:
            settled.append(self._settle_oldest())
        return settled

    def flush(self) -> list[tuple[K, BallState]]:
        """Settle every waiting frame (end of stream)."""
        return [self._settle_oldest() for _ in range(len(self._pending))]

    def reset(self) -> list[tuple[K, BallState]]:
        """Settle what is waiting, then forget the ball; returns the settled frames."""
        settled = self.flush()
        self._context.clear()
        self._tracker.reset()
        return settled

    def _confirm(self, seed: TrackPoint, segment: int) -> None:
        """A lone detection was confirmed: its frame and those after it join the track."""
        for record in self._pending:
            if record.t_s == seed.t_s:
                record.point = seed
            if record.t_s >= seed.t_s:
                record.segment = segment

    def _retract(self, t_s: float, segment: int) -> None:
        """A "hit" was a false positive: its frame loses the point, later ones the path."""
        for record in self._pending:
            if record.t_s >= t_s:
                record.segment = segment
                record.state = BallState.lost()
            if record.t_s == t_s:
                record.point = None

    def _settle_oldest(self) -> tuple[K, BallState]:
        record = self._pending[0]
        state = self._settle(record)
        self._context.append(self._pending.popleft())
        return record.key, state

    def _settle(self, record: _Pending[K]) -> BallState:
        if record.segment < 0:
            return record.state
        same = [
            other.point
            for other in (*self._context, *self._pending)
            if other.segment == record.segment and other.point is not None
        ]
        before = [point for point in same if point.t_s < record.t_s]
        after = [point for point in same if point.t_s > record.t_s]
        if record.point is not None:
            return self._smooth(record.point, before, after)
        if before and after:
            return self._interpolate(record.t_s, before, after)
        is_broken = any(other.segment != record.segment for other in self._pending)
        return BallState.lost() if is_broken else record.state

    def _smooth(
        self, point: TrackPoint, before: list[TrackPoint], after: list[TrackPoint]
    ) -> BallState:
        """The seen position, refined by a line through its neighbours when they agree.

        Each window of up to ``smooth_frames`` neighbours a side is fitted, assuming each
        detection is as far off as the seen one may be (:meth:`_seen_sigma`); a fit
        replaces the detection when its error is below that, the smallest fit winning.
        """
        half = self._tracker.config.smooth_frames
        noise = self._seen_sigma([*before[-half:], point, *after[:half]], point.t_s)
        best_x, best_y, best_sigma = point.x, point.y, noise
        for count_before in range(min(len(before), half) + 1):
            for count_after in range(min(len(after), half) + 1):
                if count_before + count_after < 2:
                    continue
                window = [*before[len(before) - count_before :], point, *after[:count_after]]
                fit = self._tracker.fit(window, point.t_s, noise)
                if fit.sigma < best_sigma:
                    best_x, best_y, best_sigma = fit.x, fit.y, fit.sigma
        return BallState(TrackStatus.SEEN, best_x, best_y, point.confidence)

    def _seen_sigma(self, window: list[TrackPoint], t_s: float) -> float:
        """How far a detection may lie from the ball, on the path through ``window``.

        The detector's centre noise; for a ball faster than ``streak_speed_px`` a frame (a
        motion-blurred streak) also ``streak_end_sigma`` per px a frame, because the
        detector often boxes only one end of the streak: on the synthetic match at ~50 px a
        frame a lone box sat 5-10 px from the ball along the path and was reported as it
        was (seed 737373 frames 90, 103, 109): with 1.5 px of noise assumed, the fit
        through the box and one neighbour always looked surer than a line through all five.
        """
        config = self._tracker.config
        if len(window) < 2:
            return config.measurement_sigma_px
        fit = self._tracker.fit(window, t_s)
        speed = streak_speed(fit, config, self._tracker.frames_per_interval)
        if speed is None:
            return config.measurement_sigma_px
        return math.hypot(config.measurement_sigma_px, config.streak_end_sigma * speed)

    def _interpolate(
        self, t_s: float, before: list[TrackPoint], after: list[TrackPoint]
    ) -> BallState:
        """A position inside a gap from detections on both sides, if it is good enough."""
        config = self._tracker.config
        gap = (after[0].t_s - before[-1].t_s) / self._tracker.frame_interval_s
        if gap > config.max_coast_frames + 1.5:
            return BallState.lost()
        best: MotionFit | None = None
        for count_before in range(1, min(len(before), 3) + 1):
            for count_after in range(1, min(len(after), 3) + 1):
                window = [*before[len(before) - count_before :], *after[:count_after]]
                fit = self._tracker.fit(window, t_s)
                if best is None or fit.sigma < best.sigma:
                    best = fit
        if best is None or best.sigma > config.max_interpolated_sigma_px:
            return BallState.lost()
        return BallState(TrackStatus.PREDICTED, best.x, best.y, 0.0)
