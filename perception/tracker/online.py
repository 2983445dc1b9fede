"""The online single-ball tracker: one ball state per frame, reported at once.

Owns :class:`BallTracker`: it predicts from the motion fit (:mod:`perception.tracker.motion_fit`),
chooses among the frame's candidates (:mod:`perception.tracker.candidates`), takes a far
candidate within reach of the last detection as a hit (a new trajectory segment, undone
if the ball shows up on the old path within ``confirm_frames``), coasts through misses,
ends tracks that stopped on static clutter, and starts tracks from confirmed seeds
(:mod:`perception.tracker.seeds`). The package docstring (:mod:`perception.tracker`)
explains the design and each setting. Not thread-safe: called only from the perception
thread.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from configs.app_config import TrackerConfig
from perception.clutter import StaticClutter
from perception.detections import Detections
from perception.result import BallState, TrackStatus
from perception.tracker.cadence import FrameCadence
from perception.tracker.candidates import (
    Candidates,
    Choice,
    ChoiceKind,
    best_in_gate,
    gate_radius,
    is_slow,
    is_static_in_gate,
    streak_centre,
)
from perception.tracker.motion_fit import MotionErrors, MotionFit, fit_motion
from perception.tracker.seeds import SeedPool
from perception.tracker.values import TrackerPrediction, TrackerStep, TrackPoint

logger = logging.getLogger(__name__)

_INTERVAL_HISTORY = 15
_DEFAULT_INTERVAL_S = 1.0 / 30.0
_CADENCE_SPEED_PX = 6.0  # per frame: slower balls cannot tell a repeat from noise


@dataclass(frozen=True, slots=True)
class _Backup:
    """The track as it was before a far candidate was taken for a hit."""

    points: tuple[TrackPoint, ...]
    segment: int
    jump_t_s: float


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
        self._seeds = SeedPool(config)
        self._intervals: deque[float] = deque(maxlen=_INTERVAL_HISTORY)
        self._last_t: float | None = None
        self._origin_t: float | None = None
        self._shortest_interval: float | None = None
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
        self._shortest_interval = None
        self._cadence.reset()
        self._clutter.reset()

    @property
    def is_tracking(self) -> bool:
        """Whether a confirmed ball track exists (it may be coasting)."""
        return bool(self._segment)

    @property
    def last_point(self) -> tuple[float, float] | None:
        """Centre of the track's last accepted detection; None without a track."""
        if not self._segment:
            return None
        last = self._segment[-1]
        return (last.x, last.y)

    @property
    def frame_interval_s(self) -> float:
        """Typical time between frames: median of recent updates (1/30 s before any)."""
        if not self._intervals:
            return _DEFAULT_INTERVAL_S
        return float(np.median(self._intervals))

    @property
    def frames_per_interval(self) -> float:
        """Source frames in a typical interval: the typical over the shortest one seen.

        Dropped frames (a live run behind its source) lengthen the gaps between the frames
        the tracker gets; the shortest gap since the last reset is one source frame. 1.0
        before any.
        """
        if self._shortest_interval is None:
            return 1.0
        return max(self.frame_interval_s / self._shortest_interval, 1.0)

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

    def fit(
        self, points: Sequence[TrackPoint], t_s: float, noise_px: float | None = None
    ) -> MotionFit:
        """The motion fit of ``points`` at ``t_s``, with this tracker's assumptions.

        ``noise_px`` replaces the detector's centre noise (a blur streak's lone box).
        """
        errors = self._errors if noise_px is None else replace(self._errors, noise_px=noise_px)
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

    def seeds(self, t_s: float) -> tuple[TrackPoint, ...]:
        """Lone detections that a detection near them at ``t_s`` would turn into a track.

        With a track: only those that could take a slow track over (:meth:`_challenge`).
        """
        waiting = self._seeds.waiting(t_s, self._seed_horizon_s())
        if not self._segment:
            return waiting
        if not waiting or not self._config.slow_challenge:
            return ()  # (before the fit: it costs ~0.4 ms)
        bar = self._challenge_bar(*self._predict_fit(t_s))
        if bar is None:
            return ()
        x, y, gate, held = bar
        return tuple(
            seed
            for seed in waiting
            if seed.confidence > held and math.hypot(seed.x - x, seed.y - y) > gate
        )

    def predict(self, t_s: float) -> TrackerPrediction | None:
        """Where the ball should be at ``t_s``; None without a track.

        Args:
            t_s: frame time in seconds (``Frame.pts_s``).
        """
        if not self._segment:
            return None
        fit, sigma = self._predict_fit(t_s)
        speed = math.hypot(fit.vx, fit.vy) / self.frame_interval_s
        last = self._segment[-1]
        may_give_way = self._challenge_bar(fit, sigma) is not None
        return TrackerPrediction(
            fit.x, fit.y, sigma, speed, self._misses, (last.x, last.y), may_give_way
        )

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
        candidates = Candidates(
            detections.centers[keep], detections.confidence[keep], t_s, frame_size, moving[keep]
        )
        if self._segment:
            fit, sigma = self._predict_fit(t_s)
            step = self._challenge(candidates, fit, sigma) or self._update_track(
                candidates, fit, sigma
            )
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
                shortest = self._shortest_interval
                self._shortest_interval = step if shortest is None else min(shortest, step)
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

    def _update_track(
        self, candidates: Candidates, fit: MotionFit, sigma: float
    ) -> TrackerStep | None:
        """Gate, choose, smooth or coast; None when the track ended on this frame.

        ``fit``, ``sigma``: the track's prediction at the frame's time (``_predict_fit``).
        """
        spread = math.hypot(sigma, self._config.measurement_sigma_px)
        choice = self._choose(candidates, fit, spread)
        if self._backup is not None and (choice is None or choice.kind is not ChoiceKind.GATED):
            step = self._revert(candidates)
            if step is not None:
                return step
        if choice is not None:
            return self._accept(candidates, choice, fit, spread)
        if is_static_in_gate(candidates, fit, spread, self._config):
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

    def _revert(self, candidates: Candidates) -> TrackerStep | None:
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
        index = best_in_gate(candidates, fit, spread, self._config)
        if index is None:
            return None
        logger.debug("the hit at %.3f s was a false positive: track restored", backup.jump_t_s)
        self._segment.clear()
        self._segment.extend(backup.points)
        self._segment_id = backup.segment
        self._backup = None
        step = self._accept(candidates, Choice(index, ChoiceKind.GATED), fit, spread)
        return replace(step, retracted_t_s=backup.jump_t_s)

    def _choose(self, candidates: Candidates, fit: MotionFit, spread: float) -> Choice | None:
        """Which candidate is the ball, and how it relates to the track."""
        index = best_in_gate(candidates, fit, spread, self._config)
        if index is not None:
            return Choice(index, ChoiceKind.GATED)
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
            return Choice(nearest, ChoiceKind.STILL)
        reach = self._config.max_speed_px_s * (candidates.t_s - last.t_s)
        reachable = (
            (from_last <= min(reach, self._config.max_jump_px))
            & candidates.moving
            & (candidates.scores >= self._config.acquire_confidence)  # a hit starts a track
        )
        if not reachable.any():
            return None
        distances[~reachable] = np.inf
        return Choice(int(np.argmin(distances)), ChoiceKind.JUMP)

    def _accept(
        self, candidates: Candidates, choice: Choice, fit: MotionFit, spread: float
    ) -> TrackerStep:
        score = float(candidates.scores[choice.index])
        if choice.kind is ChoiceKind.GATED:
            x, y = streak_centre(
                candidates, choice.index, fit, self._config, self.frames_per_interval
            )
        else:
            x, y = (float(v) for v in candidates.centers[choice.index])
        point = TrackPoint(candidates.t_s, x, y, score)
        previous = self._segment[-1]
        innovation = math.hypot(point.x - fit.x, point.y - fit.y)
        is_break = choice.kind is ChoiceKind.JUMP or (
            choice.kind is ChoiceKind.GATED and innovation > self._config.break_sigma * spread
        )
        self._vote_cadence(previous, point, fit)
        if choice.kind is ChoiceKind.JUMP and self._backup is None:
            self._backup = _Backup(tuple(self._segment), self._segment_id, point.t_s)
        elif choice.kind is ChoiceKind.GATED:
            self._backup = None  # whichever path it is on, the ball confirmed it
        out_x, out_y = point.x, point.y
        if is_break:
            # a hit: the new path starts from the last detection
            self._new_segment([previous])
        elif choice.kind is ChoiceKind.GATED and fit.points >= 2:
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

    def _seed_horizon_s(self) -> float:
        return (self._config.confirm_frames + 0.5) * self.frame_interval_s

    def _remember_seeds(self, candidates: Candidates, skip: int | None = None) -> None:
        """Keep unexplained candidates a few frames: a second one nearby starts a track."""
        self._seeds.remember(candidates, self._seed_horizon_s(), skip)

    def _challenge_bar(
        self, fit: MotionFit, sigma: float
    ) -> tuple[float, float, float, float] | None:
        """``(x, y, gate radius, mean score)`` of a track that may be taken over, or None.

        ``fit``, ``sigma``: the track's prediction (``_predict_fit``) at the frame's time.

        A track slower than ``still_ball_px`` a frame may follow a distant player's head or
        a shoe, which the detector scores like a ball and which never leave. A moving ball
        found outside its gate, scored above the track's mean score over its segment,
        takes it over (:meth:`_challenge`); the search looks elsewhere meanwhile
        (:meth:`perception.search.BallSearch.step`) and looks again where such a ball was
        seen once (:meth:`seeds`).
        """
        if not self._config.slow_challenge or not self._segment:
            return None
        if not is_slow(fit, self._config):
            return None
        spread = math.hypot(sigma, self._config.measurement_sigma_px)
        held = float(np.mean([point.confidence for point in self._segment]))
        return fit.x, fit.y, gate_radius(spread, self._config), held

    def _challenge(
        self, candidates: Candidates, fit: MotionFit, sigma: float
    ) -> TrackerStep | None:
        """A moving ball confirmed away from a slow track, surer than it, takes it over.

        The one place deciding that a track gives way (see :meth:`_challenge_bar`): a pair
        of moving detections outside the gate, confirmed as a seed confirms a track, whose
        weaker score beats the track's mean score. A ball rolling to a stop that the
        detector is sure of is not taken over by a head it is less sure of. Synth seed
        246802 (FP32 replay): a head at (1100, 205) scored 0.52-0.65 held the track for 19
        frames while the ball, 470 px away, scored 0.68-0.90.
        """
        bar = self._challenge_bar(fit, sigma)
        if bar is None:
            return None
        x, y, gate, held = bar
        distances = np.hypot(candidates.centers[:, 0] - x, candidates.centers[:, 1] - y)
        away = candidates.moving & (distances > gate)
        if not away.any():
            return None
        found = self._seeds.confirmed(
            replace(
                candidates,
                centers=candidates.centers[away],
                scores=candidates.scores[away],
                moving=candidates.moving[away],
            ),
            away_from=(x, y, gate),
        )
        if found is None:
            return None
        index, seed = found
        score = float(candidates.scores[away][index])
        if min(score, seed.confidence) <= held:
            return None
        logger.debug("a moving ball (%.2f) took over a slow track (%.2f)", score, held)
        self._end_track()
        return self._start(candidates, int(np.flatnonzero(away)[index]), seed)

    def _acquire(self, candidates: Candidates) -> TrackerStep:
        """Start a track from a candidate confirmed by an earlier seed within reach."""
        confirmed = self._seeds.confirmed(candidates)
        if confirmed is None:
            self._remember_seeds(candidates)
            return TrackerStep(BallState.lost(), None, -1)
        index, seed = confirmed
        return self._start(candidates, index, seed)

    def _start(self, candidates: Candidates, index: int, seed: TrackPoint) -> TrackerStep:
        """A new track from candidate ``index``, confirmed by ``seed``."""
        score = float(candidates.scores[index])
        center = candidates.centers[index]
        first = TrackPoint(candidates.t_s, float(center[0]), float(center[1]), score)
        # a fast ball's streak boxed at both ends is its middle from the first frame on
        x, y = streak_centre(
            candidates,
            index,
            self.fit([seed, first], candidates.t_s),
            self._config,
            self.frames_per_interval,
        )
        point = TrackPoint(candidates.t_s, x, y, score)
        self._new_segment([seed, point])
        self._seeds.clear()
        self._remember_seeds(candidates, skip=index)
        logger.debug("ball acquired at (%.1f, %.1f)", point.x, point.y)
        state = BallState(TrackStatus.SEEN, point.x, point.y, score)
        return TrackerStep(state, point, self._segment_id, confirmed=seed)
