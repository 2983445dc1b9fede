"""Hard negatives mined with a model: crops around its confident mistakes on training frames.

Where a trained model fires away from every labelled ball of a training frame (the little
ball a tennis scoreboard draws beside the server's name, a logo, a head), a ball-free crop
around that place teaches the next model not to. :func:`salient_point` guesses such places
from colour alone; mining asks the model itself. The places come from the same whole-frame
search a run does (``find``: frame -> detections in frame pixels), so what is mined is what a
user would have seen reported.

Not thread-safe: one owner (the dataset builder). Pure apart from ``find``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from perception.dataset.crops import _crop_origin, _is_clear, crop_square
from perception.dataset.values import CropRecipe, CropSample, LabelledFrame
from perception.detections import Detections

# at most this many mistakes per frame: the ones that outrank the ball, or nearly
MISTAKES_PER_FRAME = 3
# a detection this close to a labelled ball (in ball boxes) is that ball, not a mistake
_SAME_BALL_BOXES = 1.0
# the mistake lands at least this far inside the crop, so the model sees it whole
_EDGE_PX = 8.0


@dataclass(frozen=True, slots=True)
class MinePlan:
    """How much to mine.

    Attributes:
        crops: ball-free crops to cut.
        min_score: the least score of a mistake.
        max_frames: frames searched (a seeded sample; the search is the slow part).
        seed: seeds the sample and the crop places.
    """

    crops: int
    min_score: float = 0.3
    max_frames: int = 300
    seed: int = 0

    def __post_init__(self) -> None:
        if self.crops < 0 or self.max_frames < 1:
            msg = (
                f"--mine-crops must be >= 0 and --mine-frames >= 1, but got {self.crops} "
                f"and {self.max_frames}"
            )
            raise ValueError(msg)
        if not 0.0 <= self.min_score <= 1.0:
            msg = f"--mine-score must be in [0, 1], but got {self.min_score}"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Mistake:
    """A confident detection away from every labelled ball of one frame.

    Attributes:
        frame: index into the mined frames.
        x: centre in frame pixels.
        y: centre in frame pixels.
        score: the model's confidence.
    """

    frame: int
    x: float
    y: float
    score: float


def mistakes_of(
    found: Detections, frame: LabelledFrame, recipe: CropRecipe, min_score: float, index: int
) -> list[Mistake]:
    """The surest detections of ``found`` that are not a labelled ball of ``frame``.

    A detection is the ball when its centre lies within one ball box of a labelled
    centre. At most :data:`MISTAKES_PER_FRAME`, surest first, each at least ``min_score``.
    """
    mistakes: list[Mistake] = []
    centers = found.centers
    for k in np.argsort(-found.confidence, kind="stable"):
        score = float(found.confidence[k])
        if score < min_score or len(mistakes) == MISTAKES_PER_FRAME:
            break
        cx, cy = (float(v) for v in centers[k])
        if any(
            math.hypot(cx - ball.x, cy - ball.y) <= _SAME_BALL_BOXES * recipe.box_px(ball.radius_px)
            for ball in frame.balls
        ):
            continue
        mistakes.append(Mistake(index, cx, cy, score))
    return mistakes


def mined_negatives(
    frames: Sequence[LabelledFrame],
    find: Callable[[LabelledFrame], Detections],
    plan: MinePlan,
    recipe: CropRecipe,
) -> Iterator[CropSample]:
    """``plan.crops`` ball-free crops, each with one of the model's mistakes inside it.

    Mines a seeded sample of at most ``plan.max_frames`` of ``frames`` (all when fewer),
    then cuts crops round the mistakes in turn, surest first, each at a fresh random place
    in its crop, until ``plan.crops`` are cut. A crop that would hold a labelled ball is not cut
    (a few tries, then the next mistake). Yields nothing when the model made no mistake.
    """
    rng = np.random.default_rng(plan.seed)
    chosen = sorted(rng.permutation(len(frames))[: plan.max_frames].tolist())
    mistakes = [
        mistake
        for index in chosen
        for mistake in mistakes_of(
            find(frames[index]), frames[index], recipe, plan.min_score, index
        )
    ]
    mistakes.sort(key=lambda mistake: -mistake.score)
    size = recipe.resolution
    cut = 0
    # each pass cuts round every mistake once; a pass that cuts nothing ends the mining
    while mistakes and cut < plan.crops:
        cut_before = cut
        for mistake in mistakes:
            if cut == plan.crops:
                break
            sample = _crop_around(frames[mistake.frame], mistake, size, recipe, rng)
            if sample is not None:
                cut += 1
                yield sample
        if cut == cut_before:
            break


def _crop_around(
    frame: LabelledFrame, mistake: Mistake, size: int, recipe: CropRecipe, rng: np.random.Generator
) -> CropSample | None:
    """A ball-free crop with ``mistake`` at a random place inside it, or None."""
    height, width = frame.image.shape[:2]
    for _ in range(4):
        offset_x, offset_y = rng.uniform(_EDGE_PX, size - _EDGE_PX, size=2)
        left = _crop_origin(mistake.x, float(offset_x), width, size)
        top = _crop_origin(mistake.y, float(offset_y), height, size)
        if _is_clear(frame, left, top, recipe):
            image: NDArray[np.uint8] = crop_square(frame.image, left, top, size)
            return CropSample(image, (), frame.group, frame.frame_index)
    return None
