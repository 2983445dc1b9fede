"""Values that cross thread and package boundaries: frames and ground truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class BallTruth:
    """Ground-truth ball position of one frame (from a synthetic source or labels).

    Attributes:
        is_visible: whether the ball can be seen in the frame.
        x: ball centre x in pixels of the original frame (0 when not visible).
        y: ball centre y in pixels of the original frame (0 when not visible).
        radius_px: apparent ball radius in pixels (0 when unknown).
    """

    is_visible: bool
    x: float = 0.0
    y: float = 0.0
    radius_px: float = 0.0


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded video frame and its capture stamps.

    Attributes:
        index: 0-based index of the frame in the source (counts dropped frames too).
        image: BGR ``uint8`` array of shape ``(H, W, 3)``.
        pts_s: source presentation time in seconds (replay clock); for live
            sources the capture time relative to the first frame.
        captured_ns: monotonic clock when the frame left the decoder.
        enqueued_ns: monotonic clock when it entered the frame queue (0 before).
        truth: ground truth when the source knows it (synthetic source).
        epoch: connection epoch; a network source bumps it on each reconnect.
    """

    index: int
    image: NDArray[np.uint8]
    pts_s: float
    captured_ns: int
    enqueued_ns: int = 0
    truth: BallTruth | None = None
    epoch: int = 0

    def __post_init__(self) -> None:
        image = self.image
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            msg = (
                "Frame.image must be BGR uint8 with shape (H, W, 3), "
                f"but got dtype {image.dtype} with shape {image.shape}"
            )
            raise ValueError(msg)
        if self.index < 0:
            msg = f"Frame.index must be >= 0, but got {self.index}"
            raise ValueError(msg)

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return int(self.image.shape[0])
