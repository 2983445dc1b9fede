"""Acquisition: lone candidates kept a few frames until a second one confirms a track.

Owns :class:`SeedPool`. With no track, a detection starts one only when a second
detection within reach (the ball's top speed, at most ``max_jump_px``) follows in the next
``confirm_frames`` frames, so lone false positives never show. A candidate that scores
under ``acquire_confidence`` never becomes a seed; one whose pixels did not change (a logo,
or a ball at rest) only with ``rest_confidence`` (:meth:`SeedPool.may_seed`).
"""

from __future__ import annotations

import math

from configs.app_config import TrackerConfig
from perception.options import FrameInput
from perception.tracker.candidates import Candidates
from perception.tracker.values import TrackPoint


def seeding_for(config: TrackerConfig, frame_input: FrameInput) -> TrackerConfig:
    """The tracker settings for a detector that sees ``frame_input``: the one place deciding.

    A model that sees motion (a grey stack of three frames) was trained to take anything
    still for clutter, so:

    - a still candidate it scores high is clutter it failed on, and a ball at rest is the
      rest look's job (:mod:`perception.at_rest`), not the tracker's: a still candidate
      never starts a track (``rest_confidence`` 1). Measured 2026-12-07 on the badminton
      rallies with the bundled real model: FP32 replay unchanged (train_00001 held out
      0.761, train_00008 0.475); its INT8 twin in replay 0.377 -> 0.585 held out (before,
      a still spot at x 43 y 308 was reported for the first 15 frames); live on the
      virtual clock (``bench.live_sim``) held out 0.603 = , frames 0-219 0.371 -> 0.468,
      train_00008 0.537 -> 0.545.
    - a slow ball is one it scores low (its motion is what it sees), so a slow track
      scoring below a moving racket is no sign of a head: a slow track never gives way
      (``slow_challenge`` off). FP32 replay with it on: train_00008 0.475 -> 0.379 (the
      shuttle near its apex, 1-4 px a frame, taken over by a racket), train_00001 whole
      clip 0.621 -> 0.648, held out 0.761 = .

    A colour model keeps both (a ball waiting for the kick-off; a head scored like a
    ball). Either setting stays as the config gave it when it was set there.
    """
    if frame_input is not FrameInput.GREY_STACK:
        return config
    told = config.model_fields_set
    motion_model = {"rest_confidence": 1.0, "slow_challenge": False}
    return config.model_copy(update={k: v for k, v in motion_model.items() if k not in told})


class SeedPool:
    """Unexplained candidates of the last frames, each a possible start of a track.

    Not thread-safe: owned by one online tracker (the perception thread).

    Args:
        config: reach and confidence settings.
    """

    def __init__(self, config: TrackerConfig) -> None:
        self._config = config
        self._seeds: list[TrackPoint] = []

    def clear(self) -> None:
        """Forget every seed."""
        self._seeds.clear()

    def waiting(self, t_s: float, horizon_s: float) -> tuple[TrackPoint, ...]:
        """The seeds that can still be confirmed at ``t_s`` (younger than ``horizon_s``)."""
        return tuple(seed for seed in self._seeds if 0 < t_s - seed.t_s <= horizon_s)

    def remember(self, candidates: Candidates, horizon_s: float, skip: int | None = None) -> None:
        """Keep unexplained candidates ``horizon_s``: a second one nearby starts a track.

        Args:
            candidates: this frame's candidates.
            horizon_s: how long a seed waits for its confirmation, seconds.
            skip: index of a candidate already explained (taken as the ball).
        """
        self._seeds = [seed for seed in self._seeds if candidates.t_s - seed.t_s <= horizon_s]
        self._seeds.extend(
            TrackPoint(candidates.t_s, float(center[0]), float(center[1]), float(score))
            for index, (center, score) in enumerate(
                zip(candidates.centers, candidates.scores, strict=True)
            )
            if index != skip and self.may_seed(float(score), bool(candidates.moving[index]))
        )

    def may_seed(self, score: float, moving: bool) -> bool:
        """Whether a candidate may start a track: the one place deciding it.

        A moving candidate needs ``acquire_confidence``. One whose pixels did not change needs
        ``rest_confidence``: a ball at rest (before a serve, at a kick-off) is found only by
        what it looks like, and so is a logo or a light; a score that high is the detector
        being sure. Static clutter the detector is sure of is still ended by the clutter spots
        (``clutter_frames`` detections in one place), so it never shows for long.
        """
        if moving:
            return score >= self._config.acquire_confidence
        return score >= self._config.rest_confidence

    def confirmed(
        self, candidates: Candidates, away_from: tuple[float, float, float] | None = None
    ) -> tuple[int, TrackPoint] | None:
        """The candidate an earlier seed within reach confirms, with that seed.

        A moving pair beats a static one (a ball in flight before a logo the detector is
        sure of); then the one whose weaker score is highest wins (then the nearer): the
        detector's ball outscores the moving players' shoes and heads that also get
        confirmed. A candidate whose pixels did not change starts a track only above
        ``rest_confidence`` (see :meth:`may_seed`).

        Args:
            candidates: this frame's candidates.
            away_from: ``(x, y, radius)``: seeds inside that circle (a track's gate) are
                not used.

        Returns:
            ``(candidate index, seed)``, or None when no candidate is confirmed.
        """
        t_s = candidates.t_s
        seeds = self._seeds
        if away_from is not None:
            x, y, radius = away_from
            seeds = [seed for seed in seeds if math.hypot(seed.x - x, seed.y - y) > radius]
        best: tuple[tuple[bool, float, float], int, TrackPoint] | None = None
        for index, center in enumerate(candidates.centers):
            score = float(candidates.scores[index])
            moving = bool(candidates.moving[index])
            if not self.may_seed(score, moving):
                continue  # weak candidates (and static ones below rest_confidence)
            for seed in seeds:
                distance = math.hypot(center[0] - seed.x, center[1] - seed.y)
                reach = min(
                    self._config.max_speed_px_s * (t_s - seed.t_s), self._config.max_jump_px
                )
                rank = (moving, min(score, seed.confidence), -distance)
                if seed.t_s < t_s and distance <= reach and (best is None or rank > best[0]):
                    best = (rank, index, seed)
        if best is None:
            return None
        _, index, seed = best
        return index, seed
