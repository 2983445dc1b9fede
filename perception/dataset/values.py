"""The dataset's values: a crop recipe, a labelled frame, a crop and its balls, the splits."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from stream.errors import BallwatchError
from stream.frame import BallTruth


class DatasetError(BallwatchError):
    """A training set could not be built or read."""


class Split(StrEnum):
    """Dataset splits, named as the folders rfdetr's trainer reads."""

    TRAIN = "train"
    VALID = "valid"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class CropRecipe:
    """How samples are cut from frames.

    Attributes:
        resolution: side in pixels of every crop (the model's input resolution).
        min_box_px: smallest box side written; tiny true boxes make IoU-based losses
            degenerate, and only the box centre is scored.
        default_box_px: box side used when the ball radius is unknown and not given.
        negatives_per_positive: ball-free crops cut for each crop with a ball.
        hard_negative_share: share of negatives cut over salient places (lines, players),
            where false detections come from.
        extra_balls_max: at most this many extra ball copies pasted into a positive
            crop (only where the ball's radius is known); more positives per crop give
            the matcher more signal per step.
        paste_at_rest: share of pasted balls lying at the same place in every picture of
            a grey stack (a shuttle on the floor, a ball before a serve); the others move.
    """

    resolution: int = 128
    min_box_px: float = 12.0
    default_box_px: float = 12.0
    negatives_per_positive: float = 0.3
    hard_negative_share: float = 0.5
    extra_balls_max: int = 0
    paste_at_rest: float = 0.0

    def __post_init__(self) -> None:
        if self.resolution < 32 or self.resolution % 32:
            msg = f"CropRecipe.resolution must be a multiple of 32 >= 32, but got {self.resolution}"
            raise ValueError(msg)
        if self.min_box_px <= 0 or self.default_box_px <= 0:
            msg = (
                "CropRecipe box sizes must be > 0, but got "
                f"min_box_px={self.min_box_px}, default_box_px={self.default_box_px}"
            )
            raise ValueError(msg)
        if not 0.0 <= self.paste_at_rest <= 1.0:
            msg = f"--paste-at-rest must be a share from 0 to 1, but got {self.paste_at_rest}"
            raise ValueError(msg)

    def box_px(self, radius_px: float) -> float:
        """Box side for a ball of this radius (0 means unknown)."""
        side = 2.0 * radius_px + 2.0 if radius_px > 0 else self.default_box_px
        return max(side, self.min_box_px)


@dataclass(frozen=True, slots=True)
class CropBall:
    """One labelled ball inside a crop: centre and box side in crop pixels."""

    x: float
    y: float
    box_px: float

    def xywh(self, size: int) -> tuple[float, float, float, float]:
        """COCO ``[x_min, y_min, width, height]``, clipped to a ``size`` square."""
        half = self.box_px / 2.0
        x0, y0 = max(0.0, self.x - half), max(0.0, self.y - half)
        x1, y1 = min(float(size), self.x + half), min(float(size), self.y + half)
        return (x0, y0, x1 - x0, y1 - y0)


@dataclass(frozen=True, slots=True)
class CropSample:
    """One training image.

    Attributes:
        image: BGR ``uint8`` ``(R, R, 3)``.
        balls: labelled balls in crop pixels (empty for a negative).
        group: clip or match the crop comes from; the unit of splitting.
        frame_index: frame of that clip.
    """

    image: NDArray[np.uint8]
    balls: tuple[CropBall, ...]
    group: str
    frame_index: int


@dataclass(frozen=True, slots=True)
class LabelledFrame:
    """A frame with its visible balls, from any source (clip, synth, export).

    Attributes:
        image: BGR ``uint8`` ``(H, W, 3)``.
        balls: the visible balls (frame pixels; ``radius_px`` 0 when unknown).
        group: the clip or match; frames of one group always share a split.
        frame_index: index of the frame in its group.
    """

    image: NDArray[np.uint8]
    balls: tuple[BallTruth, ...]
    group: str
    frame_index: int
