"""Detections: a small struct of arrays, in pixels of the image it was found in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class Detections:
    """Boxes and scores of one image.

    Attributes:
        xyxy: float32 ``(N, 4)`` boxes as ``(x_min, y_min, x_max, y_max)`` in pixels.
        confidence: float32 ``(N,)`` scores in ``[0, 1]``.
    """

    xyxy: NDArray[np.float32]
    confidence: NDArray[np.float32]

    def __post_init__(self) -> None:
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            msg = f"Detections.xyxy must have shape (N, 4), but got shape {self.xyxy.shape}"
            raise ValueError(msg)
        if self.confidence.shape != (self.xyxy.shape[0],):
            msg = (
                f"Detections.confidence must have shape ({self.xyxy.shape[0]},), "
                f"but got shape {self.confidence.shape}"
            )
            raise ValueError(msg)

    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    @classmethod
    def from_lists(cls, xyxy: list[list[float]], confidence: list[float]) -> Detections:
        """Build from plain lists (tests, fakes, CSV)."""
        if not xyxy:
            return cls.empty()
        return cls(np.asarray(xyxy, np.float32).reshape(-1, 4), np.asarray(confidence, np.float32))

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def filter(self, mask: NDArray[np.bool_]) -> Detections:
        """The detections where ``mask`` is True."""
        return Detections(self.xyxy[mask], self.confidence[mask])

    def shifted(self, dx: float, dy: float) -> Detections:
        """The same boxes moved by ``(dx, dy)`` pixels (crop → frame coordinates)."""
        offset = np.asarray([dx, dy, dx, dy], np.float32)
        return Detections(self.xyxy + offset, self.confidence)

    @property
    def centers(self) -> NDArray[np.float32]:
        """Box centres, float32 ``(N, 2)`` as ``(x, y)`` pixels."""
        return np.stack(
            [(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2],
            axis=1,
        ).astype(np.float32)

    @staticmethod
    def concat(parts: list[Detections]) -> Detections:
        """All detections of ``parts`` in one struct."""
        if not parts:
            return Detections.empty()
        return Detections(
            np.concatenate([p.xyxy for p in parts]).astype(np.float32),
            np.concatenate([p.confidence for p in parts]).astype(np.float32),
        )
