"""One frame's ball candidates, the tracker's choice among them, and the gate.

Owns :class:`Candidates` (what the online tracker sees of a frame), :class:`Choice` (which
candidate it took and why) and the gate around the predicted ball: inside it, the
candidate nearest the prediction (scaled by the uncertainty, favouring higher scores)
wins. A candidate whose pixels did not change (``moving`` from :mod:`perception.change`)
is taken inside the gate only while the ball moves less than ``still_ball_px`` per frame:
a faster ball always changes the pixels under it. Pure functions, no state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from configs.app_config import TrackerConfig
from perception.tracker.motion_fit import MotionFit

FloatArray = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Candidates:
    """One frame's candidates that passed ``min_confidence`` and the clutter filter.

    Attributes:
        centers: ``(N, 2)`` centres in frame pixels.
        scores: ``(N,)`` detector confidences.
        t_s: frame time in seconds.
        frame_size: ``(width, height)``, or None when unknown.
        moving: ``(N,)`` False where the pixels under a candidate did not change (clutter).
    """

    centers: FloatArray
    scores: FloatArray
    t_s: float
    frame_size: tuple[int, int] | None
    moving: NDArray[np.bool_]  # False: the pixels under it did not change (clutter)


class ChoiceKind(StrEnum):
    """How a chosen candidate relates to the track."""

    GATED = "gated"  # inside the gate around the prediction
    STILL = "still"  # where the ball was on the previous frame (a repeated frame)
    JUMP = "jump"  # far, but within reach of the last detection: a hit


@dataclass(frozen=True, slots=True)
class Choice:
    """The candidate taken as the ball (an index into :class:`Candidates`) and its kind."""

    index: int
    kind: ChoiceKind


def best_in_gate(
    candidates: Candidates, fit: MotionFit, spread: float, config: TrackerConfig
) -> int | None:
    """The best candidate inside the gate around ``fit`` (distance, then score)."""
    if len(candidates.centers) == 0:
        return None
    distances, inside = in_gate(candidates, fit, spread, config)
    if not is_slow(fit, config):
        inside &= candidates.moving  # a ball this fast changes the pixels under it
    if not inside.any():
        return None
    cost = (distances / spread) ** 2 - 2.0 * np.log(np.maximum(candidates.scores, 1e-3))
    cost[~inside] = np.inf
    return int(np.argmin(cost))


def in_gate(
    candidates: Candidates, fit: MotionFit, spread: float, config: TrackerConfig
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Each candidate's distance from ``fit``, and whether it lies inside the gate."""
    centers = candidates.centers
    distances = np.hypot(centers[:, 0] - fit.x, centers[:, 1] - fit.y)
    return distances, distances <= gate_radius(spread, config)


def gate_radius(spread: float, config: TrackerConfig) -> float:
    """The gate's radius in px for a prediction of ``spread`` px."""
    return max(config.gate_sigma * spread, config.min_gate_px)


def is_slow(fit: MotionFit, config: TrackerConfig) -> bool:
    """Whether the ball moves so little that the pixels under it may not change."""
    return math.hypot(fit.vx, fit.vy) < config.still_ball_px


def is_static_in_gate(
    candidates: Candidates, fit: MotionFit, spread: float, config: TrackerConfig
) -> bool:
    """Whether a candidate that did not move sits inside the gate around ``fit``."""
    if len(candidates.centers) == 0 or candidates.moving.all() or is_slow(fit, config):
        return False
    _, inside = in_gate(candidates, fit, spread, config)
    return bool((inside & ~candidates.moving).any())


# two boxes count as one streak's ends when their offset is within this angle of the path
_STREAK_COS = math.cos(math.radians(20.0))


def streak_speed(
    fit: MotionFit, config: TrackerConfig, frames_per_interval: float = 1.0
) -> float | None:
    """The ball's speed in px a source frame when it is a blur streak, else None.

    A streak is faster than ``streak_speed_px`` (0 = never). ``fit``'s velocity is per
    typical interval between the frames the tracker got, ``frames_per_interval`` source
    frames when a live run drops frames (see :func:`streak_centre`).
    """
    speed = math.hypot(fit.vx, fit.vy) / max(frames_per_interval, 1.0)
    if config.streak_speed_px <= 0 or speed < config.streak_speed_px:
        return None
    return speed


def streak_centre(
    candidates: Candidates,
    index: int,
    fit: MotionFit,
    config: TrackerConfig,
    frames_per_interval: float = 1.0,
) -> tuple[float, float]:
    """The chosen candidate's centre, or the middle of the streak it is one end of.

    A ball faster than ``streak_speed_px`` a frame is a motion-blurred streak, and the
    detector often boxes both of its ends (measured on the synthetic match at ~50 px a
    frame: two boxes 13-15 px apart, the labelled centre between them within ~1.5 px, the
    tracker taking either end, 5-10 px off). So when another moving candidate lies along
    the path (its offset within 20 degrees of the velocity) and closer than one frame's
    travel, the ball is the middle of the two (the surest such partner). The partner need
    not be inside the gate: just after a hit the fit lags the ball, and the streak's far
    end lay outside it (seed 737373 frame 88: 36 px from the fit, gate 26 px; reported
    9.6 px off).

    "A frame" is one frame of the source: a streak is what the ball travels while one
    picture is exposed. ``fit``'s velocity is per *typical interval between the frames the
    tracker got*, which is ``frames_per_interval`` source frames when a live run drops
    frames; with drops taken for frames, the gate's ghost blob of a ball at 14 px a frame
    (21 px behind it, two frames per interval) was taken for the streak's other end, and
    the ball reported 7-17 px off (live synth seed 737373).
    """
    speed = streak_speed(fit, config, frames_per_interval)
    chosen = candidates.centers[index]
    if speed is None:
        return float(chosen[0]), float(chosen[1])
    best: tuple[float, int] | None = None
    for other in np.flatnonzero(candidates.moving):
        offset = candidates.centers[other] - chosen
        length = math.hypot(float(offset[0]), float(offset[1]))
        if other == index or length == 0.0 or length > speed:
            continue
        along = abs(float(offset[0]) * fit.vx + float(offset[1]) * fit.vy) / (length * speed)
        score = float(candidates.scores[other])
        if along >= _STREAK_COS and (best is None or score > best[0]):
            best = (score, int(other))
    if best is None:
        return float(chosen[0]), float(chosen[1])
    partner = candidates.centers[best[1]]
    return float(chosen[0] + partner[0]) / 2, float(chosen[1] + partner[1]) / 2
