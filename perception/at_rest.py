"""A ball at rest where its track ended: the dead shuttle on the floor, the ball by the net.

When a rally ends the ball stops: a shuttle lands and lies on the floor, a tennis ball
rolls to the net. The motion model cannot see it any more (it learned that still things
are clutter, which is right for a ball in play) and the static-clutter rule would remove it
if it did; so on the held-out badminton rally the product lost the lying shuttle for 33 of
97 frames. A colour model (the bundled still model) does see it, weakly (scores 0.17-0.39
on 128 px crops round it), and that is too weak to search a whole frame with: a score that
low finds clutter everywhere.

So this looks only where a ball was: when a track that lasted ``min_track_frames`` ends,
the colour model looks at one crop centred where the track's last detection was, for
``look_s``. Its surest detection there (at least ``score``) is a candidate; one that stays
within ``radius_px`` of the last for ``confirm_looks`` looks in a row is the ball at rest.
Once found, the ball stays reported while the pixels under it do not change (mean grey
change of a 9x9 patch under ``change_floor``), and the model no longer runs: a ball at
rest does not move until someone moves it, and then its pixels change (and the look
starts again). Until then the model runs every ``every``-th frame. A new long track (play
resumed) or ``look_s`` ends the look.

Only the frames the tracker reports as lost get the ball at rest (a track wins), and they
get it with its own status (``rest``), so a still ``seen`` position still means clutter.

Not thread-safe: the perception thread only, frames in order.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from configs.app_config import RestLookConfig
from perception.detector import Detector
from perception.frame_input import grey
from perception.tiling import crop, crop_window, to_frame

_PATCH_HALF_PX = 4  # a 9x9 patch: a shuttle or ball at rest is 5-10 px
_SNAPSHOT_S = 0.5  # how often a grey frame is kept for the "was it there before" check


@dataclass(frozen=True, slots=True)
class _Chain:
    """A candidate of the last look and how many looks in a row found it there."""

    x: float
    y: float
    score: float
    count: int


@dataclass(frozen=True, slots=True)
class RestBall:
    """The ball found at rest: centre in frame pixels, the colour model's score of it."""

    x: float
    y: float
    score: float


