"""The ball in a still picture: the whole-frame search of one unrelated image, top-1.

A photo has no frame before it, so nothing moves and no track helps: the search tiles the
whole picture at native resolution (each picture is a first frame) and the surest detection
is the answer. The bundled still model (``perception.weights.STILL_MODEL_NAME``) sees colour;
the motion model would see a grey picture three times and, rightly for video, take anything
still for clutter.

Not thread-safe: one owner (the command, the bench or the dataset miner).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from configs.app_config import SearchConfig
from perception.detections import Detections
from perception.detector import Detector
from perception.search import BallSearch
from stream.frame import Frame


@dataclass(frozen=True, slots=True)
class StillBall:
    """The surest ball of one picture.

    Attributes:
        x: centre in the picture's pixels.
        y: centre in the picture's pixels.
        score: the detector's confidence.
    """

    x: float
    y: float
    score: float


class StillFinder:
    """Searches unrelated pictures one at a time with one detector."""

    def __init__(self, detector: Detector, search: SearchConfig) -> None:
        self._search = BallSearch(detector, search)
        self._count = 0

    def detections(self, image: NDArray[np.uint8]) -> Detections:
        """Every detection of the whole-frame search of ``image`` (BGR), in its pixels."""
        self._search.reset()  # unrelated to the picture before: no track, no motion
        frame = Frame(self._count, image, 0.0, 0)
        self._count += 1
        return self._search.step(frame, None).detections

    def find(self, image: NDArray[np.uint8]) -> StillBall | None:
        """The surest detection of ``image``, or None when the search found nothing."""
        found = self.detections(image)
        if not len(found):
            return None
        best = int(np.argmax(found.confidence))
        x, y = (float(v) for v in found.centers[best])
        return StillBall(x, y, float(found.confidence[best]))
