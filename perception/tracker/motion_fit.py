"""Motion fits of a ball track: least-squares lines through the accepted detections.

Owns the fit's assumptions (:class:`MotionErrors`), its result at one time
(:class:`MotionFit`) and the fits themselves: every window of the last 2..N detections is
tried and the one with the smallest error wins (:func:`fit_motion`): long windows average
detector noise away while the path is straight; their misfit (chi-square) and an
acceleration term stop them from lagging when it bends. Pure functions, no state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from perception.tracker.values import TrackPoint


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
