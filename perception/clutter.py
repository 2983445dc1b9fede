"""Static clutter: ball-like things that never move (a logo, a light, a ball on a stand).

On broadcast footage the detector keeps finding the same static object (by the scoreboard,
in a logo), and a tracker that takes it for the ball reports it, still, for seconds. A
ball in play does not sit within a few pixels of one spot for half a second; so a spot
where detections keep landing, ``frames`` times within ``radius_px`` of where the first
one landed, is clutter: candidates on it are removed before the tracker sees them, so it
is neither acquired nor kept. The anchor is the spot's first detection (not a running
mean), so a slowly drifting ball leaves its spot and is never counted as clutter. A spot
without a detection for ``forget_s`` is forgotten (the object may have gone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

_MAX_SPOTS = 256


@dataclass(slots=True)
class _Spot:
    """Where detections keep landing (mutable: hits and last time grow)."""

    x: float
    y: float
    hits: int
    last_t_s: float


class StaticClutter:
    """Remembers spots where detections repeat and says which candidates are clutter.

    Not thread-safe (the perception thread only). ``frames == 0`` turns it off.

    Args:
        frames: detections on one spot that make it clutter.
        radius_px: how far from the spot's anchor a detection still counts.
        forget_s: a spot without a detection for this long is forgotten.
    """

    def __init__(self, frames: int, radius_px: float, forget_s: float) -> None:
        self._frames = frames
        self._radius = radius_px
        self._forget_s = forget_s
        self._spots: list[_Spot] = []

    def reset(self) -> None:
        """Forget every spot."""
        self._spots.clear()

    @property
    def clutter_spots(self) -> list[tuple[float, float]]:
        """Centres of the spots now taken for clutter."""
        return [(s.x, s.y) for s in self._spots if self._frames and s.hits >= self._frames]

    def keep(self, centers: NDArray[np.float32], t_s: float) -> NDArray[np.bool_]:
        """Record this frame's candidates; which of them are not clutter.

        Args:
            centers: ``(N, 2)`` candidate centres in frame pixels.
            t_s: frame time in seconds.

        Returns:
            ``(N,)`` mask, False for candidates on a clutter spot.
        """
        keep = np.ones(len(centers), dtype=bool)
        if self._frames == 0:
            return keep
        self._spots = [s for s in self._spots if t_s - s.last_t_s <= self._forget_s]
        hit: set[int] = set()
        for index, (x, y) in enumerate(centers):
            spot = self._nearest(float(x), float(y))
            if spot is None:
                self._spots.append(_Spot(float(x), float(y), 1, t_s))
                continue
            if id(spot) not in hit:  # one hit per spot per frame
                spot.hits += 1
                spot.last_t_s = t_s
                hit.add(id(spot))
            keep[index] = spot.hits < self._frames
        if len(self._spots) > _MAX_SPOTS:
            self._spots.sort(key=lambda s: (s.hits >= self._frames, s.last_t_s))
            del self._spots[: len(self._spots) - _MAX_SPOTS]
        return keep

    def _nearest(self, x: float, y: float) -> _Spot | None:
        best: _Spot | None = None
        best_distance = self._radius
        for spot in self._spots:
            distance = float(np.hypot(spot.x - x, spot.y - y))
            if distance <= best_distance:
                best, best_distance = spot, distance
        return best
