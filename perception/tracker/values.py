"""The tracker's values: a detection accepted as the ball, a prediction, a per-frame step.

Frozen, slotted dataclasses shared by the tracker's modules (the motion fit, acquisition,
the online tracker and the fixed-lag stage) and the search crop (``perception.search``).
"""

from __future__ import annotations

from dataclasses import dataclass

from perception.result import BallState


@dataclass(frozen=True, slots=True)
class TrackerPrediction:
    """Where the tracker expects the ball at a time.

    Attributes:
        x: centre x in frame pixels.
        y: centre y in frame pixels.
        sigma_px: one-sigma uncertainty of each coordinate in pixels.
        speed_px_s: the ball's estimated speed in pixels per second.
        misses: frames since the last accepted detection (0 = seen on the last frame).
        last: ``(x, y)`` of the last accepted detection, None when not given.
        may_give_way: the tracked thing moves less than ``tracker.still_ball_px`` a frame
            and may be a head or a shoe: a moving ball found elsewhere would take the
            track over (``tracker.slow_challenge``), so the search looks elsewhere too.
    """

    x: float
    y: float
    sigma_px: float
    speed_px_s: float
    misses: int
    last: tuple[float, float] | None = None
    may_give_way: bool = False


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
