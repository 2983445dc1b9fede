"""The Detector protocol every backend implements (RF-DETR float, INT8-QAT, fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class PatchGridDetector(Protocol):
    """A detector whose backbone cuts its input into square patches (a ViT, as RF-DETR's)."""

    @property
    def patch_px(self) -> int:
        """Side in pixels of one patch (0: unknown)."""
        ...


def ball_offset_px(detector: object) -> float:
    """How far right and down of a track crop's centre the search puts the ball it follows.

    The one decision point for where a followed ball sits in its crop. A crop centred on
    the prediction puts the ball exactly on a corner of the ViT's patch grid (the centre
    of a 128 or 192 px crop is a multiple of 16), split over four patches, and the
    detector sees it worst there. Measured with the detector on crops centred on the
    labelled ball, then shifted (found = a box within 4 px): the real model on the
    held-out badminton frames (train_00001 220-316, 93 with the shuttle) found it on 41%
    centred, 57% half a patch (8 px) off, 40% a whole patch off, 56% one and a half; the
    synthetic model scored seed 737373's fast ball (frames 200-240) 0.51 on average
    centred, 0.92 half a patch off. So the ball goes to a patch's centre, half a patch
    off the crop's. Through the whole replay path (real model, F1 at 4 px; centred ->
    track crops offset -> track and motion-gate crops offset): held-out badminton 0.583
    -> 0.571 -> 0.245, train_00001 f0-219 0.469 -> 0.559 -> 0.568, train_00008 0.318 ->
    0.439 -> 0.533, held-out volleyball clip_four 0.466 -> 0.570 -> 0.502. Only track
    crops, then: in the gate's crops, where a track starts, seeing better means
    acquiring clutter too (one such track cost the held-out badminton rally 30 frames).
    Detectors that say nothing of a patch grid get their crops centred.
    """
    if isinstance(detector, PatchGridDetector):
        return detector.patch_px / 2.0
    return 0.0
