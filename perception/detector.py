"""The Detector protocol every backend implements (RF-DETR float, INT8-QAT, fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from perception.detections import Detections


class Precision(StrEnum):
    """Numeric precision of the detector's forward pass."""

    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"
    INT8 = "int8"


class Detector(Protocol):
    """Finds ball candidates in square native-resolution crops.

    Called only from the perception thread. ``detect`` must return after the
    device has finished (CUDA-synchronised), so the caller's timestamps are true.
    """

    @property
    def resolution(self) -> int:
        """Side in pixels of the square input the model runs at natively."""
        ...

    @property
    def precision(self) -> Precision:
        """The precision the forward pass runs in."""
        ...

    @property
    def device(self) -> str:
        """Where it runs: ``cpu`` or ``cuda``."""
        ...

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        """Detect balls in a batch of BGR ``uint8`` ``(H, W, 3)`` images.

        Returns:
            One :class:`Detections` per image, boxes in that image's pixels.
        """
        ...

    def warm_up(self) -> None:
        """Run the model once so the first timed frame is not the slow one."""
        ...
