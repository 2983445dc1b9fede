"""A single-ball tracker in image pixels, driven by frame timestamps.

Design, for a ball that moves more than its own size per frame and reverses at every hit:

- **Motion**: least-squares lines through the last accepted detections of the current
  trajectory segment, in time, so dropped frames only widen the extrapolation. Every
  window of the last 2..N detections is tried and the one with the smallest error wins:
  long windows average detector noise away while the path is straight; their misfit
  (chi-square) and an acceleration term stop them from lagging when it bends.
- **Uncertainty** (per-axis sigma): from the fit, the acceleration term and the speed
  times the distance in frames from the nearest detection. It sizes the gate and the
  track crop, and decides whether a coasted or interpolated position is shown.
- **Candidate choice**: inside the gate, the candidate nearest the prediction (scaled by
  the uncertainty, favouring higher scores). A candidate where the ball was on the
  previous frame is a repeated frame (or a stop), not a miss. Otherwise a candidate
  within reach of the last detection at the ball's top speed is taken as a hit: a new
  segment starts there, re-acquiring the ball on the frame after the hit. If the ball
  shows up on the old path within ``confirm_frames`` instead, the "hit" was a false
  positive and the old track is restored.
- **Coasting**: up to ``max_coast_frames`` misses keep the track; a position is reported
  as ``predicted`` only when its uncertainty is small and it lies in the frame, else as
  ``lost``: a wrong position costs precision, a missing one only recall.
- **Acquisition**: with no track, a detection starts one only when a second detection
  within reach follows in the next ``confirm_frames`` frames; lone false positives never
  show.
- **Static clutter**: a candidate whose pixels did not change over the last frames
  (``moving`` from :mod:`perception.change`: a logo, a light, a line end) never starts a
  track and never counts as a hit. Inside the gate it is taken only while the tracked
  ball moves less than ``still_ball_px`` per frame (a ball at rest before a serve); a
  faster ball always changes the pixels under it, so a static candidate there means the
  track followed clutter, and it ends at once. Spots where detections keep landing
  (``clutter_frames`` within ``clutter_radius_px``) are removed too, which ends a slow
  track that stopped on a logo (:mod:`perception.clutter`).
- **Repeated frames** (:class:`FrameCadence`): 25 or 24 fps footage sent at 30 fps
  repeats a picture every 6 or 5 frames; the ball then stops dead on one phase. Once
  the motion shows that pattern, fits run on the picture clock.
- **Fixed lag** (:class:`LaggedTracker`, ``lag_frames`` > 0): a frame's state is settled
  ``lag_frames`` frames later, using detections on both sides: gaps are interpolated
  instead of extrapolated, seen positions are smoothed along the path, and the first
  detection of a new track is shown once confirmed. It adds ``lag_frames`` frames of
  latency; ``lag_frames: 0`` reports each frame at once (online).

No IoU anywhere. Not thread-safe: called only from the perception thread.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from configs.app_config import TrackerConfig
from perception.clutter import StaticClutter
from perception.detections import Detections
from perception.result import BallState, TrackStatus

logger = logging.getLogger(__name__)

_INTERVAL_HISTORY = 15
_DEFAULT_INTERVAL_S = 1.0 / 30.0
_CADENCE_SPEED_PX = 6.0  # per frame: slower balls cannot tell a repeat from noise
FloatArray = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class TrackerPrediction:
    """Where the tracker expects the ball at a time.

    Attributes:
        x: centre x in frame pixels.
        y: centre y in frame pixels.
        sigma_px: one-sigma uncertainty of each coordinate in pixels.
        speed_px_s: the ball's estimated speed in pixels per second.
        misses: frames since the last accepted detection (0 = seen on the last frame).
    """

    x: float
    y: float
    sigma_px: float
    speed_px_s: float
    misses: int


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """A detection accepted as the ball: time in seconds, centre in frame pixels."""

    t_s: float
    x: float
    y: float
    confidence: float = 0.0


@dataclass(frozen=True, slots=True)
class TrackerStep:
    """The online tracker's decision on one frame.

    Attributes:
        state: the state reported at once (no lag).
        point: the detection accepted as the ball on this frame, if any.
        segment: id of the trajectory segment the frame belongs to (a new one after
            each hit and each acquisition); -1 without a track.
        confirmed: an earlier lone detection this frame confirmed (a new track).
        retracted_t_s: time of an earlier "hit" that this frame showed to be a false
            positive: the track from before it continues (``segment`` is its id again).
    """

    state: BallState
    point: TrackPoint | None
    segment: int
    confirmed: TrackPoint | None = None
    retracted_t_s: float | None = None


@dataclass(frozen=True, slots=True)
class MotionErrors:
    """What the motion fit assumes about the detector and the ball.

    Attributes:
        noise_px: detector centre noise, one sigma per axis.
        speed_sigma: extrapolation error per pixel of motion per frame, per frame ahead.
        accel_px: unmodelled acceleration, px per frame squared (penalises long windows).
    """

    noise_px: float
    speed_sigma: float
    accel_px: float


@dataclass(frozen=True, slots=True)
class MotionFit:
    """A motion fit evaluated at one time.

    Attributes:
        x: position x at that time, px.
        y: position y, px.
        vx: velocity x, px per frame interval.
        vy: velocity y, px per frame interval.
        horizon: frame intervals past the last point (negative inside the data).
        points: detections used.
        sigma: one-sigma per-axis error of (x, y): noise, misfit and model error, px.
    """

    x: float
    y: float
    vx: float
    vy: float
    horizon: float
    points: int
    sigma: float


def fit_line(
    points: Sequence[TrackPoint], t_s: float, interval: float, errors: MotionErrors
) -> MotionFit:
    """Least-squares line through ``points`` (two distinct times at least) at ``t_s``.

    The error combines the detector noise through the fit (inflated by the misfit's
    chi-square), how far a line strays from a path bending at ``accel_px``, and the
    speed times the distance in frames to the nearest point (timing uncertainty).
    """
    times = np.array([(p.t_s - t_s) / interval for p in points])
    design = np.stack([times, np.ones_like(times)], axis=1)
    coords = np.array([[p.x, p.y] for p in points])
    coefficients = np.linalg.lstsq(design, coords, rcond=None)[0]
    # variance of the intercept (the position at t_s) per unit measurement variance
    spread = float(np.linalg.inv(design.T @ design)[1, 1])
    inflation = 1.0
    if len(points) > 2:
        residual = coords - design @ coefficients
        chi2 = float(np.sum(residual**2)) / (2 * (len(points) - 2)) / errors.noise_px**2
        inflation = max(chi2, 1.0)
    vx, vy = (float(v) for v in coefficients[0])
    x, y = (float(v) for v in coefficients[1])
    # a line misses a path bending at a by about a/2 * (t - t_first) * (t - t_last)
    model = errors.accel_px / 2 * abs(times[0] * times[-1])
    nearest = float(np.min(np.abs(times)))
    sigma = math.sqrt(
        errors.noise_px**2 * spread * inflation
        + model**2
        + (errors.speed_sigma * math.hypot(vx, vy) * nearest) ** 2
    )
    horizon = (t_s - points[-1].t_s) / interval
    return MotionFit(x, y, vx, vy, horizon, len(points), sigma)


def fit_motion(
    points: Sequence[TrackPoint], t_s: float, interval: float, errors: MotionErrors
) -> MotionFit:
    """The best line through the most recent points, evaluated at ``t_s``.

    Every window of the last 2..N points is tried and the one with the smallest error
    at ``t_s`` wins: long windows average the noise away while the path is straight,
    short ones follow it when it bends.

    Args:
        points: accepted detections of one segment, oldest first (at least one).
        t_s: when to evaluate, seconds.
        interval: frame interval in seconds (the unit of speed and horizon).
        errors: the noise and model assumptions.

    Returns:
        The winning fit; with a single instant seen, its mean with zero velocity.
    """
    last = points[-1]
    fits = [
        fit_line(points[-count:], t_s, interval, errors)
        for count in range(2, len(points) + 1)
        if len({p.t_s for p in points[-count:]}) > 1
    ]
    if fits:
        return min(fits, key=lambda fit: fit.sigma)
    # one instant seen (once, or on repeated frames): no velocity yet
    same = [p for p in points if p.t_s == last.t_s]
    x = sum(p.x for p in same) / len(same)
    y = sum(p.y for p in same) / len(same)
    horizon = (t_s - last.t_s) / interval
    return MotionFit(x, y, 0.0, 0.0, horizon, len(same), errors.noise_px)


@dataclass(frozen=True, slots=True)
class _Candidates:
    centers: FloatArray
    scores: FloatArray
    t_s: float
    frame_size: tuple[int, int] | None
    moving: NDArray[np.bool_]  # False: the pixels under it did not change (clutter)


class _Kind(StrEnum):
    GATED = "gated"  # inside the gate around the prediction
    STILL = "still"  # where the ball was on the previous frame (a repeated frame)
    JUMP = "jump"  # far, but within reach of the last detection: a hit


@dataclass(frozen=True, slots=True)
class _Choice:
    index: int
    kind: _Kind


@dataclass(frozen=True, slots=True)
class _Backup:
    """The track as it was before a far candidate was taken for a hit."""

    points: tuple[TrackPoint, ...]
    segment: int
    jump_t_s: float


class FrameCadence:
    """Finds repeated frames from the ball's motion (25 or 24 fps footage sent at 30 fps).

    Broadcast conversions repeat one frame in every 6 (25 to 30) or 5 (24 to 30): on
    that frame the ball does not move, which wrecks any fit over frame times. When a
    fast ball (``min_speed_px`` per frame) keeps stopping dead on one phase of such a
    period and moving on all others, the pattern is taken as found and
    :meth:`content_frame` maps frame numbers to picture numbers.
    """

    PERIODS = (6, 5)

    def __init__(self, min_votes: int = 3, history: int = 150) -> None:
        self._min_votes = min_votes
        self._votes: deque[tuple[int, bool]] = deque(maxlen=history)
        self.pattern: tuple[int, int] | None = None
        """``(period, phase)``: frame ``n`` repeats ``n - 1`` when ``n % period == phase``."""

    def reset(self) -> None:
        """Forget the votes and the pattern."""
        self._votes.clear()
        self.pattern = None

    @property
    def is_timing_known(self) -> bool:
        """Whether repeats were found, or enough fast motion showed there are none."""
        if self.pattern is not None:
            return True
        stops = sum(1 for _, moved in self._votes if not moved)
        return len(self._votes) >= 3 * max(self.PERIODS) and stops <= 0.05 * len(self._votes)

    def vote(self, frame: int, *, moved: bool) -> None:
        """Record whether the fast ball moved between frame ``frame - 1`` and ``frame``."""
        self._votes.append((frame, moved))
        self.pattern = self._find()

    def _find(self) -> tuple[int, int] | None:
        for period in self.PERIODS:
            stops = [0] * period
            totals = [0] * period
            for frame, moved in self._votes:
                totals[frame % period] += 1
                stops[frame % period] += int(not moved)
            phase = max(range(period), key=stops.__getitem__)
            other_stops = sum(stops) - stops[phase]
            other_totals = sum(totals) - totals[phase]
            if (
                stops[phase] >= self._min_votes
                and stops[phase] >= 0.7 * totals[phase]
                and other_totals >= period
                and other_stops <= 0.2 * other_totals
            ):
                return period, phase
        return None

    def content_frame(self, frame: float) -> float:
        """Frame number in picture time: repeats share their predecessor's, rescaled."""
        if self.pattern is None:
            return frame
        period, phase = self.pattern
        index = round(frame)
        repeats = (index - phase) // period + 1
        return (index - repeats) * period / (period - 1)


