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
    gate = max(config.gate_sigma * spread, config.min_gate_px)
    return distances, distances <= gate


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