class RestLook:
    """Looks for a ball at rest round where the last long track ended.

    Args:
        detector: a colour model (the still model) at its own resolution.
        config: when to look, how sure and how still.
    """

    def __init__(self, detector: Detector, config: RestLookConfig) -> None:
        self._detector = detector
        self._config = config
        self._run = 0  # frames tracked in a row
        self._last: tuple[float, float] | None = None  # the track's last detection
        self._anchor: tuple[float, float] | None = None  # where the look is centred
        self._ended_t = 0.0
        self._looks = 0
        self._chains: list[_Chain] = []  # the last look's candidates, with their runs
        self._static: list[tuple[float, float]] = []  # candidates there before the ball
        self._ball: RestBall | None = None
        self._patch: NDArray[np.float32] | None = None  # grey pixels under the ball
        self._looked_px = 0
        # grey frames every SNAPSHOT_S: what a place looked like before the ball came
        keep = math.ceil((config.before_s + config.look_s) / _SNAPSHOT_S) + 2
        self._snapshots: deque[tuple[float, NDArray[np.uint8]]] = deque(maxlen=keep)
        self._image: NDArray[np.uint8] = np.zeros((0, 0, 3), np.uint8)  # this frame

    @property
    def detector(self) -> Detector:
        """The colour model it looks with."""
        return self._detector

    @property
    def looked_px(self) -> int:
        """Pixels the colour model saw on the last :meth:`observe` (0: it did not run)."""
        return self._looked_px

    def reset(self) -> None:
        """Forget everything (a new stream epoch)."""
        self._run = 0
        self._last = None
        self._snapshots.clear()
        self._stop()

    def observe(
        self,
        image: NDArray[np.uint8],
        t_s: float,
        last_point: tuple[float, float] | None,
    ) -> RestBall | None:
        """Take the next frame and the tracker's state after it; the ball at rest, or None.

        Args:
            image: the BGR frame.
            t_s: its time in seconds.
            last_point: the tracker's last accepted detection while it tracks, None
                when it has no track.
        """
        self._looked_px = 0
        self._image = image  # patches of it only: no whole-frame work on most frames
        if not self._snapshots or t_s - self._snapshots[-1][0] >= _SNAPSHOT_S:
            self._snapshots.append((t_s, grey(image)))
        if last_point is not None:
            self._run += 1
            self._last = last_point
            if self._run >= self._config.min_track_frames:
                self._stop()  # play goes on: no ball at rest
            return None
        if self._run >= self._config.min_track_frames and self._last is not None:
            self._stop()
            self._anchor, self._ended_t = self._last, t_s
        self._run = 0
        if self._anchor is None:
            return None
        if t_s - self._ended_t > self._config.look_s:
            self._stop()
            return None
        if self._ball is not None and not self._unchanged(self._ball):
            self._ball, self._patch = None, None  # someone moved it
            self._chains.clear()
        if self._ball is None:  # found: its unchanged pixels keep it, no model needed
            if self._looks % self._config.every == 0:
                self._look(image, self._anchor)
            self._looks += 1
        return self._ball

    def _stop(self) -> None:
        self._anchor = None
        self._looks = 0
        self._chains.clear()
        self._static.clear()
        self._ball, self._patch = None, None

    def _look(self, image: NDArray[np.uint8], anchor: tuple[float, float]) -> None:
        found = self._candidates(image, anchor)
        chains: list[_Chain] = []
        for x, y, score in found:
            if any(self._near(x, y, bx, by) for bx, by in self._static):
                continue  # there before the ball came
            count = max((c.count for c in self._chains if self._near(x, y, c.x, c.y)), default=0)
            chains.append(_Chain(x, y, score, count + 1))
        self._chains = chains
        ready = [c for c in chains if c.count >= self._config.confirm_looks]
        for chain in sorted(ready, key=lambda c: -c.score):
            if self._was_there(chain):
                self._static.append((chain.x, chain.y))
                continue
            self._ball = RestBall(chain.x, chain.y, chain.score)
            self._patch = _patch(self._image, chain.x, chain.y)
            return

    def _near(self, x: float, y: float, other_x: float, other_y: float) -> bool:
        return bool(np.hypot(x - other_x, y - other_y) <= self._config.radius_px)

    def _was_there(self, chain: _Chain) -> bool:
        """Whether the pixels under ``chain`` looked the same before the ball came."""
        before = [g for t, g in self._snapshots if t <= self._ended_t - self._config.before_s]
        if not before:
            return False  # nothing seen that long before: no evidence either way
        then = _patch(before[-1], chain.x, chain.y)
        return self._looks_the_same(_patch(self._image, chain.x, chain.y), then)

    def _candidates(
        self, image: NDArray[np.uint8], anchor: tuple[float, float]
    ) -> list[tuple[float, float, float]]:
        """The colour model's detections of at least ``score`` in the crop round ``anchor``."""
        height, width = image.shape[:2]
        side = self._detector.resolution
        window = crop_window(anchor[0], anchor[1], side, width, height)
        self._looked_px = side * side
        in_crop = self._detector.detect([crop(image, window, side)])[0]
        found = to_frame(in_crop, window, width, height)
        return [
            (float(x), float(y), float(score))
            for (x, y), score in zip(found.centers, found.confidence, strict=True)
            if score >= self._config.score
        ]

    def _unchanged(self, ball: RestBall) -> bool:
        if self._patch is None:
            return False
        return self._looks_the_same(_patch(self._image, ball.x, ball.y), self._patch)

    def _looks_the_same(self, now: NDArray[np.float32], then: NDArray[np.float32]) -> bool:
        """Whether two patches of one place differ by less than ``change_floor`` on average."""
        if now.shape != then.shape:
            return False
        return float(np.mean(np.abs(now - then))) < self._config.change_floor


def _patch(picture: NDArray[np.uint8], x: float, y: float) -> NDArray[np.float32]:
    """The grey 9x9 pixels round ``(x, y)`` of a grey or BGR picture (cut at its edges)."""
    height, width = picture.shape[:2]
    cx, cy = round(x), round(y)
    x0, x1 = max(cx - _PATCH_HALF_PX, 0), min(cx + _PATCH_HALF_PX + 1, width)
    y0, y1 = max(cy - _PATCH_HALF_PX, 0), min(cy + _PATCH_HALF_PX + 1, height)
    cut = picture[y0:y1, x0:x1]
    if cut.ndim == 3 and cut.size:
        cut = grey(np.ascontiguousarray(cut))
    return cut.astype(np.float32)