class BallTracker:
    """Turns per-frame ball candidates into one ball state per frame, online.

    Args:
        config: gating, coasting and motion settings.
    """

    def __init__(self, config: TrackerConfig) -> None:
        self._config = config
        self._errors = MotionErrors(
            config.measurement_sigma_px, config.speed_sigma, config.accel_sigma_px
        )
        self._segment: deque[TrackPoint] = deque(maxlen=config.history)
        self._segment_id = -1
        self._segments_started = 0
        self._seeds: list[TrackPoint] = []
        self._intervals: deque[float] = deque(maxlen=_INTERVAL_HISTORY)
        self._last_t: float | None = None
        self._origin_t: float | None = None
        self._misses = 0
        self._backup: _Backup | None = None
        self._cadence = FrameCadence()
        self._clutter = StaticClutter(
            config.clutter_frames, config.clutter_radius_px, config.clutter_forget_s
        )

    @property
    def clutter_spots(self) -> list[tuple[float, float]]:
        """Spots taken for static clutter (their candidates never reach the track)."""
        return self._clutter.clutter_spots

    @property
    def config(self) -> TrackerConfig:
        """The settings this tracker runs with."""
        return self._config

    def reset(self) -> None:
        """Forget the ball (new stream epoch, seek, resolution change)."""
        self._end_track()
        self._seeds.clear()
        self._intervals.clear()
        self._last_t = None
        self._origin_t = None
        self._cadence.reset()
        self._clutter.reset()

    @property
    def is_tracking(self) -> bool:
        """Whether a confirmed ball track exists (it may be coasting)."""
        return bool(self._segment)

    @property
    def frame_interval_s(self) -> float:
        """Typical time between frames: median of recent updates (1/30 s before any)."""
        if not self._intervals:
            return _DEFAULT_INTERVAL_S
        return float(np.median(self._intervals))

    @property
    def repeat_pattern(self) -> tuple[int, int] | None:
        """``(period, phase)`` of repeated frames once found from the motion, else None."""
        return self._cadence.pattern

    def _frame_number(self, t_s: float) -> float:
        origin = self._origin_t if self._origin_t is not None else t_s
        return (t_s - origin) / self.frame_interval_s

    def _content_time(self, t_s: float) -> float:
        """``t_s`` on the picture clock (differs from it only once repeats are found)."""
        if self._cadence.pattern is None or self._origin_t is None:
            return t_s
        frame = self._cadence.content_frame(self._frame_number(t_s))
        return self._origin_t + frame * self.frame_interval_s

    def fit(self, points: Sequence[TrackPoint], t_s: float) -> MotionFit:
        """The motion fit of ``points`` at ``t_s``, with this tracker's assumptions."""
        errors = self._errors
        if self._cadence.is_timing_known:
            errors = replace(errors, speed_sigma=self._config.timed_speed_sigma)
        if self._cadence.pattern is not None:
            points = [replace(p, t_s=self._content_time(p.t_s)) for p in points]
            t_s = self._content_time(t_s)
        return fit_motion(points, t_s, self.frame_interval_s, errors)

    def _vote_cadence(self, previous: TrackPoint, point: TrackPoint, fit: MotionFit) -> None:
        """Tell the cadence finder whether a fast ball moved between consecutive frames."""
        frame = round(self._frame_number(point.t_s))
        speed = math.hypot(fit.vx, fit.vy)
        is_consecutive = frame - round(self._frame_number(previous.t_s)) == 1
        if not self._config.detect_repeats or not is_consecutive or speed < _CADENCE_SPEED_PX:
            return
        moved = math.hypot(point.x - previous.x, point.y - previous.y) >= speed / 2
        self._cadence.vote(frame, moved=moved)

    def _predict_fit(
        self, t_s: float, points: Sequence[TrackPoint] | None = None
    ) -> tuple[MotionFit, float]:
        """The fit of the segment (or ``points``) at ``t_s`` and its prediction sigma."""
        points = list(self._segment) if points is None else points
        fit = self.fit(points, t_s)
        if fit.vx == fit.vy == 0.0 and len({p.t_s for p in points}) == 1:
            # no velocity yet: the ball may be anywhere within its top speed
            reach = self._config.max_speed_px_s * max(t_s - points[-1].t_s, 0.0)
            return fit, max(reach / 2, fit.sigma)
        return fit, fit.sigma

    def predict(self, t_s: float) -> TrackerPrediction | None:
        """Where the ball should be at ``t_s``; None without a track.

        Args:
            t_s: frame time in seconds (``Frame.pts_s``).
        """
        if not self._segment:
            return None
        fit, sigma = self._predict_fit(t_s)
        speed = math.hypot(fit.vx, fit.vy) / self.frame_interval_s
        return TrackerPrediction(fit.x, fit.y, sigma, speed, self._misses)

    def update(
        self,
        detections: Detections,
        t_s: float,
        frame_size: tuple[int, int] | None = None,
        moving: NDArray[np.bool_] | None = None,
    ) -> BallState:
        """Take one frame's candidates and report the ball on that frame at once.

        Args:
            detections: candidates in frame pixels (any number, any order).
            t_s: frame time in seconds (``Frame.pts_s``); a jump back in time resets
                the tracker, a gap over ``max_gap_s`` ends the track (a shorter gap,
                dropped frames, only widens the prediction).
            frame_size: ``(width, height)``; a track predicted out of the frame ends.
            moving: per detection, whether the pixels under it changed over the last
                frames (:mod:`perception.change`); None = no verdict, all may move.

        Returns:
            ``seen`` with the (smoothed) position, ``predicted`` while coasting with a
            confident position, else ``lost``.
        """
        return self.observe(detections, t_s, frame_size, moving).state

    def observe(
        self,
        detections: Detections,
        t_s: float,
        frame_size: tuple[int, int] | None = None,
        moving: NDArray[np.bool_] | None = None,
    ) -> TrackerStep:
        """Like :meth:`update`, with the decision's details (for the fixed-lag stage)."""
        self._observe_time(t_s)
        keep = detections.confidence >= self._config.min_confidence
        keep[keep] = self._clutter.keep(detections.centers[keep], t_s)
        if moving is None:
            moving = np.ones(len(detections), dtype=bool)
        candidates = _Candidates(
            detections.centers[keep], detections.confidence[keep], t_s, frame_size, moving[keep]
        )
        if self._segment:
            step = self._update_track(candidates)
            if step is not None:
                return step
        return self._acquire(candidates)

    def _observe_time(self, t_s: float) -> None:
        if self._last_t is not None:
            step = t_s - self._last_t
            if step < 0:
                logger.info("frame time went back by %.3f s: tracker reset", -step)
                self.reset()
            elif step > self._config.max_gap_s:
                # dropped frames are not a new scene: keep timing, end only the track
                logger.info("no frame for %.3f s: track ended", step)
                self._end_track()
                self._seeds.clear()
            elif step > 0:
                self._intervals.append(step)
        self._last_t = t_s
        if self._origin_t is None:
            self._origin_t = t_s

    def _end_track(self) -> None:
        self._segment.clear()
        self._segment_id = -1
        self._misses = 0
        self._backup = None

    def _new_segment(self, points: Sequence[TrackPoint]) -> None:
        self._segment.clear()
        self._segment.extend(points)
        self._segments_started += 1
        self._segment_id = self._segments_started
        self._misses = 0

    def _update_track(self, candidates: _Candidates) -> TrackerStep | None:
        """Gate, choose, smooth or coast; None when the track ended on this frame."""
        fit, sigma = self._predict_fit(candidates.t_s)
        spread = math.hypot(sigma, self._config.measurement_sigma_px)
        choice = self._choose(candidates, fit, spread)
        if self._backup is not None and (choice is None or choice.kind is not _Kind.GATED):
            step = self._revert(candidates)
            if step is not None:
                return step
        if choice is not None:
            return self._accept(candidates, choice, fit, spread)
        if self._is_static_in_gate(candidates, fit, spread):
            # what the track followed is there and did not move: clutter, not the ball
            self._end_track()
            return None
        self._misses += 1
        self._remember_seeds(candidates)
        size = candidates.frame_size
        inside = size is None or (0 <= fit.x < size[0] and 0 <= fit.y < size[1])
        if self._misses > self._config.max_coast_frames or not inside:
            self._end_track()
            return None
        state = BallState.lost()
        if sigma <= self._config.max_predicted_sigma_px:
            state = BallState(TrackStatus.PREDICTED, fit.x, fit.y, 0.0)
        return TrackerStep(state, None, self._segment_id)

    def _gated(self, candidates: _Candidates, fit: MotionFit, spread: float) -> int | None:
        """The best candidate inside the gate around ``fit`` (distance, then score)."""
        if len(candidates.centers) == 0:
            return None
        distances, inside = self._gate(candidates, fit, spread)
        if not self._is_slow(fit):
            inside &= candidates.moving  # a ball this fast changes the pixels under it
        if not inside.any():
            return None
        cost = (distances / spread) ** 2 - 2.0 * np.log(np.maximum(candidates.scores, 1e-3))
        cost[~inside] = np.inf
        return int(np.argmin(cost))

    def _gate(
        self, candidates: _Candidates, fit: MotionFit, spread: float
    ) -> tuple[FloatArray, NDArray[np.bool_]]:
        """Each candidate's distance from ``fit``, and whether it lies inside the gate."""
        centers = candidates.centers
        distances = np.hypot(centers[:, 0] - fit.x, centers[:, 1] - fit.y)
        gate = max(self._config.gate_sigma * spread, self._config.min_gate_px)
        return distances, distances <= gate

    def _is_slow(self, fit: MotionFit) -> bool:
        """Whether the ball moves so little that the pixels under it may not change."""
        return math.hypot(fit.vx, fit.vy) < self._config.still_ball_px

    def _is_static_in_gate(self, candidates: _Candidates, fit: MotionFit, spread: float) -> bool:
        """Whether a candidate that did not move sits inside the gate around ``fit``."""
        if len(candidates.centers) == 0 or candidates.moving.all() or self._is_slow(fit):
            return False
        _, inside = self._gate(candidates, fit, spread)
        return bool((inside & ~candidates.moving).any())

    def _revert(self, candidates: _Candidates) -> TrackerStep | None:
        """Go back to the track from before the last "hit" if the ball shows up on it."""
        backup = self._backup
        if backup is None:
            return None
        window = (self._config.confirm_frames + 0.5) * self.frame_interval_s
        if candidates.t_s - backup.jump_t_s > window:
            self._backup = None
            return None
        fit, sigma = self._predict_fit(candidates.t_s, backup.points)
        spread = math.hypot(sigma, self._config.measurement_sigma_px)
        index = self._gated(candidates, fit, spread)
        if index is None:
            return None
        logger.debug("the hit at %.3f s was a false positive: track restored", backup.jump_t_s)
        self._segment.clear()
        self._segment.extend(backup.points)
        self._segment_id = backup.segment
        self._backup = None
        step = self._accept(candidates, _Choice(index, _Kind.GATED), fit, spread)
        return replace(step, retracted_t_s=backup.jump_t_s)

    def _choose(self, candidates: _Candidates, fit: MotionFit, spread: float) -> _Choice | None:
        """Which candidate is the ball, and how it relates to the track."""
        index = self._gated(candidates, fit, spread)
        if index is not None:
            return _Choice(index, _Kind.GATED)
        centers = candidates.centers
        if len(centers) == 0:
            return None
        distances = np.hypot(centers[:, 0] - fit.x, centers[:, 1] - fit.y)
        last = self._segment[-1]
        from_last = np.hypot(centers[:, 0] - last.x, centers[:, 1] - last.y)
        nearest = int(np.argmin(from_last))
        is_next_frame = round(self._frame_number(candidates.t_s) - self._frame_number(last.t_s))
        is_close = from_last[nearest] <= 3 * self._config.measurement_sigma_px
        if is_next_frame == 1 and is_close and candidates.moving[nearest]:
            # the ball stands still on this frame: a repeated frame (or a stop)
            return _Choice(nearest, _Kind.STILL)
        reach = self._config.max_speed_px_s * (candidates.t_s - last.t_s)
        reachable = (
            (from_last <= min(reach, self._config.max_jump_px))
            & candidates.moving
            & (candidates.scores >= self._config.acquire_confidence)  # a hit starts a track
        )
        if not reachable.any():
            return None
        distances[~reachable] = np.inf
        return _Choice(int(np.argmin(distances)), _Kind.JUMP)

    def _accept(
        self, candidates: _Candidates, choice: _Choice, fit: MotionFit, spread: float
    ) -> TrackerStep:
        center = candidates.centers[choice.index]
        score = float(candidates.scores[choice.index])
        point = TrackPoint(candidates.t_s, float(center[0]), float(center[1]), score)
        previous = self._segment[-1]
        innovation = math.hypot(point.x - fit.x, point.y - fit.y)
        is_break = choice.kind is _Kind.JUMP or (
            choice.kind is _Kind.GATED and innovation > self._config.break_sigma * spread
        )
        self._vote_cadence(previous, point, fit)
        if choice.kind is _Kind.JUMP and self._backup is None:
            self._backup = _Backup(tuple(self._segment), self._segment_id, point.t_s)
        elif choice.kind is _Kind.GATED:
            self._backup = None  # whichever path it is on, the ball confirmed it
        out_x, out_y = point.x, point.y
        if is_break:
            # a hit: the new path starts from the last detection
            self._new_segment([previous])
        elif choice.kind is _Kind.GATED and fit.points >= 2:
            noise = self._config.measurement_sigma_px**2
            prior = max(spread**2 - noise, 0.0)
            weight = max(prior / (prior + noise), self._config.min_detection_weight)
            out_x = fit.x + weight * (point.x - fit.x)
            out_y = fit.y + weight * (point.y - fit.y)
        self._segment.append(point)
        self._misses = 0
        self._remember_seeds(candidates, skip=choice.index)
        state = BallState(TrackStatus.SEEN, out_x, out_y, score)
        return TrackerStep(state, point, self._segment_id)

    def _remember_seeds(self, candidates: _Candidates, skip: int | None = None) -> None:
        """Keep unexplained candidates a few frames: a second one nearby starts a track."""
        horizon = (self._config.confirm_frames + 0.5) * self.frame_interval_s
        self._seeds = [seed for seed in self._seeds if candidates.t_s - seed.t_s <= horizon]
        self._seeds.extend(
            TrackPoint(candidates.t_s, float(center[0]), float(center[1]), float(score))
            for index, (center, score) in enumerate(
                zip(candidates.centers, candidates.scores, strict=True)
            )
            if index != skip
            and candidates.moving[index]
            and score >= self._config.acquire_confidence
        )

    def _acquire(self, candidates: _Candidates) -> TrackerStep:
        """Start a track from a candidate confirmed by an earlier seed within reach.

        Of the confirmed pairs, the one whose weaker score is highest wins (then the
        nearer): the detector's ball outscores the moving players' shoes and heads that
        also get confirmed. A candidate whose pixels did not change never starts a track
        (a logo; also a ball at rest, acquired once it moves and followed to rest).
        """
        t_s = candidates.t_s
        best: tuple[float, float, int, TrackPoint] | None = None
        minimum = self._config.acquire_confidence
        for index, center in enumerate(candidates.centers):
            score = float(candidates.scores[index])
            if not candidates.moving[index] or score < minimum:
                continue  # static clutter and weak candidates never start a track
            for seed in self._seeds:
                distance = math.hypot(center[0] - seed.x, center[1] - seed.y)
                reach = min(
                    self._config.max_speed_px_s * (t_s - seed.t_s), self._config.max_jump_px
                )
                rank = min(score, seed.confidence)
                is_better = best is None or (rank, -distance) > (best[0], -best[1])
                if seed.t_s < t_s and distance <= reach and is_better:
                    best = (rank, distance, index, seed)
        if best is None:
            self._remember_seeds(candidates)
            return TrackerStep(BallState.lost(), None, -1)
        _, _, index, seed = best
        center = candidates.centers[index]
        score = float(candidates.scores[index])
        point = TrackPoint(t_s, float(center[0]), float(center[1]), score)
        self._new_segment([seed, point])
        self._seeds = []
        self._remember_seeds(candidates, skip=index)
        logger.debug("ball acquired at (%.1f, %.1f)", point.x, point.y)
        state = BallState(TrackStatus.SEEN, point.x, point.y, score)
        return TrackerStep(state, point, self._segment_id, confirmed=seed)


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
        """The seen position, refined by a line through its neighbours when they agree."""
        config = self._tracker.config
        best_x, best_y, best_sigma = point.x, point.y, config.measurement_sigma_px
        half = config.smooth_frames
        for count_before in range(min(len(before), half) + 1):
            for count_after in range(min(len(after), half) + 1):
                if count_before + count_after < 2:
                    continue
                window = [*before[len(before) - count_before :], point, *after[:count_after]]
                fit = self._tracker.fit(window, point.t_s)
                if fit.sigma < best_sigma:
                    best_x, best_y, best_sigma = fit.x, fit.y, fit.sigma
        return BallState(TrackStatus.SEEN, best_x, best_y, point.confidence)

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
