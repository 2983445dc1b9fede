"""The motion gate: where something small moved, found on the whole frame in a few ms.

Before any tile reaches the detector, a cheap pass over the whole frame finds small
moving blobs; the search then runs the detector only on crops around them (plus a slow
sweep for a ball at rest, see :mod:`perception.search`).

The pass is the classic three-frame difference at reduced resolution: the grey frame is
shrunk by ``scale`` (area averaging, which also averages sensor noise down), and a pixel
moves when it differs from *both* of the two previous frames by more than a threshold.
The minimum of the two differences keeps where the ball is now and drops where it was
(its ghost differs only from the older frames' content in one of the two), and a static
object never differs at all. The threshold is the larger of a fixed floor and
``noise_sigmas`` times the frame's robust noise level (median absolute difference), so
grain and compression noise do not light up the frame. Blobs larger than a ball
(players) are not candidates; when most of the picture changed (the median difference is
over the floor: a cut, a pan) the gate has no verdict and the search falls back to tiles.

cv2 is used here (not numpy) for the area resize and the connected components: both run
in about a millisecond at 640x360, where numpy labelling takes tens.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from configs.app_config import MotionConfig
from perception.frame_input import median_change

_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True, slots=True)
class MotionBlob:
    """A small moving blob, in frame pixels.

    Attributes:
        x: centre x (full-resolution frame pixels).
        y: centre y.
        area_px: blob area in full-resolution pixels (approximate: reduced area x scale²).
        strength: the largest grey-level change inside the blob.
    """

    x: float
    y: float
    area_px: float
    strength: float


@dataclass(frozen=True, slots=True)
class MotionResult:
    """What the gate found on one frame.

    Attributes:
        blobs: every ball-sized moving blob, strongest first (the search crops around the
            first ``max_candidates``, slow ones it already looked at put last, and, while
            tracking, looks for the ball among all).
        changed_fraction: share of the (reduced) frame that moved.
        is_usable: False before three frames were seen, after a size change, and when
            too much of the frame changed (pan, cut): then the gate cannot say where the
            ball is not, and the search falls back to tiles.
        threshold: the grey-level threshold used on this frame.
    """

    blobs: tuple[MotionBlob, ...]
    changed_fraction: float
    is_usable: bool
    threshold: float

    @classmethod
    def unusable(cls) -> MotionResult:
        """No verdict on this frame."""
        return cls((), 0.0, is_usable=False, threshold=0.0)


def reduced_grey(image: NDArray[np.uint8], scale: int) -> NDArray[np.int16]:
    """The BGR frame as grey, shrunk ``scale`` times by area averaging (``int16``)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if scale > 1:
        height, width = grey.shape
        size = (max(width // scale, 1), max(height // scale, 1))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return grey.astype(np.int16)


class MotionGate:
    """Finds small moving blobs frame by frame (three-frame difference).

    Not thread-safe: called only from the perception thread, frames in order.

    Args:
        config: resolution, threshold and blob limits.
    """

    def __init__(self, config: MotionConfig) -> None:
        self._config = config
        self._history: deque[NDArray[np.int16]] = deque(maxlen=2)

    def reset(self) -> None:
        """Forget the previous frames (a new stream epoch or a seek)."""
        self._history.clear()

    def update(self, image: NDArray[np.uint8]) -> MotionResult:
        """Take the next frame; the moving blobs on it.

        Args:
            image: BGR ``uint8`` ``(H, W, 3)`` frame.
        """
        current = reduced_grey(image, self._config.scale)
        if self._history and self._history[-1].shape != current.shape:
            self._history.clear()
        if len(self._history) < 2:
            self._history.append(current)
            return MotionResult.unusable()
        older, previous = self._history
        self._history.append(current)
        recent = np.abs(current - previous)
        typical = median_change(recent[::2, ::2])
        if typical > self._config.threshold:
            # most of the picture changed (a cut, a pan, a flash): no verdict
            return MotionResult((), 1.0, is_usable=False, threshold=typical)
        change = np.minimum(recent, np.abs(current - older)).astype(np.uint8)
        # the fixed floor, or noise_sigmas sigmas of one frame difference if higher (the
        # minimum of two differences would understate the noise)
        noise = typical * _MAD_TO_SIGMA
        threshold = max(float(self._config.threshold), self._config.noise_sigmas * noise)
        return self._blobs(change, threshold)

    def _blobs(self, change: NDArray[np.uint8], threshold: float) -> MotionResult:
        config = self._config
        mask = (change > threshold).astype(np.uint8)
        changed = float(mask.mean())
        if changed > config.max_changed_fraction:
            return MotionResult((), changed, is_usable=False, threshold=threshold)
        count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if count <= 1:
            return MotionResult((), changed, is_usable=True, threshold=threshold)
        inside = mask.astype(bool)
        peaks = np.zeros(count, np.float32)
        np.maximum.at(peaks, labels[inside], change[inside].astype(np.float32))
        scale = config.scale
        biggest = config.max_blob_px / scale
        blobs = [
            MotionBlob(
                float((centroids[label][0] + 0.5) * scale - 0.5),
                float((centroids[label][1] + 0.5) * scale - 0.5),
                float(stats[label, cv2.CC_STAT_AREA] * scale * scale),
                float(peaks[label]),
            )
            for label in range(1, count)
            if stats[label, cv2.CC_STAT_WIDTH] <= biggest
            and stats[label, cv2.CC_STAT_HEIGHT] <= biggest
        ]
        blobs.sort(key=lambda blob: -blob.strength)
        return MotionResult(tuple(blobs), changed, is_usable=True, threshold=threshold)
