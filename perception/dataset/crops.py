"""Cutting crops from labelled frames at native scale: positives, pasted copies, negatives."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from perception.dataset.values import CropBall, CropRecipe, CropSample, LabelledFrame
from stream.frame import BallTruth

logger = logging.getLogger(__name__)


def crop_square(image: NDArray[np.uint8], left: int, top: int, size: int) -> NDArray[np.uint8]:
    """Cut a ``size`` square whose top-left corner is frame pixel ``(left, top)``.

    Parts outside the frame are black, so crop pixel ``(i, j)`` is always frame pixel
    ``(top + i, left + j)``.
    """
    height, width = image.shape[:2]
    out = np.zeros((size, size, 3), dtype=np.uint8)
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + size, width), min(top + size, height)
    if x1 > x0 and y1 > y0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = image[y0:y1, x0:x1]
    return out


def _crop_origin(centre: float, offset: float, frame_side: int, size: int) -> int:
    """Top-left coordinate putting ``centre`` at ``offset`` in the crop, kept inside the frame."""
    start = math.floor(centre - offset + 0.5)
    if frame_side >= size:
        start = min(max(start, 0), frame_side - size)
    return start


def positive_crop(
    frame: LabelledFrame, anchor: BallTruth, recipe: CropRecipe, rng: np.random.Generator
) -> CropSample:
    """Cut a crop with ``anchor`` at a random place inside it, at native scale.

    Every ball of the frame whose centre falls inside the crop is labelled, not just the
    anchor, so no visible ball is ever taught as background.
    """
    size = recipe.resolution
    margin = min(recipe.box_px(anchor.radius_px) / 2.0, size / 4.0)
    offset_x, offset_y = rng.uniform(margin, size - margin, size=2)
    height, width = frame.image.shape[:2]
    left = _crop_origin(anchor.x, float(offset_x), width, size)
    top = _crop_origin(anchor.y, float(offset_y), height, size)
    image = crop_square(frame.image, left, top, size)
    balls = [
        CropBall(ball.x - left, ball.y - top, recipe.box_px(ball.radius_px))
        for ball in frame.balls
        if 0.0 <= ball.x - left < size and 0.0 <= ball.y - top < size
    ]
    if recipe.extra_balls_max > 0 and anchor.radius_px > 0:
        count = int(rng.integers(0, recipe.extra_balls_max + 1))
        image, extra = _paste_copies(frame.image, anchor, image, balls, count, rng)
        balls.extend(extra)
    return CropSample(image, tuple(balls), frame.group, frame.frame_index)


def _paste_copies(
    source: NDArray[np.uint8],
    anchor: BallTruth,
    crop: NDArray[np.uint8],
    taken: Sequence[CropBall],
    count: int,
    rng: np.random.Generator,
) -> tuple[NDArray[np.uint8], list[CropBall]]:
    """Blend up to ``count`` copies of ``anchor`` (cut from ``source``) into free places."""
    radius = anchor.radius_px + 1.0
    half = math.ceil(radius) + 1
    patch_side = 2 * half + 1
    ax, ay = round(anchor.x), round(anchor.y)
    patch = crop_square(source, ax - half, ay - half, patch_side).astype(np.float32)
    grid = np.arange(patch_side, dtype=np.float32) - half
    distance = np.hypot(grid[None, :], grid[:, None])
    alpha = np.clip(radius + 0.5 - distance, 0.0, 1.0)[..., None]
    out = crop.astype(np.float32)
    size = crop.shape[0]
    box = taken[0].box_px if taken else 2.0 * radius
    placed: list[CropBall] = []
    for _ in range(count * 4):
        if len(placed) == count:
            break
        cx, cy = (int(v) for v in rng.integers(half + 1, size - half - 1, size=2))
        if any(math.hypot(cx - b.x, cy - b.y) < box for b in (*taken, *placed)):
            continue
        region = out[cy - half : cy + half + 1, cx - half : cx + half + 1]
        region[...] = alpha * patch + (1.0 - alpha) * region
        # the source ball sits at a sub-pixel offset from the patch centre
        placed.append(CropBall(cx + anchor.x - ax, cy + anchor.y - ay, box))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), placed


def salient_point(image: NDArray[np.uint8], rng: np.random.Generator) -> tuple[int, int] | None:
    """A random pixel that stands out from the frame's dominant colour (lines, players...).

    Such places are where a ball detector fires falsely, so hard negatives are cut around
    them. None when the frame is uniform.
    """
    step = 4
    small = image[::step, ::step].astype(np.int16)
    median = np.median(small.reshape(-1, 3), axis=0).astype(np.int16)
    ys, xs = np.nonzero(np.abs(small - median).sum(axis=2) > 90)
    if len(xs) == 0:
        return None
    pick = int(rng.integers(len(xs)))
    return int(xs[pick]) * step, int(ys[pick]) * step


def _is_clear(frame: LabelledFrame, left: int, top: int, recipe: CropRecipe) -> bool:
    """Whether a crop at ``(left, top)`` keeps every ball (with its box) outside."""
    size = recipe.resolution
    for ball in frame.balls:
        reach = recipe.box_px(ball.radius_px)
        if (
            left - reach <= ball.x <= left + size + reach
            and top - reach <= ball.y <= top + size + reach
        ):
            return False
    return True


def negative_crop(
    frame: LabelledFrame, recipe: CropRecipe, rng: np.random.Generator
) -> CropSample | None:
    """Cut a crop that contains no ball, or None when none fits in a few tries.

    A ``recipe.hard_negative_share`` of them is placed over a salient pixel (see
    :func:`salient_point`), the rest anywhere.
    """
    size = recipe.resolution
    height, width = frame.image.shape[:2]
    anchor = salient_point(frame.image, rng) if rng.random() < recipe.hard_negative_share else None
    for _ in range(8):
        if anchor is not None:
            left = _crop_origin(anchor[0], float(rng.uniform(8, size - 8)), width, size)
            top = _crop_origin(anchor[1], float(rng.uniform(8, size - 8)), height, size)
        else:
            left = int(rng.integers(0, max(width - size, 0) + 1))
            top = int(rng.integers(0, max(height - size, 0) + 1))
        if _is_clear(frame, left, top, recipe):
            image = crop_square(frame.image, left, top, size)
            return CropSample(image, (), frame.group, frame.frame_index)
        anchor = None
    return None


def samples_from_frames(
    frames: Iterable[LabelledFrame], recipe: CropRecipe, seed: int
) -> Iterator[CropSample]:
    """Turn labelled frames into crops: one positive per visible ball, plus negatives.

    Negatives follow ``recipe.negatives_per_positive``; a frame without a ball always
    gives one.
    """
    rng = np.random.default_rng(seed)
    debt = 0.0
    for frame in frames:
        for ball in frame.balls:
            yield positive_crop(frame, ball, recipe, rng)
            debt += recipe.negatives_per_positive
        if not frame.balls:
            debt = max(debt, 1.0)
        while debt >= 1.0:
            debt -= 1.0
            negative = negative_crop(frame, recipe, rng)
            if negative is not None:
                yield negative
