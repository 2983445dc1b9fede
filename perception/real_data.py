"""Real-footage samples: copy-paste positives and static hard negatives from real frames.

Two kinds of crop are added to what :func:`perception.dataset.samples_from_frames` cuts
around labelled balls:

- **Pasted positives** (:func:`pasted_samples`): a ball-free crop of a real frame (far from
  the labelled ball, or a still part of an unlabelled clip) with a rendered ball pasted in
  (:mod:`perception.copy_paste`); the label is the pasted centre.
- **Static hard negatives** (:func:`static_negatives`): crops of the still parts of a clip
  (scoreboard digits, logos, lights, net tape, court lines) taken where the frame equals the
  clip's temporal median, so no moving ball can be inside. This is what a detector trained
  on synthetic pitches confuses with a ball, and what a tracker then locks onto.

Unlabelled clips are safe to use this way because only their still parts are cut: the
ball, whatever it does, is not still for the whole clip.

Not thread-safe: generators belong to the thread that builds the dataset.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from perception.copy_paste import BallSprite, draw_style, paste, render_sprite, scene_brightness
from perception.dataset import (
    CropBall,
    CropRecipe,
    CropSample,
    LabelledFrame,
    crop_square,
    salient_point,
)
from perception.frame_input import grey
from perception.options import FrameInput

_STILL_DIFF = 14.0  # grey levels: above this a pixel differs from the clip's median
_MEDIAN_FRAMES = 31  # frames sampled for the temporal median
_STEP_PX = (2.0, 24.0)  # a pasted moving ball's travel between pictures (a ball at rest is
# not reported, see perception.change; the BWF shuttle travels up to ~30 px at 1280x720)


@dataclass(frozen=True, slots=True)
class StillClip:
    """An unlabelled clip reduced to what can be cut from it safely.

    Attributes:
        frames: BGR frames (a sample of the clip).
        still: per frame, ``bool`` ``(H, W)``: True where the frame equals the median
            (dilated around every moving pixel, so a crop of True pixels holds no ball).
        group: the clip's name.
    """

    frames: tuple[NDArray[np.uint8], ...]
    still: tuple[NDArray[np.bool_], ...]
    group: str


def still_clip(frames: Sequence[NDArray[np.uint8]], group: str, margin_px: int = 16) -> StillClip:
    """Find the still parts of each frame against the clip's temporal median."""
    step = max(1, len(frames) // _MEDIAN_FRAMES)
    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    median = np.median(np.stack(grey[::step]), axis=0).astype(np.float32)
    kernel = np.ones((2 * margin_px + 1, 2 * margin_px + 1), np.uint8)
    masks = []
    for image in grey:
        moving = cv2.absdiff(image.astype(np.float32), median) > _STILL_DIFF
        moving = cv2.dilate(moving.astype(np.uint8), kernel) > 0
        masks.append(~moving)
    return StillClip(tuple(frames), tuple(masks), group)


def _still_window(mask: NDArray[np.bool_], left: int, top: int, size: int) -> bool:
    height, width = mask.shape
    if left < 0 or top < 0 or left + size > width or top + size > height:
        return False
    return bool(mask[top : top + size, left : left + size].all())


def _window_near(
    point: tuple[int, int] | None, shape: tuple[int, ...], size: int, rng: np.random.Generator
) -> tuple[int, int]:
    height, width = shape[:2]
    if point is None:
        return int(rng.integers(0, width - size + 1)), int(rng.integers(0, height - size + 1))
    left = min(max(point[0] - int(rng.integers(8, size - 8)), 0), width - size)
    top = min(max(point[1] - int(rng.integers(8, size - 8)), 0), height - size)
    return left, top


def static_negatives(
    clips: Sequence[StillClip], count: int, recipe: CropRecipe, seed: int
) -> Iterator[CropSample]:
    """``count`` ball-free crops over still, mostly salient places of ``clips``."""
    rng = np.random.default_rng(seed)
    size = recipe.resolution
    made = 0
    for _ in range(count * 20):
        if made == count:
            return
        clip = clips[int(rng.integers(len(clips)))]
        index = int(rng.integers(len(clip.frames)))
        frame = clip.frames[index]
        anchor = salient_point(frame, rng) if rng.random() < 0.8 else None
        left, top = _window_near(anchor, frame.shape, size, rng)
        if _still_window(clip.still[index], left, top, size):
            made += 1
            yield CropSample(crop_square(frame, left, top, size), (), clip.group, index)


def _clear_window(
    frame: LabelledFrame, size: int, rng: np.random.Generator
) -> tuple[int, int] | None:
    """A crop window at least a crop away from every labelled ball, or None."""
    height, width = frame.image.shape[:2]
    if width < size or height < size:
        return None
    for _ in range(8):
        left = int(rng.integers(0, width - size + 1))
        top = int(rng.integers(0, height - size + 1))
        if all(
            not (left - size <= b.x <= left + 2 * size and top - size <= b.y <= top + 2 * size)
            for b in frame.balls
        ):
            return left, top
    return None


def paste_into(
    crop: NDArray[np.uint8],
    recipe: CropRecipe,
    rng: np.random.Generator,
    brightness: float,
    frame_input: FrameInput = FrameInput.RGB,
) -> tuple[NDArray[np.uint8], CropBall]:
    """Paste one rendered ball at a random place of ``crop``; returns the crop and its label.

    On a grey-stacked crop the ball moves: it is pasted into each picture of the stack one
    random step further along a straight line (:func:`paste_moving`), except with
    probability ``recipe.paste_at_rest``, where it lies at the same place in every picture
    (a shuttle on the floor, a ball before a serve).
    """
    sprite = render_sprite(draw_style(rng, brightness), rng)
    size = crop.shape[0]
    margin = 4.0
    x, y = (float(v) for v in rng.uniform(margin, size - margin, size=2))
    box = recipe.box_px(sprite.diameter_px / 2.0)
    if frame_input is FrameInput.GREY_STACK:
        angle = rng.uniform(0.0, 2.0 * math.pi)
        # no draw at 0: the same seed builds the same crops as before the option existed
        at_rest = recipe.paste_at_rest
        step = 0.0 if at_rest > 0 and rng.random() < at_rest else rng.uniform(*_STEP_PX)
        image = paste_moving(crop, sprite, (x, y), (step * math.cos(angle), step * math.sin(angle)))
        return image, CropBall(x, y, box)
    return paste(crop, sprite, x, y), CropBall(x, y, box)


def paste_moving(
    stacked: NDArray[np.uint8],
    sprite: BallSprite,
    at: tuple[float, float],
    step: tuple[float, float],
) -> NDArray[np.uint8]:
    """A grey-stacked image with ``sprite`` at ``at`` now and one ``step`` back per picture.

    Each channel of the stack is one grey picture (see :mod:`perception.frame_input`):
    the ball is pasted into channel k at ``at - k * step``, in grey.
    """
    out = stacked.copy()
    for k in range(stacked.shape[2]):
        channel = np.ascontiguousarray(stacked[:, :, k])
        picture = np.asarray(cv2.cvtColor(channel, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
        moved = paste(picture, sprite, at[0] - k * step[0], at[1] - k * step[1])
        out[:, :, k] = grey(moved)
    return out


def pasted_samples(
    frames: Sequence[LabelledFrame],
    clips: Sequence[StillClip],
    count: int,
    recipe: CropRecipe,
    seed: int,
    frame_input: FrameInput = FrameInput.RGB,
) -> Iterator[CropSample]:
    """``count`` crops of real backgrounds with one pasted ball each.

    Backgrounds come from labelled frames (a window far from the real ball) and, when given,
    from the still parts of unlabelled clips, in equal shares. ``frame_input`` says what the
    frames are (grey stacks get a moving ball, or with ``recipe.paste_at_rest`` one at rest).
    """
    rng = np.random.default_rng(seed)
    size = recipe.resolution
    made = 0
    for _ in range(count * 20):
        if made == count:
            return
        if clips and (not frames or rng.random() < 0.5):
            clip = clips[int(rng.integers(len(clips)))]
            index = int(rng.integers(len(clip.frames)))
            left, top = _window_near(None, clip.frames[index].shape, size, rng)
            if not _still_window(clip.still[index], left, top, size):
                continue
            background, group = clip.frames[index], clip.group
        else:
            frame = frames[int(rng.integers(len(frames)))]
            window = _clear_window(frame, size, rng)
            if window is None:
                continue
            left, top = window
            background, group, index = frame.image, frame.group, frame.frame_index
        crop = crop_square(background, left, top, size)
        image, ball = paste_into(crop, recipe, rng, scene_brightness(background), frame_input)
        made += 1
        yield CropSample(image, (ball,), group, index)


def unstretch(image: NDArray[np.uint8], width: int, height: int) -> NDArray[np.uint8]:
    """Undo an export's stretch to a square: resize back to the source's ``width x height``."""
    return np.asarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR), np.uint8)


def unstretched_frame(frame: LabelledFrame, width: int, height: int) -> LabelledFrame:
    """A stretched export frame (and its labels) back at ``width x height``."""
    h0, w0 = frame.image.shape[:2]
    sx, sy = width / w0, height / h0
    balls = tuple(
        type(b)(b.is_visible, b.x * sx, b.y * sy, radius_px=b.radius_px * math.sqrt(sx * sy))
        for b in frame.balls
    )
    return LabelledFrame(
        unstretch(frame.image, width, height), balls, frame.group, frame.frame_index
    )
